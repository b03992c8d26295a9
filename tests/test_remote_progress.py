"""The transfer progress bar: bytes and files, redrawn in place, only on a terminal."""

from __future__ import annotations

import io

from replay.remote.progress import TerminalProgress, TransferStats

MiB = 1 << 20


def test_the_bar_shows_files_and_bytes_and_ends_its_line() -> None:
    out = io.StringIO()
    bar = TerminalProgress("fetch", stream=out)

    bar(TransferStats(files_total=3, bytes_total=3 * MiB, files_done=1, bytes_done=MiB))
    bar(TransferStats(files_total=3, bytes_total=3 * MiB, files_done=3, bytes_done=3 * MiB))
    bar.close()

    lines = out.getvalue().split("\r")
    assert lines[1].startswith("fetch  files 1/3  1.0 MiB/3.0 MiB")
    assert lines[2].startswith("fetch  files 3/3  3.0 MiB/3.0 MiB") and lines[2].endswith("\n")


def test_redraws_are_throttled_until_the_last_file() -> None:
    out = io.StringIO()
    bar = TerminalProgress("push", stream=out)

    for done in range(100):
        bar(TransferStats(files_total=100, bytes_total=100, files_done=done, bytes_done=done))

    assert out.getvalue().count("\r") == 1


def test_no_bar_when_stderr_is_not_a_terminal() -> None:
    assert TerminalProgress.for_stderr("fetch") is None  # pytest captures stderr
