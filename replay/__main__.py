"""`python -m replay` behaves like the `replay` command."""

from replay.cli import entry

entry()
