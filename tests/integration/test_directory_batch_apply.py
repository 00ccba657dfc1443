"""A batch of HRIS records loads the people and teams it reads in one query, and a replica writes
a batch of directory events as the rows they leave: on SQLite and PostgreSQL, no Kafka."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.hris import HrisRecord, parse_hris_record
from services.directory.application import DirectoryApplication
from services.directory.batch_loading import load_together
from services.directory.domain import person_uuid, team_uuid
from services.directory.hris import apply_records
from services.directory.publishing import directory_envelope
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.readmodel import ReadModelDatabase

TENANT = "acme"


@pytest.fixture
def app(store_url: str) -> Iterator[DirectoryApplication]:
    application = DirectoryApplication(env=persistence_env("directory", store_url))
    yield application
    application.close()


def record(second: int, **fields: Any) -> HrisRecord:
    effective_at = f"2026-01-05T09:00:{second:02d}+00:00"
    return parse_hris_record(
        json.dumps({"tenant_id": TENANT, "effective_at": effective_at, **fields}).encode()
    )


def team(second: int, team_id: str, parent: str = "", name: str = "") -> HrisRecord:
    return record(
        second,
        record_type="team_upsert",
        external_id=team_id,
        name=name or team_id,
        parent_team_id=parent,
    )


def person(
    second: int, person_id: str, team_id: str, manager_id: str = "", **more: Any
) -> HrisRecord:
    fields = {"name": person_id, "email": f"{person_id}@acme.example", **more}
    return record(
        second,
        record_type="person_upsert",
        external_id=person_id,
        team_id=team_id,
        manager_id=manager_id,
        **fields,
    )


def departure(second: int, person_id: str) -> HrisRecord:
    return record(second, record_type="departure", external_id=person_id, leave_date="2026-03-31")


FIRST_BATCH = [
    team(1, "T-1"),
    team(2, "T-2"),
    person(3, "E-1", "T-1"),
    person(4, "E-2", "T-1", manager_id="E-1"),
    person(5, "E-3", "T-2", manager_id="E-1", start_date="2024-01-01"),
]
# Every kind of change, to people and teams stored by the first batch, and a departure and
# rehire of one person within the batch (two writes of the same columns, in order).
SECOND_BATCH = [
    person(10, "E-1", "T-1", name="E-1 renamed"),
    person(11, "E-2", "T-2", manager_id="E-3", title="Engineer"),
    departure(12, "E-3"),
    person(13, "E-3", "T-2", manager_id="E-1", start_date="2026-06-01"),
    team(14, "T-1", name="Team one"),
    team(15, "T-2", parent="T-1"),
    person(16, "E-4", "T-2", manager_id="E-2"),
    departure(17, "E-4"),
]


def envelopes(app: DirectoryApplication, after: int = 0) -> list[EventEnvelope]:
    notifications = app.recorder.select_notifications(after + 1, 10_000)
    return [directory_envelope(app.mapper.to_domain_event(n), n) for n in notifications]


def replica_rows(replica: DirectoryReplica) -> tuple[list[Any], list[Any]]:
    people = replica.db.read("SELECT * FROM replica_people ORDER BY tenant_id, person_id")
    teams = replica.db.read("SELECT * FROM replica_teams ORDER BY tenant_id, team_id")
    return [tuple(row) for row in people], [tuple(row) for row in teams]


def test_loading_ahead_rebuilds_each_aggregate_as_a_load_does(app: DirectoryApplication) -> None:
    apply_records(app, FIRST_BATCH)
    apply_records(app, SECOND_BATCH)
    known = [person_uuid(TENANT, f"E-{n}") for n in range(1, 5)]
    known += [team_uuid(TENANT, "T-1"), team_uuid(TENANT, "T-2")]
    unknown = [person_uuid(TENANT, "E-404"), team_uuid(TENANT, "T-404")]

    loaded = load_together(app, [*known, *unknown, known[0]])

    assert set(loaded) == {*known, *unknown}
    for aggregate_id in known:
        expected: Any = app.repository.get(aggregate_id)
        assert type(loaded[aggregate_id]) is type(expected)
        assert vars(loaded[aggregate_id]) == vars(expected)
    assert [loaded[aggregate_id] for aggregate_id in unknown] == [None, None]


def test_a_batch_of_new_people_and_teams_costs_no_load_of_its_own(
    app: DirectoryApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_records(app, FIRST_BATCH)
    loads: list[UUID] = []
    monkeypatch.setattr(app.repository, "get", lambda aggregate_id, **_: loads.append(aggregate_id))
    batch = [
        team(20, "T-3", parent="T-1"),
        person(21, "E-5", "T-3", manager_id="E-1"),
        person(22, "E-6", "T-1", manager_id="E-5"),
        person(23, "E-2", "T-1", manager_id="E-1"),  # unchanged: a replayed record
    ]

    assert apply_records(app, batch) == [True, True, True, False]
    assert loads == []  # every person and team read was loaded ahead, found or not


def both_batches_applied(
    app: DirectoryApplication,
) -> tuple[list[EventEnvelope], list[EventEnvelope]]:
    """The envelopes the directory published for the first batch, then for the second."""
    apply_records(app, FIRST_BATCH)
    first = envelopes(app)
    apply_records(app, SECOND_BATCH)
    return first, envelopes(app, after=len(first))


def test_a_replica_writes_a_batch_as_its_events_one_by_one_would(
    app: DirectoryApplication, store_url: str
) -> None:
    first, second = both_batches_applied(app)
    batched = DirectoryReplica(ReadModelDatabase(_replica_url(store_url, "batched"), schema="b"))
    one_by_one = DirectoryReplica(ReadModelDatabase(_replica_url(store_url, "single"), schema="s"))
    try:
        # The second batch changes rows stored by the first; a redelivery within it changes
        # nothing more.
        assert batched.apply_envelopes(first) == [True] * len(first)
        assert batched.apply_envelopes([*second, second[0]]) == [True] * len(second) + [False]
        for envelope in [*first, *second]:
            assert one_by_one.apply_envelope(envelope)

        assert replica_rows(batched) == replica_rows(one_by_one)
        people = {row[1]: row for row in replica_rows(batched)[0]}
        assert people["E-1"][2] == "E-1 renamed"
        assert people["E-2"][4:7] == ("Engineer", "T-2", "E-3")
        assert people["E-3"][7:10] == ("active", "2026-06-01", None)  # rehired after leaving
        assert people["E-4"][7:10] == ("departed", None, "2026-03-31")
        assert replica_rows(batched)[1] == [
            (TENANT, "T-1", "Team one", "", ""),
            (TENANT, "T-2", "T-2", "T-1", ""),
        ]
    finally:
        batched.db.close()
        one_by_one.db.close()


def test_a_replica_ignores_changes_to_people_it_does_not_hold(
    app: DirectoryApplication, store_url: str
) -> None:
    first, second = both_batches_applied(app)
    replica = DirectoryReplica(ReadModelDatabase(_replica_url(store_url, "partial"), schema="p"))
    try:
        teams_only = [e for e in first if e.aggregate_type == "Team"]
        replica.apply_envelopes(teams_only)
        replica.apply_envelopes(second)  # changes of E-1..E-3, whose registrations it lacks

        people = [row[1] for row in replica_rows(replica)[0]]
        assert people == ["E-4"]  # registered in this batch; the others stay unknown
    finally:
        replica.db.close()


def _replica_url(store_url: str, name: str) -> str:
    if store_url.startswith("sqlite"):
        return store_url.replace("store.db", f"{name}-replica.db")
    return store_url
