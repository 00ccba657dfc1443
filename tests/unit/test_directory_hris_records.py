"""Inbound HRIS records: what parses, what is refused (and why), and the published schemas."""

from __future__ import annotations

import json
from typing import Any

import pytest

from northstar_contracts.errors import ContractViolation
from northstar_contracts.hris import (
    DepartureRecord,
    PersonUpsertRecord,
    TeamUpsertRecord,
    parse_hris_record,
)

PERSON: dict[str, Any] = {
    "tenant_id": "acme",
    "record_type": "person_upsert",
    "external_id": "E-1001",
    "name": "Ann Lee",
    "email": "ann@acme.example",
    "manager_id": "E-1000",
    "team_id": "T-10",
    "start_date": "2024-03-01",
    "effective_at": "2026-01-05T09:00:00+00:00",
}


def body(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


def test_each_record_type_parses_into_its_model() -> None:
    assert isinstance(parse_hris_record(body(PERSON)), PersonUpsertRecord)
    team = {**PERSON, "record_type": "team_upsert", "name": "Platform"}
    del team["email"], team["manager_id"], team["team_id"], team["start_date"]
    assert isinstance(parse_hris_record(body(team)), TeamUpsertRecord)
    departure = {
        "tenant_id": "acme",
        "record_type": "departure",
        "external_id": "E-1001",
        "leave_date": "2026-02-01",
        "effective_at": "2026-01-20T00:00:00Z",
    }
    parsed = parse_hris_record(body(departure))
    assert isinstance(parsed, DepartureRecord)
    assert parsed.occurred_at == parsed.effective_at


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"external_id": None}, "external_id"),
        ({"external_id": ""}, "external_id"),
        ({"tenant_id": None}, "tenant_id"),
        ({"name": "x" * 201}, "name"),
        ({"title": "x" * 201}, "title"),
        ({"manager_id": "m" * 129}, "manager_id"),
        ({"email": "nobody"}, "email"),
        ({"effective_at": "2026-01-05T09:00:00"}, "effective_at"),
        ({"employment_status": "departed"}, "employment_status"),
        ({"salary": 100}, "salary"),
        ({"record_type": "promotion"}, ""),
    ],
)
def test_malformed_records_are_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    record = {key: value for key, value in {**PERSON, **change}.items() if value is not None}
    with pytest.raises(ContractViolation) as refused:
        parse_hris_record(body(record))
    assert refused.value.field == field
    assert refused.value.reason
    # The message a dead-letter header carries names the field once, not "email: email: ...".
    if field:
        assert str(refused.value).count(f"{field}:") == 1


def test_a_record_with_several_faults_names_each_further_field_in_the_reason() -> None:
    record = {**PERSON, "email": "nobody", "name": "x" * 201}
    with pytest.raises(ContractViolation) as refused:
        parse_hris_record(body(record))
    fields = {refused.value.field, "email", "name"} - {refused.value.field}
    assert len(fields) == 1
    assert f"{fields.pop()}: " in refused.value.reason
    assert not refused.value.reason.startswith(f"{refused.value.field}:")


@pytest.mark.parametrize("raw", [None, b"", b"{not json", b"[]", b"x" * 70_000])
def test_bodies_that_are_not_records_are_refused(raw: bytes | None) -> None:
    with pytest.raises(ContractViolation):
        parse_hris_record(raw)
