"""The Inputs tab: what the step read, wrote and asked of upstream, as one tree.

Reference-only inputs (too large to copy) are marked: a replay needs `--input-map` for
them, and this is where a user finds out which ones.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree

from replay.bundle import Manifest
from replay.render import human_size
from tui.format import first_line


class InputsTab(Tree[None]):
    def __init__(self, manifest: Manifest) -> None:
        super().__init__("capture")
        self._manifest = manifest
        self.show_root = False

    def on_mount(self) -> None:
        m = self._manifest
        inputs = self.root.add(Text(f"inputs ({len(m.inputs)})", style="bold"), expand=True)
        for item in m.inputs:
            label = Text.assemble((item.path, "bold"), f"  {human_size(item.size)}  {item.kind}, {item.how}")
            if not item.copied:
                label.append("  reference only: replay needs --input-map", style="bold yellow")
            if item.kind == "dir":
                folder = inputs.add(label.append(f"  {len(item.files)} files"))
                for ref in item.files:
                    mark = "" if ref.copied else "  (reference only)"
                    folder.add_leaf(Text(f"{ref.path}  {human_size(ref.size)}{mark}"))
            else:
                inputs.add_leaf(label)
        outputs = self.root.add(Text(f"outputs ({len(m.outputs)})", style="bold"), expand=True)
        for out in m.outputs:
            existed = (f"existed at start: {'yes' if out.existed_at_start else 'no'}, "
                       f"at end: {'yes' if out.existed_at_end else 'no'}")
            outputs.add_leaf(Text.assemble((out.path, "bold"), f"  ({out.how})  {existed}"))
        upstream = self.root.add(Text(f"upstream calls ({len(m.upstream)})", style="bold"), expand=True)
        for call in m.upstream:
            upstream.add_leaf(Text.assemble(
                (f"#{call.seq} {call.name}", "bold"), f"({first_line(call.args, 80)})",
                (f"  → {call.result.kind} {call.result.type}".rstrip(), "dim"),
            ))
        self.root.expand()
