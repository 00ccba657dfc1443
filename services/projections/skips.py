"""What a read model records when an operator skips a parked event that held its aggregate's
next version: an audit entry of type `projections.EventSkipped` at that version, so the chain
stays whole and the history shows who skipped which event, when and why."""

from __future__ import annotations

# The catalogue imports every contract module, so each public event type is registered here
# whatever else the process has imported.
import northstar_contracts.catalogue  # noqa: F401
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.errors import UnknownContract
from northstar_contracts.registry import EVENTS
from services.projections.goal_state import SKIPPED_EVENT_TYPE
from services.shared.sequencing import SkipRecord, UnknownEventType

SKIP_SOURCE = "northstar/projections"


def skip_entry_envelope(record: SkipRecord) -> EventEnvelope:
    """The skipped event's place in its aggregate's history, as an envelope of the marker type:
    same id, aggregate and version; the operator as actor; the decision as data."""
    skipped = record.envelope
    return EventEnvelope(
        id=skipped.id,
        type=SKIPPED_EVENT_TYPE,
        schema_version=1,
        source=SKIP_SOURCE,
        tenant_id=skipped.tenant_id,
        aggregate_type=skipped.aggregate_type,
        aggregate_id=skipped.aggregate_id,
        aggregate_version=skipped.aggregate_version,
        sequence=skipped.sequence,
        occurred_at=record.decided_at,
        actor_id=record.operator,
        correlation_id=skipped.correlation_id,
        causation_id=skipped.id,
        data={
            "skipped_event_id": skipped.id,
            "skipped_event_type": skipped.type,
            "skipped_occurred_at": skipped.occurred_at.isoformat(),
            "parked_reason": record.parked_reason,
            "reason": record.reason,
        },
    )


def require_known(envelope: EventEnvelope, types: frozenset[str] | None = None) -> None:
    """UnknownEventType unless this release has the event's contract (type and schema version)
    and, when `types` is given, the read model folds that type."""
    if types is not None and envelope.type not in types:
        raise UnknownEventType(f"this read model does not know event type {envelope.type!r}")
    try:
        current = EVENTS.current_version(envelope.type)
    except UnknownContract:
        raise UnknownEventType(f"no contract for event type {envelope.type!r}") from None
    if envelope.schema_version > current:
        raise UnknownEventType(
            f"{envelope.type} schema version {envelope.schema_version} is newer than this "
            f"release's {current}"
        )
