"""A batch of HRIS records is applied as one unit: each record sees the ones before it, the
events of all of them are stored in one transaction when the batch ends, each with the command
it came from, and a batch that fails stores nothing (the consumer then takes its records one by
one). Embedded store, no Kafka."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from northstar_contracts.hris import HrisRecord, parse_hris_record
from services.directory.application import DirectoryApplication
from services.directory.domain import PersonDetails, UnknownTeam
from services.directory.hris import apply_record, apply_records, feed_principal
from services.directory.publishing import directory_envelope
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import ConcurrentUpdate
from services.shared.eventstore import event_metadata, persistence_env
from services.shared.readmodel import ReadModelDatabase

EFFECTIVE = "2026-01-05T09:00:00+00:00"


@pytest.fixture
def app(tmp_path: Path) -> DirectoryApplication:
    return DirectoryApplication(env=persistence_env("directory", f"sqlite:///{tmp_path}/d.db"))


def record(**fields: Any) -> HrisRecord:
    return parse_hris_record(json.dumps({"effective_at": EFFECTIVE, **fields}).encode())


def team(team_id: str, tenant: str = "acme") -> HrisRecord:
    return record(tenant_id=tenant, record_type="team_upsert", external_id=team_id, name=team_id)


def person(person_id: str, team_id: str, manager_id: str = "", tenant: str = "acme") -> HrisRecord:
    return record(
        tenant_id=tenant,
        record_type="person_upsert",
        external_id=person_id,
        name=person_id,
        email=f"{person_id}@{tenant}.example",
        team_id=team_id,
        manager_id=manager_id,
    )


def stored_events(app: DirectoryApplication) -> list[Any]:
    return [
        app.mapper.to_domain_event(notification)
        for notification in app.recorder.select_notifications(0, 10_000)
    ]


def test_records_of_a_batch_refer_to_earlier_ones_and_are_stored_together(
    app: DirectoryApplication,
) -> None:
    # The team, the manager and the report only exist in this batch: each command must find
    # what the earlier ones changed although none of it is stored yet.
    batch = [team("T-1"), person("E-1", "T-1"), person("E-2", "T-1", manager_id="E-1")]

    with app.saving_together():
        changed = [apply_record(app, r) for r in batch]
        assert app.recorder.max_notification_id() in (None, 0)  # nothing stored inside

    assert changed == [True, True, True]
    events = stored_events(app)
    assert [type(e).__name__ for e in events] == ["Registered", "Registered", "Registered"]
    assert app.get_person(feed_principal("acme"), "E-2").manager_id == "E-1"


def test_each_event_keeps_the_command_it_came_from(app: DirectoryApplication) -> None:
    apply_records(app, [team("T-1"), team("T-9", tenant="globex"), person("E-1", "T-1")])

    metadata = [event_metadata(e) for e in stored_events(app)]
    assert [m["tenant_id"] for m in metadata] == ["acme", "globex", "acme"]
    assert all(m["actor_id"] == "hris-feed" for m in metadata)
    assert len({m["correlation_id"] for m in metadata}) == 3  # one command each


def test_a_batch_with_a_failing_record_stores_nothing(app: DirectoryApplication) -> None:
    with pytest.raises(UnknownTeam):
        apply_records(app, [team("T-1"), person("E-1", "T-1"), person("E-2", "T-404")])

    assert stored_events(app) == []
    # Taken one by one (what the consumer does next), the good records apply.
    assert apply_records(app, [team("T-1")]) == [True]
    assert apply_records(app, [person("E-1", "T-1")]) == [True]


def test_a_replayed_batch_stores_nothing(app: DirectoryApplication) -> None:
    batch = [team("T-1"), person("E-1", "T-1"), person("E-2", "T-1", manager_id="E-1")]
    apply_records(app, batch)
    before = app.recorder.max_notification_id()

    assert apply_records(app, batch + batch) == [False] * 6
    assert app.recorder.max_notification_id() == before


def test_a_concurrent_change_fails_the_whole_batch(app: DirectoryApplication) -> None:
    apply_records(app, [team("T-1"), person("E-1", "T-1")])
    stored = len(stored_events(app))
    hr = feed_principal("acme")

    def batch_raced_by_the_api() -> None:
        with app.saving_together():
            apply_record(app, team("T-2"))
            apply_record(app, person("E-1", "T-2"))  # E-1 moves to T-2, not stored yet
            # Meanwhile a command outside the batch (the API, on another thread) changes E-1.
            details = PersonDetails(name="E-1 renamed", email="e-1@acme.example", team_id="T-1")
            outside = threading.Thread(target=app.upsert_person, args=(hr, "E-1", details))
            outside.start()
            outside.join()

    with pytest.raises(ConcurrentUpdate):
        batch_raced_by_the_api()

    stored += 1  # the API's change
    assert len(stored_events(app)) == stored  # neither T-2 nor the move was stored
    assert app.get_person(hr, "E-1").team_id == "T-1"


def test_envelopes_of_a_batch_are_published_with_their_own_metadata(
    app: DirectoryApplication,
) -> None:
    apply_records(app, [team("T-1"), team("T-9", tenant="globex")])
    notifications = app.recorder.select_notifications(0, 10)
    envelopes = [directory_envelope(app.mapper.to_domain_event(n), n) for n in notifications]

    assert [e.tenant_id for e in envelopes] == ["acme", "globex"]


def test_a_replica_applies_a_batch_once_each_even_with_redeliveries_in_it(
    app: DirectoryApplication, tmp_path: Path
) -> None:
    apply_records(app, [team("T-1"), person("E-1", "T-1"), person("E-1", "T-1", manager_id="")])
    apply_records(app, [person("E-2", "T-1", manager_id="E-1")])
    notifications = app.recorder.select_notifications(0, 10)
    envelopes = [directory_envelope(app.mapper.to_domain_event(n), n) for n in notifications]
    replica = DirectoryReplica(ReadModelDatabase(f"sqlite:///{tmp_path}/replica.db"))

    # A relay retry republishes: the same events twice within one batch, and again later.
    assert replica.apply_envelopes([*envelopes, *envelopes]) == [True] * 3 + [False] * 3
    assert replica.apply_envelopes(envelopes) == [False] * 3
    assert replica.manager_chain("acme", "E-2") == ["E-1"]
    assert replica.team_members("acme", "T-1") == ["E-1", "E-2"]
