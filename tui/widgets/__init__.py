"""Widgets of the TUI, one per module. Each owns its display, takes its data from the
screen that holds it, and reports what the user did with a message."""
