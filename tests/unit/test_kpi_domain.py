"""The Kpi aggregate and KPI periods: measurements applied once per source record, corrections
that keep the original and need a reason, status changes recorded only on a real change, and
overdue periods recorded once each."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from northstar_contracts.errors import ContractViolation
from northstar_contracts.kpi import parse_measurement_record
from northstar_contracts.kpi_periods import parse_period, period_containing
from services.kpi.domain import ConflictingMeasurement, Kpi, UnknownMeasurement
from services.kpi.thresholds import Thresholds, bands, min_target_max
from services.shared.errors import FailedPrecondition, InvalidArgument


def new_kpi(
    *,
    summary: str = "last",
    cadence: str = "monthly",
    first_period: str = "2026-01",
    target_type: str = "increase_to",
    target: float = 100.0,
    thresholds: Thresholds | None = None,
) -> Kpi:
    return Kpi.define(
        tenant_id="acme",
        name="Net new customers",
        description="",
        unit="customers",
        owner_id="owner-1",
        objective_goal_id="",
        target_type=target_type,
        cadence=cadence,
        summary=summary,
        visibility="tenant",
        first_period=first_period,
        target=target,
        thresholds=thresholds or min_target_max(minimum=80),
        by="hr-1",
    )


def measure(kpi: Kpi, period: str, value: float, record: str = "") -> Any:
    return kpi.record_measurement(
        period=period,
        value=value,
        source="integration",
        source_account="crm",
        source_record_id=record or f"{period}-{value}",
        by="crm",
    )


def event_names(kpi: Kpi) -> list[str]:
    return [type(e).__name__ for e in kpi.collect_events()]


def test_a_measurement_carries_the_period_value_target_and_status() -> None:
    kpi = new_kpi()
    kpi.collect_events()
    measure(kpi, "2026-01", 90)
    recorded, status_changed = kpi.collect_events()
    assert isinstance(recorded, Kpi.MeasurementRecorded)
    assert (recorded.period, recorded.period_value, recorded.target, recorded.status) == (
        "2026-01",
        90.0,
        100.0,
        "amber",
    )
    assert isinstance(status_changed, Kpi.StatusChanged)
    assert (status_changed.previous_status, status_changed.status) == ("no_data", "amber")


def test_a_status_change_is_recorded_only_when_the_status_really_changes() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-01", 85)
    kpi.collect_events()
    measure(kpi, "2026-01", 95)  # still amber
    assert event_names(kpi) == ["MeasurementRecorded"]
    measure(kpi, "2026-02", 90)  # a new period, same status
    assert event_names(kpi) == ["MeasurementRecorded"]
    measure(kpi, "2026-02", 120)
    assert event_names(kpi) == ["MeasurementRecorded", "StatusChanged"]
    assert (kpi.status, kpi.status_period) == ("green", "2026-02")


def test_a_late_value_for_an_old_period_does_not_move_the_kpi_status() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-03", 120)
    kpi.collect_events()
    measure(kpi, "2026-01", 10)
    assert event_names(kpi) == ["MeasurementRecorded"]
    assert kpi.status == "green"
    assert kpi.period_status("2026-01") == "red"


@pytest.mark.parametrize(("summary", "expected"), [("last", 5.0), ("sum", 18.0), ("average", 6.0)])
def test_a_period_summarises_its_measurements(summary: str, expected: float) -> None:
    kpi = new_kpi(summary=summary)
    for value in (4, 9, 5):
        measure(kpi, "2026-01", value)
    assert kpi.period_value("2026-01") == expected


def test_the_same_source_record_twice_changes_nothing() -> None:
    kpi = new_kpi(summary="sum")
    assert measure(kpi, "2026-01", 7, "crm-1") is not None
    kpi.collect_events()
    assert measure(kpi, "2026-01", 7, "crm-1") is None
    assert kpi.collect_events() == []
    assert kpi.period_value("2026-01") == 7


def test_the_same_source_record_with_another_value_asks_for_a_correction() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-01", 7, "crm-1")
    kpi.collect_events()
    with pytest.raises(ConflictingMeasurement) as raised:
        measure(kpi, "2026-01", 8, "crm-1")
    assert raised.value.field == "source_record_id"
    assert kpi.collect_events() == []


def test_a_correction_keeps_the_original_and_needs_a_reason() -> None:
    kpi = new_kpi(summary="sum")
    first = measure(kpi, "2026-01", 70)
    measure(kpi, "2026-01", 20)
    kpi.collect_events()
    with pytest.raises(InvalidArgument) as raised:
        kpi.correct_measurement(first, 75, "  ", "owner-1")
    assert raised.value.field == "reason"
    assert kpi.collect_events() == []
    kpi.correct_measurement(first, 85, "double-counted a refund", "owner-1")
    corrected, changed = kpi.collect_events()
    assert isinstance(corrected, Kpi.MeasurementCorrected)
    assert (corrected.previous_value, corrected.value, corrected.period_value) == (70, 85, 105)
    assert isinstance(changed, Kpi.StatusChanged)
    [measurement, _] = kpi.measurements("2026-01")
    assert (measurement["original_value"], measurement["value"]) == (70, 85)
    assert measurement["corrections"][0]["reason"] == "double-counted a refund"


def test_correcting_an_unknown_measurement_is_not_found() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-01", 1)
    with pytest.raises(UnknownMeasurement) as raised:
        kpi.correct_measurement(kpi.id, 3, "typo", "owner-1")
    assert raised.value.field == "measurement_id"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_values_must_be_finite(bad: float) -> None:
    kpi = new_kpi()
    kpi.collect_events()
    with pytest.raises(InvalidArgument) as raised:
        measure(kpi, "2026-01", bad, "r")
    assert raised.value.field == "value"
    assert kpi.collect_events() == []


@pytest.mark.parametrize(
    ("cadence", "period"),
    [
        ("monthly", "2026-W03"),
        ("monthly", "2026-13"),
        ("weekly", "2026-01"),
        ("weekly", "2026-W54"),
        ("quarterly", "2026-Q5"),
        ("daily", "2026-02-30"),
        ("monthly", "2025-12"),
    ],
)
def test_a_period_must_fit_the_cadence_and_not_precede_the_first(cadence: str, period: str) -> None:
    first = {
        "monthly": "2026-01",
        "weekly": "2026-W01",
        "quarterly": "2026-Q1",
        "daily": "2026-01-01",
    }
    kpi = new_kpi(cadence=cadence, first_period=first[cadence])
    kpi.collect_events()
    with pytest.raises(InvalidArgument) as raised:
        measure(kpi, period, 1, "r")
    assert raised.value.field == "period"
    assert kpi.collect_events() == []


def test_a_target_change_applies_from_its_period_on_and_needs_a_reason() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-01", 90)
    kpi.collect_events()
    with pytest.raises(InvalidArgument) as raised:
        kpi.change_target("2026-01", 90, "", "hr-1")
    assert raised.value.field == "reason"
    kpi.change_target("2026-01", 85, "the market shrank", "hr-1")
    assert event_names(kpi) == ["TargetChanged", "StatusChanged"]
    assert kpi.status == "green"
    kpi.change_target("2026-04", 150, "new product line", "hr-1")
    assert kpi.target_history == [("2026-01", 85.0), ("2026-04", 150.0)]
    assert (kpi.target_for("2026-03"), kpi.target_for("2026-06")) == (85.0, 150.0)


def test_a_target_below_the_amber_floor_is_refused() -> None:
    kpi = new_kpi()  # minimum 80
    with pytest.raises(FailedPrecondition) as raised:
        kpi.change_target("2026-02", 70, "lower", "hr-1")
    assert raised.value.field == "target"


def test_new_thresholds_can_change_the_status() -> None:
    kpi = new_kpi()
    measure(kpi, "2026-01", 75)
    assert kpi.status == "red"
    kpi.collect_events()
    kpi.change_thresholds(
        bands(("red", None, 50), ("amber", 50, 70), ("green", 70, None)), "re-baselined", "hr-1"
    )
    assert event_names(kpi) == ["ThresholdsChanged", "StatusChanged"]
    assert kpi.status == "green"


def test_each_missed_period_is_overdue_exactly_once() -> None:
    kpi = new_kpi(first_period="2026-01")
    measure(kpi, "2026-02", 100)
    kpi.collect_events()
    assert kpi.record_overdue_periods(date(2026, 1, 31)) == []  # January has not ended
    assert kpi.record_overdue_periods(date(2026, 2, 1)) == ["2026-01"]
    assert kpi.record_overdue_periods(date(2026, 2, 1)) == []
    assert kpi.record_overdue_periods(date(2026, 4, 15)) == ["2026-03"]  # February was measured
    overdue = [e for e in kpi.collect_events() if isinstance(e, Kpi.MeasurementOverdue)]
    assert [(e.period, e.due_since) for e in overdue] == [
        ("2026-01", "2026-02-01"),
        ("2026-03", "2026-04-01"),
    ]


def test_period_keys_follow_the_iso_calendar() -> None:
    assert period_containing(date(2026, 1, 1), "weekly").key == "2026-W01"
    assert period_containing(date(2027, 1, 1), "weekly").key == "2026-W53"
    week = parse_period("2026-W53", "weekly")
    assert (week.start, week.end) == (date(2026, 12, 28), date(2027, 1, 3))
    quarter = parse_period("2026-Q1", "quarterly")
    assert (quarter.start, quarter.end, quarter.next().key) == (
        date(2026, 1, 1),
        date(2026, 3, 31),
        "2026-Q2",
    )
    assert parse_period("2024-02", "monthly").end == date(2024, 2, 29)
    with pytest.raises(ContractViolation):
        parse_period("2025-W53", "weekly")  # 2025 has 52 ISO weeks
    with pytest.raises(ContractViolation):
        parse_period("\uff12\uff10\uff12\uff16-01", "monthly")  # full-width digits


def test_a_malformed_feed_record_names_its_field_once() -> None:
    record = (
        b'{"tenant_id": "acme", "kpi_id": "not-a-uuid", "period": "2026-03",'
        b' "value": 1, "source_record_id": "r-1"}'
    )
    with pytest.raises(ContractViolation) as refused:
        parse_measurement_record(record)
    assert refused.value.field == "kpi_id"
    # The dead-letter header carries str(error): "kpi_id: <reason>", never "kpi_id: kpi_id: ...".
    assert str(refused.value).count("kpi_id:") == 1
