"""One version of the goals read model: goal events applied once each, atomically, to the
version's audit history and alignment view."""

from __future__ import annotations

import asyncio
import functools

from northstar_contracts.envelope import EventEnvelope
from services.projections.alignment import (
    ALIGNMENT_TABLE,
    alignment_table,
    ensure_alignment_tables,
    upsert_goal_node,
)
from services.projections.audit import AuditTables, ensure_audit_tables, record_event
from services.projections.goal_state import fold_goal_event
from services.projections.versions import VersionTable, table_prefix
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    VersionedWrite,
    apply_once,
    apply_once_each,
    ensure_applied_versions,
)

GOALS_READ_MODEL = "goals"
GOALS_PROJECTION = "goals-v1"
"""The first version's name (later versions are goals-v2, goals-v3, ... after rebuilds)."""


def audit_version_tables(audit: AuditTables) -> list[VersionTable]:
    return [
        VersionTable("audit_entries", audit.entries, "aggregate_id, version"),
        VersionTable("audit_heads", audit.heads, "aggregate_id"),
    ]


def goals_version_tables(name: str) -> list[VersionTable]:
    prefix = table_prefix(name)
    return [
        *audit_version_tables(AuditTables(prefix)),
        VersionTable(ALIGNMENT_TABLE, alignment_table(prefix), "goal_id"),
    ]


class GoalsProjection:
    def __init__(self, db: ReadModelDatabase, name: str = GOALS_PROJECTION) -> None:
        self.db = db
        self._name = name
        prefix = table_prefix(name)
        self.audit = AuditTables(prefix)
        self.alignment = alignment_table(prefix)
        ensure_applied_versions(db)
        ensure_audit_tables(db, self.audit)
        ensure_alignment_tables(db, self.alignment)

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return goals_version_tables(self.name)

    async def apply(self, envelope: EventEnvelope) -> bool:
        """Apply one goal event; False if this version (or a later one) was applied already."""
        return await asyncio.to_thread(
            apply_once,
            self.db,
            self.name,
            envelope.aggregate_id,
            envelope.aggregate_version,
            lambda tx: self._write(tx, envelope),
        )

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply goal events in order, in one transaction (all or none); False for each event
        whose version (or a later one) was applied already. The consumer's fast path."""
        writes = [
            VersionedWrite(
                envelope.aggregate_id,
                envelope.aggregate_version,
                functools.partial(self._write, envelope=envelope),
            )
            for envelope in envelopes
        ]
        return await asyncio.to_thread(apply_once_each, self.db, self.name, writes)

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        # Audit entry, alignment row and dedup marker commit together or not at all.
        _entry, state = record_event(tx, envelope, fold_goal_event, self.audit)
        upsert_goal_node(
            tx, self.alignment, envelope.aggregate_id, envelope.aggregate_version, state
        )
