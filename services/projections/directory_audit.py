"""Audit history of aggregates other than goals (directory people and teams first), with a
merge fold: each event sets the fields it carries.

The directory events also keep the service's directory replica current, which the alignment
summary asks for departments (the top team above a goal's team).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from services.projections.audit import AuditTables, State, ensure_audit_tables, record_event
from services.projections.goals_projection import audit_version_tables
from services.projections.versions import VersionTable, table_prefix, version_name
from services.shared.directory_replica import DirectoryReplica
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    VersionedWrite,
    apply_once,
    apply_once_each,
    ensure_applied_versions,
)

DIRECTORY_AUDIT_READ_MODEL = "directory-audit"

# Fields that describe the change rather than the aggregate: the entry keeps them in its data.
_NOT_STATE = frozenset({"reason", "effective_at"})
# What an event means for fields it does not carry.
_IMPLIED: dict[str, dict[str, Any]] = {
    "directory.PersonDeparted": {"employment_status": "departed"},
    "directory.PersonRehired": {"employment_status": "active", "leave_date": None},
}


def merge_fold(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """The state after one event: its fields (but not `previous_*` echoes) over the old ones."""
    carried = {
        name: value
        for name, value in data.items()
        if name not in _NOT_STATE and not name.startswith("previous_")
    }
    return {**state, **carried, **_IMPLIED.get(event_type, {})}


class DirectoryAuditProjection:
    """One version of the directory audit read model."""

    def __init__(
        self,
        db: ReadModelDatabase,
        name: str = version_name(DIRECTORY_AUDIT_READ_MODEL, 1),
        replica: DirectoryReplica | None = None,
    ) -> None:
        self.db = db
        self._name = name
        self.audit = AuditTables(table_prefix(name))
        self.replica = replica
        ensure_applied_versions(db)
        ensure_audit_tables(db, self.audit)

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return audit_version_tables(self.audit)

    async def apply(self, envelope: EventEnvelope) -> bool:
        return await asyncio.to_thread(self._apply, envelope)

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply directory events in order: their audit entries in one transaction (all or
        none), then the replica, event by event as `apply` does (idempotent, so a run that
        failed part-way and is applied again event by event changes nothing twice)."""
        return await asyncio.to_thread(self._apply_batch, envelopes)

    def _apply(self, envelope: EventEnvelope) -> bool:
        applied = apply_once(
            self.db,
            self.name,
            envelope.aggregate_id,
            envelope.aggregate_version,
            functools.partial(self._write, envelope=envelope),
        )
        self._replicate(envelope)
        return applied

    def _apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        writes = [
            VersionedWrite(
                envelope.aggregate_id,
                envelope.aggregate_version,
                functools.partial(self._write, envelope=envelope),
            )
            for envelope in envelopes
        ]
        applied = apply_once_each(self.db, self.name, writes)
        for envelope in envelopes:
            self._replicate(envelope)
        return applied

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        record_event(tx, envelope, merge_fold, self.audit)

    def _replicate(self, envelope: EventEnvelope) -> None:
        if self.replica is not None:
            # An event type newer than this release is audited, not replicated.
            with contextlib.suppress(LookupError):
                self.replica.apply_envelope(envelope)
