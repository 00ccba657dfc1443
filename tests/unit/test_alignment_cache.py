"""A tenant's cached goal graph brought up to date change by change equals the graph worked out
from scratch over the final goals: the same progress (the contracts' `rollup_progress` over the
final goals is the oracle), statuses, children and tree listing, whatever the changes (measures,
lifecycles, new links, renames, new goals, loops); and a graph already handed out never
changes."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from datetime import date
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from northstar_contracts.progress import derive_status, expected_progress_at, rollup_progress
from services.projections.alignment import GoalNode, link_graph
from services.projections.alignment_cache import TenantGraph, audience, link_tenant, updated
from services.projections.alignment_shape import alignment_tree

TODAY = date(2026, 6, 1)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

progress_values = st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.8, 1.0]))
weights = st.sampled_from([0.5, 1.0, 2.0, 3.0])
lifecycles = st.sampled_from(["draft", "active", "active", "completed", "cancelled"])


def gid(number: int) -> UUID:
    return uuid.UUID(int=number + 1)


def fresh(number: int, **fields: Any) -> GoalNode:
    """A goal as its row reads: unlinked (no children, progress or status yet)."""
    values: dict[str, Any] = {
        "goal_id": gid(number),
        "tenant_id": "acme",
        "title": f"goal {number % 4}",
        "level": "strategy" if number == 0 else "team",
        "owner_id": "owner-1",
        "team_id": "team-a",
        "visibility": "public",
        "lifecycle": "active",
        "outcome": None,
        "parent_goal_id": None,
        "contributes_to": [],
        "own_progress": None,
        "measured_by_own": False,
        "guardrail": False,
        "start_date": date(2026, 1, 1),
        "due_date": date(2026, 12, 31),
        "confidence": None,
        "version": 1,
    }
    return GoalNode(**(values | fields))


@st.composite
def goal_fields(draw: st.DrawFn, number: int, size: int) -> dict[str, Any]:
    """A goal's fields: a primary parent among the goals before it, contributions to any goal
    (rarely a later one, which may close a loop), its own measure."""
    earlier = list(range(number))
    parent = draw(st.one_of(st.none(), st.sampled_from(earlier))) if earlier else None
    targets = draw(
        st.lists(st.sampled_from(range(size)), max_size=2, unique=True).filter(
            lambda picked: number not in picked
        )
    )
    if any(target > number for target in targets) and draw(st.integers(0, 4)) != 0:
        targets = [target for target in targets if target < number]
    return {
        "parent_goal_id": None if parent is None else gid(parent),
        "contributes_to": [(gid(target), draw(weights)) for target in targets],
        "own_progress": draw(progress_values),
        "measured_by_own": draw(st.booleans()),
        "lifecycle": draw(lifecycles),
        "confidence": draw(st.one_of(st.none(), st.sampled_from([0.2, 0.4, 0.9]))),
    }


@st.composite
def a_change(draw: st.DrawFn, number: int, size: int) -> dict[str, Any]:
    """What one event can do to a goal's row: mostly its measure or lifecycle, sometimes its
    place (parent, contributions, title) or how it rolls up."""
    kind = draw(
        st.sampled_from(["measure", "measure", "lifecycle", "confidence", "audience", "placement"])
    )
    if kind == "measure":
        return {"own_progress": draw(progress_values.filter(lambda value: value is not None))}
    if kind == "lifecycle":
        return {"lifecycle": draw(lifecycles)}
    if kind == "confidence":
        return {"confidence": draw(st.sampled_from([0.2, 0.4, 0.9]))}
    if kind == "audience":  # who sees it: its visibility, owner, team or (as stored) tenant
        return {
            "visibility": draw(st.sampled_from(["public", "team", "private"])),
            "owner_id": draw(st.sampled_from(["owner-1", "owner-2"])),
            "team_id": draw(st.sampled_from(["team-a", "team-b"])),
            "tenant_id": draw(st.sampled_from(["acme", "acme", "globex"])),
        }
    placement = draw(goal_fields(number, size))
    placement["title"] = draw(st.sampled_from(["goal 0", "goal 9", "a goal"]))
    return placement


def oracle_progress(goals: dict[UUID, GoalNode]) -> dict[UUID, float]:
    """The contracts' roll-up over the final goals, links built here from the goals' fields."""
    children_of: dict[UUID, list[tuple[UUID, float]]] = {}
    for node in goals.values():
        links = [(node.parent_goal_id, 1.0)] if node.parent_goal_id else []
        for target, weight in links + node.contributes_to:
            if target in goals:
                children_of.setdefault(target, []).append((node.goal_id, weight))
    return rollup_progress(
        goals,
        {g: n.own_progress for g, n in goals.items() if n.own_progress is not None},
        children_of,
        measured_by_own={g for g, n in goals.items() if n.measured_by_own},
    )


def assert_matches_a_fresh_graph(graph: TenantGraph, goals: dict[UUID, GoalNode]) -> None:
    progress = oracle_progress(goals)
    assert {g: n.progress for g, n in graph.nodes.items()} == progress
    for goal_id, node in graph.nodes.items():
        lifecycle = node.outcome if node.lifecycle == "archived" else node.lifecycle
        expected = expected_progress_at(node.start_date, node.due_date, TODAY)
        assert node.status == derive_status(
            lifecycle=lifecycle or "cancelled",
            actual=progress[goal_id],
            expected=expected,
            confidence=node.confidence,
        )
    scratch = link_graph(
        {g: dataclasses.replace(n) for g, n in sorted(goals.items(), key=lambda i: str(i[0]))},
        TODAY,
    )
    for goal_id, node in scratch.items():
        cached = graph.nodes[goal_id]
        assert (cached.child_links, cached.uses_children) == (node.child_links, node.uses_children)
    listed = [
        (n.goal_id, depth)
        for n, depth in zip(graph.listing.nodes, graph.listing.depths, strict=True)
    ]
    assert listed == [(n.goal_id, n.depth) for n in alignment_tree(scratch, None)]
    assert all(graph.nodes[n.goal_id] is n for n in graph.listing.nodes)
    kept_counts = {
        (graph.audiences.distinct[number], status): count
        for number, counts in enumerate(graph.statuses_by_audience)
        for status, count in counts.items()
        if count
    }
    assert kept_counts == Counter((audience(n), n.status) for n in graph.nodes.values())


@PROPERTY
@given(st.integers(min_value=1, max_value=12), st.data())
def test_a_graph_updated_change_by_change_equals_one_worked_out_from_the_final_goals(
    size: int, data: st.DataObject
) -> None:
    goals = {
        gid(n): fresh(n, **data.draw(goal_fields(n, size), label=f"goal {n}")) for n in range(size)
    }
    graph = link_tenant({g: dataclasses.replace(n) for g, n in goals.items()}, (size, size), TODAY)
    assert_matches_a_fresh_graph(graph, goals)
    for step in range(data.draw(st.integers(min_value=1, max_value=6), label="steps")):
        numbers = data.draw(
            st.lists(st.integers(0, size), min_size=1, max_size=3, unique=True), label="changed"
        )
        changed: dict[UUID, GoalNode] = {}
        for number in numbers:
            if number == size:  # a new goal
                node = fresh(size + step, **data.draw(goal_fields(size + step, size)))
            else:
                before = goals[gid(number)]
                change = data.draw(a_change(number, size), label=f"change of {number}")
                node = dataclasses.replace(before, version=before.version + 1, **change)
            goals[node.goal_id] = node
            changed[node.goal_id] = dataclasses.replace(node)
        handed_out = {
            g: (n.progress, n.status, list(n.child_links)) for g, n in graph.nodes.items()
        }
        newer = updated(graph, changed, (len(goals), graph.fingerprint[1] + 1))
        assert {
            g: (n.progress, n.status, list(n.child_links)) for g, n in graph.nodes.items()
        } == handed_out
        graph = newer
        assert_matches_a_fresh_graph(graph, goals)
