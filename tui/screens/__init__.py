"""Screens of the TUI, one per module, each with its own `.tcss` file."""
