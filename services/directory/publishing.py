"""From stored directory events to public envelopes: the relay's mapper for the directory."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from services.directory.contracts import (
    CONTRACT_SCHEMA_VERSION,
    DIRECTORY_EVENT_CONTRACTS,
    SOURCE,
    TYPE_PREFIX,
)
from services.directory.domain import Person, Team
from services.shared.envelope import EventEnvelope
from services.shared.relay import envelope_for


def aggregate_type(event: DomainEventProtocol[Any]) -> str:
    if isinstance(event, Person.Event):
        return "Person"
    if isinstance(event, Team.Event):
        return "Team"
    raise LookupError(f"no public contract for {type(event).__qualname__}")


def public_type_name(event: DomainEventProtocol[Any]) -> str:
    """ "directory." + aggregate + event, e.g. Person.Departed -> "directory.PersonDeparted"."""
    return f"{TYPE_PREFIX}{aggregate_type(event)}{type(event).__name__}"


def contract_data(event: DomainEventProtocol[Any]) -> tuple[str, dict[str, Any]]:
    """The public type name and the validated, JSON-ready data of a directory event."""
    type_name = public_type_name(event)
    contract = DIRECTORY_EVENT_CONTRACTS[type_name]
    # Only the contract's fields: store metadata attached to events stays private.
    fields = {name: getattr(event, name) for name in contract.model_fields}
    return type_name, contract.model_validate(fields).model_dump(mode="json")


def directory_envelope(
    event: DomainEventProtocol[Any], notification: Notification
) -> EventEnvelope:
    """Every directory event is public, so this never returns None."""
    type_name, data = contract_data(event)
    return envelope_for(
        event,
        notification,
        source=SOURCE,
        aggregate_type=aggregate_type(event),
        type_name=type_name,
        schema_version=CONTRACT_SCHEMA_VERSION,
        data=data,
    )
