"""`replay tui` on the command line: its options, and that the CLI stays free of Textual."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from replay.cli import tui as tui_command
from replay.errors import UsageError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    tui_command.add_arguments(parser)
    return parser.parse_args(argv)


def test_attach_takes_host_and_port() -> None:
    assert tui_command.parse_address("127.0.0.1:5678") == ("127.0.0.1", 5678)
    assert tui_command.parse_address("[::1]:5678") == ("::1", 5678)
    assert tui_command.parse_address(":5678") == ("127.0.0.1", 5678)
    with pytest.raises(UsageError, match="expected HOST:PORT"):
        tui_command.parse_address("localhost")


def test_ssh_needs_a_remote_port_and_a_remote_port_needs_ssh() -> None:
    with pytest.raises(UsageError, match="--remote-port"):
        tui_command.run(parse("--ssh", "me@gpu-box"))
    with pytest.raises(UsageError, match="goes with --ssh"):
        tui_command.run(parse("--remote-port", "5678"))


def test_attach_and_ssh_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse("--attach", "127.0.0.1:5678", "--ssh", "me@gpu-box", "--remote-port", "5678")


def test_the_help_text_shows_the_keys_and_examples() -> None:
    doc = tui_command.__doc__ or ""
    assert "F5/c continue" in doc and "replay tui --attach 127.0.0.1:5678" in doc


def test_the_command_module_imports_neither_textual_nor_the_tui() -> None:
    code = ("import sys, replay.cli, replay.cli.tui; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'tui')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
