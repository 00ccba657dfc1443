"""Applies goal events to the alignment view and the audit history, once each, atomically."""

from __future__ import annotations

import asyncio

from services.projections.alignment import ensure_alignment_tables, upsert_goal_node
from services.projections.audit import ensure_audit_tables, record_event
from services.projections.goal_state import fold_goal_event
from services.shared.envelope import EventEnvelope
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    apply_once,
    ensure_applied_versions,
)

GOALS_PROJECTION = "goals-v1"


class GoalsProjection:
    def __init__(self, db: ReadModelDatabase, name: str = GOALS_PROJECTION) -> None:
        self.db = db
        self.name = name
        ensure_applied_versions(db)
        ensure_audit_tables(db)
        ensure_alignment_tables(db)

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

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        # Audit entry, alignment row and dedup marker commit together or not at all.
        _entry, state = record_event(tx, envelope, fold_goal_event)
        upsert_goal_node(tx, envelope.aggregate_id, envelope.aggregate_version, state)
