"""Roll-ups read from the goal index (one recursive query over its rows) give what the goals
themselves give, on both index stores; saves write the index, a catch-up makes good what a save
left out, and index databases shared by replicas see each other's saves at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.index import GoalIndex
from services.goals.metrics import Metric
from services.goals.queries import rolled_up_progress
from services.shared.eventstore import CommandContext
from services.shared.readmodel import ReadModelDatabase

SOURCES = (None, "metric", "key_results", "children")
METRIC = Metric("number", "increase", 0.0, 100.0)


@pytest.fixture
def index_db(store_url: str) -> Iterator[ReadModelDatabase]:
    db = ReadModelDatabase(
        store_url.replace("store.db", "index.db") if store_url.startswith("sqlite") else store_url,
        schema="goals_index",
    )
    yield db
    db.close()


def _goal(tenant: str, spec: dict[str, Any], parent_id: UUID | None) -> Goal:
    source = spec["source"]
    goal = Goal.create(
        tenant_id=tenant,
        title=f"Goal {spec['number']}",
        description="",
        owner_id="ann",
        team_id="team-a",
        level="team",
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=METRIC if spec["has_metric"] or source == "metric" else None,
        parent_goal_id=parent_id,
        visibility="public",
        created_by="hr-1",
        progress_source=source,
    )
    for weight in spec["key_results"]:
        goal.add_key_result("A key result", METRIC, weight, "hr-1")
    goal.activate("hr-1")
    if goal.metric is not None:
        goal.check_in(spec["value"], 0.5, "", "hr-1")
    for key_result, value in zip(goal.key_results, spec["key_result_values"], strict=False):
        goal.check_in(value, 0.5, "", "hr-1", key_result_id=key_result.key_result_id)
    return goal


def _oracle(goals: dict[UUID, Goal], goal: Goal) -> float:
    """The aggregates' own rule, walked over the goals in memory: a goal its children drive
    takes the weighted mean of its children of the same tenant, any other its own measure."""
    if not goal.driven_by_children:
        return goal.progress()
    children = []
    for child in sorted(goals.values(), key=lambda g: g.id):
        if child.tenant_id != goal.tenant_id:
            continue
        weight = 1.0 if child.parent_goal_id == goal.id else child.contributions.get(goal.id)
        if weight:
            children.append((_oracle(goals, child), float(weight)))
    return goal.progress(children)


goal_specs = st.lists(
    st.fixed_dictionaries(
        {
            "source": st.sampled_from(SOURCES),
            "has_metric": st.booleans(),
            "key_results": st.lists(st.floats(0.5, 4.0), max_size=2),
            "key_result_values": st.lists(st.floats(0.0, 120.0), max_size=2),
            "value": st.floats(-10.0, 110.0),
            "parent": st.none() | st.integers(0, 20),
            "contributes_to": st.dictionaries(st.integers(0, 20), st.floats(0.1, 5.0), max_size=2),
            "other_tenant": st.integers(0, 9).map(lambda n: n == 0),
        }
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(specs=goal_specs, tenant_number=st.integers(0, 10**9))
def test_the_index_roll_up_equals_the_goals_own_rule_on_every_goal_of_a_graph(
    index_db: ReadModelDatabase, specs: list[dict[str, Any]], tenant_number: int
) -> None:
    app = GoalsApplication()
    index = GoalIndex(app, index_db)
    tenant = f"acme-{tenant_number}"
    goals: dict[UUID, Goal] = {}
    ids: list[UUID] = []
    for number, spec in enumerate(specs):
        spec["number"] = number
        # Links only to goals made before: the graph is acyclic, with shared children.
        parent_id = ids[spec["parent"] % number] if number and spec["parent"] is not None else None
        goal = _goal(f"{tenant}-other" if spec["other_tenant"] else tenant, spec, parent_id)
        targets = {ids[t % number]: w for t, w in spec["contributes_to"].items() if number}
        targets.pop(parent_id, None)
        if targets:
            goal.set_contributions(targets, "contributes", "hr-1")
        goals[goal.id] = goal
        ids.append(goal.id)
        app.save_goals(CommandContext.new(goal.tenant_id, "hr-1"), goal)
    for goal in goals.values():
        expected = _oracle(goals, goal)
        assert rolled_up_progress(app, index, goal) == pytest.approx(expected, abs=1e-12)


def _metric_goal(title: str, parent_id: UUID | None = None, value: float = 0.0) -> Goal:
    return _goal(
        "acme",
        {
            "number": title,
            "source": "children" if parent_id is None else None,
            "has_metric": parent_id is not None,
            "key_results": [],
            "key_result_values": [],
            "value": value,
        },
        parent_id,
    )


def test_a_save_writes_the_index_and_a_replica_sharing_it_reads_it_without_catching_up(
    index_db: ReadModelDatabase,
) -> None:
    app = GoalsApplication()
    writer = GoalIndex(app, index_db)
    reader = GoalIndex(GoalsApplication(), index_db, follow_saves=False)
    root = _metric_goal("Root")
    app.save_goals(CommandContext.new("acme", "hr-1"), root)
    child = _metric_goal("Child", root.id, value=40.0)
    app.save_goals(CommandContext.new("acme", "hr-1"), child)

    assert sorted(goal.title for goal in reader.list_goals("acme")) == ["Goal Child", "Goal Root"]
    assert rolled_up_progress(reader.app, reader, root) == pytest.approx(0.4)
    assert writer.position() == 0  # nothing was caught up: the saves wrote the rows


def test_a_save_the_index_missed_is_indexed_by_the_next_catch_up_without_reloading_the_rest(
    index_db: ReadModelDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = GoalsApplication()
    index = GoalIndex(app, index_db)
    root = _metric_goal("Root")
    app.save_goals(CommandContext.new("acme", "hr-1"), root)
    # The process stops between storing the events and writing the index.
    app.goals_saved.remove(index.record)
    child = _metric_goal("Child", root.id, value=70.0)
    app.save_goals(CommandContext.new("acme", "hr-1"), child)
    assert rolled_up_progress(app, index, root) == 0.0
    loaded: list[UUID] = []
    load = app.repository.get

    def noting_loads(aggregate_id: UUID, **options: Any) -> Any:
        loaded.append(aggregate_id)
        return load(aggregate_id, **options)

    monkeypatch.setattr(app.repository, "get", noting_loads)

    assert index.catch_up() == app.recorder.max_notification_id()
    assert loaded == [child.id]  # the root's row was already at its latest version
    assert rolled_up_progress(app, index, root) == pytest.approx(0.7)
    assert index.position() == app.recorder.max_notification_id()
