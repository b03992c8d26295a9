"""The TUI's plain parts, without a screen: rows, filtering, sorting, formatting, the
replay child's protocol, output coalescing, and where captured source comes from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from replay.render import human_size
from tests.tui_helpers import FIXED_NOW, SCORE_PY, fixture_store
from tui.capture_source import captured_sources, source_key
from tui.debug.output_buffer import OutputBuffer
from tui.debug.replay_process import ReplayEnded, ReplayRequest, listening_address
from tui.format import first_line, relative_time
from tui.rows import FIELDS, CaptureRow, RowView, filter_rows, sort_rows


def row(capture_id: str, step: str, created: str, error: str = "", verdict: str | None = None) -> CaptureRow:
    summary = {"id": capture_id, "step": step, "created": created, "status": "failed" if error else "passed",
               "error": error, "host": "gpu-box"}
    return CaptureRow.from_fields([summary[name] for name in FIELDS], verdict or "")


ROWS = [
    row("aaaa00000001", "train", "2026-11-27T10:00:00+00:00", "ValueError: bad shape", "reproduced"),
    row("bbbb00000002", "score", "2026-11-27T11:00:00+00:00", "ZeroDivisionError: division by zero"),
    row("cccc00000003", "prepare", "2026-11-26T09:00:00+00:00", "", "passed"),
]


def test_every_word_of_the_filter_must_match_some_column_in_any_case() -> None:
    assert [r.id for r in filter_rows(ROWS, "ZERO score")] == ["bbbb00000002"]
    assert [r.id for r in filter_rows(ROWS, "reproduced")] == ["aaaa00000001"]
    assert [r.id for r in filter_rows(ROWS, "gpu-box cccc")] == ["cccc00000003"]
    assert filter_rows(ROWS, "zero train") == []


def test_an_empty_filter_keeps_every_row() -> None:
    assert filter_rows(ROWS, "  ") == ROWS


def test_rows_sort_newest_first_by_default_and_by_any_column_on_request() -> None:
    assert [r.id for r in sort_rows(ROWS, "created", True)] == ["bbbb00000002", "aaaa00000001", "cccc00000003"]
    assert [r.step for r in sort_rows(ROWS, "step", False)] == ["prepare", "score", "train"]
    assert [r.verdict for r in sort_rows(ROWS, "verdict", True)] == ["reproduced", "passed", ""]


def test_times_read_as_a_user_scans_them() -> None:
    assert relative_time(FIXED_NOW - timedelta(seconds=20), FIXED_NOW) == "just now"
    assert relative_time(FIXED_NOW - timedelta(minutes=5), FIXED_NOW) == "5 min ago"
    assert relative_time(FIXED_NOW - timedelta(hours=3), FIXED_NOW) == "3 h ago"
    assert relative_time(FIXED_NOW - timedelta(days=2), FIXED_NOW) == "2 d ago"
    assert relative_time(datetime(2026, 1, 2, tzinfo=UTC), FIXED_NOW) == "2026-01-02"
    assert relative_time(None, FIXED_NOW) == "?"


def test_sizes_and_one_line_previews() -> None:
    assert human_size(512) == "512 B"
    assert human_size(9 << 30) == "9.0 GB"
    assert first_line("   a  b\n0  1  2") == "   a  b …"
    assert first_line("x" * 300, 10) == "x" * 10 + " …"
    assert first_line("short") == "short"


def test_the_replay_child_is_asked_for_a_free_port_and_json() -> None:
    argv = ReplayRequest(Path("/s"), "3f9a2c81d0e4", from_start=True, source=Path("/src")).argv()
    assert argv[1:] == ["-m", "replay", "run", "3f9a2c81d0e4", "--store", "/s", "--attach", "--port", "0",
                        "--json", "--from-start", "--source", "/src"]


def test_the_listening_line_gives_the_debugger_address() -> None:
    line = 'replay: debugger listening on 127.0.0.1:40321 (sub-process debugging off); attach with …\n'
    assert listening_address(line) == ("127.0.0.1", 40321)
    assert listening_address("scoring 5\n") is None


def test_the_end_of_a_replay_reads_as_its_code_and_verdict() -> None:
    assert ReplayEnded(1, {"verdict": "reproduced"}).describe() == "exited: code 1 · verdict reproduced"
    assert ReplayEnded(2, None).describe() == "exited: code 2 · no verdict"


def test_output_wakes_the_ui_once_per_batch_however_many_fragments_arrive() -> None:
    buffer = OutputBuffer()
    wakeups = [buffer.add(f"line {n}\n") for n in range(1000)]
    assert wakeups.count(True) == 1
    assert buffer.drain() == "".join(f"line {n}\n" for n in range(1000))
    assert buffer.add("again") is True


def test_traceback_frames_find_their_captured_source(tmp_path: Path) -> None:
    store = fixture_store(tmp_path / "store")
    manifest = store.load("3f9a2c81d0e4")
    assert source_key(manifest, "/job/src/score.py") == "score.py"
    assert source_key(manifest, "score.py") == "score.py"  # relative to the captured cwd
    assert source_key(manifest, "/usr/lib/python3.11/runpy.py") is None
    assert captured_sources(store, manifest) == {"/job/src/score.py": SCORE_PY}


def test_the_row_view_narrows_while_typing_and_starts_over_when_the_query_changes() -> None:
    view = RowView()
    view.set_rows(ROWS)
    assert [r.id for r in view.shown("")] == ["bbbb00000002", "aaaa00000001", "cccc00000003"]
    assert [r.id for r in view.shown("e")] == ["bbbb00000002", "aaaa00000001", "cccc00000003"]
    assert [r.id for r in view.shown("er")] == ["bbbb00000002", "aaaa00000001"]  # "error", "ValueError"
    assert [r.id for r in view.shown("err sco")] == ["bbbb00000002"]
    assert [r.id for r in view.shown("pre")] == ["cccc00000003"]  # not an extension: from all rows again
    view.set_sort("step", False)
    assert [r.step for r in view.shown("")] == ["prepare", "score", "train"]


def test_a_verdict_arriving_later_joins_the_searchable_text() -> None:
    late = ROWS[1].with_verdict("different")
    assert late.verdict == "different" and filter_rows([late], "different zero") == [late]
