"""The wire envelope: deterministic ids, CloudEvents headers, precise decode errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.errors import ContractViolation


def make_envelope(**overrides: object) -> EventEnvelope:
    fields: dict[str, object] = {
        "id": envelope_id("a1", 1),
        "type": "goals.GoalCreated",
        "schema_version": 1,
        "source": "northstar/goals",
        "tenant_id": "acme",
        "aggregate_type": "Goal",
        "aggregate_id": "a1",
        "aggregate_version": 1,
        "sequence": 7,
        "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "actor_id": "p1",
        "data": {"title": "Grow"},
    }
    fields.update(overrides)
    return EventEnvelope.model_validate(fields)


def test_envelope_id_is_the_same_for_the_same_aggregate_version() -> None:
    assert envelope_id("a1", 3) == envelope_id("a1", 3)
    assert envelope_id("a1", 3) != envelope_id("a1", 4)
    assert envelope_id("a1", 3) != envelope_id("a2", 3)


def test_envelope_round_trips_through_json() -> None:
    envelope = make_envelope()
    assert EventEnvelope.from_json_bytes(envelope.to_json_bytes()) == envelope


def test_headers_follow_the_cloudevents_kafka_binding() -> None:
    headers = dict(make_envelope().kafka_headers())
    assert headers["ce_id"] == envelope_id("a1", 1).encode()
    assert headers["ce_type"] == b"goals.GoalCreated"
    assert headers["ce_source"] == b"northstar/goals"
    assert headers["ce_subject"] == b"a1"
    assert headers["ce_time"].startswith(b"2026-01-02T03:04:05")
    assert headers["content-type"] == b"application/json"


def test_key_is_the_aggregate_id_so_one_aggregate_stays_on_one_partition() -> None:
    assert make_envelope().kafka_key() == b"a1"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json at all", "value"),
        (json.dumps({"id": "x"}).encode(), "type"),
        (None, "value"),
    ],
)
def test_undecodable_bodies_name_the_field_at_fault(body: bytes | None, field: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        EventEnvelope.from_json_bytes(body)
    assert caught.value.field == field


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        make_envelope(occurred_at=datetime(2026, 1, 2))
