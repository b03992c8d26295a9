"""The Textual front-end of `replay`: a capture browser and a debugger.

It sits on top of `replay`'s public functions (the store, `replay run --attach`, the DAP
client, doctor and env diff) and holds no capture or replay logic of its own, so what
the TUI shows is what the command line would say. Build it with `tui.app.make_app`.
"""
