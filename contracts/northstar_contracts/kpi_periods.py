"""KPI periods: the one spelling of a daily, weekly, monthly or quarterly period, and its dates.

Every reader of KPI events (the KPI service, the projections, a goals policy, an enterprise's
BI) turns a period key into dates the same way:

| cadence   | key          | example      | first day .. last day         |
|-----------|--------------|--------------|-------------------------------|
| daily     | YYYY-MM-DD   | 2026-03-05   | that day                      |
| weekly    | YYYY-Www     | 2026-W10     | ISO 8601 week: Monday..Sunday |
| monthly   | YYYY-MM      | 2026-03      | first..last day of the month  |
| quarterly | YYYY-Qn      | 2026-Q1      | Jan-Mar, Apr-Jun, Jul-Sep, Oct-Dec |

Keys of one cadence sort as text in time order.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, get_args

from northstar_contracts.errors import ContractViolation, echo

Cadence = Literal["daily", "weekly", "monthly", "quarterly"]
CADENCES: tuple[Cadence, ...] = get_args(Cadence)
MAX_PERIOD_LENGTH = 10

_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "daily": (re.compile(r"^(\d{4})-(\d{2})-(\d{2})$", re.ASCII), "YYYY-MM-DD, e.g. 2026-03-05"),
    "weekly": (re.compile(r"^(\d{4})-W(\d{2})$", re.ASCII), "YYYY-Www (ISO week), e.g. 2026-W10"),
    "monthly": (re.compile(r"^(\d{4})-(\d{2})$", re.ASCII), "YYYY-MM, e.g. 2026-03"),
    "quarterly": (re.compile(r"^(\d{4})-Q([1-4])$", re.ASCII), "YYYY-Qn, e.g. 2026-Q1"),
}


@dataclass(frozen=True, order=True)
class Period:
    """One period of a cadence; ordered by its first day."""

    start: date
    end: date
    cadence: Cadence
    key: str

    @property
    def due_since(self) -> date:
        """The first day on which a measurement of this period counts as missing."""
        return self.end + timedelta(days=1)

    def next(self) -> Period:
        return period_containing(self.end + timedelta(days=1), self.cadence)


def require_cadence(value: str, field: str = "cadence") -> Cadence:
    if value not in CADENCES:
        raise ContractViolation(f"must be one of {', '.join(CADENCES)}", field=field)
    return value


def parse_period(text: str, cadence: str, field: str = "period") -> Period:
    """The period `text` names, or ContractViolation saying how a `cadence` period is spelled."""
    cadence = require_cadence(cadence)
    pattern, spelling = _PATTERNS[cadence]
    if not text:
        raise ContractViolation(f"is required ({spelling})", field=field)
    match = pattern.match(text) if len(text) <= MAX_PERIOD_LENGTH else None
    if match is None:
        raise ContractViolation(f"{echo(text)} is not a {cadence} period ({spelling})", field=field)
    numbers = [int(group) for group in match.groups()]
    try:
        first_day = _first_day(cadence, numbers)
    except ValueError:
        raise ContractViolation(
            f"{echo(text)} is not a real {cadence} period", field=field
        ) from None
    period = period_containing(first_day, cadence)
    if period.key != text:  # e.g. 2026-W53 in a year of 52 weeks
        raise ContractViolation(f"{echo(text)} is not a real {cadence} period", field=field)
    return period


def _first_day(cadence: str, numbers: list[int]) -> date:
    if cadence == "daily":
        return date(numbers[0], numbers[1], numbers[2])
    if cadence == "weekly":
        return date.fromisocalendar(numbers[0], numbers[1], 1)
    if cadence == "monthly":
        return date(numbers[0], numbers[1], 1)
    return date(numbers[0], 3 * numbers[1] - 2, 1)


def period_containing(day: date, cadence: str) -> Period:
    """The period of `cadence` that `day` falls in."""
    cadence = require_cadence(cadence)
    if cadence == "daily":
        return Period(day, day, cadence, day.isoformat())
    if cadence == "weekly":
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        return Period(monday, monday + timedelta(days=6), cadence, f"{year:04d}-W{week:02d}")
    if cadence == "monthly":
        last = calendar.monthrange(day.year, day.month)[1]
        return Period(
            date(day.year, day.month, 1),
            date(day.year, day.month, last),
            cadence,
            f"{day.year:04d}-{day.month:02d}",
        )
    quarter = (day.month - 1) // 3 + 1
    first_month = 3 * quarter - 2
    last_month = first_month + 2
    return Period(
        date(day.year, first_month, 1),
        date(day.year, last_month, calendar.monthrange(day.year, last_month)[1]),
        cadence,
        f"{day.year:04d}-Q{quarter}",
    )


def periods_from(first: Period, *, due_by: date) -> Iterator[Period]:
    """`first` and every later period of its cadence that is due by `due_by` (has ended before)."""
    period = first
    while period.due_since <= due_by:
        yield period
        period = period.next()
