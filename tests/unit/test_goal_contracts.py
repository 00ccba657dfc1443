"""Every Goal event has a public, documented contract, and domain events map onto it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from northstar_contracts import goals as goal_contracts
from northstar_contracts.errors import ContractViolation
from northstar_contracts.registry import EVENTS
from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.goals.publishing import public_type_name

GOAL_EVENT_TYPES = sorted(c.type_name for c in EVENTS.on_topic(goal_contracts.TOPIC))


def contract_data(event: Goal.Event) -> tuple[str, dict[str, Any]]:
    type_name = public_type_name(type(event))
    return type_name, EVENTS.outbound_data_of(type_name, event)[1]


def goal_event_classes() -> list[type[Goal.Event]]:
    return [
        value
        for value in vars(Goal).values()
        if isinstance(value, type) and issubclass(value, Goal.Event) and value is not Goal.Event
    ]


def every_kind_of_event() -> list[Goal.Event]:
    goal = Goal.create(
        tenant_id="acme",
        title="Reduce support backlog",
        description="Tickets older than a week.",
        owner_id="ana",
        team_id="support",
        level="team",
        start_date=date(2025, 1, 1),
        due_date=date(2025, 3, 31),
        metric=Metric("number", "decrease", 120, 20, "tickets"),
        parent_goal_id=uuid4(),
        visibility="team",
        created_by="ana",
        recurring=True,
    )
    goal.rename("Reduce the support backlog", "ana")
    goal.describe("Tickets older than five days.", "ana")
    goal.flag_for_reassignment("ana", "carla", date(2025, 1, 15), "hr")
    goal.reassign("bob", "support-emea", "carla")
    goal.change_visibility("public", "carla")
    goal.activate("bob")
    goal.align(uuid4(), "new org chart", "bob")
    goal.set_contributions({uuid4(): 2.0}, "", "bob")
    key_result = goal.add_key_result("Answer in a day", Metric("binary", "increase", 0, 1), 1, "b")
    goal.check_in(80, 0.6, "hired two agents", "bob")
    goal.check_in(1, 0.7, "", "bob", key_result_id=key_result)
    goal.change_key_result_progress_source(key_result, "kpi", "the feed says", "b", kpi_id=uuid4())
    goal.change_target(10, "automation helps", "bob")
    goal.change_due_date(date(2025, 4, 30), "holidays", "bob")
    goal.change_metric(Metric("percentage", "decrease", 60, 10), "share, not count", "bob")
    goal.remove_key_result(key_result, "covered elsewhere", "bob")
    goal.change_progress_source("children", "the teams' goals say it better", "bob")
    goal.roll_over(uuid4(), "bob")
    goal.complete("bob")
    goal.reopen("reopened ticket flood", "bob")
    goal.cancel("team merged", "bob")
    goal.archive("bob")
    unmeasured = Goal.create(**{**goal.next_period_arguments("bob"), "metric": None})
    unmeasured.define_metric(Metric("number", "stay_below", 50, 50), "bob")
    events = [*goal.collect_events(), *unmeasured.collect_events()]
    return [event for event in events if isinstance(event, Goal.Event)]


def test_every_goal_event_class_has_a_contract() -> None:
    names = {public_type_name(event_class) for event_class in goal_event_classes()}
    assert len(names) == 23
    assert names == set(GOAL_EVENT_TYPES)


@pytest.mark.parametrize("type_name", GOAL_EVENT_TYPES)
def test_every_contract_has_a_json_schema_with_described_fields(type_name: str) -> None:
    schema = EVENTS.current(type_name).model.model_json_schema()
    assert all("description" in field for field in schema["properties"].values())


def test_schema_version_is_one() -> None:
    assert {EVENTS.current_version(name) for name in GOAL_EVENT_TYPES} == {1}


def test_every_kind_of_event_maps_to_json_ready_data() -> None:
    events = every_kind_of_event()
    assert {type(event) for event in events} == set(goal_event_classes())
    for event in events:
        type_name, data = contract_data(event)
        assert type_name == f"goals.Goal{type(event).__name__}"
        assert json.loads(json.dumps(data)) == data


def test_contract_data_writes_uuids_and_dates_as_strings() -> None:
    created = every_kind_of_event()[0]
    assert isinstance(created, Goal.Created)
    type_name, data = contract_data(created)
    assert type_name == "goals.GoalCreated"
    assert data["start_date"] == "2025-01-01"
    assert data["parent_goal_id"] == str(created.parent_goal_id)
    assert UUID(data["parent_goal_id"]) == created.parent_goal_id
    assert data["metric"]["direction"] == "decrease"


def test_producers_refuse_unknown_fields_and_readers_ignore_them() -> None:
    with pytest.raises(ContractViolation) as refused:
        EVENTS.outbound_data("goals.GoalActivated", {"by": "ana", "extra": 1})
    assert refused.value.field == "data.extra"
    read = EVENTS.read_data("goals.GoalActivated", 1, {"by": "ana", "extra": 1})
    assert read == goal_contracts.GoalActivatedV1(by="ana")
