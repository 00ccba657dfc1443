"""Versioned read models: which version of each read model is live, and the stable views.

Every version of a read model has tables of its own (`goals_v2_audit_entries`), so a rebuild
fills new tables while the live version keeps serving. `read_model_versions` records each
version's state; switching the live version and re-pointing the views over the live tables
(`audit_entries`, `audit_heads`, `alignment_goals`) happen in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from northstar_contracts.envelope import EventEnvelope
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import SequencedLedger

BUILDING = "building"
LIVE = "live"
RETIRED = "retired"
DROPPED = "dropped"

VERSIONS_DDL = """
CREATE TABLE IF NOT EXISTS read_model_versions (
    read_model TEXT NOT NULL,
    version BIGINT NOT NULL,
    state TEXT NOT NULL,
    started_at TEXT NOT NULL,
    switched_at TEXT NOT NULL,
    PRIMARY KEY (read_model, version)
)
"""


def version_name(read_model: str, number: int) -> str:
    """The projection name of a version, e.g. "goals-v2"; it also keys the dedup markers."""
    return f"{read_model}-v{number}"


def table_prefix(name: str) -> str:
    """ "goals-v2" -> "goals_v2_": the prefix of every table of that version."""
    return name.replace("-", "_") + "_"


@dataclass(frozen=True)
class VersionTable:
    """One table of a version: its name without the version prefix, its real name, and the
    columns that order its rows (its primary key) for a content hash."""

    logical: str
    physical: str
    order_by: str


class VersionedProjection(Protocol):
    """One version of a read model: applies events into its own tables."""

    @property
    def name(self) -> str: ...

    def tables(self) -> list[VersionTable]: ...

    @property
    def ledger(self) -> SequencedLedger: ...

    async def apply(self, envelope: EventEnvelope) -> bool: ...


@dataclass(frozen=True)
class VersionRecord:
    read_model: str
    number: int
    state: str
    started_at: str
    switched_at: str

    @property
    def name(self) -> str:
        return version_name(self.read_model, self.number)


def ensure_versions_table(db: ReadModelDatabase) -> None:
    with db.transaction() as tx:
        tx.execute(VERSIONS_DDL)


def load_versions(db: ReadModelDatabase, read_model: str) -> list[VersionRecord]:
    rows = db.read(
        "SELECT read_model, version, state, started_at, switched_at FROM read_model_versions "
        "WHERE read_model = ? ORDER BY version",
        (read_model,),
    )
    return [VersionRecord(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows]


def add_version(
    tx: Transaction, read_model: str, number: int, state: str, started_at: str
) -> VersionRecord:
    switched_at = started_at if state == LIVE else ""
    tx.execute(
        "INSERT INTO read_model_versions (read_model, version, state, started_at, switched_at) "
        "VALUES (?, ?, ?, ?, ?)",
        (read_model, number, state, started_at, switched_at),
    )
    return VersionRecord(read_model, number, state, started_at, switched_at)


def add_first_live_version(tx: Transaction, read_model: str, started_at: str) -> None:
    """Version 1 as live, unless another process sharing the store recorded it first (two
    replicas starting at once on a new store must both come up, on the same version)."""
    tx.execute(
        "INSERT INTO read_model_versions (read_model, version, state, started_at, switched_at) "
        "VALUES (?, 1, ?, ?, ?) ON CONFLICT (read_model, version) DO NOTHING",
        (read_model, LIVE, started_at, started_at),
    )


def switch_live(tx: Transaction, read_model: str, number: int, switched_at: str) -> None:
    """The given version becomes live; the one live before is retired."""
    tx.execute(
        "UPDATE read_model_versions SET state = ? WHERE read_model = ? AND state = ?",
        (RETIRED, read_model, LIVE),
    )
    tx.execute(
        "UPDATE read_model_versions SET state = ?, switched_at = ? "
        "WHERE read_model = ? AND version = ?",
        (LIVE, switched_at, read_model, number),
    )


def drop_version(tx: Transaction, record: VersionRecord, tables: Sequence[VersionTable]) -> None:
    """Remove a version nobody reads any more: its tables, dedup markers, positions and parked
    events (operators' skip decisions belong to the read model, not the version: they stay)."""
    for table in tables:
        tx.execute(f"DROP TABLE IF EXISTS {table.physical}")
    for bookkeeping in ("applied_versions", "applied_events", "consumed_offsets", "parked_events"):
        tx.execute(f"DELETE FROM {bookkeeping} WHERE projection = ?", (record.name,))
    tx.execute(
        "UPDATE read_model_versions SET state = ? WHERE read_model = ? AND version = ?",
        (DROPPED, record.read_model, record.number),
    )


def relation_kind(tx: Transaction, engine: str, name: str) -> str | None:
    """ "table", "view", or None when nothing of that name exists in the read-model schema."""
    if engine == "sqlite":
        row = tx.one("SELECT type FROM sqlite_master WHERE name = ?", (name,))
        return None if row is None else str(row[0])
    row = tx.one(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (name,),
    )
    if row is None:
        return None
    return "view" if row[0] == "VIEW" else "table"


def adopt_unversioned_tables(db: ReadModelDatabase, first_version: Sequence[VersionTable]) -> None:
    """A store written before read models had versions holds plain tables under the view
    names; they become the first version's tables (their dedup markers already say so)."""
    with db.transaction() as tx:
        for table in first_version:
            if relation_kind(tx, db.engine, table.logical) != "table":
                continue
            if relation_kind(tx, db.engine, table.physical) is None:
                tx.execute(f"ALTER TABLE {table.logical} RENAME TO {table.physical}")


def point_views(tx: Transaction, engine: str, live_tables: Mapping[str, Sequence[str]]) -> None:
    """(Re)create each view `logical` as the union of the live versions' tables."""
    for logical, physical in live_tables.items():
        if relation_kind(tx, engine, logical) == "view":
            tx.execute(f"DROP VIEW {logical}")
        union = " UNION ALL ".join(f"SELECT * FROM {table}" for table in physical)
        tx.execute(f"CREATE VIEW {logical} AS {union}")
