"""How directory events change a replica's rows: the events of a transaction are folded, in
order, into the rows they leave behind, which are then written in a few multi-row upserts.

Fewer statements is the point: in a busy process every SQLite statement (and every row of an
`executemany`) gives up the GIL and may wait a whole switch interval to get it back, so one
statement for a few hundred rows costs one such wait, not hundreds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from northstar_contracts.directory import (
    PersonDepartedV1,
    PersonEmploymentChangedV1,
    PersonManagerChangedV1,
    PersonProfileChangedV1,
    PersonRegisteredV1,
    PersonRehiredV1,
    PersonTeamChangedV1,
    TeamLeadChangedV1,
    TeamParentChangedV1,
    TeamRegisteredV1,
    TeamRenamedV1,
)
from northstar_contracts.registry import EventContract
from services.shared.readmodel import Transaction

DEPARTED = "departed"
PERSON_COLUMNS = (
    "person_id, name, email, title, team_id, manager_id, employment_status, start_date, leave_date"
)
TEAM_COLUMNS = "team_id, name, parent_team_id, lead_id"
PERSON_EVENTS = (
    PersonRegisteredV1,
    PersonProfileChangedV1,
    PersonTeamChangedV1,
    PersonManagerChangedV1,
    PersonEmploymentChangedV1,
    PersonDepartedV1,
    PersonRehiredV1,
)
TEAM_EVENTS = (TeamRegisteredV1, TeamRenamedV1, TeamParentChangedV1, TeamLeadChangedV1)
PARAMETERS_PER_STATEMENT = 3_000
"""Far below both engines' limits (SQLite 3.32+: 32,766; PostgreSQL: 65,535)."""

_UPSERT_PERSON = (
    f"INSERT INTO replica_people (tenant_id, {PERSON_COLUMNS}) VALUES {{values}} "
    "ON CONFLICT (tenant_id, person_id) DO UPDATE SET name = excluded.name, "
    "email = excluded.email, title = excluded.title, team_id = excluded.team_id, "
    "manager_id = excluded.manager_id, employment_status = excluded.employment_status, "
    "start_date = excluded.start_date, leave_date = excluded.leave_date"
)
_UPSERT_TEAM = (
    f"INSERT INTO replica_teams (tenant_id, {TEAM_COLUMNS}) VALUES {{values}} "
    "ON CONFLICT (tenant_id, team_id) DO UPDATE SET name = excluded.name, "
    "parent_team_id = excluded.parent_team_id, lead_id = excluded.lead_id"
)

Key = tuple[str, str]
"""(tenant id, person or team id)."""


def iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class ReplicaBatch:
    """Events of one transaction, in order, written as the rows they leave behind."""

    events: list[tuple[str, EventContract]] = field(default_factory=list)

    def add(self, tenant: str, event: EventContract) -> None:
        if not isinstance(event, PERSON_EVENTS + TEAM_EVENTS):
            raise LookupError(f"no replica write for {type(event).__name__}")
        self.events.append((tenant, event))

    def write(self, tx: Transaction) -> None:
        people = _current_rows(tx, "replica_people", PERSON_COLUMNS, self._updated(PERSON_EVENTS))
        teams = _current_rows(tx, "replica_teams", TEAM_COLUMNS, self._updated(TEAM_EVENTS))
        changed_people: dict[Key, None] = {}
        changed_teams: dict[Key, None] = {}
        for tenant, event in self.events:
            key = _key(tenant, event)
            if isinstance(event, TEAM_EVENTS):
                teams[key] = _folded_team(teams.get(key), tenant, event)
                changed_teams[key] = None
            else:
                people[key] = _folded_person(people.get(key), tenant, event)
                changed_people[key] = None
        _upsert(tx, _UPSERT_PERSON, _rows(people, changed_people))
        _upsert(tx, _UPSERT_TEAM, _rows(teams, changed_teams))

    def _updated(self, kinds: tuple[type[EventContract], ...]) -> list[Key]:
        """Keys whose first event here is a change, not the registration: their current row
        must be read (a change to a row that does not exist changes nothing)."""
        registered: set[Key] = set()
        updated: dict[Key, None] = {}
        for tenant, event in self.events:
            if not isinstance(event, kinds):
                continue
            key = _key(tenant, event)
            if isinstance(event, PersonRegisteredV1 | TeamRegisteredV1):
                registered.add(key)
            elif key not in registered:
                updated[key] = None
        return list(updated)


def _key(tenant: str, event: EventContract) -> Key:
    """The row an event is about: every person event names its person, every team event its
    team (a person event's `team_id` is the person's team, hence the check of the kind)."""
    if isinstance(event, TEAM_EVENTS):
        return (tenant, event.team_id)
    assert isinstance(event, PERSON_EVENTS)
    return (tenant, event.person_id)


def _folded_person(row: list[Any] | None, tenant: str, event: EventContract) -> list[Any] | None:
    """The row (tenant, then PERSON_COLUMNS) after `event`; None while there is none (a change
    to a person the replica does not hold changes nothing, as an UPDATE would)."""
    if isinstance(event, PersonRegisteredV1):
        return [
            *(tenant, event.person_id, event.name, event.email, event.title, event.team_id),
            *(event.manager_id, event.employment_status),
            *(iso(event.start_date), iso(event.leave_date)),
        ]
    if row is None:
        return None
    match event:
        case PersonProfileChangedV1():
            row[2:5] = [event.name, event.email, event.title]
        case PersonTeamChangedV1():
            row[5] = event.team_id
        case PersonManagerChangedV1():
            row[6] = event.manager_id
        case PersonEmploymentChangedV1():
            row[7:10] = [event.employment_status, iso(event.start_date), iso(event.leave_date)]
        case PersonDepartedV1():
            row[7], row[9] = DEPARTED, iso(event.leave_date)
        case PersonRehiredV1():
            row[7:10] = ["active", iso(event.start_date), None]
    return row


def _folded_team(row: list[Any] | None, tenant: str, event: EventContract) -> list[Any] | None:
    """The row (tenant, then TEAM_COLUMNS) after `event`; None while there is none."""
    if isinstance(event, TeamRegisteredV1):
        return [tenant, event.team_id, event.name, event.parent_team_id, event.lead_id]
    if row is None:
        return None
    match event:
        case TeamRenamedV1():
            row[2] = event.name
        case TeamParentChangedV1():
            row[3] = event.parent_team_id
        case TeamLeadChangedV1():
            row[4] = event.lead_id
    return row


def _current_rows(
    tx: Transaction, table: str, columns: str, keys: Sequence[Key]
) -> dict[Key, list[Any] | None]:
    """The stored rows of `keys` (tenant first, then `columns`), in one query per chunk."""
    found: dict[Key, list[Any] | None] = {}
    id_column = columns.split(",")[0]
    per_chunk = PARAMETERS_PER_STATEMENT // 2
    for start in range(0, len(keys), per_chunk):
        chunk = keys[start : start + per_chunk]
        rows = tx.execute(
            f"SELECT tenant_id, {columns} FROM {table} WHERE (tenant_id, {id_column}) IN "
            f"(VALUES {', '.join(['(?, ?)'] * len(chunk))})",
            [value for key in chunk for value in key],
        )
        for row in rows:
            found[(str(row[0]), str(row[1]))] = list(row)
    return found


def _rows(rows: dict[Key, list[Any] | None], changed: Iterable[Key]) -> list[list[Any]]:
    return [row for row in (rows.get(key) for key in changed) if row is not None]


def _upsert(tx: Transaction, statement: str, rows: list[list[Any]]) -> None:
    if not rows:
        return
    per_statement = max(1, PARAMETERS_PER_STATEMENT // len(rows[0]))
    placeholders = f"({', '.join('?' * len(rows[0]))})"
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        tx.execute(
            statement.format(values=", ".join([placeholders] * len(chunk))),
            [value for row in chunk for value in row],
        )
