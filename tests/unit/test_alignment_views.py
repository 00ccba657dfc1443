"""Alignment views over a goal graph: aligned shares and orphans, paths, contributors' weights."""

from __future__ import annotations

import math
import uuid
from datetime import date
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from services.projections.alignment import GoalNode, link_graph
from services.projections.alignment_shape import alignment_tree
from services.projections.alignment_views import (
    aligned_goal_ids,
    alignment_summary,
    contributors,
    goal_path,
)

TODAY = date(2026, 6, 1)


def goal(
    name: str,
    level: str = "team",
    parent: str | None = None,
    contributes: dict[str, float] | None = None,
    *,
    own: float | None = None,
    team: str = "team-a",
    measured_by_own: bool = False,
    lifecycle: str = "active",
) -> GoalNode:
    return GoalNode(
        goal_id=gid(name),
        tenant_id="acme",
        title=name,
        level=level,
        owner_id="owner-1",
        team_id=team,
        visibility="public",
        lifecycle=lifecycle,
        outcome="cancelled" if lifecycle == "cancelled" else None,
        parent_goal_id=gid(parent) if parent else None,
        contributes_to=[(gid(target), weight) for target, weight in (contributes or {}).items()],
        own_progress=own,
        measured_by_own=measured_by_own,
        guardrail=False,
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        confidence=None,
        version=1,
    )


def gid(name: str) -> UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, name)


def graph(*nodes: GoalNode) -> dict[UUID, GoalNode]:
    return link_graph({node.goal_id: node for node in nodes}, TODAY)


def three_levels() -> dict[UUID, GoalNode]:
    """Strategy S; company C1, C2 under it; team T1 under C1 also contributing to C2 (weight
    3); team T2 under C2; personal P1, P2 under T1; and an orphan team goal O."""
    return graph(
        goal("S", "strategy"),
        goal("C1", "company", "S"),
        goal("C2", "company", "S"),
        goal("T1", "team", "C1", {"C2": 3.0}),
        goal("T2", "team", "C2", own=0.2, team="team-b"),
        goal("P1", "personal", "T1", own=0.5),
        goal("P2", "personal", "T1", own=1.0),
        goal("O", "team", own=0.4, team="team-b"),
        goal("X", "team", "C1", own=0.9, lifecycle="cancelled"),
    )


def test_every_goal_below_a_strategy_goal_is_aligned_and_the_rest_are_orphans() -> None:
    nodes = three_levels()
    assert aligned_goal_ids(nodes) == {gid(n) for n in ("C1", "C2", "T1", "T2", "P1", "P2", "X")}
    summary = alignment_summary(
        "acme", nodes, nodes.values(), {"team-a": "sales", "team-b": "sales"}.__getitem__
    )
    assert [node.title for node in summary.orphans] == ["O"]
    # Strategy goals are what others align to and cancelled goals no longer count.
    assert (summary.tenant.goal_count, summary.tenant.aligned_count) == (7, 6)
    assert [(s.scope_id, s.goal_count, s.aligned_count) for s in summary.teams] == [
        ("team-a", 5, 5),
        ("team-b", 2, 1),
    ]
    assert [(s.scope_id, s.aligned_share) for s in summary.departments] == [("sales", 6 / 7)]


def test_a_team_unknown_to_the_directory_is_its_own_department() -> None:
    nodes = three_levels()
    summary = alignment_summary("acme", nodes, nodes.values(), lambda team: "")
    assert [s.scope_id for s in summary.departments] == ["team-a", "team-b"]


def test_the_path_follows_primary_parents_up_to_the_strategic_root() -> None:
    nodes = three_levels()
    assert [node.title for node in goal_path(nodes, gid("P1"))] == ["P1", "T1", "C1", "S"]
    assert [node.title for node in goal_path(nodes, gid("O"))] == ["O"]


def test_contributors_carry_weights_that_explain_the_objectives_progress() -> None:
    nodes = three_levels()
    found = {c.node.title: c for c in contributors(nodes, gid("C2"))}
    assert set(found) == {"T1", "T2", "P1", "P2"}
    assert (found["T1"].direct, found["T1"].distance) == (True, 1)
    assert (found["P1"].direct, found["P1"].distance) == (False, 2)
    assert math.isclose(found["T1"].effective_weight, 0.75)
    assert math.isclose(found["T2"].effective_weight, 0.25)
    assert math.isclose(found["P1"].effective_weight, 0.375)
    leaves = [c for c in found.values() if not c.node.uses_children]
    explained = sum(c.effective_weight * (c.node.own_progress or 0.0) for c in leaves)
    assert math.isclose(explained, nodes[gid("C2")].progress)


def test_nothing_flows_through_a_goal_measured_by_its_own_metric() -> None:
    nodes = graph(
        goal("S", "strategy"),
        goal("C", "company", "S", own=0.3, measured_by_own=True),
        goal("T", "team", "C", own=0.9),
    )
    found = {c.node.title: c for c in contributors(nodes, gid("S"))}
    assert found["C"].effective_weight == 1.0
    assert found["T"].effective_weight == 0.0
    assert nodes[gid("S")].progress == 0.3


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> dict[UUID, GoalNode]:
    """Goal i links only to goals with a smaller index, so the graph has no cycle."""
    size = draw(st.integers(2, 9))
    nodes = []
    for index in range(size):
        targets: set[int] = set()
        if index:
            targets = draw(st.sets(st.integers(0, index - 1), max_size=3))
        ordered = sorted(targets)
        use_parent: bool = draw(st.booleans())
        parent = f"g{ordered[0]}" if ordered and use_parent else None
        contributes = {
            f"g{t}": float(draw(st.integers(1, 5))) for t in ordered if f"g{t}" != parent
        }
        own = draw(st.one_of(st.none(), st.integers(0, 10).map(lambda v: v / 10)))
        measured = draw(st.booleans())
        nodes.append(
            goal(f"g{index}", "team", parent, contributes, own=own, measured_by_own=measured)
        )
    return graph(*nodes)


@given(acyclic_graphs())
def test_effective_weights_times_own_progress_sum_to_every_objectives_progress(
    nodes: dict[UUID, GoalNode],
) -> None:
    for objective_id, objective in nodes.items():
        if not objective.uses_children:
            continue
        leaves = [c for c in contributors(nodes, objective_id) if not c.node.uses_children]
        explained = math.fsum(c.effective_weight * (c.node.own_progress or 0.0) for c in leaves)
        assert math.isclose(explained, objective.progress, abs_tol=1e-9)


def test_the_tree_places_a_goal_under_its_primary_parent_whatever_the_ids() -> None:
    nodes = three_levels()
    listed = [(node.title, node.depth) for node in alignment_tree(nodes, None)]
    assert listed == [
        ("S", 0),
        ("C1", 1),
        ("T1", 2),
        ("P1", 3),
        ("P2", 3),
        ("X", 2),
        ("C2", 1),
        ("T2", 2),
        ("O", 0),
    ]


def test_a_tree_from_an_objective_also_lists_contributors_placed_elsewhere() -> None:
    nodes = three_levels()
    listed = [(node.title, node.depth) for node in alignment_tree(nodes, gid("C2"))]
    assert listed == [("C2", 0), ("T2", 1), ("T1", 1), ("P1", 2), ("P2", 2)]


def test_a_loop_recorded_by_racing_writers_neither_fails_nor_hides_goals() -> None:
    looped = {
        node.goal_id: node
        for node in (
            goal("objective", "strategy"),
            goal("a", parent="b", own=0.4),
            goal("b", parent="a", own=0.8),
            goal("c", parent="a", own=1.0),
        )
    }
    nodes = link_graph(looped, TODAY)
    tree = alignment_tree(nodes, None)
    assert {node.title for node in tree} == {"objective", "a", "b", "c"}
    assert all(0.0 <= node.progress <= 1.0 for node in nodes.values())
    path = goal_path(nodes, gid("c"))
    assert [node.title for node in path][:2] == ["c", "a"]
    assert len(path) == len({node.goal_id for node in path})
