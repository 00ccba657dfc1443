"""The alignment tree as people read it: nested goals with their status, progress and orphans.

The projections answer the tree flattened depth first (`AlignmentNode.depth`, a parent before
its children); the console and the web pages both nest it here, so they show the same tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from northstar.projections.v1 import projections_pb2

# The words and colours people see for each status (rich colour names; the web pages use the
# same keys as CSS classes).
STATUS_WORDS: dict[int, tuple[str, str]] = {
    projections_pb2.GOAL_STATUS_NOT_STARTED: ("not started", "grey62"),
    projections_pb2.GOAL_STATUS_ON_TRACK: ("on track", "green"),
    projections_pb2.GOAL_STATUS_AT_RISK: ("at risk", "dark_orange"),
    projections_pb2.GOAL_STATUS_OFF_TRACK: ("off track", "red"),
    projections_pb2.GOAL_STATUS_COMPLETED: ("completed", "blue"),
    projections_pb2.GOAL_STATUS_CANCELLED: ("cancelled", "grey42"),
}
LEVEL_WORDS: dict[int, str] = {
    projections_pb2.GOAL_LEVEL_STRATEGY: "strategy",
    projections_pb2.GOAL_LEVEL_COMPANY: "company",
    projections_pb2.GOAL_LEVEL_TEAM: "team",
    projections_pb2.GOAL_LEVEL_PERSONAL: "personal",
}


def status_word(status: int) -> str:
    return STATUS_WORDS.get(status, ("unknown", "white"))[0]


def status_key(status: int) -> str:
    """A CSS-safe key of the status, e.g. "on-track"."""
    return status_word(status).replace(" ", "-")


def level_word(level: int) -> str:
    return LEVEL_WORDS.get(level, "goal")


@dataclass
class TreeNode:
    node: projections_pb2.AlignmentNode
    orphan: bool
    children: list[TreeNode] = field(default_factory=list)

    def walk(self) -> Iterable[TreeNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def nest(
    nodes: Sequence[projections_pb2.AlignmentNode], orphan_ids: Iterable[str] = ()
) -> list[TreeNode]:
    """Roots with their children, in the server's order (each node under the nearest preceding
    node one level up, which is where the server placed it)."""
    orphans = set(orphan_ids)
    roots: list[TreeNode] = []
    stack: list[TreeNode] = []
    for node in nodes:
        placed = TreeNode(node, node.goal_id in orphans)
        del stack[node.depth :]
        if stack:
            stack[-1].children.append(placed)
        else:
            roots.append(placed)
        stack.append(placed)
    return roots


def progress_bar(progress: float, width: int = 20) -> str:
    """A text bar of `width` cells, e.g. "████████░░░░" for 0.66 of 12 cells."""
    filled = round(max(0.0, min(1.0, progress)) * width)
    return "█" * filled + "░" * (width - filled)


def percent(progress: float) -> str:
    return f"{round(max(0.0, min(1.0, progress)) * 100)}%"
