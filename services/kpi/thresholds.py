"""How a KPI's value for a period becomes a status: target types, thresholds, status.

Two ways to set thresholds:
- bands: explicit red / amber / green value bands [lower, upper), lowest first. They must not
  overlap, must leave no gap, and the outer ends are open, so every value has exactly one
  status. A rising KPI's bands get better upwards, a falling KPI's downwards.
- min_target_max: the period's target is the green line; a rising KPI (increase to, stay at or
  above) is amber from `minimum` up to the target and red below it; a falling KPI (decrease to,
  stay at or below) is amber from the target up to `maximum` and red above it.
Pure functions: no I/O, no framework.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.shared.errors import InvalidArgument

INCREASE_TO, DECREASE_TO = "increase_to", "decrease_to"
STAY_AT_OR_ABOVE, STAY_AT_OR_BELOW = "stay_at_or_above", "stay_at_or_below"
TARGET_TYPES = (INCREASE_TO, DECREASE_TO, STAY_AT_OR_ABOVE, STAY_AT_OR_BELOW)
RISING = frozenset({INCREASE_TO, STAY_AT_OR_ABOVE})
"""Higher is better: the target is reached at or above it."""

NO_DATA, RED, AMBER, GREEN = "no_data", "red", "amber", "green"
BAND_STATUSES = (RED, AMBER, GREEN)
_GOODNESS = {RED: 0, AMBER: 1, GREEN: 2}
BANDS, MIN_TARGET_MAX = "bands", "min_target_max"
FIELD = "thresholds"


def require_target_type(value: str, field: str = "target_type") -> str:
    if value not in TARGET_TYPES:
        raise InvalidArgument(f"must be one of {', '.join(TARGET_TYPES)}", field=field)
    return value


def require_finite(value: float, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidArgument("must be a finite number (not NaN or infinite)", field=field)
    return float(value)


@dataclass(frozen=True)
class Band:
    status: str
    lower: float | None
    upper: float | None

    def contains(self, value: float) -> bool:
        return (self.lower is None or value >= self.lower) and (
            self.upper is None or value < self.upper
        )


@dataclass(frozen=True)
class Thresholds:
    kind: str
    bands: tuple[Band, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def to_data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "bands": [
                {"status": band.status, "lower": band.lower, "upper": band.upper}
                for band in self.bands
            ],
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Thresholds:
        return cls(
            kind=data["kind"],
            bands=tuple(Band(b["status"], b["lower"], b["upper"]) for b in data["bands"]),
            minimum=data["minimum"],
            maximum=data["maximum"],
        )


def bands(*items: tuple[str, float | None, float | None]) -> Thresholds:
    """Shorthand: bands(("red", None, 50), ("amber", 50, 70), ("green", 70, None))."""
    return Thresholds(BANDS, tuple(Band(*item) for item in items))


def min_target_max(*, minimum: float | None = None, maximum: float | None = None) -> Thresholds:
    return Thresholds(MIN_TARGET_MAX, minimum=minimum, maximum=maximum)


def validated_thresholds(thresholds: Thresholds, target_type: str, target: float) -> Thresholds:
    """The thresholds when they are consistent, or InvalidArgument naming the field at fault."""
    rising = require_target_type(target_type) in RISING
    if thresholds.kind == BANDS:
        if thresholds.minimum is not None or thresholds.maximum is not None:
            raise InvalidArgument("bands take no minimum or maximum", field=FIELD)
        return Thresholds(BANDS, _validated_bands(thresholds.bands, rising))
    if thresholds.kind != MIN_TARGET_MAX:
        raise InvalidArgument(f"kind must be {BANDS} or {MIN_TARGET_MAX}", field=f"{FIELD}.kind")
    if thresholds.bands:
        raise InvalidArgument("min_target_max takes no bands", field=f"{FIELD}.bands")
    if rising:
        if thresholds.maximum is not None:
            raise InvalidArgument(
                "a rising KPI is amber below its target down to a minimum; it takes no maximum",
                field=f"{FIELD}.maximum",
            )
        minimum = _required(thresholds.minimum, f"{FIELD}.minimum", "a rising KPI")
        if minimum > target:
            raise InvalidArgument(
                f"must not be above the target ({target:g})", field=f"{FIELD}.minimum"
            )
        return min_target_max(minimum=minimum)
    if thresholds.minimum is not None:
        raise InvalidArgument(
            "a falling KPI is amber above its target up to a maximum; it takes no minimum",
            field=f"{FIELD}.minimum",
        )
    maximum = _required(thresholds.maximum, f"{FIELD}.maximum", "a falling KPI")
    if maximum < target:
        raise InvalidArgument(
            f"must not be below the target ({target:g})", field=f"{FIELD}.maximum"
        )
    return min_target_max(maximum=maximum)


def _required(value: float | None, field: str, what: str) -> float:
    if value is None:
        raise InvalidArgument(f"is required for {what}", field=field)
    return require_finite(value, field)


def _validated_bands(given: Sequence[Band], rising: bool) -> tuple[Band, ...]:
    field = f"{FIELD}.bands"
    if not given:
        raise InvalidArgument("needs at least one band", field=field)
    for index, band in enumerate(given):
        where = f"{field}[{index}]"
        if band.status not in BAND_STATUSES:
            raise InvalidArgument(
                f"must be one of {', '.join(BAND_STATUSES)}", field=f"{where}.status"
            )
        for name, bound in (("lower", band.lower), ("upper", band.upper)):
            if bound is not None:
                require_finite(bound, f"{where}.{name}")
        if band.lower is not None and band.upper is not None and band.lower >= band.upper:
            raise InvalidArgument("lower must be below upper", field=where)

    def lower_bound(index: int) -> float:
        lower = given[index].lower
        return -math.inf if lower is None else lower

    order = sorted(range(len(given)), key=lower_bound)
    for before, after in itertools.pairwise(order):
        low, high = given[before], given[after]
        low_upper = math.inf if low.upper is None else low.upper
        high_lower = -math.inf if high.lower is None else high.lower
        if low_upper > high_lower:
            raise InvalidArgument(
                f"overlaps band {before} ({_span(low)} and {_span(high)} share values)",
                field=f"{field}[{after}]",
            )
        if low_upper < high_lower:
            raise InvalidArgument(
                f"values from {low_upper:g} up to {high_lower:g} would have no status",
                field=f"{field}[{after}]",
            )
    ordered = [given[i] for i in order]
    if ordered[0].lower is not None:
        raise InvalidArgument(
            "the lowest band must have no lower bound, so every value has a status",
            field=f"{field}[{order[0]}].lower",
        )
    if ordered[-1].upper is not None:
        raise InvalidArgument(
            "the highest band must have no upper bound, so every value has a status",
            field=f"{field}[{order[-1]}].upper",
        )
    goodness = [_GOODNESS[band.status] for band in ordered]
    if goodness != sorted(goodness, reverse=not rising):
        direction = "upwards (red, amber, green)" if rising else "downwards (red, amber, green)"
        raise InvalidArgument(
            f"a {'rising' if rising else 'falling'} KPI's bands must get better {direction}",
            field=field,
        )
    return tuple(ordered)


def _span(band: Band) -> str:
    lower = "-inf" if band.lower is None else f"{band.lower:g}"
    upper = "inf" if band.upper is None else f"{band.upper:g}"
    return f"[{lower}, {upper})"


def status_of(value: float | None, thresholds: Thresholds, target_type: str, target: float) -> str:
    """The status of a period's value (NO_DATA when the period has none)."""
    if value is None:
        return NO_DATA
    if thresholds.kind == BANDS:
        return next(band.status for band in thresholds.bands if band.contains(value))
    if target_type in RISING:
        if value >= target:
            return GREEN
        return AMBER if thresholds.minimum is not None and value >= thresholds.minimum else RED
    if value <= target:
        return GREEN
    return AMBER if thresholds.maximum is not None and value <= thresholds.maximum else RED
