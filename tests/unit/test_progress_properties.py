"""Properties of the progress maths and of alignment, checked with hypothesis."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import date
from graphlib import CycleError, TopologicalSorter
from uuid import UUID, uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from northstar_contracts.alignment import without_cycle_links
from northstar_contracts.errors import ContractViolation
from northstar_contracts.progress import metric_progress, rollup_progress, weighted_progress
from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.goals.rules import AlignmentCycle

FAST = settings(max_examples=150, deadline=None)

finite = st.floats(allow_nan=False, allow_infinity=False)
unit_interval = st.floats(min_value=0.0, max_value=1.0)
positive_weight = st.floats(min_value=1e-100, max_value=1e100)


@st.composite
def metrics(draw: st.DrawFn) -> Metric:
    direction = draw(st.sampled_from(["increase", "decrease", "stay_above", "stay_below"]))
    start, target = draw(finite), draw(finite)
    if direction in ("increase", "decrease"):
        if start == target:
            target = math.nextafter(start, math.inf if start < 0 else -math.inf)
        low, high = sorted((start, target))
        start, target = (low, high) if direction == "increase" else (high, low)
    return Metric("number", direction, start, target)


@st.composite
def acyclic_graphs(
    draw: st.DrawFn,
) -> tuple[list[UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]]:
    """Up to 8 goals; a child always has a higher index than its parents, so no cycles."""
    size = draw(st.integers(min_value=1, max_value=8))
    ids = [uuid4() for _ in range(size)]
    own = {goal_id: draw(unit_interval) for goal_id in ids}
    children: dict[UUID, list[tuple[UUID, float]]] = {}
    for parent in range(size):
        picked = draw(st.sets(st.integers(min_value=parent + 1, max_value=size), max_size=3))
        links = [(ids[child], draw(positive_weight)) for child in sorted(picked) if child < size]
        if links:
            children[ids[parent]] = links
    return ids, own, children


@FAST
@given(metrics(), finite)
def test_metric_progress_stays_in_the_unit_interval(metric: Metric, current: float) -> None:
    assert 0.0 <= metric_progress(metric, current) <= 1.0


@FAST
@given(st.lists(st.tuples(unit_interval, positive_weight), min_size=1, max_size=10))
def test_weighted_progress_stays_in_the_unit_interval(parts: list[tuple[float, float]]) -> None:
    assert 0.0 <= weighted_progress(parts) <= 1.0


@FAST
@given(
    st.lists(st.tuples(unit_interval, positive_weight), min_size=1, max_size=10),
    st.data(),
)
def test_a_parent_is_monotone_in_each_childs_progress(
    parts: list[tuple[float, float]], data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    progress, weight = parts[index]
    better = data.draw(st.floats(min_value=progress, max_value=1.0))
    improved = [*parts[:index], (better, weight), *parts[index + 1 :]]
    assert weighted_progress(improved) >= weighted_progress(parts)


@FAST
@given(acyclic_graphs(), st.data())
def test_rollup_is_monotone_in_each_goals_own_progress(
    graph: tuple[list[UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]],
    data: st.DataObject,
) -> None:
    ids, own, children = graph
    before = rollup_progress(ids, own, children)
    assert all(0.0 <= value <= 1.0 for value in before.values())
    changed = data.draw(st.sampled_from(ids))
    raised = {**own, changed: data.draw(st.floats(min_value=own[changed], max_value=1.0))}
    after = rollup_progress(ids, raised, children)
    assert all(after[goal_id] >= before[goal_id] for goal_id in ids)


@FAST
@given(acyclic_graphs(), st.floats(min_value=1e-3, max_value=1e3))
def test_scaling_all_weights_together_changes_nothing(
    graph: tuple[list[UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]],
    factor: float,
) -> None:
    ids, own, children = graph
    scaled = {
        parent: [(child, weight * factor) for child, weight in links]
        for parent, links in children.items()
    }
    before, after = rollup_progress(ids, own, children), rollup_progress(ids, own, scaled)
    assert all(abs(after[goal_id] - before[goal_id]) <= 1e-9 for goal_id in ids)


@st.composite
def any_graphs(
    draw: st.DrawFn,
) -> tuple[list[UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]]:
    """Up to 6 goals linked in any way, loops and self-links included."""
    size = draw(st.integers(min_value=1, max_value=6))
    ids = [uuid4() for _ in range(size)]
    own = {goal_id: draw(unit_interval) for goal_id in ids}
    children: dict[UUID, list[tuple[UUID, float]]] = {}
    for parent in ids:
        picked = draw(st.sets(st.sampled_from(ids), max_size=3))
        if picked:
            children[parent] = [(child, draw(positive_weight)) for child in sorted(picked)]
    return ids, own, children


def acyclic(links_of: Mapping[UUID, Iterable[UUID]]) -> bool:
    """The oracle: the standard library's topological sort, independent of the code under test."""
    try:
        tuple(
            TopologicalSorter({node: set(links) for node, links in links_of.items()}).static_order()
        )
    except CycleError:
        return False
    return True


def is_acyclic(children: dict[UUID, list[tuple[UUID, float]]]) -> bool:
    return acyclic({parent: [child for child, _ in links] for parent, links in children.items()})


@FAST
@given(any_graphs(), st.data())
def test_a_cycle_never_stops_the_rollup_and_every_view_ignores_the_same_links(
    graph: tuple[list[UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]],
    data: st.DataObject,
) -> None:
    ids, own, children = graph
    whole = rollup_progress(ids, own, children)
    assert set(whole) == set(ids)
    assert all(0.0 <= value <= 1.0 for value in whole.values())
    start = data.draw(st.sampled_from(ids))
    below = rollup_progress([start], own, children)
    assert all(below[goal_id] == whole[goal_id] for goal_id in below)
    acyclic, ignored = without_cycle_links(children)
    assert is_acyclic(acyclic)
    assert all(
        (child, weight) in children[parent]
        for parent, links in acyclic.items()
        for child, weight in links
    )
    assert len(ignored) == sum(map(len, children.values())) - sum(map(len, acyclic.values()))


GOAL_COUNT = 6
alignment_commands = st.lists(
    st.tuples(
        st.sampled_from(["align", "contribute", "uncontribute"]),
        st.integers(min_value=0, max_value=GOAL_COUNT - 1),
        st.integers(min_value=0, max_value=GOAL_COUNT - 1),
    ),
    max_size=40,
)


def team_goal() -> Goal:
    goal = Goal.create(
        tenant_id="acme",
        title="Ship the onboarding flow",
        description="",
        owner_id="ana",
        team_id="growth",
        level="team",
        start_date=date(2025, 1, 1),
        due_date=None,
        metric=None,
        parent_goal_id=None,
        visibility="public",
        created_by="ana",
    )
    goal.activate("ana")
    return goal


def has_cycle(goals: dict[UUID, Goal]) -> bool:
    return not acyclic({goal_id: goal.linked_goal_ids for goal_id, goal in goals.items()})


@settings(max_examples=100, deadline=None)
@given(alignment_commands)
def test_no_sequence_of_alignment_commands_creates_a_cycle(
    commands: list[tuple[str, int, int]],
) -> None:
    goals = [team_goal() for _ in range(GOAL_COUNT)]
    by_id = {goal.id: goal for goal in goals}

    def parent_of(goal_id: UUID) -> tuple[UUID, ...]:
        return by_id[goal_id].linked_goal_ids

    for command, source, target in commands:
        goal, target_id = goals[source], goals[target].id
        version = goal.version
        links = dict(goal.contributions)
        if command == "align":
            proposed = {target_id, *links}
        else:
            if command == "contribute":
                links[target_id] = 1.0
            else:
                links.pop(target_id, None)
            primary = () if goal.parent_goal_id is None else (goal.parent_goal_id,)
            proposed = {*primary, *links}
        closes_a_loop = not acyclic(
            {
                goal_id: (proposed if goal_id == goal.id else g.linked_goal_ids)
                for goal_id, g in by_id.items()
            }
        )
        try:
            if command == "align":
                goal.align(target_id, "reorganisation", "ana", parent_of=parent_of)
            else:
                goal.set_contributions(links, "rebalance", "ana", parent_of=parent_of)
        except AlignmentCycle:
            assert closes_a_loop, "refused a link that closes no loop"
            assert goal.version == version  # a refused command records nothing
        except ContractViolation:
            assert goal.version == version
        else:
            assert not closes_a_loop, "accepted a link that closes a loop"
        assert not has_cycle(by_id)
