"""The stopped thread's frames, innermost first; library frames are dimmed.

Moving the highlight reports the frame, and the screen moves the source view and the
variables to it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from replay.dap import StackFrame


def frame_label(frame: StackFrame, user: bool) -> Text:
    where = f"{os.path.basename(frame.path)}:{frame.line}" if frame.path else "<no source>"
    return Text.assemble((frame.name, "bold" if user else "dim"), "  ", (where, "" if user else "dim"))


class CallStack(OptionList):
    class FrameSelected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def show(self, frames: Sequence[StackFrame], user: Sequence[bool], selected: int = 0) -> None:
        self.clear_options()
        pairs = zip(frames, user, strict=True)
        self.add_options([Option(frame_label(f, u), id=str(i)) for i, (f, u) in enumerate(pairs)])
        if frames:
            self.highlighted = selected

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        self.post_message(self.FrameSelected(event.option_index))
