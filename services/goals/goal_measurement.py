"""The Goal's measurement commands: metric, key results, check-ins, progress source, targets."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

from northstar_contracts.progress import (
    PROGRESS_SOURCES,
    SOURCE_KPI,
    SOURCE_METRIC,
)
from services.goals.goal_state import GoalState
from services.goals.goal_values import (
    require_actor,
    require_confidence,
    require_reason,
)
from services.goals.metrics import (
    Metric,
    require_finite,
    require_text,
    validate_period,
    validated_metric,
)
from services.goals.progress_sources import (
    kpi_period_dates,
    require_key_result_source,
    require_progress_source,
)
from services.goals.rules import (
    ACTIVE,
    DRAFT,
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    GoalNotActive,
)
from services.shared.errors import FailedPrecondition, InvalidArgument


class MeasurementCommands(GoalState):
    """Defines and changes what a goal measures, and records its check-ins."""

    # ---- measurement ----

    def define_metric(
        self, metric: Metric, by: str, *, measured_by_own_metric: bool = False
    ) -> None:
        """Give a goal without a metric one (a metric, once defined, changes via change_target)."""
        self._require_open("measured")
        if self._metric is not None:
            raise FailedPrecondition(
                "the goal already has a metric; change its target instead", field="metric"
            )
        data = validated_metric(metric).to_data()
        self._metric_defined(
            metric=data, measured_by_own_metric=bool(measured_by_own_metric), by=require_actor(by)
        )

    def change_metric(self, metric: Metric, reason: str, by: str) -> None:
        """Measure the goal by another metric (kind, unit, start, target, direction), with a
        reason; the old metric stays in the history. The new metric starts from its start value:
        values checked in on the old one measured something else."""
        self._require_open("measured differently")
        data = validated_metric(
            Metric(metric.kind, metric.direction, metric.start, metric.target, metric.unit)
        ).to_data()
        reason = require_reason(reason)
        by = require_actor(by)
        if self._metric is not None and {**self._metric, "current": data["current"]} == data:
            return
        self._metric_changed(previous_metric=self._metric, metric=data, reason=reason, by=by)

    def add_key_result(
        self,
        title: str,
        metric: Metric,
        weight: float,
        by: str,
        *,
        key_result_id: UUID | None = None,
        progress_source: str | None = None,
        kpi_id: UUID | None = None,
    ) -> UUID:
        """Add a measurable part of the goal, measured by its own check-ins (source metric, the
        default) or by a KPI's measurements (source kpi, with kpi_id); returns its id."""
        self._require_open("given key results")
        title = require_text(title, "key_result.title", max_length=MAX_TITLE_LENGTH).strip()
        data = validated_metric(metric, "key_result.metric").to_data()
        if require_finite(weight, "key_result.weight") <= 0:
            raise InvalidArgument("a weight must be positive", field="key_result.weight")
        source, kpi = require_key_result_source(
            progress_source,
            kpi_id,
            field="key_result.progress_source",
            kpi_field="key_result.kpi_id",
        )
        by = require_actor(by)
        new_id = uuid4() if key_result_id is None else key_result_id
        if any(kr["key_result_id"] == new_id for kr in self._key_results):
            raise InvalidArgument("a key result with this id exists", field="key_result_id")
        self._key_result_added(
            key_result_id=new_id, title=title, metric=data, weight=float(weight), by=by
        )
        if source != SOURCE_METRIC:
            self._key_result_progress_source_changed(
                key_result_id=new_id,
                progress_source=source,
                kpi_id=kpi,
                previous_progress_source=None,
                previous_kpi_id=None,
                reason="chosen as the key result was added",
                by=by,
            )
        return new_id

    def change_key_result_progress_source(
        self,
        key_result_id: UUID,
        progress_source: str,
        reason: str,
        by: str,
        *,
        kpi_id: UUID | None = None,
    ) -> None:
        """Measure a key result by its own check-ins (metric) or a KPI from now on; needs a
        reason (kept in history). Its metric and current value stay as they are."""
        self._require_open("changed")
        key_result = self._key_result_data(key_result_id)
        if not progress_source:
            raise InvalidArgument("is required: one of metric, kpi", field="progress_source")
        source, kpi = require_key_result_source(
            progress_source, kpi_id, field="progress_source", kpi_field="kpi_id"
        )
        reason = require_reason(reason)
        by = require_actor(by)
        previous = key_result.get("progress_source") or SOURCE_METRIC
        if (source, kpi) == (previous, key_result.get("kpi_id")):
            return
        self._key_result_progress_source_changed(
            key_result_id=key_result_id,
            progress_source=source,
            kpi_id=kpi,
            previous_progress_source=previous,
            previous_kpi_id=key_result.get("kpi_id"),
            reason=reason,
            by=by,
        )

    def remove_key_result(self, key_result_id: UUID, reason: str, by: str) -> None:
        self._require_open("changed")
        self._key_result_data(key_result_id)
        self._key_result_removed(
            key_result_id=key_result_id, reason=require_reason(reason), by=require_actor(by)
        )

    def check_in(
        self,
        value: float | None,
        confidence: float,
        note: str,
        by: str,
        key_result_id: UUID | None = None,
    ) -> None:
        """Record a new current value (None: confidence and note only) on the goal or a KR."""
        if self.lifecycle != ACTIVE:
            raise GoalNotActive(
                f"check-ins need an active goal; this one is {self.lifecycle}"
                + (" (activate it first)" if self.lifecycle == DRAFT else "")
            )
        key_result = None if key_result_id is None else self._key_result_data(key_result_id)
        metric_data = self._metric if key_result is None else key_result["metric"]
        if value is not None:
            value = require_finite(value, "value")
            if metric_data is None:
                raise FailedPrecondition(
                    "the goal has no metric of its own: check in on a key result, or without "
                    "a value",
                    field="value",
                )
            if key_result_id is None and self.progress_source == SOURCE_KPI:
                raise FailedPrecondition(
                    f"the goal's progress comes from KPI {self.kpi_id}: its measurements check "
                    "in automatically; check in without a value, or change the progress source",
                    field="value",
                )
            if key_result is not None and key_result.get("progress_source") == SOURCE_KPI:
                raise FailedPrecondition(
                    f"key result {key_result_id}'s value comes from KPI {key_result['kpi_id']}: "
                    "its measurements check in automatically; check in without a value, or "
                    "change the key result's progress source",
                    field="value",
                )
            if metric_data["kind"] == "binary" and value not in (0.0, 1.0):
                raise InvalidArgument(
                    "a milestone is 0 (not reached) or 1 (reached)", field="value"
                )
        confidence = require_confidence(confidence)
        note = require_text(note, "note", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = require_actor(by)
        self._checked_in(
            value=value,
            confidence=confidence,
            note=note,
            by=by,
            key_result_id=key_result_id,
            kpi_id=None,
            kpi_period=None,
            kpi_event_id=None,
            kpi_version=None,
        )

    def check_in_kpi_measurement(
        self,
        kpi_id: UUID,
        kpi_version: int,
        period: str,
        value: float,
        by: str,
        *,
        kpi_event_id: str = "",
    ) -> bool:
        """Record a KPI's value for `period` as an automatic check-in on the goal and on each of
        its key results driven by this KPI (one check-in each); True if any was recorded.

        Nothing is recorded (False) unless the goal is active and it or a key result is driven
        by this KPI, and the
        measurement is newer than the last one recorded (a higher KPI event version, for the
        same or a later period), so a redelivered measurement, or a correction of an older
        period, leaves the goal as it is. The check-in keeps the latest confidence a person
        gave (1 before any).
        """
        targets: list[UUID | None] = [
            kr["key_result_id"]
            for kr in self._key_results
            if kr.get("progress_source") == SOURCE_KPI and kr.get("kpi_id") == kpi_id
        ]
        if self.progress_source == SOURCE_KPI and self.kpi_id == kpi_id:
            targets.insert(0, None)
        if self.lifecycle != ACTIVE or not targets:
            return False
        value = require_finite(value, "value")
        period = require_text(period, "period", max_length=MAX_TITLE_LENGTH)
        if not self._overlaps(kpi_period_dates(period)):
            return False  # a value of a period outside the goal's own says nothing about it
        last = (self._kpi_applied or {}).get(str(kpi_id))
        if last is not None and (kpi_version <= last["version"] or period < last["period"]):
            return False
        confidence = 1.0 if self.latest_confidence is None else self.latest_confidence
        by = require_actor(by)
        # Decided once for all targets: the first check-in already records this measurement.
        for key_result_id in targets:
            self._checked_in(
                value=value,
                confidence=confidence,
                note="",
                by=by,
                key_result_id=key_result_id,
                kpi_id=kpi_id,
                kpi_period=period,
                kpi_event_id=kpi_event_id or None,
                kpi_version=int(kpi_version),
            )
        return True

    def _overlaps(self, dates: tuple[date, date]) -> bool:
        first, last = dates
        return last >= self.start_date and (self.due_date is None or first <= self.due_date)

    def change_progress_source(
        self, progress_source: str, reason: str, by: str, *, kpi_id: UUID | None = None
    ) -> None:
        """Choose what drives the goal's progress from now on; needs a reason (kept in history)."""
        self._require_open("given another progress source")
        chosen, kpi = require_progress_source(
            progress_source, kpi_id, has_metric=self._metric is not None, field="progress_source"
        )
        if chosen is None:
            raise InvalidArgument(
                f"is required: one of {', '.join(PROGRESS_SOURCES)}", field="progress_source"
            )
        reason = require_reason(reason)
        by = require_actor(by)
        if (chosen, kpi) == (self.chosen_progress_source, self.kpi_id):
            return
        self._progress_source_changed(
            progress_source=chosen,
            kpi_id=kpi,
            previous_progress_source=self.chosen_progress_source,
            previous_kpi_id=self.kpi_id,
            reason=reason,
            by=by,
        )

    def change_target(
        self, new_target: float, reason: str, by: str, key_result_id: UUID | None = None
    ) -> None:
        """Move the target of the goal's or a key result's metric; the old one stays in history."""
        self._require_open("retargeted")
        field = "metric" if key_result_id is None else "key_result.metric"
        metric_data = (
            self._metric
            if key_result_id is None
            else (self._key_result_data(key_result_id)["metric"])
        )
        if metric_data is None:
            raise FailedPrecondition("the goal has no metric; define one first", field="metric")
        new_target = require_finite(new_target, "new_target")
        old = Metric.from_data(metric_data)
        validated_metric(
            Metric(old.kind, old.direction, old.start, new_target, old.unit, old.current), field
        )
        reason = require_reason(reason)
        by = require_actor(by)
        if new_target != old.target:
            self._target_changed(
                key_result_id=key_result_id,
                old_target=old.target,
                new_target=new_target,
                reason=reason,
                by=by,
            )

    def change_due_date(self, new_due_date: date, reason: str, by: str) -> None:
        """Move the due date; the old one stays in the history."""
        self._require_open("rescheduled")
        if new_due_date is None:
            raise InvalidArgument("a due date cannot be removed", field="due_date")
        validate_period(self.start_date, new_due_date)
        reason = require_reason(reason)
        by = require_actor(by)
        if new_due_date != self.due_date:
            self._due_date_changed(
                old_due_date=self.due_date, new_due_date=new_due_date, reason=reason, by=by
            )
