"""From stored feedback events to public envelopes: the relay's mapper for the feedback service.

Every stored event is published (so the topic's sequence has no gaps that would say something
private happened), but only with the fields its contract names: texts stay here, except the text
of public feedback; answers' content and the comments of aggregates never leave.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Notification

from northstar_contracts import feedback as contracts
from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.registry import EVENTS
from services.feedback.domain import Feedback, FeedbackSettings
from services.feedback.one_on_ones import OneOnOne
from services.feedback.requests import FeedbackRequest
from services.feedback.templates import QuestionTemplate
from services.shared.eventstore import event_metadata
from services.shared.feedback_visibility import PUBLIC

_AGGREGATE_TYPES: tuple[tuple[type[Any], str], ...] = (
    (Feedback.Event, contracts.FEEDBACK),
    (FeedbackRequest.Event, contracts.FEEDBACK_REQUEST),
    (OneOnOne.Event, contracts.ONE_ON_ONE),
    (FeedbackSettings.Event, contracts.SETTINGS),
    (QuestionTemplate.Event, contracts.QUESTION_TEMPLATE),
)
# The settings' first event and later changes are one public fact: the settings now.
_RENAMED: dict[type[Any], str] = {FeedbackSettings.Created: "Changed"}


def aggregate_type(event: DomainEventProtocol[Any]) -> str:
    return aggregate_type_of(type(event))


def aggregate_type_of(event_class: type[Any]) -> str:
    for event_base, name in _AGGREGATE_TYPES:
        if issubclass(event_class, event_base):
            return name
    raise LookupError(f"no public contract for {event_class.__qualname__}")


def public_type_name(event: DomainEventProtocol[Any]) -> str:
    return type_name_of(type(event))


def type_name_of(event_class: type[Any]) -> str:
    """ "feedback." + aggregate + event, e.g. Feedback.Given -> "feedback.FeedbackGiven"."""
    name = _RENAMED.get(event_class, event_class.__name__)
    return f"{contracts.TYPE_PREFIX}{aggregate_type_of(event_class)}{name}"


def public_data(event: DomainEventProtocol[Any], type_name: str) -> dict[str, Any]:
    """The contract's fields of the event; what the contract does not name stays private."""
    fields = EVENTS.current(type_name).model.model_fields
    data = {name: getattr(event, name, None) for name in fields}
    if isinstance(event, Feedback.Given):
        data["text"] = event.text if event.visibility == PUBLIC else None
    if isinstance(event, FeedbackRequest.Closed):
        data["aggregates"] = [
            {
                "perspective": aggregate["perspective"],
                "answer_count": aggregate["answer_count"],
                "questions": [
                    {k: q[k] for k in ("question_id", "rating_counts", "rating_mean")}
                    for q in aggregate["questions"]
                    if q["rating_counts"]  # rating questions only: comments stay here
                ],
            }
            for aggregate in event.aggregates
        ]
    if isinstance(event, FeedbackSettings.Created | FeedbackSettings.Changed):
        data["tenant_id"] = event_metadata(event).get("tenant_id", "")
    return data


def feedback_envelope(event: DomainEventProtocol[Any], notification: Notification) -> EventEnvelope:
    type_name = public_type_name(event)
    schema_version, data = EVENTS.outbound_data(type_name, public_data(event, type_name))
    metadata = event_metadata(event)
    aggregate_id = str(notification.originator_id)
    return EventEnvelope.produce(
        id=envelope_id(aggregate_id, notification.originator_version),
        type=type_name,
        schema_version=schema_version,
        source=contracts.SOURCE,
        tenant_id=metadata.get("tenant_id", ""),
        aggregate_type=aggregate_type(event),
        aggregate_id=aggregate_id,
        aggregate_version=notification.originator_version,
        sequence=notification.id,
        occurred_at=getattr(event, "timestamp"),  # noqa: B009 (every aggregate event has one)
        actor_id=metadata.get("actor_id", ""),
        correlation_id=metadata.get("correlation_id", ""),
        causation_id=metadata.get("causation_id", ""),
        data=data,
    )
