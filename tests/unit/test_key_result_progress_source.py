"""A key result's progress source: its own check-ins (metric, the default) or a KPI, chosen when
it is added or changed with a reason; a KPI's measurement checks in on every key result it
drives (once), and a person's value on such a key result is refused."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.goals.rules import GoalNotActive
from services.shared.errors import FailedPrecondition, InvalidArgument, NorthstarError, NotFound
from tests.unit.test_goal_aggregate import active_goal, event_names, new_goal, refused

RENEWALS = Metric("number", "increase", 0, 10)
REVENUE = Metric("currency", "increase", 100, 120, "EUR")


def test_a_key_result_is_measured_by_its_own_metric_unless_a_kpi_is_chosen() -> None:
    goal = active_goal(metric=None)
    own = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana")
    assert event_names(goal.collect_events()) == ["KeyResultAdded"]
    kpi = uuid4()
    fed = goal.add_key_result("Churn", RENEWALS, 1.0, "ana", progress_source="kpi", kpi_id=kpi)
    _added, chosen = goal.collect_events()
    assert isinstance(chosen, Goal.KeyResultProgressSourceChanged)
    assert (chosen.key_result_id, chosen.progress_source, chosen.kpi_id) == (fed, "kpi", kpi)
    assert (chosen.previous_progress_source, chosen.previous_kpi_id) == (None, None)
    sources = {kr.key_result_id: (kr.progress_source, kr.kpi_id) for kr in goal.key_results}
    assert sources == {own: ("metric", None), fed: ("kpi", kpi)}


@pytest.mark.parametrize(
    ("source", "kpi_id", "field"),
    [
        ("children", None, "key_result.progress_source"),  # a key result has no children
        ("key_results", None, "key_result.progress_source"),
        ("manual", None, "key_result.progress_source"),
        ("kpi", None, "key_result.kpi_id"),
        ("metric", uuid4(), "key_result.kpi_id"),
        (None, uuid4(), "key_result.kpi_id"),
    ],
)
def test_a_bad_source_at_addition_is_refused_naming_the_field(
    source: str | None, kpi_id: Any, field: str
) -> None:
    goal = active_goal()

    def add() -> None:
        goal.add_key_result("Renewals", RENEWALS, 1.0, "ana", progress_source=source, kpi_id=kpi_id)

    refused(goal, InvalidArgument, field, add)
    assert goal.key_results == ()


def test_changing_a_key_results_source_records_the_reason_and_what_it_was() -> None:
    goal = active_goal()
    kr = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana")
    goal.collect_events()
    kpi = uuid4()
    goal.change_key_result_progress_source(kr, "kpi", "the CRM feed counts them", "ana", kpi_id=kpi)
    (changed,) = goal.collect_events()
    assert isinstance(changed, Goal.KeyResultProgressSourceChanged)
    assert (changed.previous_progress_source, changed.previous_kpi_id) == ("metric", None)
    assert (changed.reason, changed.by) == ("the CRM feed counts them", "ana")
    goal.change_key_result_progress_source(kr, "kpi", "again", "ana", kpi_id=kpi)
    assert goal.collect_events() == []  # no change: nothing recorded
    goal.change_key_result_progress_source(kr, "metric", "the feed is gone", "ana")
    (back,) = goal.collect_events()
    assert isinstance(back, Goal.KeyResultProgressSourceChanged)
    assert (back.progress_source, back.kpi_id, back.previous_kpi_id) == ("metric", None, kpi)
    assert goal.key_results[0].progress_source == "metric"


@pytest.mark.parametrize(
    ("source", "kpi_id", "reason", "error", "field"),
    [
        ("", None, "why", InvalidArgument, "progress_source"),
        ("children", None, "why", InvalidArgument, "progress_source"),
        ("kpi", None, "why", InvalidArgument, "kpi_id"),
        ("metric", uuid4(), "why", InvalidArgument, "kpi_id"),
        ("kpi", uuid4(), " ", InvalidArgument, "reason"),
    ],
)
def test_a_bad_source_change_is_refused_naming_the_field(
    source: str, kpi_id: Any, reason: str, error: type[NorthstarError], field: str
) -> None:
    goal = active_goal()
    kr = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana")

    def change() -> None:
        goal.change_key_result_progress_source(kr, source, reason, "ana", kpi_id=kpi_id)

    refused(goal, error, field, change)


def test_a_source_change_needs_an_open_goal_and_an_existing_key_result() -> None:
    goal = active_goal()
    kr = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana")
    change = goal.change_key_result_progress_source
    refused(goal, NotFound, "key_result_id", change, uuid4(), "metric", "why", "ana")
    goal.complete("ana")
    with pytest.raises(GoalNotActive):
        change(kr, "kpi", "why", "ana", kpi_id=uuid4())


def test_a_person_checks_in_no_value_on_a_kpi_driven_key_result_but_may_say_how_it_goes() -> None:
    goal = active_goal(metric=None)
    kr = goal.add_key_result(
        "Renewals", RENEWALS, 1.0, "ana", progress_source="kpi", kpi_id=uuid4()
    )
    goal.collect_events()
    refused(goal, FailedPrecondition, "value", goal.check_in, 4.0, 0.8, "", "ana", kr)
    goal.check_in(None, 0.4, "the feed lags a week", "ana", key_result_id=kr)
    assert (goal.latest_confidence, goal.key_results[0].metric.current) == (0.4, 0.0)


def test_a_kpi_measurement_moves_each_key_result_it_drives_and_so_the_goal_once() -> None:
    kpi = uuid4()
    goal = active_goal(metric=REVENUE, progress_source="key_results")
    fed = goal.add_key_result("Renewals", RENEWALS, 3.0, "ana", progress_source="kpi", kpi_id=kpi)
    own = goal.add_key_result("Upsells", RENEWALS, 1.0, "ana")
    goal.add_key_result("Churn", RENEWALS, 1.0, "ana", progress_source="kpi", kpi_id=uuid4())
    goal.collect_events()
    assert goal.check_in_kpi_measurement(kpi, 4, "2025-01", 5.0, "crm-feed", kpi_event_id="e4")
    (checked_in,) = goal.collect_events()
    assert isinstance(checked_in, Goal.CheckedIn)
    assert (checked_in.key_result_id, checked_in.kpi_id, checked_in.kpi_event_id) == (
        fed,
        kpi,
        "e4",
    )
    values = {kr.key_result_id: kr.metric.current for kr in goal.key_results}
    assert values[fed] == 5.0
    assert values[own] == 0.0
    assert goal.progress() == pytest.approx(3 * 0.5 / 5)  # weights 3, 1, 1
    assert not goal.check_in_kpi_measurement(kpi, 4, "2025-01", 5.0, "crm-feed")  # replay
    assert not goal.check_in_kpi_measurement(kpi, 3, "2025-01", 9.0, "crm-feed")  # older
    assert not goal.check_in_kpi_measurement(uuid4(), 9, "2025-02", 9.0, "crm-feed")
    assert goal.collect_events() == []


def test_one_measurement_checks_in_on_the_goal_and_its_key_result_driven_by_the_same_kpi() -> None:
    kpi = uuid4()
    goal = active_goal(metric=REVENUE, progress_source="kpi", kpi_id=kpi)
    kr = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana", progress_source="kpi", kpi_id=kpi)
    goal.collect_events()
    assert goal.check_in_kpi_measurement(kpi, 2, "2025-01", 110.0, "crm-feed")
    events = goal.collect_events()
    assert [e.key_result_id for e in events if isinstance(e, Goal.CheckedIn)] == [None, kr]
    assert goal.progress() == pytest.approx(0.5)


def test_a_draft_goal_or_a_key_result_back_on_its_metric_records_no_measurement() -> None:
    kpi = uuid4()
    goal = new_goal(metric=None)
    kr = goal.add_key_result("Renewals", RENEWALS, 1.0, "ana", progress_source="kpi", kpi_id=kpi)
    assert not goal.check_in_kpi_measurement(kpi, 1, "2025-01", 5.0, "crm-feed")
    goal.activate("ana")
    goal.change_key_result_progress_source(kr, "metric", "counted by hand", "ana")
    assert not goal.check_in_kpi_measurement(kpi, 2, "2025-01", 5.0, "crm-feed")
    goal.check_in(7.0, 0.9, "", "ana", key_result_id=kr)
    assert goal.key_results[0].metric.current == 7.0
