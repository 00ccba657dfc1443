"""The Kpi aggregate: definition, target history, thresholds, measurements, overdue periods and
status, per tenant.

Every command validates first and only then records its events, so a refused command records
nothing. A measurement is applied once per (period, source record id): the same record again
changes nothing. A correction keeps the original value and needs a reason. The KPI's status is
that of its latest measured period; StatusChanged is recorded only when it really changes.
State is plain data (str, float, lists and dicts), so events and snapshots store as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from northstar_contracts.errors import ContractViolation
from northstar_contracts.kpi_periods import Period, parse_period, periods_from, require_cadence
from services.kpi.thresholds import (
    NO_DATA,
    Thresholds,
    require_finite,
    require_target_type,
    status_of,
    validated_thresholds,
)
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from services.shared.validation import reject_control_characters

MAX_NAME_LENGTH = 200
MAX_TEXT_LENGTH = 2000
MAX_ID_LENGTH = 128
SUMMARIES = ("last", "sum", "average")
VISIBILITIES = ("tenant", "restricted")
SOURCES = ("manual", "integration")


class UnknownMeasurement(NotFound):
    """No measurement with this id in the KPI."""


class ConflictingMeasurement(FailedPrecondition):
    """The source record was recorded before with another value: send a correction instead."""


def require_text(value: str, field: str, *, max_length: int, allow_blank: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("must be a string", field=field)
    value = value.strip()
    if not value and not allow_blank:
        raise InvalidArgument("is required", field=field)
    if len(value) > max_length:
        raise InvalidArgument(f"must be at most {max_length} characters", field=field)
    return reject_control_characters(value, field)


def require_choice(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise InvalidArgument(f"must be one of {', '.join(choices)}", field=field)
    return value


def parse_kpi_period(text: str, cadence: str, field: str = "period") -> Period:
    try:
        return parse_period(text, cadence, field)
    except ContractViolation as error:
        raise InvalidArgument(error.reason, field=error.field) from None


@dataclass(frozen=True)
class PeriodSummary:
    """What one period of a KPI amounts to."""

    period: str
    value: float | None
    measurement_count: int
    target: float
    status: str
    overdue: bool


class Kpi(Aggregate):
    """A key performance indicator of one tenant."""

    class Event(Aggregate.Event):
        pass

    class Defined(Event, Aggregate.Created):
        tenant_id: str
        name: str
        description: str
        unit: str
        owner_id: str
        objective_goal_id: str
        target_type: str
        cadence: str
        summary: str
        visibility: str
        first_period: str
        target: float
        thresholds: dict[str, Any]
        by: str

    class TargetChanged(Event):
        from_period: str
        target: float
        previous_target: float
        reason: str
        by: str

    class ThresholdsChanged(Event):
        thresholds: dict[str, Any]
        reason: str
        by: str

    class MeasurementRecorded(Event):
        measurement_id: UUID
        period: str
        value: float
        source: str
        source_account: str
        source_record_id: str
        period_value: float
        period_measurement_count: int
        target: float
        status: str
        by: str

    class MeasurementCorrected(Event):
        measurement_id: UUID
        period: str
        value: float
        previous_value: float
        period_value: float
        target: float
        status: str
        reason: str
        by: str

    class MeasurementOverdue(Event):
        period: str
        due_since: str

    class StatusChanged(Event):
        period: str
        status: str
        previous_status: str
        by: str

    @classmethod
    def define(
        cls,
        *,
        tenant_id: str,
        name: str,
        description: str,
        unit: str,
        owner_id: str,
        objective_goal_id: str,
        target_type: str,
        cadence: str,
        summary: str,
        visibility: str,
        first_period: str,
        target: float,
        thresholds: Thresholds,
        by: str,
    ) -> Kpi:
        """A new KPI, or InvalidArgument naming the first bad field."""
        try:
            cadence = require_cadence(cadence)
        except ContractViolation as error:
            raise InvalidArgument(error.reason, field=error.field) from None
        target_type = require_target_type(target_type)
        target = require_finite(target, "target")
        return cls(
            tenant_id=require_text(tenant_id, "tenant_id", max_length=MAX_ID_LENGTH),
            name=require_text(name, "name", max_length=MAX_NAME_LENGTH),
            description=require_text(
                description, "description", max_length=MAX_TEXT_LENGTH, allow_blank=True
            ),
            unit=require_text(unit, "unit", max_length=MAX_ID_LENGTH, allow_blank=True),
            owner_id=require_text(owner_id, "owner_id", max_length=MAX_ID_LENGTH),
            objective_goal_id=require_text(
                objective_goal_id, "objective_goal_id", max_length=MAX_ID_LENGTH, allow_blank=True
            ),
            target_type=target_type,
            cadence=cadence,
            summary=require_choice(summary, SUMMARIES, "summary"),
            visibility=require_choice(visibility, VISIBILITIES, "visibility"),
            first_period=parse_kpi_period(first_period, cadence, "first_period").key,
            target=target,
            thresholds=validated_thresholds(thresholds, target_type, target).to_data(),
            by=require_text(by, "by", max_length=MAX_ID_LENGTH),
        )

    # No "*": eventsourcing 9.5 treats keyword-only parameters with defaults as required.
    @event(Defined)
    def __init__(
        self,
        tenant_id: str,
        name: str,
        description: str,
        unit: str,
        owner_id: str,
        objective_goal_id: str,
        target_type: str,
        cadence: str,
        summary: str,
        visibility: str,
        first_period: str,
        target: float,
        thresholds: dict[str, Any],
        by: str,
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.description = description
        self.unit = unit
        self.owner_id = owner_id
        self.objective_goal_id = objective_goal_id
        self.target_type = target_type
        self.cadence = cadence
        self.summary = summary
        self.visibility = visibility
        self.first_period = first_period
        self.defined_by = by
        self._targets: list[dict[str, Any]] = [{"from_period": first_period, "target": target}]
        self._thresholds = thresholds
        self._measurements: dict[str, dict[str, Any]] = {}  # measurement id -> measurement
        self._overdue: list[str] = []
        self.status = NO_DATA
        self.status_period = ""

    # ---- reading ----

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds.from_data(self._thresholds)

    @property
    def target_history(self) -> list[tuple[str, float]]:
        """(first period, target) pairs, earliest first."""
        return [(entry["from_period"], entry["target"]) for entry in self._targets]

    @property
    def overdue_periods(self) -> tuple[str, ...]:
        return tuple(self._overdue)

    def measurements(self, period: str | None = None) -> list[dict[str, Any]]:
        """The measurements (of one period, or all), in recording order, as plain data."""
        return [
            dict(m) for m in self._measurements.values() if period is None or m["period"] == period
        ]

    def target_for(self, period: str) -> float:
        target = self._targets[0]["target"]
        for entry in self._targets:
            if entry["from_period"] <= period:  # keys of one cadence sort in time order
                target = entry["target"]
        return float(target)

    def period_value(self, period: str) -> float | None:
        values = [m["value"] for m in self._measurements.values() if m["period"] == period]
        return _summarise(self.summary, values)

    def period_status(self, period: str) -> str:
        return status_of(
            self.period_value(period), self.thresholds, self.target_type, self.target_for(period)
        )

    def measured_periods(self) -> list[str]:
        return sorted({m["period"] for m in self._measurements.values()})

    def summaries(self) -> list[PeriodSummary]:
        """Every period measured or overdue, earliest first."""
        periods = sorted(set(self.measured_periods()) | set(self._overdue))
        return [
            PeriodSummary(
                period=period,
                value=self.period_value(period),
                measurement_count=len(self.measurements(period)),
                target=self.target_for(period),
                status=self.period_status(period),
                overdue=period in self._overdue,
            )
            for period in periods
        ]

    def parse_period(self, text: str, field: str = "period") -> Period:
        """A period of this KPI's cadence, not before its first period."""
        period = parse_kpi_period(text, self.cadence, field)
        if period.key < self.first_period:
            raise InvalidArgument(
                f"is before the KPI's first period {self.first_period}", field=field
            )
        return period

    # ---- commands ----

    def change_target(self, from_period: str, target: float, reason: str, by: str) -> None:
        period = self.parse_period(from_period, "from_period").key
        target = require_finite(target, "target")
        reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH)
        try:
            validated_thresholds(self.thresholds, self.target_type, target)
        except InvalidArgument as error:
            raise FailedPrecondition(
                f"the KPI's thresholds do not allow this target: {error.reason}", field="target"
            ) from None
        previous = self.target_for(period)
        if previous == target:
            raise FailedPrecondition(
                f"the target of {period} is {target:g} already", field="target"
            )
        self._target_changed(
            from_period=period, target=target, previous_target=previous, reason=reason, by=by
        )
        self._note_status(by)

    def change_thresholds(self, thresholds: Thresholds, reason: str, by: str) -> None:
        reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH)
        # min_target_max thresholds must suit every target the KPI has had, old periods too.
        checked = [
            validated_thresholds(thresholds, self.target_type, target)
            for _period, target in self.target_history
        ]
        if checked[-1].to_data() == self._thresholds:
            raise FailedPrecondition("the KPI has these thresholds already", field="thresholds")
        self._thresholds_changed(thresholds=checked[-1].to_data(), reason=reason, by=by)
        self._note_status(by)

    def record_measurement(
        self,
        *,
        period: str,
        value: float,
        source: str,
        source_account: str,
        source_record_id: str,
        by: str,
    ) -> UUID | None:
        """Records a value; None when the same source record was recorded already (a replay)."""
        key = self.parse_period(period).key
        value = require_finite(value, "value")
        source = require_choice(source, SOURCES, "source")
        record_id = require_text(source_record_id, "source_record_id", max_length=MAX_ID_LENGTH)
        existing = self._by_source_record(key, record_id)
        if existing is not None:
            if existing["original_value"] == value:
                return None
            raise ConflictingMeasurement(
                f"record {record_id!r} of {key} was recorded as {existing['original_value']:g}; "
                "correct measurement "
                f"{existing['measurement_id']} with a reason instead",
                field="source_record_id",
            )
        values = [m["value"] for m in self._measurements.values() if m["period"] == key]
        period_value = _summarise(self.summary, [*values, value])
        assert period_value is not None
        target = self.target_for(key)
        measurement_id = uuid4()
        self._measurement_recorded(
            measurement_id=measurement_id,
            period=key,
            value=value,
            source=source,
            source_account=require_text(source_account, "source_account", max_length=MAX_ID_LENGTH),
            source_record_id=record_id,
            period_value=period_value,
            period_measurement_count=len(values) + 1,
            target=target,
            status=status_of(period_value, self.thresholds, self.target_type, target),
            by=by,
        )
        self._note_status(by)
        return measurement_id

    def correct_measurement(self, measurement_id: UUID, value: float, reason: str, by: str) -> None:
        measurement = self._measurements.get(str(measurement_id))
        if measurement is None:
            raise UnknownMeasurement(
                f"no measurement {measurement_id} in this KPI", field="measurement_id"
            )
        value = require_finite(value, "value")
        reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH)
        if measurement["value"] == value:
            raise FailedPrecondition(f"the measurement is {value:g} already", field="value")
        period = measurement["period"]
        values = [
            value if m is measurement else m["value"]
            for m in self._measurements.values()
            if m["period"] == period
        ]
        period_value = _summarise(self.summary, values)
        assert period_value is not None
        target = self.target_for(period)
        self._measurement_corrected(
            measurement_id=measurement_id,
            period=period,
            value=value,
            previous_value=measurement["value"],
            period_value=period_value,
            target=target,
            status=status_of(period_value, self.thresholds, self.target_type, target),
            reason=reason,
            by=by,
        )
        self._note_status(by)

    def record_overdue_periods(self, today: date) -> list[str]:
        """Records MeasurementOverdue once for each ended period without a measurement."""
        first = parse_kpi_period(self.first_period, self.cadence)
        measured = set(self.measured_periods())
        flagged: list[str] = []
        for period in periods_from(first, due_by=today):
            if period.key not in measured and period.key not in self._overdue:
                self._measurement_overdue(period=period.key, due_since=period.due_since.isoformat())
                flagged.append(period.key)
        return flagged

    # ---- events ----

    @event(TargetChanged)
    def _target_changed(
        self, from_period: str, target: float, previous_target: float, reason: str, by: str
    ) -> None:
        kept = [entry for entry in self._targets if entry["from_period"] != from_period]
        kept.append({"from_period": from_period, "target": target})
        self._targets = sorted(kept, key=lambda entry: str(entry["from_period"]))

    @event(ThresholdsChanged)
    def _thresholds_changed(self, thresholds: dict[str, Any], reason: str, by: str) -> None:
        self._thresholds = thresholds

    @event(MeasurementRecorded)
    def _measurement_recorded(
        self,
        measurement_id: UUID,
        period: str,
        value: float,
        source: str,
        source_account: str,
        source_record_id: str,
        period_value: float,
        period_measurement_count: int,
        target: float,
        status: str,
        by: str,
    ) -> None:
        self._measurements[str(measurement_id)] = {
            "measurement_id": str(measurement_id),
            "period": period,
            "value": value,
            "original_value": value,
            "source": source,
            "source_account": source_account,
            "source_record_id": source_record_id,
            "recorded_by": by,
            "corrections": [],
        }

    @event(MeasurementCorrected)
    def _measurement_corrected(
        self,
        measurement_id: UUID,
        period: str,
        value: float,
        previous_value: float,
        period_value: float,
        target: float,
        status: str,
        reason: str,
        by: str,
    ) -> None:
        measurement = self._measurements[str(measurement_id)]
        measurement["value"] = value
        measurement["corrections"].append(
            {"value": value, "previous_value": previous_value, "reason": reason, "by": by}
        )

    @event(MeasurementOverdue)
    def _measurement_overdue(self, period: str, due_since: str) -> None:
        self._overdue.append(period)

    @event(StatusChanged)
    def _status_changed(self, period: str, status: str, previous_status: str, by: str) -> None:
        self.status = status
        self.status_period = period

    # ---- helpers ----

    def _note_status(self, by: str) -> None:
        """Records StatusChanged when the latest measured period's status differs from before."""
        periods = self.measured_periods()
        if not periods:
            return
        latest = periods[-1]
        status = self.period_status(latest)
        if status != self.status:
            self._status_changed(period=latest, status=status, previous_status=self.status, by=by)

    def _by_source_record(self, period: str, record_id: str) -> Mapping[str, Any] | None:
        for measurement in self._measurements.values():
            if measurement["period"] == period and measurement["source_record_id"] == record_id:
                return measurement
        return None


def _summarise(summary: str, values: list[float]) -> float | None:
    if not values:
        return None
    if summary == "sum":
        return float(sum(values))
    if summary == "average":
        return float(sum(values) / len(values))
    return float(values[-1])
