"""Builders shared by the tests: public goal events as the relay publishes them, and their
envelopes, so a test states only the fields its case is about."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.registry import EVENTS
from services.projections.goals_projection import GoalsProjection

START = datetime(2026, 1, 1, tzinfo=UTC)
KEY_RESULT_IDS = [str(uuid.UUID(int=n)) for n in (1, 2, 3)]
OTHER_GOALS = [str(uuid.UUID(int=n)) for n in (101, 102, 103)]

GoalEvent = tuple[str, dict[str, Any]]


def goal_event(short_type: str, **fields: Any) -> GoalEvent:
    """A public goal event whose data passed its contract, as the relay would publish it."""
    event_type = f"goals.Goal{short_type}"
    return event_type, EVENTS.outbound_data(event_type, fields)[1]


def metric(target: float, current: float = 0.0) -> dict[str, Any]:
    return {
        "kind": "number",
        "direction": "increase",
        "start": 0.0,
        "target": target,
        "unit": "",
        "current": current,
    }


def created(
    title: str = "Grow revenue",
    *,
    level: str = "team",
    owner_id: str = "owner-1",
    team_id: str = "team-a",
    parent_goal_id: str | None = None,
    measure: dict[str, Any] | None = None,
    measured_by_own_metric: bool = False,
    visibility: str = "public",
) -> GoalEvent:
    return goal_event(
        "Created",
        tenant_id="acme",
        title=title,
        description="",
        owner_id=owner_id,
        team_id=team_id,
        level=level,
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=measure,
        parent_goal_id=parent_goal_id,
        visibility=visibility,
        created_by="hr-1",
        measured_by_own_metric=measured_by_own_metric,
        recurring=False,
        template_id=None,
        previous_goal_id=None,
    )


def envelope(
    goal_id: str, version: int, event: GoalEvent, tenant_id: str = "acme"
) -> EventEnvelope:
    event_type, data = event
    return EventEnvelope(
        id=envelope_id(goal_id, version),
        type=event_type,
        schema_version=1,
        source="northstar/goals",
        tenant_id=tenant_id,
        aggregate_type="Goal",
        aggregate_id=goal_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=START + timedelta(minutes=version),
        actor_id="hr-1",
        data=data,
    )


def apply_history(projection: GoalsProjection, goal_id: str, events: list[GoalEvent]) -> list[bool]:
    async def apply_all() -> list[bool]:
        return [
            await projection.apply(envelope(goal_id, version, event))
            for version, event in enumerate(events, start=1)
        ]

    return asyncio.run(apply_all())
