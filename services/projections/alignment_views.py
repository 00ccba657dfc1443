"""Views over a tenant's goal graph: how much is aligned to strategy, paths to the root, and who
contributes to an objective with what weight. Pure functions of `tenant_graph`'s nodes."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from northstar_contracts.progress import CANCELLED
from services.projections.alignment import GoalNode

STRATEGY = "strategy"


@dataclass(frozen=True)
class Share:
    scope_id: str
    goal_count: int
    aligned_count: int

    @property
    def aligned_share(self) -> float:
        return self.aligned_count / self.goal_count if self.goal_count else 0.0


@dataclass(frozen=True)
class Summary:
    tenant: Share
    departments: list[Share]
    teams: list[Share]
    orphans: list[GoalNode]


@dataclass(frozen=True)
class ContributorView:
    node: GoalNode
    distance: int
    effective_weight: float

    @property
    def direct(self) -> bool:
        return self.distance == 1


def aligned_goal_ids(nodes: Mapping[UUID, GoalNode]) -> set[UUID]:
    """Goals with a path (primary parents or contributes-to links) up to a strategy goal."""
    aligned: set[UUID] = set()
    frontier = deque(g for g, node in nodes.items() if node.level == STRATEGY)
    while frontier:
        for child in nodes[frontier.popleft()].child_goal_ids:
            if child not in aligned:
                aligned.add(child)
                frontier.append(child)
    return aligned


def counts_towards_alignment(node: GoalNode) -> bool:
    """Strategic objectives are what others align to, and cancelled goals no longer count."""
    return node.level != STRATEGY and node.status != CANCELLED


def alignment_summary(
    tenant_id: str,
    nodes: Mapping[UUID, GoalNode],
    counted: Iterable[GoalNode],
    department_of: Callable[[str], str],
) -> Summary:
    """Shares over `counted` (already filtered by the caller), aligned judged on the whole graph."""
    aligned = aligned_goal_ids(nodes)
    considered = [node for node in counted if counts_towards_alignment(node)]
    totals: dict[str, Counter[str]] = {
        "tenant": Counter(),
        "department": Counter(),
        "team": Counter(),
    }
    hits: dict[str, Counter[str]] = {
        "tenant": Counter(),
        "department": Counter(),
        "team": Counter(),
    }
    departments: dict[str, str] = {}
    for node in considered:
        if node.team_id not in departments:
            departments[node.team_id] = department_of(node.team_id) or node.team_id
        scopes = {
            "tenant": tenant_id,
            "department": departments[node.team_id],
            "team": node.team_id,
        }
        for kind, scope_id in scopes.items():
            totals[kind][scope_id] += 1
            if node.goal_id in aligned:
                hits[kind][scope_id] += 1

    def shares(kind: str) -> list[Share]:
        return [Share(s, totals[kind][s], hits[kind][s]) for s in sorted(totals[kind])]

    orphans = sorted(
        (node for node in considered if node.goal_id not in aligned),
        key=lambda node: (node.title, str(node.goal_id)),
    )
    return Summary(
        tenant=Share(tenant_id, totals["tenant"][tenant_id], hits["tenant"][tenant_id]),
        departments=shares("department"),
        teams=shares("team"),
        orphans=orphans,
    )


def goal_path(nodes: Mapping[UUID, GoalNode], goal_id: UUID) -> list[GoalNode]:
    """The goal, its primary parent, theirs, ... up to the root (the goal first)."""
    path: list[GoalNode] = []
    seen: set[UUID] = set()
    current: UUID | None = goal_id
    while current is not None and current in nodes:
        if current in seen:
            break  # a loop recorded by racing writers: the path ends where it would repeat
        seen.add(current)
        path.append(nodes[current])
        current = nodes[current].parent_goal_id
    return path


def contributors(nodes: Mapping[UUID, GoalNode], objective_id: UUID) -> list[ContributorView]:
    """Every goal below the objective, nearest first, with the share of the objective's roll-up
    progress that flows from it (the product of normalised weights, summed over every path)."""
    distance = _distances_below(nodes, objective_id)
    flow: dict[UUID, float] = dict.fromkeys(distance, 0.0)
    flow[objective_id] = 1.0
    for goal_id in _top_down_order(nodes, objective_id):
        node = nodes[goal_id]
        if not node.uses_children:
            continue  # its own measure stands in for its children: nothing flows through
        total = sum(weight for _, weight in node.child_links)
        for child, weight in node.child_links:
            flow[child] += flow[goal_id] * weight / total
    found = [ContributorView(nodes[g], distance[g], flow[g]) for g in distance if g != objective_id]
    found.sort(key=lambda c: (c.distance, c.node.title, str(c.node.goal_id)))
    return found


def _distances_below(nodes: Mapping[UUID, GoalNode], objective_id: UUID) -> dict[UUID, int]:
    distance = {objective_id: 0}
    frontier = deque([objective_id])
    while frontier:
        goal_id = frontier.popleft()
        for child in nodes[goal_id].child_goal_ids:
            if child not in distance:
                distance[child] = distance[goal_id] + 1
                frontier.append(child)
    return distance


def _top_down_order(nodes: Mapping[UUID, GoalNode], objective_id: UUID) -> list[UUID]:
    """Every goal below the objective after all of its parents (reverse post-order)."""
    post_order: list[UUID] = []
    visited: set[UUID] = {objective_id}
    stack: list[tuple[UUID, int]] = [(objective_id, 0)]
    while stack:
        goal_id, next_child = stack[-1]
        children = nodes[goal_id].child_goal_ids
        if next_child < len(children):
            stack[-1] = (goal_id, next_child + 1)
            child = children[next_child]
            if child not in visited:
                visited.add(child)
                stack.append((child, 0))
            continue
        post_order.append(goal_id)
        stack.pop()
    return post_order[::-1]
