"""The append_row format byte for byte, the run() calling convention, result counting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from replay.parallel.contract import ResultError, accepts_context, count_result
from replay.parallel.output import AppendRowWriter, format_append_rows


def test_a_list_gives_one_str_per_line() -> None:
    assert format_append_rows(["a.png: cat", 3, 0.5, None, (1, 2)], header=False) == (
        "a.png: cat\n3\n0.5\nNone\n(1, 2)\n", None
    )


def test_an_array_gives_one_str_per_element() -> None:
    assert format_append_rows(np.array([1.5, 2.0]), header=False) == ("1.5\n2.0\n", None)


def test_an_empty_result_writes_nothing() -> None:
    assert format_append_rows([], header=False) == ("", None)


def test_a_dataframe_gives_space_separated_rows_without_header_or_index() -> None:
    frame = pd.DataFrame({"id": [7, 8], "label": ["cat", "dog"], "p": [0.25, 1.0]}, index=[5, 6])
    assert format_append_rows(frame, header=False) == ("7 cat 0.25\n8 dog 1.0\n", None)


def test_the_header_flag_gives_the_header_line() -> None:
    frame = pd.DataFrame({"id": [7], "label": ["cat"]})
    assert format_append_rows(frame, header=True) == ("7 cat\n", "id label\n")


def test_the_writer_assembles_chunks_in_mini_batch_order_with_one_header(tmp_path: Path) -> None:
    out = tmp_path / "parallel_run_step.txt"
    writer = AppendRowWriter(out, header=True)
    writer.add(2, "c\n", "h\n")
    writer.add(0, "a\n", "h\n")
    writer.add(1, "b1\nb2\n", None)
    writer.close()
    assert out.read_bytes() == b"h\na\nb1\nb2\nc\n"
    assert not (tmp_path / "parallel_run_step.txt.spool").exists()


def test_run_gets_the_context_only_when_it_accepts_a_second_argument() -> None:
    def one(mini_batch): ...
    def two(mini_batch, context): ...
    def default(mini_batch, context=None): ...
    def star(*args): ...
    def keyword_only(mini_batch, *, context): ...

    assert [accepts_context(f) for f in (one, two, default, star, keyword_only)] == [
        False, True, True, True, False
    ]


@pytest.mark.parametrize(
    "result, count",
    [([1, 2], 2), ((1,), 1), (np.zeros(3), 3), (pd.DataFrame({"a": [1, 2, 3]}), 3), (pd.Series([1]), 1)],
)
def test_results_count_their_elements(result: object, count: int) -> None:
    assert count_result(result) == count


@pytest.mark.parametrize("result", [None, "text", 3, {"a": 1}, np.float64(1.0), (x for x in [1])])
def test_non_results_are_refused(result: object) -> None:
    with pytest.raises(ResultError):
        count_result(result)


def test_the_progress_bar_draws_only_when_enabled() -> None:
    import io

    from replay.parallel.progress import Progress

    shown, hidden = io.StringIO(), io.StringIO()
    bar = Progress(4, enabled=True, stream=shown)
    bar.update(2, 1, force=True)
    bar.finish(4, 1)
    Progress(4, stream=hidden).finish(4, 0)  # a StringIO is not a terminal
    assert "\r[###############...............] 2/4 mini-batches, 1 failed" in shown.getvalue()
    assert shown.getvalue().endswith("\n")
    assert hidden.getvalue() == ""
