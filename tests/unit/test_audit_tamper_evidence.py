"""The audit chain's hash format is pinned by known-answer vectors, every stored column is
covered by it, and a forger who rewrites an entry and recomputes its hash is still caught by the
next entry's link. Pure: no store, so `make unit` runs it anywhere."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from services.projections.audit import GENESIS_HASH, AuditEntry, FieldChange, verify_chain

# One fixed entry and, spelled out by hand, the canonical JSON its hash covers: sorted keys, no
# spaces, non-ASCII escaped, the previous hash both prefixed and inside. Changing what the seal
# covers (dropping `reason`, say) or how it is encoded changes the digest below, which existing
# stored chains were sealed with.
VECTOR_ENTRY = AuditEntry(
    tenant_id="acme",
    aggregate_type="Goal",
    aggregate_id="5f0c6a52-2c0b-4f4e-9a57-3d1f2b8e6a10",
    version=1,
    event_id="0e4b6f1e-8f43-5d7e-9c2a-6b1d3e5f7a90",
    event_type="goals.GoalCheckedIn",
    actor_id="ana",
    occurred_at="2026-01-05T09:30:00+00:00",
    reason="quarterly review",
    data={"value": 42.5, "note": "größer", "key_result_id": None},
    changes=[FieldChange("metric.current", 10.0, 42.5)],
)
VECTOR_CONTENT = (
    '{"actor_id":"ana","aggregate_id":"5f0c6a52-2c0b-4f4e-9a57-3d1f2b8e6a10",'
    '"aggregate_type":"Goal","changes":[{"after":42.5,"before":10.0,"field":"metric.current"}],'
    '"data":{"key_result_id":null,"note":"gr\\u00f6\\u00dfer","value":42.5},'
    '"event_id":"0e4b6f1e-8f43-5d7e-9c2a-6b1d3e5f7a90","event_type":"goals.GoalCheckedIn",'
    '"occurred_at":"2026-01-05T09:30:00+00:00",'
    '"previous_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
    '"reason":"quarterly review","tenant_id":"acme","version":1}'
)
VECTOR_DIGEST = "48a3445ee07ddcc3fdee9ee9e05757c66f469808181fc6458788f2db0d06df8c"


def test_the_vector_content_is_what_the_digest_is_taken_over() -> None:
    assert hashlib.sha256((GENESIS_HASH + VECTOR_CONTENT).encode()).hexdigest() == VECTOR_DIGEST


def test_the_seal_gives_the_committed_digest() -> None:
    assert VECTOR_ENTRY.content_hash() == VECTOR_DIGEST


def test_a_second_entry_chains_on_the_first_digest() -> None:
    second = dataclasses.replace(
        VECTOR_ENTRY, version=2, reason="", previous_hash=VECTOR_DIGEST, changes=[]
    )
    content = VECTOR_CONTENT.replace('"version":1', '"version":2')
    content = content.replace('"reason":"quarterly review"', '"reason":""')
    content = content.replace(
        '"changes":[{"after":42.5,"before":10.0,"field":"metric.current"}]', '"changes":[]'
    )
    content = content.replace(GENESIS_HASH, VECTOR_DIGEST)
    expected = hashlib.sha256((VECTOR_DIGEST + content).encode()).hexdigest()
    assert second.content_hash() == expected


def sealed_chain(length: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    previous = GENESIS_HASH
    for version in range(1, length + 1):
        entry = dataclasses.replace(
            VECTOR_ENTRY,
            version=version,
            event_id=f"event-{version}",
            reason=f"reason {version}",
            data={"value": float(version)},
            changes=[FieldChange("metric.current", float(version - 1), float(version))],
            previous_hash=previous,
        )
        entry = dataclasses.replace(entry, entry_hash=entry.content_hash())
        entries.append(entry)
        previous = entry.entry_hash
    return entries


def test_an_untouched_chain_verifies() -> None:
    assert verify_chain(sealed_chain(4)).intact


def altered(value: Any) -> Any:
    """A different value of the same kind, as stored in a column."""
    if isinstance(value, int):
        return value + 7
    if value.startswith(("{", "[")):
        return value.replace("1", "9", 1) if "1" in value else value[:-1] + ',"x":1' + value[-1]
    return value + "x"


COLUMN_NAMES = [
    "tenant_id",
    "aggregate_type",
    "aggregate_id",
    "version",
    "event_id",
    "event_type",
    "actor_id",
    "occurred_at",
    "reason",
    "data_json",
    "changes_json",
    "previous_hash",
    "entry_hash",
]


@pytest.mark.parametrize("column", range(len(COLUMN_NAMES)), ids=COLUMN_NAMES)
def test_altering_any_stored_column_of_a_middle_entry_breaks_verification(column: int) -> None:
    entries = sealed_chain(4)
    row = list(entries[1].to_row())
    assert len(row) == len(COLUMN_NAMES)
    row[column] = altered(row[column])
    entries[1] = AuditEntry.from_row(tuple(row))
    result = verify_chain(entries)
    assert not result.intact
    assert result.first_broken_version == 2


def test_rewriting_an_entry_and_recomputing_its_hash_is_caught_by_the_next_link() -> None:
    entries = sealed_chain(4)
    forged = dataclasses.replace(entries[1], actor_id="mallory", data={"value": 1000.0})
    entries[1] = dataclasses.replace(forged, entry_hash=forged.content_hash())
    # The forged entry is self-consistent: only its successor's link gives it away.
    assert entries[1].content_hash() == entries[1].entry_hash
    result = verify_chain(entries)
    assert not result.intact
    assert result.first_broken_version == 3
    assert "previous_hash" in result.reason


def test_rewriting_the_last_entry_and_rehashing_is_caught_by_the_recorded_head() -> None:
    entries = sealed_chain(3)
    head = (3, entries[2].entry_hash)
    forged = dataclasses.replace(entries[2], reason="nothing to see")
    entries[2] = dataclasses.replace(forged, entry_hash=forged.content_hash())
    assert verify_chain(entries).intact  # without the head, a rewritten tail is undetectable
    result = verify_chain(entries, head)
    assert not result.intact
    assert result.first_broken_version == 3
