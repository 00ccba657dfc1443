"""From stored goal events to public envelopes: the relay's mapper for the goals service."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from northstar_contracts import goals as contracts
from northstar_contracts.envelope import EventEnvelope
from services.goals.goal import Goal
from services.shared.relay import envelope_for


def public_type_name(event_class: type[Goal.Event]) -> str:
    """ "goals.Goal" + the event class name, e.g. Goal.CheckedIn -> "goals.GoalCheckedIn"."""
    return f"{contracts.TYPE_PREFIX}{event_class.__name__}"


def goal_envelope(event: DomainEventProtocol[Any], notification: Notification) -> EventEnvelope:
    """Every goal event is public, so this never returns None."""
    if not isinstance(event, Goal.Event):
        raise TypeError(f"unexpected event {type(event).__qualname__} in the goals log")
    return envelope_for(
        event,
        notification,
        source=contracts.SOURCE,
        aggregate_type=contracts.AGGREGATE_TYPE,
        type_name=public_type_name(type(event)),
    )
