"""A plain-JSON rendering of an aggregate's public state, for the golden store fixture.

The attributes are listed by hand, as they are today: a refactoring that renames or drops one
must change this list on purpose (and keep the meaning), never the committed expected states.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

_COMMON = ("id", "version", "created_on", "modified_on")

PUBLIC_STATE: dict[str, tuple[str, ...]] = {
    "Goal": (
        *_COMMON,
        "tenant_id",
        "title",
        "description",
        "owner_id",
        "team_id",
        "level",
        "start_date",
        "due_date",
        "metric",
        "parent_goal_id",
        "visibility",
        "created_by",
        "measured_by_own_metric",
        "recurring",
        "template_id",
        "previous_goal_id",
        "next_goal_id",
        "lifecycle",
        "outcome",
        "key_results",
        "contributions",
        "reassignment",
        "latest_confidence",
        "check_in_count",
        "metric_checked_in",
    ),
    "Person": (
        *_COMMON,
        "tenant_id",
        "person_id",
        "name",
        "email",
        "title",
        "team_id",
        "manager_id",
        "employment_status",
        "start_date",
        "leave_date",
        "effective_at",
        "has_departed",
    ),
    "Team": (
        *_COMMON,
        "tenant_id",
        "team_id",
        "name",
        "parent_team_id",
        "lead_id",
        "effective_at",
        "is_department",
    ),
}

# Value objects that gained fields after the golden rows were written: rendered with the fields
# they had then. The rows hold no event that sets the newer ones (a key result's progress source
# and KPI), so on them those fields keep their defaults (its own metric, no KPI).
FIELDS_OF_VALUE_OBJECTS: dict[str, tuple[str, ...]] = {
    "KeyResult": ("key_result_id", "title", "metric", "weight"),
}


def aggregate_state(aggregate: object) -> dict[str, Any]:
    """{"type": class name, attribute: plain JSON value, ...} of a Goal, Person or Team."""
    kind = type(aggregate).__name__
    try:
        names = PUBLIC_STATE[kind]
    except KeyError:
        raise TypeError(f"no golden state rendering for {kind}") from None
    return {"type": kind, **{name: plain(getattr(aggregate, name)) for name in names}}


def plain(value: Any) -> Any:
    """UUIDs and dates as strings, dataclasses as dicts, tuples as lists: JSON as stored."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = FIELDS_OF_VALUE_OBJECTS.get(type(value).__name__) or tuple(
            f.name for f in dataclasses.fields(value)
        )
        return {name: plain(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(plain(key)): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    raise TypeError(f"no plain JSON rendering for {type(value).__name__}")
