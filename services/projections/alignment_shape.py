"""The alignment tree's shape: where each goal is placed, and the depth-first listing from a root
(or from every goal without a place under another). The shape depends only on the goals' links,
titles and levels, so a tenant's shape is worked out once and every listing reuses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

from services.projections.alignment import GoalNode
from services.shared.errors import NotFound

Listing = list[tuple[GoalNode, int]]
"""Nodes in depth-first order, each with its depth (0 for a root)."""


@dataclass(frozen=True)
class TreeShape:
    """Each goal's placed children (sorted by title) and the roots of the whole tree (strategic
    objectives first)."""

    placed_under: dict[UUID, list[UUID]]
    roots: list[UUID]


def display_parent(nodes: Mapping[UUID, GoalNode], node: GoalNode) -> UUID | None:
    """Where a goal sits in the tree: under its primary parent, else under the first goal it
    contributes to; None for a root."""
    candidates = [node.parent_goal_id] if node.parent_goal_id else []
    candidates += [target for target, _ in node.contributes_to]
    for target in candidates:
        # Only a link that survived loop-breaking places a goal, or a loop would have no root.
        if target in nodes and any(c == node.goal_id for c, _ in nodes[target].child_links):
            return target
    return None


def tree_shape(nodes: Mapping[UUID, GoalNode]) -> TreeShape:
    """The shape of linked nodes (`link_graph`'s output)."""
    placed_under: dict[UUID, list[UUID]] = {}
    roots: list[UUID] = []
    for goal_id, node in nodes.items():
        parent = display_parent(nodes, node)
        if parent is None:
            roots.append(goal_id)
        else:
            placed_under.setdefault(parent, []).append(goal_id)
    for children in placed_under.values():
        children.sort(key=lambda g: (nodes[g].title, str(g)))
    roots.sort(key=lambda g: (nodes[g].level != "strategy", nodes[g].title, str(g)))
    return TreeShape(placed_under, roots)


def tree_listing(
    nodes: Mapping[UUID, GoalNode], shape: TreeShape, root_goal_id: UUID | None
) -> Listing:
    """Nodes in depth-first order from the root (or from every root of the shape), each goal
    once, under its primary parent wherever that parent is listed too, otherwise under a goal it
    contributes to. The nodes are left untouched: depths are returned beside them."""
    if root_goal_id is not None:
        if root_goal_id not in nodes:
            raise NotFound(f"goal {root_goal_id} not found", field="root_goal_id")
        roots = [root_goal_id]
        in_subtree = _reachable(roots, shape.placed_under)
    else:
        roots = shape.roots
        in_subtree = None  # every goal is placed somewhere below the roots

    def children(goal_id: UUID) -> list[UUID]:
        own = shape.placed_under.get(goal_id, [])
        if in_subtree is None:
            return own
        # A contributor placed elsewhere is listed here only if its own place is not listed.
        borrowed = [c for c in nodes[goal_id].child_goal_ids if c not in in_subtree]
        return own + borrowed if borrowed else own

    ordered: Listing = []
    seen: set[UUID] = set()
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        goal_id, depth = stack.pop()
        if goal_id in seen:
            continue
        seen.add(goal_id)
        ordered.append((nodes[goal_id], depth))
        stack.extend((child, depth + 1) for child in reversed(children(goal_id)))
    return ordered


def alignment_tree(nodes: Mapping[UUID, GoalNode], root_goal_id: UUID | None) -> list[GoalNode]:
    """`tree_listing` over a fresh shape, with each node's `depth` set (for nodes the caller
    owns; a shared graph is listed with `tree_listing`)."""
    ordered = tree_listing(nodes, tree_shape(nodes), root_goal_id)
    for node, depth in ordered:
        node.depth = depth
    return [node for node, _ in ordered]


def _reachable(roots: list[UUID], children_of: Mapping[UUID, list[UUID]]) -> set[UUID]:
    found = set(roots)
    frontier = list(roots)
    while frontier:
        for child in children_of.get(frontier.pop(), []):
            if child not in found:
                found.add(child)
                frontier.append(child)
    return found


@dataclass(frozen=True)
class IndexedListing:
    """A listing as parallel lists: the nodes, their depths, and the index of each node's
    nearest listed ancestor (-1 for a root), so a query walks it without hashing ids."""

    nodes: list[GoalNode]
    depths: list[int]
    parents: list[int]


def indexed(listing: Listing) -> IndexedListing:
    nodes: list[GoalNode] = []
    depths: list[int] = []
    parents: list[int] = []
    path: list[int] = []  # indexes of the ancestors of the node at hand, one per depth
    for index, (node, depth) in enumerate(listing):
        del path[depth:]
        nodes.append(node)
        depths.append(depth)
        parents.append(path[-1] if path else -1)
        path.append(index)
    return IndexedListing(nodes, depths, parents)
