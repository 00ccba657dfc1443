"""The public wire format of every Northstar event: a JSON envelope plus CloudEvents headers.

Consumers outside Northstar rely on this shape, so it is versioned (`schema_version` is the
version of `data`'s contract) and the envelope id is deterministic per (aggregate id, version):
a republished event keeps its id. Readers ignore envelope fields they do not know; producers
build envelopes with `EventEnvelope.produce`, which refuses them.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from northstar_contracts.errors import ContractViolation

ENVELOPE_NAMESPACE = uuid.UUID("6f1c9d2e-3b7a-5e84-9c0d-4a2b8e7f1d36")
CONTENT_TYPE = "application/json"
CE_SPEC_VERSION = "1.0"

# The CloudEvents Kafka binding headers every event carries, with what each holds.
KAFKA_HEADERS: dict[str, str] = {
    "ce_specversion": "CloudEvents specification version (1.0).",
    "ce_id": "The envelope id.",
    "ce_type": "The public event type, e.g. goals.GoalCreated.",
    "ce_source": "The emitting service, e.g. northstar/goals.",
    "ce_time": "occurred_at, RFC 3339.",
    "ce_subject": "The aggregate id (also the message key).",
    "ce_tenant": "The tenant id.",
    "content-type": "application/json",
}


def envelope_id(aggregate_id: str, aggregate_version: int) -> str:
    """The same event always gets the same id, however often the relay publishes it."""
    return str(uuid.uuid5(ENVELOPE_NAMESPACE, f"{aggregate_id}:{aggregate_version}"))


class EventEnvelope(BaseModel):
    """One domain event on the wire. `data` holds the event's own fields (see the registry)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str = Field(description="Deterministic per (aggregate_id, aggregate_version).")
    type: str = Field(description='Public event type, e.g. "goals.GoalCreated".', min_length=3)
    schema_version: int = Field(ge=1, description="Version of the data contract of `type`.")
    source: str = Field(description='Emitting service, e.g. "northstar/goals".')
    tenant_id: str = Field(min_length=1, description="Tenant the event belongs to.")
    aggregate_type: str = Field(min_length=1, description="e.g. Goal, Person, Team.")
    aggregate_id: str = Field(min_length=1, description="Id of the aggregate; the message key.")
    aggregate_version: int = Field(ge=1, description="1 for the first event of the aggregate.")
    sequence: int = Field(ge=1, description="Position in the emitting service's event log.")
    occurred_at: AwareDatetime = Field(description="When the event happened (UTC).")
    actor_id: str = Field(description="Person or integration account that caused the event.")
    correlation_id: str = Field("", description="Id shared by everything one request caused.")
    causation_id: str = Field("", description="Id of the event or request that caused this one.")
    data: dict[str, Any] = Field(description="The event's own fields, per its contract.")

    @classmethod
    def produce(cls, **fields: Any) -> EventEnvelope:
        """A new envelope, validated strictly: a producer never sends a field it did not mean."""
        try:
            return cls.model_validate(fields, extra="forbid")
        except ValidationError as error:
            raise _violation(error) from error

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def kafka_key(self) -> bytes:
        """Same aggregate, same key, same partition: per-aggregate order is kept."""
        return self.aggregate_id.encode()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """CloudEvents Kafka binding headers, so generic tooling can route without parsing."""
        values = {
            "ce_specversion": CE_SPEC_VERSION,
            "ce_id": self.id,
            "ce_type": self.type,
            "ce_source": self.source,
            "ce_time": self.occurred_at.isoformat(),
            "ce_subject": self.aggregate_id,
            "ce_tenant": self.tenant_id,
            "content-type": CONTENT_TYPE,
        }
        return [(name, values[name].encode()) for name in KAFKA_HEADERS]

    @classmethod
    def from_json_bytes(cls, raw: bytes | None) -> EventEnvelope:
        """Decode a message body (tolerantly), or say precisely why it is not an envelope."""
        if raw is None:
            raise ContractViolation("message has no body", field="value")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as error:
            raise _violation(error) from error


def _violation(error: ValidationError) -> ContractViolation:
    first = error.errors(include_url=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "value"
    return ContractViolation(first["msg"], field=location)
