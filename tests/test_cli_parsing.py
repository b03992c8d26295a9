"""`replay capture` parses its common forms without argparse, and must agree with it."""

from __future__ import annotations

import argparse

import pytest

from replay.cli import capture


def _argparse(argv: list[str]) -> dict[str, object]:
    parser = argparse.ArgumentParser(prog="replay capture")
    capture.add_arguments(parser)
    return vars(parser.parse_args(argv))


@pytest.mark.parametrize("argv", [
    ["--", "python", "step.py"],
    ["python", "step.py", "--store", "x"],
    ["--store", "/s", "--always", "--", "python", "-m", "pkg.step", "--flag"],
    ["--store=/s", "--input", "a.csv", "--input=b/", "--name", "score", "--", "python", "s.py"],
    ["--max-input-bytes", "64GB", "--max-file-bytes=10MiB", "--timeout", "2.5", "--", "x"],
    ["--wait-for-debugger", "30", "--debug-port", "5999", "--", "python", "s.py"],
    [],
])
def test_quick_parse_agrees_with_argparse(argv):
    quick = capture.parse_quickly(argv)
    assert quick is not None
    assert vars(quick) == _argparse(argv)


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--alw", "--", "python", "s.py"],            # an abbreviation: argparse's rules
    ["--timeout", "soon", "--", "python", "s.py"],  # a bad value: argparse explains
    ["--max-input-bytes", "3Q", "--", "x"],
    ["--store"],                                   # a missing value
    ["--name", "--always", "--", "x"],
    ["--always=yes", "--", "x"],
    ["--bogus", "--", "x"],
])
def test_anything_else_is_left_to_argparse(argv):
    assert capture.parse_quickly(argv) is None


def test_argparse_keeps_the_size_message(capsys):
    with pytest.raises(SystemExit) as stop:
        _argparse(["--max-input-bytes", "3Q", "--", "x"])
    assert stop.value.code == 2
    assert "not a size: '3Q' (try 512MB or 2GB)" in capsys.readouterr().err
