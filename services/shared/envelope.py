"""The public wire format of every Northstar event: a JSON envelope plus CloudEvents-style headers.

Consumers outside Northstar rely on this shape, so it is versioned (`schema_version`) and the
envelope id is deterministic per (aggregate id, version): a republished event keeps its id.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.shared.errors import InvalidArgument

ENVELOPE_NAMESPACE = uuid.UUID("6f1c9d2e-3b7a-5e84-9c0d-4a2b8e7f1d36")
CONTENT_TYPE = "application/json"
CE_SPEC_VERSION = "1.0"


def envelope_id(aggregate_id: str, aggregate_version: int) -> str:
    """The same event always gets the same id, however often the relay publishes it."""
    return str(uuid.uuid5(ENVELOPE_NAMESPACE, f"{aggregate_id}:{aggregate_version}"))


class EventEnvelope(BaseModel):
    """One domain event on the wire. `data` holds the event's own fields (see the contracts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Deterministic per (aggregate_id, aggregate_version).")
    type: str = Field(description='Public event type, e.g. "goals.GoalCreated".', min_length=3)
    schema_version: int = Field(ge=1, description="Version of the data contract of `type`.")
    source: str = Field(description='Emitting service, e.g. "northstar/goals".')
    tenant_id: str = Field(min_length=1)
    aggregate_type: str = Field(min_length=1)
    aggregate_id: str = Field(min_length=1)
    aggregate_version: int = Field(ge=1)
    sequence: int = Field(ge=1, description="Position in the emitting service's event log.")
    occurred_at: AwareDatetime
    actor_id: str = Field(description="Person or integration account that caused the event.")
    correlation_id: str = ""
    causation_id: str = ""
    data: dict[str, Any]

    def to_json_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def kafka_key(self) -> bytes:
        """Same aggregate, same key, same partition: per-aggregate order is kept."""
        return self.aggregate_id.encode()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """CloudEvents Kafka binding headers, so generic tooling can route without parsing."""
        return [
            ("ce_specversion", CE_SPEC_VERSION.encode()),
            ("ce_id", self.id.encode()),
            ("ce_type", self.type.encode()),
            ("ce_source", self.source.encode()),
            ("ce_time", self.occurred_at.isoformat().encode()),
            ("ce_subject", self.aggregate_id.encode()),
            ("ce_tenant", self.tenant_id.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]

    @classmethod
    def from_json_bytes(cls, raw: bytes | None) -> EventEnvelope:
        """Decode a message body, or say precisely why it is not an envelope."""
        if raw is None:
            raise InvalidArgument("message has no body", field="value")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            location = ".".join(str(part) for part in first["loc"]) or "value"
            raise InvalidArgument(first["msg"], field=location) from error


def utc_now() -> datetime:
    return datetime.now(UTC)


def canonical_json(value: Any) -> str:
    """Stable JSON (sorted keys, no spaces): the basis of content hashes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
