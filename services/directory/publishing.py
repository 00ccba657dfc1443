"""From stored directory events to public envelopes: the relay's mapper for the directory."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from northstar_contracts import directory as contracts
from northstar_contracts.envelope import EventEnvelope
from services.directory.domain import Person, Team
from services.shared.relay import envelope_for


def aggregate_type(event_class: type[DomainEventProtocol[Any]]) -> str:
    if issubclass(event_class, Person.Event):
        return "Person"
    if issubclass(event_class, Team.Event):
        return "Team"
    raise LookupError(f"no public contract for {event_class.__qualname__}")


def public_type_name(event_class: type[DomainEventProtocol[Any]]) -> str:
    """ "directory." + aggregate + event, e.g. Person.Departed -> "directory.PersonDeparted"."""
    return f"{contracts.TYPE_PREFIX}{aggregate_type(event_class)}{event_class.__name__}"


def directory_envelope(
    event: DomainEventProtocol[Any], notification: Notification
) -> EventEnvelope:
    """Every directory event is public, so this never returns None."""
    return envelope_for(
        event,
        notification,
        source=contracts.SOURCE,
        aggregate_type=aggregate_type(type(event)),
        type_name=public_type_name(type(event)),
    )
