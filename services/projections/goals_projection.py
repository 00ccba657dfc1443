"""One version of the goals read model: goal events applied once each, in version order per
goal, atomically, to the version's audit history and alignment view (through the sequenced
ledger, services/shared/sequencing.py: gaps held, failures, unknown types and conflicts
parked)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence

from northstar_contracts.envelope import EventEnvelope
from services.projections.alignment import (
    ALIGNMENT_TABLE,
    alignment_table,
    defer_goal_node,
    ensure_alignment_tables,
)
from services.projections.audit import AuditTables, ensure_audit_tables, load_heads, record_event
from services.projections.goal_state import GOAL_EVENT_TYPES, fold_goal_event
from services.projections.skips import require_known, skip_entry_envelope
from services.projections.versions import VersionTable, table_prefix
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import HoldLimits, SequencedLedger, SkipRecord, Write

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
    def __init__(
        self,
        db: ReadModelDatabase,
        name: str = GOALS_PROJECTION,
        limits: HoldLimits | None = None,
    ) -> None:
        self.db = db
        self._name = name
        prefix = table_prefix(name)
        self.audit = AuditTables(prefix)
        self.alignment = alignment_table(prefix)
        ensure_audit_tables(db, self.audit)
        ensure_alignment_tables(db, self.alignment)
        self.ledger = SequencedLedger(
            db,
            name,
            read_model=GOALS_READ_MODEL,
            prepare=self._prepare,
            fill_skipped=self._fill_skipped,
            limits=limits,
            prefetch=self._prefetch,
        )

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return goals_version_tables(self.name)

    async def apply(self, envelope: EventEnvelope) -> bool:
        """Apply one goal event; False unless it was applied now (a duplicate, or held or
        parked by the ledger)."""
        return (await self.apply_batch([envelope]))[0]

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply goal events in order, in one transaction; True for each one applied now."""
        return await asyncio.to_thread(self.ledger.take, envelopes)

    def _prepare(self, envelope: EventEnvelope) -> Write:
        require_known(envelope, GOAL_EVENT_TYPES)
        return functools.partial(self._write, envelope=envelope)

    def _prefetch(self, tx: Transaction, envelopes: Sequence[EventEnvelope]) -> None:
        load_heads(tx, (envelope.aggregate_id for envelope in envelopes), self.audit)

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        # Audit entry, alignment row and dedup marker commit together or not at all. The
        # alignment row is a whole-row upsert: deferred, it is built and sent once per goal per
        # batch, from the goal's last state.
        _entry, state = record_event(tx, envelope, fold_goal_event, self.audit)
        goal_id, version = envelope.aggregate_id, envelope.aggregate_version
        defer_goal_node(tx, self.alignment, goal_id, version, state)

    def _fill_skipped(self, tx: Transaction, record: SkipRecord) -> None:
        marker = skip_entry_envelope(record)
        _entry, state = record_event(tx, marker, fold_goal_event, self.audit)
        if state:  # the goal exists: its row follows the version (its fields do not change)
            goal_id, version = marker.aggregate_id, marker.aggregate_version
            defer_goal_node(tx, self.alignment, goal_id, version, state)
