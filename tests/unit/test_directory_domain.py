"""Person and Team aggregates: what each upsert records, and what they refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from northstar_contracts import directory as directory_contracts
from northstar_contracts.registry import EVENTS
from services.directory.domain import (
    DEPARTED,
    ManagerCycle,
    Person,
    PersonDetails,
    Team,
    TeamCycle,
    TeamDetails,
    person_uuid,
    require_id,
    team_uuid,
)
from services.directory.publishing import public_type_name
from services.shared.errors import InvalidArgument

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ANN = PersonDetails(
    name="Ann Lee",
    email="ann@acme.example",
    title="Engineer",
    team_id="platform",
    manager_id="boss",
    start_date=date(2024, 3, 1),
)


def registered(details: PersonDetails = ANN) -> Person:
    person = Person.register("acme", "ann", details, T0)
    person.collect_events()
    return person


def recorded(aggregate: Person | Team) -> list[str]:
    return [type(event).__name__ for event in aggregate.collect_events()]


def test_person_ids_are_the_same_for_the_same_tenant_and_id_and_differ_across_tenants() -> None:
    assert Person.register("acme", "ann", ANN, T0).id == person_uuid("acme", "ann")
    assert person_uuid("acme", "ann") != person_uuid("globex", "ann")
    assert person_uuid("acme", "ann") != team_uuid("acme", "ann")


def test_the_same_upsert_twice_records_nothing() -> None:
    person = registered()
    person.update(ANN, T0 + timedelta(hours=1))
    assert recorded(person) == []
    assert person.version == 1


def test_an_upsert_records_one_event_per_changed_aspect() -> None:
    person = registered()
    moved = PersonDetails(**{**vars(ANN), "title": "Lead", "team_id": "data", "manager_id": "cto"})
    person.update(moved, T0 + timedelta(days=1))
    assert recorded(person) == ["ProfileChanged", "TeamChanged", "ManagerChanged"]
    assert (person.title, person.team_id, person.manager_id) == ("Lead", "data", "cto")


def test_a_person_cannot_be_their_own_manager() -> None:
    with pytest.raises(ManagerCycle):
        Person.register("acme", "ann", PersonDetails(**{**vars(ANN), "manager_id": "ann"}), T0)
    person = registered()
    with pytest.raises(ManagerCycle):
        person.update(PersonDetails(**{**vars(ANN), "manager_id": "ann"}), T0)
    assert recorded(person) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "x" * 201}, "name"),
        ({"name": "  "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"team_id": "t" * 129}, "team_id"),
        ({"manager_id": " padded "}, "manager_id"),
        ({"employment_status": "departed"}, "employment_status"),
        ({"leave_date": date(2020, 1, 1)}, "leave_date"),
    ],
)
def test_invalid_details_are_refused_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        Person.register("acme", "ann", PersonDetails(**{**vars(ANN), **change}), T0)
    assert refused.value.field == field


def test_departure_is_recorded_once_with_the_manager_at_the_time() -> None:
    person = registered()
    person.depart(date(2026, 2, 1), "resigned", T0 + timedelta(days=1))
    person.depart(date(2026, 2, 1), "resigned", T0 + timedelta(days=2))
    events = person.collect_events()
    assert [type(event).__name__ for event in events] == ["Departed"]
    assert events[0].manager_id == "boss"  # type: ignore[attr-defined]
    assert person.employment_status == DEPARTED


def test_an_upsert_after_departure_keeps_the_departure_unless_it_starts_a_new_employment() -> None:
    person = registered()
    person.depart(date(2026, 2, 1), "", T0)
    person.collect_events()
    person.update(PersonDetails(**{**vars(ANN), "title": "Alumna"}), T0 + timedelta(days=1))
    assert recorded(person) == ["ProfileChanged"]
    assert person.has_departed
    rehire = PersonDetails(**{**vars(ANN), "title": "Alumna", "start_date": date(2026, 6, 1)})
    person.update(rehire, T0 + timedelta(days=2))
    assert recorded(person) == ["Rehired"]
    assert (person.employment_status, person.leave_date) == ("active", None)


def test_records_older_than_the_last_change_are_stale() -> None:
    person = registered()
    assert person.is_stale(T0 - timedelta(seconds=1))
    assert not person.is_stale(T0)


def test_a_team_cannot_be_its_own_parent_and_records_only_changes() -> None:
    with pytest.raises(TeamCycle):
        Team.register("acme", "data", TeamDetails(name="Data", parent_team_id="data"), T0)
    team = Team.register("acme", "data", TeamDetails(name="Data", parent_team_id="eng"), T0)
    team.collect_events()
    team.update(TeamDetails(name="Data", parent_team_id="eng"), T0)
    assert recorded(team) == []
    team.update(TeamDetails(name="Data & AI", parent_team_id="", lead_id="ann"), T0)
    assert recorded(team) == ["Renamed", "ParentChanged", "LeadChanged"]
    assert team.is_department


def test_every_domain_event_has_a_public_contract() -> None:
    person = Person.register("acme", "ann", ANN, T0)
    person.update(
        PersonDetails(**{**vars(ANN), "title": "Lead", "team_id": "x", "manager_id": "y"}), T0
    )
    person.update(PersonDetails(**{**vars(ANN), "employment_status": "on_leave"}), T0)
    person.depart(date(2026, 2, 1), "", T0)
    person.update(PersonDetails(**{**vars(ANN), "start_date": date(2026, 6, 1)}), T0)
    team = Team.register("acme", "data", TeamDetails(name="Data"), T0)
    team.update(TeamDetails(name="D", parent_team_id="eng", lead_id="ann"), T0)
    events = [*person.collect_events(), *team.collect_events()]
    names = [public_type_name(type(event)) for event in events]
    published = [c.type_name for c in EVENTS.on_topic(directory_contracts.TOPIC)]
    assert sorted(set(names)) == sorted(published)
    registered = Person.register("acme", "bob", ANN, T0).collect_events()[0]
    _, data = EVENTS.outbound_data_of(public_type_name(type(registered)), registered)
    assert data["person_id"] == "bob"
    assert data["start_date"] == "2024-03-01"
    assert "_meta" not in data


def test_names_with_control_characters_are_refused_and_nothing_is_recorded() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Person.register("acme", "ann", PersonDetails(**{**vars(ANN), "name": "Ann\x00Lee"}), T0)
    assert caught.value.field == "name"
    assert "control characters" in caught.value.reason


@pytest.mark.parametrize("field", ["person_id", "team_id", "manager_id"])
def test_ids_with_control_characters_are_refused_naming_the_field(field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        require_id("ann\x00lee", field, allow_blank=True)
    assert caught.value.field == field
    assert "control characters" in caught.value.reason


def test_a_person_id_with_a_nul_is_refused_before_anything_is_recorded() -> None:
    with pytest.raises(InvalidArgument) as caught:
        Person.register("acme", "bad id\x00x", ANN, T0)
    assert caught.value.field == "person_id"
