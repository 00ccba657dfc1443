"""A goal's progress source: chosen at creation or by the default rule, changed with a reason,
honoured by the goal's progress and by the projections' fold; KPI measurements check in once."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from services.goals.goal import Goal
from services.goals.metrics import Metric
from services.projections.goal_state import fold_goal_event, own_progress, progress_source
from services.shared.errors import FailedPrecondition, InvalidArgument, NorthstarError
from tests.unit.test_goal_aggregate import active_goal, new_goal, refused
from tests.unit.test_goal_contracts import contract_data

REVENUE = Metric("currency", "increase", 100, 120, "EUR")
HALF_DONE_CHILDREN = [(0.25, 1.0), (0.75, 1.0)]  # (progress, weight): a mean of 0.5


def test_the_default_rule_takes_key_results_then_the_metric_then_the_children() -> None:
    measured = active_goal(metric=REVENUE)
    assert (measured.progress_source, measured.chosen_progress_source) == ("metric", None)
    unmeasured = active_goal(metric=None)
    assert unmeasured.progress_source == "children"
    unmeasured.add_key_result("Renewals", Metric("number", "increase", 0, 10), 1.0, "ana")
    assert unmeasured.progress_source == "key_results"


def test_a_company_goal_with_its_own_metric_keeps_its_check_ins_over_its_children() -> None:
    goal = active_goal(metric=REVENUE, level="company")
    goal.check_in(110, 0.8, "", "ana")
    assert goal.progress(HALF_DONE_CHILDREN) == pytest.approx(0.5)  # (110-100)/(120-100)
    goal.check_in(115, 0.8, "", "ana")
    assert goal.progress(HALF_DONE_CHILDREN) == pytest.approx(0.75)


def test_a_goal_driven_by_its_children_ignores_its_own_check_ins() -> None:
    goal = active_goal(metric=REVENUE, progress_source="children")
    goal.check_in(120, 0.8, "", "ana")
    assert goal.progress(HALF_DONE_CHILDREN) == pytest.approx(0.5)
    assert goal.progress() == 0.0  # no children yet
    assert goal.own_progress() is None


def test_key_results_drive_the_goal_when_chosen_even_with_a_metric() -> None:
    goal = active_goal(metric=REVENUE, progress_source="key_results")
    assert goal.progress() == 0.0
    kr = goal.add_key_result("Renewals", Metric("number", "increase", 0, 10), 1.0, "ana")
    goal.check_in(4, 0.8, "", "ana", key_result_id=kr)
    goal.check_in(120, 0.8, "", "ana")
    assert goal.progress(HALF_DONE_CHILDREN) == pytest.approx(0.4)


def test_changing_the_source_records_the_choice_and_the_reason() -> None:
    goal = active_goal(metric=REVENUE)
    goal.check_in(110, 0.8, "", "ana")
    goal.change_progress_source("children", "the regions report through their goals", "ana")
    (changed,) = goal.collect_events()[-1:]
    assert isinstance(changed, Goal.ProgressSourceChanged)
    assert (changed.progress_source, changed.previous_progress_source) == ("children", None)
    assert changed.reason == "the regions report through their goals"
    assert goal.progress(HALF_DONE_CHILDREN) == pytest.approx(0.5)
    assert goal.progress() == 0.0
    goal.change_progress_source("children", "again", "ana")  # no change: nothing recorded
    assert goal.collect_events() == []


@pytest.mark.parametrize(
    ("source", "kpi_id", "error", "field", "reason"),
    [
        ("", None, InvalidArgument, "progress_source", "why"),
        ("manual", None, InvalidArgument, "progress_source", "why"),
        ("kpi", None, InvalidArgument, "kpi_id", "why"),
        ("metric", uuid4(), InvalidArgument, "kpi_id", "why"),
        ("children", None, InvalidArgument, "reason", " "),
    ],
)
def test_a_bad_source_change_is_refused_naming_the_field(
    source: str, kpi_id: Any, error: type[NorthstarError], field: str, reason: str
) -> None:
    goal = active_goal()

    def change() -> None:
        goal.change_progress_source(source, reason, "ana", kpi_id=kpi_id)

    refused(goal, error, field, change)


def test_metric_and_kpi_sources_need_a_metric() -> None:
    goal = active_goal(metric=None)
    refused(goal, FailedPrecondition, "metric", goal.change_progress_source, "metric", "why", "ana")
    with pytest.raises(InvalidArgument) as raised:
        new_goal(metric=None, progress_source="kpi", kpi_id=uuid4())
    assert raised.value.field == "metric"


def test_a_kpi_measurement_checks_in_once_and_never_goes_back_to_an_older_one() -> None:
    kpi = uuid4()
    goal = active_goal(metric=REVENUE, progress_source="kpi", kpi_id=kpi)
    assert goal.check_in_kpi_measurement(kpi, 3, "2025-01", 110.0, "sales-feed")
    assert goal.progress() == pytest.approx(0.5)
    assert not goal.check_in_kpi_measurement(kpi, 3, "2025-01", 110.0, "sales-feed")  # replay
    assert not goal.check_in_kpi_measurement(kpi, 2, "2025-01", 101.0, "sales-feed")  # older
    assert goal.check_in_kpi_measurement(kpi, 5, "2025-02", 115.0, "sales-feed")
    assert not goal.check_in_kpi_measurement(kpi, 6, "2025-01", 100.0, "sales-feed")  # old period
    assert not goal.check_in_kpi_measurement(uuid4(), 9, "2025-03", 120.0, "sales-feed")
    assert not goal.check_in_kpi_measurement(kpi, 9, "2025-Q2", 120.0, "sales-feed")  # after it
    assert goal.progress() == pytest.approx(0.75)
    assert goal.check_in_count == 2
    refused(goal, FailedPrecondition, "value", goal.check_in, 120.0, 0.9, "", "ana")


def test_the_projections_fold_honours_the_source_like_the_aggregate() -> None:
    goal = new_goal(metric=REVENUE)
    goal.activate("ana")
    goal.check_in(110, 0.8, "", "ana")
    goal.change_progress_source("children", "the regions report through their goals", "ana")
    kr = goal.add_key_result("Renewals", Metric("number", "increase", 0, 10), 1.0, "ana")
    goal.check_in(5, 0.8, "", "ana", key_result_id=kr)
    # Hand-written: what each public event leaves as the source (the aggregate is not asked).
    expected = ["metric", "metric", "metric", "children", "children", "children"]
    state: dict[str, Any] = {}
    for event, source in zip(goal_events(goal), expected, strict=True):
        state = fold_goal_event(state, *contract_data(event))
        assert progress_source(state) == source
    assert goal.progress_source == "children"
    assert own_progress(state) is None
    goal.change_progress_source("key_results", "renewals matter most", "ana")
    (changed,) = goal_events(goal)
    state = fold_goal_event(state, *contract_data(changed))
    assert own_progress(state) == goal.own_progress() == pytest.approx(0.5)


def test_a_goal_recorded_before_progress_sources_folds_with_the_default_rule() -> None:
    goal = new_goal(metric=REVENUE)
    type_name, data = contract_data(goal_events(goal)[0])
    del data["progress_source"], data["kpi_id"]  # as published before sources existed
    state = fold_goal_event({}, type_name, data)
    assert (state["progress_source"], progress_source(state)) == (None, "metric")


def goal_events(goal: Goal) -> list[Goal.Event]:
    return [event for event in goal.collect_events() if isinstance(event, Goal.Event)]
