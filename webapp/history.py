"""A goal's check-ins from its audit trail: each entry's field changes folded into the state.

The projections answer every entry with the before and after of each top-level field it
changed, so folding the "after" values gives the goal's state after each entry; progress at each
check-in uses the published progress maths (northstar_contracts.progress), the same numbers the
services compute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from northstar.projections.v1 import projections_pb2
from northstar_contracts.errors import ContractViolation
from northstar_contracts.progress import (
    SOURCE_KPI,
    SOURCE_METRIC,
    MetricValues,
    effective_progress_source,
    goal_progress,
    metric_progress,
)

CHECKED_IN = "goals.GoalCheckedIn"


@dataclass(frozen=True)
class CheckInPoint:
    version: int
    occurred_at: str
    actor_id: str
    progress: float
    value: float | None
    unit: str
    target: float | None
    confidence: float | None


def fold(entries: Sequence[projections_pb2.AuditEntry]) -> list[dict[str, Any]]:
    """The state after each entry, in order."""
    state: dict[str, Any] = {}
    states = []
    for entry in entries:
        state = dict(state)
        for change in entry.changes:
            state[change.field] = json.loads(change.after_json)
        states.append(state)
    return states


def own_progress(state: Mapping[str, Any]) -> float:
    """Progress of the goal's own measure under its progress source (key results by weight, or
    its metric); a goal its children drive shows its key results, else its metric (0 if none)."""
    try:
        key_results = state.get("key_results") or []
        metric = state.get("metric")
        source = effective_progress_source(
            state.get("progress_source"), has_metric=bool(metric), has_key_results=bool(key_results)
        )
        if source in (SOURCE_METRIC, SOURCE_KPI) and metric:
            return metric_progress(MetricValues.from_data(metric))
        if key_results:
            return goal_progress(
                own_metric_progress=None,
                key_results=[
                    (metric_progress(MetricValues.from_data(kr["metric"])), float(kr["weight"]))
                    for kr in key_results
                ],
            )
        return 0.0 if not metric else metric_progress(MetricValues.from_data(metric))
    except (ContractViolation, KeyError, TypeError, ValueError):
        return 0.0


def check_ins(entries: Sequence[projections_pb2.AuditEntry]) -> list[CheckInPoint]:
    points = []
    for entry, state in zip(entries, fold(entries), strict=True):
        if entry.event_type != CHECKED_IN:
            continue
        metric = state.get("metric") or {}
        points.append(
            CheckInPoint(
                version=entry.version,
                occurred_at=entry.occurred_at,
                actor_id=entry.actor_id,
                progress=own_progress(state),
                value=metric.get("current"),
                unit=str(metric.get("unit") or ""),
                target=metric.get("target"),
                confidence=state.get("confidence"),
            )
        )
    return points


CREATION_FIELDS = ("title", "level", "owner_id", "team_id", "start_date", "due_date", "visibility")


def entry_words(entry: projections_pb2.AuditEntry) -> list[str]:
    """What an audit entry changed, one line per field (a creation: the goal's main fields)."""
    if entry.event_type == "goals.GoalCreated":
        after = {c.field: json.loads(c.after_json) for c in entry.changes}
        lines = [f"{name}: {_short(after.get(name))}" for name in CREATION_FIELDS]
        metric = after.get("metric")
        if isinstance(metric, dict):
            lines.append(
                f"metric: {metric.get('start')} → {metric.get('target')} {metric.get('unit', '')}"
                f" ({metric.get('direction')})"
            )
        return lines
    return [change_words(c) for c in entry.changes if c.field != "check_ins"]


def change_words(change: projections_pb2.FieldChange) -> str:
    """One field change in words, e.g. "metric.target: 3000000 → 3200000"."""
    before, after = json.loads(change.before_json), json.loads(change.after_json)
    if isinstance(before, dict) and isinstance(after, dict):
        parts = [
            f"{change.field}.{key}: {_short(before.get(key))} → {_short(value)}"
            for key, value in after.items()
            if before.get(key) != value
        ]
        return "; ".join(parts) or change.field
    if isinstance(after, list) or isinstance(before, list):
        return f"{change.field} changed"
    return f"{change.field}: {_short(before)} → {_short(after)}"


def _short(value: Any) -> str:
    text = (
        "-"
        if value is None
        else json.dumps(value)
        if isinstance(value, dict | list)
        else str(value)
    )
    return text if len(text) <= 60 else text[:57] + "..."
