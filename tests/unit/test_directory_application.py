"""Directory use cases on an embedded store, and the replica fed from the events they record."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from services.directory.application import DirectoryApplication
from services.directory.domain import (
    ManagerCycle,
    ManagerDeparted,
    PersonDetails,
    TeamCycle,
    TeamDetails,
    UnknownManager,
    UnknownPerson,
    UnknownTeam,
)
from services.directory.publishing import directory_envelope
from services.shared.auth import Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import NotFound, PermissionDenied
from services.shared.eventstore import persistence_env
from services.shared.readmodel import ReadModelDatabase

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HR = Principal(subject="hr-1", tenant_id="acme", roles=frozenset({"hr_admin"}))
EMPLOYEE = Principal(subject="e-1", tenant_id="acme", roles=frozenset({"employee"}))
OTHER_HR = Principal(subject="hr-9", tenant_id="globex", roles=frozenset({"hr_admin"}))


@pytest.fixture
def app(tmp_path: Path) -> DirectoryApplication:
    return DirectoryApplication(env=persistence_env("directory", f"sqlite:///{tmp_path}/d.db"))


@pytest.fixture
def replica(tmp_path: Path) -> DirectoryReplica:
    return DirectoryReplica(ReadModelDatabase(f"sqlite:///{tmp_path}/replica.db"))


def person(name: str, manager_id: str = "", team_id: str = "") -> PersonDetails:
    return PersonDetails(
        name=name, email=f"{name}@acme.example", manager_id=manager_id, team_id=team_id
    )


def feed(app: DirectoryApplication, replica: DirectoryReplica, *, twice: bool = False) -> int:
    """Applies every stored event to the replica (twice: as a redelivery would); count applied."""
    applied = 0
    for notification in app.recorder.select_notifications(0, 100_000):
        envelope = directory_envelope(app.mapper.to_domain_event(notification), notification)
        for _ in range(2 if twice else 1):
            applied += replica.apply_envelope(envelope)
    return applied


def chain_of(app: DirectoryApplication, depth: int) -> None:
    app.upsert_person(HR, "p0", person("p0"), effective_at=T0)
    for level in range(1, depth + 1):
        app.upsert_person(HR, f"p{level}", person(f"p{level}", f"p{level - 1}"), effective_at=T0)


def test_upserting_the_same_person_twice_stores_one_event(app: DirectoryApplication) -> None:
    first = app.upsert_person(HR, "ann", person("ann"), effective_at=T0)
    again = app.upsert_person(HR, "ann", person("ann"), effective_at=T0)
    assert (first.changed, again.changed) == (True, False)
    assert app.recorder.max_notification_id() == 1


def test_a_record_older_than_the_last_change_changes_nothing(app: DirectoryApplication) -> None:
    app.upsert_person(HR, "ann", person("ann"), effective_at=T0)
    renamed = PersonDetails(name="Ann B", email="ann@acme.example")
    app.upsert_person(HR, "ann", renamed, effective_at=T0 + timedelta(days=1))
    stale = app.upsert_person(HR, "ann", person("ann"), effective_at=T0)
    assert not stale.changed
    assert app.get_person(EMPLOYEE, "ann").name == "Ann B"


def test_references_must_exist_in_the_tenant(app: DirectoryApplication) -> None:
    with pytest.raises(UnknownManager) as no_manager:
        app.upsert_person(HR, "ann", person("ann", manager_id="ghost"))
    assert no_manager.value.field == "manager_id"
    with pytest.raises(UnknownTeam):
        app.upsert_person(HR, "ann", person("ann", team_id="nowhere"))
    with pytest.raises(UnknownTeam):
        app.upsert_team(HR, "data", TeamDetails(name="Data", parent_team_id="nowhere"))
    with pytest.raises(UnknownPerson):
        app.record_departure(HR, "ghost", date(2026, 2, 1))
    app.upsert_person(OTHER_HR, "boss", person("boss"))
    with pytest.raises(UnknownManager):  # another tenant's person is no one here
        app.upsert_person(HR, "ann", person("ann", manager_id="boss"))
    assert app.recorder.max_notification_id() == 1


def test_a_manager_change_that_closes_a_loop_is_refused_at_any_depth(
    app: DirectoryApplication,
) -> None:
    chain_of(app, 30)
    with pytest.raises(ManagerCycle) as refused:
        app.upsert_person(HR, "p0", person("p0", manager_id="p30"))
    assert refused.value.field == "manager_id"
    assert app.manager_chain(EMPLOYEE, "p30") == [f"p{level}" for level in range(29, -1, -1)]


def test_a_team_move_that_closes_a_loop_is_refused(app: DirectoryApplication) -> None:
    app.upsert_team(HR, "eng", TeamDetails(name="Engineering"))
    app.upsert_team(HR, "platform", TeamDetails(name="Platform", parent_team_id="eng"))
    app.upsert_team(HR, "infra", TeamDetails(name="Infra", parent_team_id="platform"))
    with pytest.raises(TeamCycle):
        app.upsert_team(HR, "eng", TeamDetails(name="Engineering", parent_team_id="infra"))


def test_nobody_is_placed_under_a_manager_who_left(app: DirectoryApplication) -> None:
    app.upsert_person(HR, "boss", person("boss"))
    app.record_departure(HR, "boss", date(2026, 2, 1), "retired")
    with pytest.raises(ManagerDeparted):
        app.upsert_person(HR, "ann", person("ann", manager_id="boss"))


def test_only_hr_and_integrations_write_and_nobody_reads_across_tenants(
    app: DirectoryApplication,
) -> None:
    with pytest.raises(PermissionDenied):
        app.upsert_person(EMPLOYEE, "ann", person("ann"))
    app.upsert_person(HR, "ann", person("ann"))
    app.upsert_team(HR, "eng", TeamDetails(name="Engineering"))
    with pytest.raises(NotFound):
        app.get_person(OTHER_HR, "ann")
    with pytest.raises(NotFound):
        app.get_team(OTHER_HR, "eng")
    with pytest.raises(NotFound):
        app.manager_chain(OTHER_HR, "ann")


def test_replica_follows_moves_and_departures_and_skips_redeliveries(
    app: DirectoryApplication, replica: DirectoryReplica
) -> None:
    app.upsert_team(HR, "eng", TeamDetails(name="Engineering"))
    app.upsert_team(HR, "platform", TeamDetails(name="Platform", parent_team_id="eng"))
    app.upsert_person(HR, "cto", person("cto", team_id="eng"))
    app.upsert_person(HR, "lead", person("lead", "cto", "platform"))
    app.upsert_person(HR, "ann", person("ann", "lead", "platform"))
    app.upsert_person(OTHER_HR, "ann", person("ann"))
    assert feed(app, replica, twice=True) == 6
    assert replica.is_in_management_chain("acme", "cto", "ann")
    assert not replica.is_in_management_chain("globex", "cto", "ann")
    assert replica.team_members("acme", "eng", include_subteams=True) == ["ann", "cto", "lead"]
    assert replica.department_of("acme", "platform") == "eng"

    app.upsert_person(HR, "ann", person("ann", "cto", "eng"))
    app.record_departure(HR, "lead", date(2026, 2, 1))
    feed(app, replica)
    assert replica.manager_chain("acme", "ann") == ["cto"]
    assert not replica.is_in_management_chain("acme", "lead", "ann")
    assert replica.team_members("acme", "platform") == []
    assert not replica.person_exists("acme", "lead")
    assert replica.person_exists("acme", "ann")
    assert replica.direct_reports("acme", "cto") == ["ann"]
    assert (replica.count_people("acme"), replica.count_teams("acme")) == (3, 2)


def test_replica_manager_chain_survives_a_loop_in_its_data(replica: DirectoryReplica) -> None:
    with replica.db.transaction() as tx:
        for person_id, manager_id in (("a", "b"), ("b", "c"), ("c", "a")):
            tx.execute(
                "INSERT INTO replica_people VALUES (?, ?, ?, ?, '', '', ?, 'active', NULL, NULL)",
                ("acme", person_id, person_id, f"{person_id}@x.io", manager_id),
            )
    assert replica.manager_chain("acme", "a") == ["b", "c"]
