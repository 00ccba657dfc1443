"""Each audit entry is encoded once on the apply path: the field changes are found without
encoding scalars, and the hash text is assembled from the data and changes JSON that are
stored. Both must be exactly what encoding the whole entry gives (the known-answer vectors of
test_audit_tamper_evidence.py pin that text), or stored chains would stop verifying."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.projections.audit import (
    AuditEntry,
    FieldChange,
    _encoded_changes,
)
from services.shared.canonical import canonical_json

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
states = st.dictionaries(st.sampled_from(["a", "b", "c", "ü"]), json_values)


def changes_by_encoding(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The definition: a field changed when it appeared, disappeared or encodes differently."""
    return [
        FieldChange(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if (name in before) != (name in after)
        or canonical_json(before.get(name)) != canonical_json(after.get(name))
    ]


@given(states, states)
def test_changes_found_without_encoding_are_the_changes_by_encoding(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    changes, changes_json = _encoded_changes(before, after)

    expected = changes_by_encoding(before, after)
    assert [c.field for c in changes] == [c.field for c in expected]
    assert changes_json == canonical_json(
        [{"field": c.field, "before": c.before, "after": c.after} for c in expected]
    )


def test_equal_values_that_encode_differently_are_changes() -> None:
    before = {"a": 1, "b": 0.0, "c": True, "d": [1]}
    after = {"a": 1.0, "b": -0.0, "c": 1, "d": [1.0]}

    changes, _ = _encoded_changes(before, after)

    assert [c.field for c in changes] == ["a", "b", "c", "d"]


@given(st.text(), st.text(), json_values)
def test_the_assembled_hash_text_is_the_canonical_json_of_the_entry(
    reason: str, actor_id: str, value: Any
) -> None:
    entry = AuditEntry(
        tenant_id="acme",
        aggregate_type="Goal",
        aggregate_id="g-1",
        version=3,
        event_id="e-3",
        event_type="goals.GoalRenamed",
        actor_id=actor_id,
        occurred_at="2026-01-05T09:30:00+00:00",
        reason=reason,
        data={"value": value},
        changes=[FieldChange("value", None, value)],
        previous_hash="f" * 64,
    )
    content = dataclasses.asdict(entry)
    del content["entry_hash"]
    expected = hashlib.sha256((entry.previous_hash + canonical_json(content)).encode())

    assert entry.content_hash() == expected.hexdigest()
