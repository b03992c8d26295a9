"""Variables as a lazily expanded tree that pages big containers.

Nothing is fetched until a node is expanded: the tree asks its screen (a message) and
the screen fetches the children in a worker and hands them back with `fill`. However
many children come back (debugpy sends a few hundred at most, with a "more" row for
the rest), the tree adds them a page at a time behind a "show more" row, so expanding
a million-row DataFrame costs the UI one page of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import NodeID, TreeNode, UnknownNodeID

from replay.dap import Variable
from tui.debug.views import ScopeView
from tui.format import first_line

PAGE = 50


@dataclass
class Expandable:
    """A variable or scope whose children are fetched on first expansion."""

    reference: int
    requested: bool = False


@dataclass(frozen=True)
class MoreRows:
    """A "show more" row holding the children not added yet."""

    rows: Sequence[Variable]


NodeData = Expandable | MoreRows | None


def variable_label(v: Variable) -> Text:
    if v.is_group:
        return Text(v.name, style="italic dim")
    label = Text.assemble((v.name, "bold"), " = ", first_line(v.value, 160))
    if v.type:
        label.append(f"  {v.type}", style="dim")
    return label


class VariablesTree(Tree[NodeData]):
    class ChildrenWanted(Message):
        """Fetch the children of `reference` for `node_id` (stale after `generation` changes)."""

        def __init__(self, reference: int, node_id: int, generation: int) -> None:
            super().__init__()
            self.reference = reference
            self.node_id = node_id
            self.generation = generation

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("variables", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.generation = 0
        """Bumped whenever the frame changes; fills for an older frame are dropped."""

    def show_scopes(self, scopes: Sequence[ScopeView]) -> None:
        """Show a frame's scopes; loaded ones (locals) open, the others on demand."""
        self.generation += 1
        self.clear()
        for view in scopes:
            node = self.root.add(Text(view.scope.name, style="bold"), Expandable(view.scope.variables_reference))
            if view.variables is not None:
                self._fill_node(node, view.variables)
                node.expand()
        self.root.expand()

    def show_message(self, text: str) -> None:
        self.generation += 1
        self.clear()
        self.root.add_leaf(Text(text, style="dim"))
        self.root.expand()

    def fill(self, node_id: int, rows: Sequence[Variable], generation: int) -> None:
        """Children fetched for a node; ignored when the frame changed meanwhile."""
        if generation != self.generation:
            return
        try:
            node = self.get_node_by_id(NodeID(node_id))
        except UnknownNodeID:
            return  # the node went away (the tree was cleared): nothing to fill
        node.remove_children()
        self._fill_node(node, rows)

    def _fill_node(self, node: TreeNode[NodeData], rows: Sequence[Variable]) -> None:
        data = node.data
        if isinstance(data, Expandable):
            data.requested = True
        if not rows:
            node.add_leaf(Text("(empty)", style="dim"))
            return
        self._add_page(node, rows)

    def _add_page(self, node: TreeNode[NodeData], rows: Sequence[Variable]) -> None:
        for v in rows[:PAGE]:
            if v.variables_reference > 0:
                node.add(variable_label(v), Expandable(v.variables_reference))
            else:
                node.add_leaf(variable_label(v))
        rest = rows[PAGE:]
        if rest:
            node.add_leaf(Text(f"… show {min(PAGE, len(rest))} more of {len(rest)}", style="italic"), MoreRows(rest))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        event.stop()
        data = event.node.data
        if isinstance(data, Expandable) and not data.requested:
            data.requested = True
            event.node.add_leaf(Text("loading…", style="dim"))
            self.post_message(self.ChildrenWanted(data.reference, event.node.id, self.generation))

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        event.stop()
        node = event.node
        if isinstance(node.data, MoreRows) and node.parent is not None:
            parent, rows = node.parent, node.data.rows
            node.remove()
            self._add_page(parent, rows)
