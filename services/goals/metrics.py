"""Goal metrics as the goals service validates them, and the calendar of goal periods.

The progress maths themselves (roll-ups, expected progress, status) are part of the published
language (northstar_contracts.progress), so every reader of the goals topic computes the same
numbers; this module holds what only the goals service needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from northstar_contracts.progress import (
    DIRECTIONS,
    GUARDRAIL_DIRECTIONS,
    INCREASE,
    METRIC_KINDS,
)
from services.shared.errors import InvalidArgument
from services.shared.validation import reject_control_characters


def require_finite(value: float, field: str) -> float:
    """A real number that is neither NaN nor infinite (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument("must be a number", field=field)
    if not math.isfinite(value):
        raise InvalidArgument("must be a finite number (not NaN or infinite)", field=field)
    return float(value)


def require_text(value: str, field: str, *, max_length: int, allow_blank: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument("must be text", field=field)
    if not allow_blank and not value.strip():
        raise InvalidArgument("must not be blank", field=field)
    if len(value) > max_length:
        raise InvalidArgument(f"must be at most {max_length} characters", field=field)
    reject_control_characters(value, field)
    return value


def require_choice(value: str, choices: Sequence[str], field: str) -> str:
    if value not in choices:
        raise InvalidArgument(f"must be one of {', '.join(choices)}", field=field)
    return value


@dataclass(frozen=True)
class Metric:
    """How a goal or key result is measured; `current` None means still at `start`."""

    kind: str
    direction: str
    start: float
    target: float
    unit: str = ""
    current: float | None = None

    @property
    def current_value(self) -> float:
        return self.start if self.current is None else self.current

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "direction": self.direction,
            "start": self.start,
            "target": self.target,
            "unit": self.unit,
            "current": self.current_value,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Metric:
        return cls(
            kind=data["kind"],
            direction=data["direction"],
            start=data["start"],
            target=data["target"],
            unit=data["unit"],
            current=data["current"],
        )


def validated_metric(metric: Metric, field: str = "metric") -> Metric:
    """`metric` with numbers as floats, or InvalidArgument naming the first bad field."""
    require_choice(metric.kind, METRIC_KINDS, f"{field}.kind")
    require_choice(metric.direction, DIRECTIONS, f"{field}.direction")
    start = require_finite(metric.start, f"{field}.start")
    target = require_finite(metric.target, f"{field}.target")
    current = None if metric.current is None else require_finite(metric.current, f"{field}.current")
    unit = require_text(metric.unit, f"{field}.unit", max_length=32, allow_blank=True)
    if metric.kind == "currency" and not (len(unit) == 3 and unit.isalpha() and unit.isupper()):
        raise InvalidArgument(
            "a currency needs an ISO 4217 code such as EUR", field=f"{field}.unit"
        )
    if metric.kind == "binary" and (metric.direction != INCREASE or start != 0 or target != 1):
        raise InvalidArgument(
            "a binary milestone goes from start 0 to target 1 (direction increase)",
            field=f"{field}.target",
        )
    if metric.direction not in GUARDRAIL_DIRECTIONS:
        if target == start:
            raise InvalidArgument(
                "target equals start: progress cannot be measured", field=f"{field}.target"
            )
        if metric.direction == INCREASE and target < start:
            raise InvalidArgument("an increase needs a target above start", field=f"{field}.target")
        if metric.direction != INCREASE and target > start:
            raise InvalidArgument("a decrease needs a target below start", field=f"{field}.target")
    return Metric(metric.kind, metric.direction, start, target, unit, current)


def validate_period(start_date: date, due_date: date | None) -> None:
    for value, field in ((start_date, "start_date"), (due_date, "due_date")):
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise InvalidArgument("must be a calendar date", field=field)
    if due_date is not None and due_date < start_date:
        raise InvalidArgument("due date is before the start date", field="due_date")


def next_period(start_date: date, due_date: date) -> tuple[date, date]:
    """The period after [start, due]: the next calendar month, quarter or year when the period
    is one, otherwise a period of the same length starting the day after `due_date`."""
    following = date.fromordinal(due_date.toordinal() + 1)
    if start_date.day == 1 and following.day == 1:
        months = (following.year - start_date.year) * 12 + following.month - start_date.month
        if months in (1, 3, 12):
            return following, _month_start(following, months) - _ONE_DAY
    return following, following + (due_date - start_date)


def quarter_period(year: int, quarter: int) -> tuple[date, date]:
    """First and last day of calendar quarter `quarter` (1..4) of `year`."""
    if quarter not in (1, 2, 3, 4):
        raise InvalidArgument("must be 1, 2, 3 or 4", field="quarter")
    start = date(year, 3 * quarter - 2, 1)
    return start, _month_start(start, 3) - _ONE_DAY


_ONE_DAY = timedelta(days=1)


def _month_start(first_of_month: date, months_later: int) -> date:
    month_index = first_of_month.month - 1 + months_later
    return date(first_of_month.year + month_index // 12, month_index % 12 + 1, 1)
