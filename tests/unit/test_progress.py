"""Progress maths of goals with exact numbers: metrics, weights, roll-ups, schedule and status."""

from __future__ import annotations

import itertools
import math
from datetime import date
from uuid import UUID, uuid4

import pytest

from northstar_contracts.errors import ContractViolation
from northstar_contracts.progress import (
    DEFAULT_THRESHOLDS,
    StatusThresholds,
    derive_status,
    effective_progress_source,
    expected_progress_at,
    goal_progress,
    metric_progress,
    rollup_progress,
    weighted_progress,
)
from services.goals.metrics import Metric, next_period, quarter_period, validated_metric


@pytest.mark.parametrize(
    ("metric", "current", "expected"),
    [
        (Metric("currency", "increase", 100, 200, "EUR"), 150, 0.5),
        (Metric("currency", "increase", 100, 200, "EUR"), 250, 1.0),
        (Metric("currency", "increase", 100, 200, "EUR"), 50, 0.0),
        (Metric("number", "decrease", 10, 0), 7.5, 0.25),
        (Metric("number", "decrease", 10, 0), 12, 0.0),
        (Metric("number", "decrease", 10, 0), -1, 1.0),
        (Metric("percentage", "decrease", 40, 20), 25, 0.75),
        (Metric("number", "stay_above", 30, 40), 40, 1.0),
        (Metric("number", "stay_above", 30, 40), 39.9, 0.0),
        (Metric("number", "stay_below", 5, 5), 5, 1.0),
        (Metric("number", "stay_below", 5, 5), 5.1, 0.0),
        (Metric("binary", "increase", 0, 1), 0, 0.0),
        (Metric("binary", "increase", 0, 1), 1, 1.0),
    ],
)
def test_metric_progress_follows_direction(metric: Metric, current: float, expected: float) -> None:
    assert metric_progress(metric, current) == expected


def test_metric_progress_defaults_to_the_metrics_current_value() -> None:
    assert metric_progress(Metric("number", "increase", 0, 8, current=2)) == 0.25
    assert metric_progress(Metric("number", "increase", 0, 8)) == 0.0


def test_metric_progress_refuses_target_equal_to_start() -> None:
    with pytest.raises(ContractViolation) as raised:
        metric_progress(Metric("number", "increase", 3, 3), 3)
    assert raised.value.field == "metric.target"
    assert raised.value.reason == "target equals start: progress cannot be measured"


@pytest.mark.parametrize("current", [math.nan, math.inf, -math.inf])
def test_metric_progress_refuses_non_finite_values(current: float) -> None:
    with pytest.raises(ContractViolation) as raised:
        metric_progress(Metric("number", "increase", 0, 1), current)
    assert raised.value.field == "current"


@pytest.mark.parametrize(
    ("metric", "field", "reason"),
    [
        (
            Metric("number", "increase", 5, 5),
            "metric.target",
            "target equals start: progress cannot be measured",
        ),
        (
            Metric("number", "increase", 5, 1),
            "metric.target",
            "an increase needs a target above start",
        ),
        (
            Metric("number", "decrease", 1, 5),
            "metric.target",
            "a decrease needs a target below start",
        ),
        (Metric("number", "increase", math.nan, 5), "metric.start", None),
        (Metric("number", "increase", 0, math.inf), "metric.target", None),
        (Metric("number", "increase", 0, 1, current=math.nan), "metric.current", None),
        (Metric("binary", "increase", 0, 2), "metric.target", None),
        (Metric("binary", "stay_above", 0, 1), "metric.target", None),
        (Metric("currency", "increase", 0, 1, "eur"), "metric.unit", None),
        (Metric("money", "increase", 0, 1), "metric.kind", None),
        (Metric("number", "sideways", 0, 1), "metric.direction", None),
    ],
)
def test_invalid_metrics_name_the_field(metric: Metric, field: str, reason: str | None) -> None:
    with pytest.raises(ContractViolation) as raised:
        validated_metric(metric)
    assert raised.value.field == field
    if reason is not None:
        assert raised.value.reason == reason


def test_guardrails_may_start_at_their_limit() -> None:
    assert validated_metric(Metric("number", "stay_above", 40, 40)).target == 40.0


def test_weighted_progress_weighs_each_part() -> None:
    assert weighted_progress([(1.0, 3), (0.0, 1)]) == 0.75
    assert weighted_progress([(0.5, 2), (0.25, 2), (1.0, 0)]) == 0.375
    assert weighted_progress([(1.0, 1e308), (0.0, 1e308)]) == 0.5


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([(0.5, -1.0), (0.5, 2.0)], "weights"),
        ([(0.5, 0.0), (1.0, 0.0)], "weights"),
        ([], "weights"),
        ([(0.5, math.nan)], "weights"),
        ([(0.5, math.inf)], "weights"),
        ([(1.5, 1.0)], "progress"),
        ([(math.nan, 1.0)], "progress"),
    ],
)
def test_weighted_progress_refuses_bad_weights(
    parts: list[tuple[float, float]], field: str
) -> None:
    with pytest.raises(ContractViolation) as raised:
        weighted_progress(parts)
    assert raised.value.field == field


def test_key_results_roll_up_by_weight_and_replace_the_goal_metric() -> None:
    progress = goal_progress(own_metric_progress=0.1, key_results=[(0.5, 1.0), (1.0, 3.0)])
    assert progress == 0.875


def test_children_roll_up_unless_the_goal_is_measured_by_its_own_metric() -> None:
    children = [(1.0, 1.0), (0.0, 1.0)]
    assert goal_progress(own_metric_progress=0.2, children=children) == 0.5
    assert (
        goal_progress(own_metric_progress=0.2, children=children, measured_by_own_metric=True)
        == 0.2
    )
    assert (
        goal_progress(own_metric_progress=None, children=children, measured_by_own_metric=True)
        == 0.5
    )
    assert goal_progress(own_metric_progress=None) == 0.0


def three_level_graph() -> tuple[
    dict[str, UUID], dict[UUID, float], dict[UUID, list[tuple[UUID, float]]]
]:
    """Strategy S <- company C1, C2 <- teams T1, T2, T3 <- people P1, P2 (under T1).

    T2 is a primary child of C1 and also contributes to C2 with weight 3.
    """
    ids = {name: uuid4() for name in ("S", "C1", "C2", "T1", "T2", "T3", "P1", "P2")}
    own = {ids["P1"]: 1.0, ids["P2"]: 0.2, ids["T2"]: 0.5, ids["T3"]: 0.0, ids["C2"]: 0.9}
    children = {
        ids["S"]: [(ids["C1"], 1.0), (ids["C2"], 1.0)],
        ids["C1"]: [(ids["T1"], 1.0), (ids["T2"], 1.0)],
        ids["C2"]: [(ids["T2"], 3.0), (ids["T3"], 1.0)],
        ids["T1"]: [(ids["P1"], 1.0), (ids["P2"], 3.0)],
    }
    return ids, own, children


def test_rollup_through_three_levels_with_contributes_to_links() -> None:
    ids, own, children = three_level_graph()
    result = rollup_progress([ids["S"]], own, children)
    assert result[ids["T1"]] == pytest.approx(0.4, abs=1e-12)  # (1*1 + 0.2*3) / 4
    assert result[ids["C1"]] == pytest.approx(0.45, abs=1e-12)  # (0.4 + 0.5) / 2
    assert result[ids["C2"]] == pytest.approx(0.375, abs=1e-12)  # (0.5*3 + 0*1) / 4
    assert result[ids["S"]] == pytest.approx(0.4125, abs=1e-12)  # (0.45 + 0.375) / 2


def test_rollup_keeps_the_own_progress_of_goals_measured_by_their_own_metric() -> None:
    ids, own, children = three_level_graph()
    result = rollup_progress([ids["S"]], own, children, measured_by_own={ids["C2"]})
    assert result[ids["C2"]] == 0.9
    assert result[ids["S"]] == pytest.approx((0.45 + 0.9) / 2, abs=1e-12)


def test_rollup_gives_zero_to_goals_with_nothing_to_measure() -> None:
    lonely = uuid4()
    assert rollup_progress([lonely], {}, {}) == {lonely: 0.0}


def test_rollup_over_a_cycle_ignores_the_link_back_to_the_smallest_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    low, high = sorted((uuid4(), uuid4()))
    leaf = uuid4()
    children = {low: [(high, 1.0)], high: [(low, 1.0), (leaf, 1.0)]}
    result = rollup_progress([low, high], {low: 0.9, leaf: 0.2}, children)
    # high no longer rolls up from low: it has only the leaf; low has high below it.
    assert result == {leaf: 0.2, high: 0.2, low: 0.2}
    assert all(0.0 <= value <= 1.0 for value in result.values())
    assert f"goal {low} is ignored as a child of goal {high}" in caplog.text


def test_rollup_over_a_cycle_agrees_whichever_goal_it_starts_from() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    own = {a: 0.1, b: 0.5, c: 0.9}
    children = {a: [(b, 1.0)], b: [(c, 2.0)], c: [(a, 1.0)]}
    whole = rollup_progress([a, b, c], own, children)
    for start in (a, b, c):
        alone = rollup_progress([start], own, children)
        assert alone == {goal: whole[goal] for goal in alone}
    assert all(0.0 <= value <= 1.0 for value in whole.values())


def test_rollup_ignores_a_goal_aligned_under_itself() -> None:
    goal, child = uuid4(), uuid4()
    result = rollup_progress([goal], {child: 0.4}, {goal: [(goal, 1.0), (child, 1.0)]})
    assert result[goal] == pytest.approx(0.4)


def test_a_goal_measured_by_its_own_metric_cuts_a_cycle_without_ignoring_links() -> None:
    measured, other = uuid4(), uuid4()
    children = {measured: [(other, 1.0)], other: [(measured, 1.0)]}
    result = rollup_progress(
        [measured, other], {measured: 0.7}, children, measured_by_own={measured}
    )
    assert result == {measured: 0.7, other: 0.7}


def test_rollup_handles_chains_deeper_than_the_recursion_limit() -> None:
    chain = [uuid4() for _ in range(5000)]
    children = {parent: [(child, 1.0)] for parent, child in itertools.pairwise(chain)}
    result = rollup_progress([chain[0]], {chain[-1]: 0.25}, children)
    assert result[chain[0]] == 0.25


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2024, 12, 1), 0.0),
        (date(2025, 1, 1), 0.0),
        (date(2025, 1, 16), 0.5),
        (date(2025, 1, 31), 1.0),
        (date(2025, 3, 1), 1.0),
    ],
)
def test_expected_progress_is_the_elapsed_share_of_the_period(today: date, expected: float) -> None:
    assert expected_progress_at(date(2025, 1, 1), date(2025, 1, 31), today) == expected


def test_expected_progress_without_due_date_is_zero_and_due_before_start_is_refused() -> None:
    assert expected_progress_at(date(2025, 1, 1), None, date(2026, 1, 1)) == 0.0
    with pytest.raises(ContractViolation) as raised:
        expected_progress_at(date(2025, 2, 1), date(2025, 1, 1), date(2025, 1, 15))
    assert raised.value.field == "due_date"


@pytest.mark.parametrize(
    ("lifecycle", "actual", "expected", "confidence", "status"),
    [
        ("draft", 0.9, 0.5, 0.9, "not_started"),
        ("completed", 0.2, 1.0, None, "completed"),
        ("cancelled", 0.2, 1.0, None, "cancelled"),
        ("active", 0.0, 0.0, None, "not_started"),
        ("active", 0.45, 0.5, 0.9, "on_track"),
        ("active", 0.375, 0.5, None, "at_risk"),
        ("active", 0.125, 0.5, None, "off_track"),
        ("active", 0.5, 0.5, 0.4, "at_risk"),
        ("active", 0.5, 0.5, 0.25, "off_track"),
        ("active", 1.0, 1.0, 0.1, "on_track"),
        ("active", 0.0, 0.25, 0.9, "at_risk"),
    ],
)
def test_status_compares_actual_with_expected_progress_and_confidence(
    lifecycle: str, actual: float, expected: float, confidence: float | None, status: str
) -> None:
    assert (
        derive_status(lifecycle=lifecycle, actual=actual, expected=expected, confidence=confidence)
        == status
    )


def test_status_thresholds_are_configurable() -> None:
    lenient = StatusThresholds(at_risk_gap=0.2, off_track_gap=0.5, at_risk_confidence=0.3)

    def status(thresholds: StatusThresholds = DEFAULT_THRESHOLDS) -> str:
        return derive_status(
            lifecycle="active", actual=0.375, expected=0.5, confidence=0.4, thresholds=thresholds
        )

    assert status() == "at_risk"
    assert status(lenient) == "on_track"


@pytest.mark.parametrize(
    ("thresholds", "field"),
    [
        ({"at_risk_gap": -0.1}, "thresholds.at_risk_gap"),
        ({"off_track_confidence": math.nan}, "thresholds.off_track_confidence"),
        ({"at_risk_gap": 0.3, "off_track_gap": 0.2}, "thresholds.off_track_gap"),
        ({"at_risk_confidence": 0.2}, "thresholds.off_track_confidence"),
    ],
)
def test_inconsistent_thresholds_are_refused(thresholds: dict[str, float], field: str) -> None:
    with pytest.raises(ContractViolation) as raised:
        StatusThresholds(**thresholds)
    assert raised.value.field == field


def test_quarters_and_the_periods_that_follow_them() -> None:
    assert quarter_period(2025, 1) == (date(2025, 1, 1), date(2025, 3, 31))
    assert quarter_period(2025, 4) == (date(2025, 10, 1), date(2025, 12, 31))
    assert next_period(*quarter_period(2025, 4)) == quarter_period(2026, 1)
    assert next_period(date(2024, 2, 1), date(2024, 2, 29)) == (date(2024, 3, 1), date(2024, 3, 31))
    assert next_period(date(2025, 1, 1), date(2025, 12, 31)) == (
        date(2026, 1, 1),
        date(2026, 12, 31),
    )
    assert next_period(date(2025, 1, 5), date(2025, 1, 14)) == (
        date(2025, 1, 15),
        date(2025, 1, 24),
    )
    with pytest.raises(ContractViolation):
        quarter_period(2025, 5)


# The default progress source, as docs/goals.md states it: key results when the goal has any,
# else its own metric when it has one, else its aligned children; a choice always wins.
@pytest.mark.parametrize(
    ("chosen", "has_metric", "has_key_results", "expected"),
    [
        (None, False, False, "children"),
        (None, True, False, "metric"),
        (None, False, True, "key_results"),
        (None, True, True, "key_results"),
        ("", True, False, "metric"),
        ("children", True, True, "children"),
        ("metric", False, True, "metric"),
        ("kpi", False, False, "kpi"),
        ("key_results", False, False, "key_results"),
    ],
)
def test_the_effective_progress_source_is_the_choice_else_the_documented_default(
    chosen: str | None, has_metric: bool, has_key_results: bool, expected: str
) -> None:
    assert (
        effective_progress_source(chosen, has_metric=has_metric, has_key_results=has_key_results)
        == expected
    )


def test_an_unknown_progress_source_is_refused_naming_the_field() -> None:
    with pytest.raises(ContractViolation) as refused:
        effective_progress_source("vibes", has_metric=True, has_key_results=False)
    assert refused.value.field == "progress_source"
    assert "metric" in refused.value.reason
