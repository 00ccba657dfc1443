"""Alignment graphs that contain a loop anyway: which links to leave out, the same in every view.

The writers refuse links that close a loop, but two writer replicas racing can still record
one; the read side then ignores the closing links instead of failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID


def without_cycle_links(
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]],
) -> tuple[dict[UUID, list[tuple[UUID, float]]], list[tuple[UUID, UUID]]]:
    """`children_of` without the links that close a cycle, and those links as (parent, child).

    Each group of goals that reach one another is walked depth first from its smallest id,
    children in id order; a link back to a goal on the walk's path closes a cycle and is left
    out. So the smallest id of a loop keeps its place at the top, and the choice depends only
    on the loop itself: every view that sees the loop (one goal's subtree, a whole tenant)
    ignores the same links.
    """
    ignored: list[tuple[UUID, UUID]] = []
    for group in _strongly_connected_groups(children_of):
        members = set(group)
        start = min(group)
        if len(group) == 1 and all(child != start for child, _ in children_of.get(start, ())):
            continue
        on_path: set[UUID] = {start}
        visited: set[UUID] = {start}
        stack: list[tuple[UUID, list[UUID]]] = [(start, _children_in(children_of, start, members))]
        while stack:
            goal_id, pending = stack[-1]
            if not pending:
                on_path.discard(goal_id)
                stack.pop()
                continue
            child_id = pending.pop(0)
            if child_id in on_path:
                ignored.append((goal_id, child_id))
            elif child_id not in visited:
                visited.add(child_id)
                on_path.add(child_id)
                stack.append((child_id, _children_in(children_of, child_id, members)))
    dropped = set(ignored)
    acyclic = {
        goal_id: [(child, weight) for child, weight in children if (goal_id, child) not in dropped]
        for goal_id, children in children_of.items()
    }
    return acyclic, ignored


def _children_in(
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]], goal_id: UUID, members: set[UUID]
) -> list[UUID]:
    return sorted({child for child, _ in children_of.get(goal_id, ()) if child in members})


def _strongly_connected_groups(
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]],
) -> list[list[UUID]]:
    """Tarjan's algorithm, iteratively (alignment chains may be deeper than the recursion limit)."""
    order: dict[UUID, int] = {}
    lowest: dict[UUID, int] = {}
    unfinished: list[UUID] = []
    unfinished_set: set[UUID] = set()
    groups: list[list[UUID]] = []

    def discover(goal_id: UUID) -> None:
        order[goal_id] = lowest[goal_id] = len(order)
        unfinished.append(goal_id)
        unfinished_set.add(goal_id)

    for start in sorted(children_of):
        if start in order:
            continue
        discover(start)
        walk: list[tuple[UUID, int]] = [(start, 0)]
        while walk:
            goal_id, next_child = walk[-1]
            children = children_of.get(goal_id, ())
            if next_child < len(children):
                walk[-1] = (goal_id, next_child + 1)
                child_id = children[next_child][0]
                if child_id not in order:
                    discover(child_id)
                    walk.append((child_id, 0))
                elif child_id in unfinished_set:
                    lowest[goal_id] = min(lowest[goal_id], order[child_id])
                continue
            walk.pop()
            if walk:
                parent_id = walk[-1][0]
                lowest[parent_id] = min(lowest[parent_id], lowest[goal_id])
            if lowest[goal_id] == order[goal_id]:
                group: list[UUID] = []
                while True:
                    member = unfinished.pop()
                    unfinished_set.discard(member)
                    group.append(member)
                    if member == goal_id:
                        break
                groups.append(group)
    return groups
