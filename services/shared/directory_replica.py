"""Each service's local replica of the directory (people, teams, reporting lines), per tenant.

Fed by the directory's public events (northstar.directory.v1) through `apply`, so decisions
such as "is this caller in the owner's management chain?" never call another service. Every
write goes through `apply_once`: redelivered events change nothing (the rows are written by
services/shared/directory_replica_writes.py). A move to another team or
manager is visible to the next query, without a restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from northstar_contracts.directory import TYPE_PREFIX
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import EVENTS
from services.shared.directory_replica_writes import DEPARTED, PERSON_COLUMNS, ReplicaBatch
from services.shared.readmodel import (
    ReadModelDatabase,
    Row,
    Transaction,
    apply_once_in,
    ensure_applied_versions,
    load_applied_versions,
)

REPLICA_PROJECTION = "directory_replica"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS replica_people (
        tenant_id TEXT NOT NULL,
        person_id TEXT NOT NULL,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        title TEXT NOT NULL,
        team_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        employment_status TEXT NOT NULL,
        start_date TEXT,
        leave_date TEXT,
        PRIMARY KEY (tenant_id, person_id)
    )""",
    "CREATE INDEX IF NOT EXISTS replica_people_by_team ON replica_people (tenant_id, team_id)",
    "CREATE INDEX IF NOT EXISTS replica_people_by_manager ON replica_people "
    "(tenant_id, manager_id)",
    """CREATE TABLE IF NOT EXISTS replica_teams (
        tenant_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        name TEXT NOT NULL,
        parent_team_id TEXT NOT NULL,
        lead_id TEXT NOT NULL,
        PRIMARY KEY (tenant_id, team_id)
    )""",
    "CREATE INDEX IF NOT EXISTS replica_teams_by_parent ON replica_teams "
    "(tenant_id, parent_team_id)",
)
_PERSON_COLUMNS = PERSON_COLUMNS


@dataclass(frozen=True)
class ReplicaPerson:
    person_id: str
    name: str
    email: str
    title: str
    team_id: str
    manager_id: str
    employment_status: str
    start_date: date | None
    leave_date: date | None

    @property
    def has_departed(self) -> bool:
        return self.employment_status == DEPARTED

    @classmethod
    def from_row(cls, row: Row) -> ReplicaPerson:
        person_id, name, email, title, team_id, manager_id, status, start, leave = row
        return cls(
            person_id=person_id,
            name=name,
            email=email,
            title=title,
            team_id=team_id,
            manager_id=manager_id,
            employment_status=status,
            start_date=_date(start),
            leave_date=_date(leave),
        )


@dataclass(frozen=True)
class ReplicaTeam:
    team_id: str
    name: str
    parent_team_id: str
    lead_id: str

    @property
    def is_department(self) -> bool:
        return not self.parent_team_id


class DirectoryReplica:
    """The directory as one service sees it, in that service's own read-model database."""

    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        ensure_applied_versions(db)
        with db.transaction() as tx:
            for statement in _SCHEMA:
                tx.execute(statement)

    # ---- feeding ----

    async def apply(self, envelope: EventEnvelope) -> bool:
        """An EventConsumer apply function: True if applied, False for a duplicate."""
        return await asyncio.to_thread(self.apply_envelope, envelope)

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """An EventConsumer batch entry point: several events in order, in one transaction, all
        or none (the consumer then applies them one by one to isolate a failing one)."""
        return await asyncio.to_thread(self.apply_envelopes, envelopes)

    def apply_envelope(self, envelope: EventEnvelope) -> bool:
        with self.db.transaction() as tx:
            return self.write_in(tx, envelope)

    def apply_envelopes(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """`apply_envelope` of each, in order, in one transaction (a redelivery within the list
        is applied once: each is checked against the versions recorded before it). The rows
        are written once each, as the whole list leaves them."""
        with self.db.transaction() as tx:
            load_applied_versions(tx, REPLICA_PROJECTION, (e.aggregate_id for e in envelopes))
            batch = ReplicaBatch()
            applied = [self._add_once(tx, batch, envelope) for envelope in envelopes]
            batch.write(tx)
            return applied

    def write_in(self, tx: Transaction, envelope: EventEnvelope) -> bool:
        """`apply_envelope` inside the caller's transaction (a read model that feeds the
        replica writes both at once)."""
        batch = ReplicaBatch()
        applied = self._add_once(tx, batch, envelope)
        batch.write(tx)
        return applied

    def _add_once(self, tx: Transaction, batch: ReplicaBatch, envelope: EventEnvelope) -> bool:
        """Adds the event to `batch` unless its version was applied; records it applied."""
        if not envelope.type.startswith(TYPE_PREFIX):
            raise LookupError(f"not a directory event: {envelope.type}")
        contract = EVENTS.read(envelope)
        tenant = envelope.tenant_id

        def add(tx: Transaction) -> None:
            batch.add(tenant, contract)

        return apply_once_in(
            tx, REPLICA_PROJECTION, envelope.aggregate_id, envelope.aggregate_version, add
        )

    # ---- queries (all scoped to one tenant) ----

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None:
        rows = self.db.read(
            f"SELECT {_PERSON_COLUMNS} FROM replica_people WHERE tenant_id = ? AND person_id = ?",
            (tenant_id, person_id),
        )
        return ReplicaPerson.from_row(rows[0]) if rows else None

    def person_exists(self, tenant_id: str, person_id: str) -> bool:
        """True for a person of the tenant who has not left (active or on leave)."""
        person = self.person(tenant_id, person_id)
        return person is not None and not person.has_departed

    def team(self, tenant_id: str, team_id: str) -> ReplicaTeam | None:
        rows = self.db.read(
            "SELECT team_id, name, parent_team_id, lead_id FROM replica_teams "
            "WHERE tenant_id = ? AND team_id = ?",
            (tenant_id, team_id),
        )
        return ReplicaTeam(*rows[0]) if rows else None

    def manager_chain(self, tenant_id: str, person_id: str) -> list[str]:
        """Manager, their manager, ... to the top, nearest first; any depth, never loops."""
        chain: list[str] = []
        with self.db.snapshot() as tx:  # one consistent snapshot for the whole walk
            current = _manager_of(tx, tenant_id, person_id)
            while current and current != person_id and current not in chain:
                chain.append(current)
                current = _manager_of(tx, tenant_id, current)
        return chain

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool:
        """True when `manager_id` is `person_id`'s manager, or their manager's, and so on."""
        return bool(manager_id) and manager_id in self.manager_chain(tenant_id, person_id)

    def direct_reports(self, tenant_id: str, manager_id: str) -> list[str]:
        """People (not departed) whose line manager is `manager_id`, sorted by id."""
        rows = self.db.read(
            "SELECT person_id FROM replica_people WHERE tenant_id = ? AND manager_id = ? "
            "AND employment_status <> ? ORDER BY person_id",
            (tenant_id, manager_id, DEPARTED),
        )
        return [row[0] for row in rows]

    def team_members(
        self, tenant_id: str, team_id: str, *, include_subteams: bool = False
    ) -> list[str]:
        """People (not departed) of the team, and of every team below it if asked; sorted."""
        teams = self.subteams(tenant_id, team_id) if include_subteams else []
        members: list[str] = []
        for member_team in [team_id, *teams]:
            rows = self.db.read(
                "SELECT person_id FROM replica_people WHERE tenant_id = ? AND team_id = ? "
                "AND employment_status <> ?",
                (tenant_id, member_team, DEPARTED),
            )
            members.extend(row[0] for row in rows)
        return sorted(members)

    def subteams(self, tenant_id: str, team_id: str) -> list[str]:
        """Every team below `team_id` (children, their children, ...), breadth first."""
        found: list[str] = []
        frontier = [team_id]
        with self.db.snapshot() as tx:
            while frontier:
                parent = frontier.pop(0)
                rows = tx.execute(
                    "SELECT team_id FROM replica_teams WHERE tenant_id = ? AND parent_team_id = ? "
                    "ORDER BY team_id",
                    (tenant_id, parent),
                )
                for (child,) in rows:
                    if child != team_id and child not in found:
                        found.append(child)
                        frontier.append(child)
        return found

    def department_of(self, tenant_id: str, team_id: str) -> str:
        """The top team above `team_id` (itself for a department); '' for an unknown team."""
        seen: list[str] = []
        current = team_id
        with self.db.snapshot() as tx:
            while current and current not in seen:
                row = tx.one(
                    "SELECT parent_team_id FROM replica_teams WHERE tenant_id = ? AND team_id = ?",
                    (tenant_id, current),
                )
                if row is None:
                    return seen[-1] if seen else ""
                seen.append(current)
                current = row[0]
        return seen[-1] if seen else ""

    def count_people(self, tenant_id: str) -> int:
        row = self.db.read("SELECT COUNT(*) FROM replica_people WHERE tenant_id = ?", (tenant_id,))
        return int(row[0][0])

    def count_teams(self, tenant_id: str) -> int:
        row = self.db.read("SELECT COUNT(*) FROM replica_teams WHERE tenant_id = ?", (tenant_id,))
        return int(row[0][0])


def _manager_of(tx: Transaction, tenant_id: str, person_id: str) -> str:
    row = tx.one(
        "SELECT manager_id FROM replica_people WHERE tenant_id = ? AND person_id = ?",
        (tenant_id, person_id),
    )
    return str(row[0]) if row else ""


def _date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None
