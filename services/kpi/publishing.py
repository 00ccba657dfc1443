"""From stored KPI-service events to public envelopes: the relay's mapper.

Kpi events are public (northstar.kpi.v1). Survey and survey-settings events stay private: they
hold respondents' answers, which never leave this service.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from northstar_contracts import kpi as contracts
from northstar_contracts.envelope import EventEnvelope
from services.kpi.domain import Kpi
from services.shared.relay import envelope_for

_RENAMED = {"Defined": "KpiDefined"}


def public_type_name(event_class: type[Kpi.Event]) -> str:
    """ "kpi." + the event class name (Kpi.Defined is "kpi.KpiDefined")."""
    name = event_class.__name__
    return f"{contracts.TYPE_PREFIX}{_RENAMED.get(name, name)}"


def kpi_envelope(
    event: DomainEventProtocol[Any], notification: Notification
) -> EventEnvelope | None:
    if not isinstance(event, Kpi.Event):
        return None  # surveys and settings: private
    return envelope_for(
        event,
        notification,
        source=contracts.SOURCE,
        aggregate_type=contracts.AGGREGATE_TYPE,
        type_name=public_type_name(type(event)),
    )
