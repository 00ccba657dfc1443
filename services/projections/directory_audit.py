"""Audit history of aggregates other than goals (directory people and teams first), with a
merge fold: each event sets the fields it carries.

The directory events also keep the service's directory replica current (in the same
transaction), which the alignment summary asks for departments (the top team above a goal's
team).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from services.projections.audit import AuditTables, State, ensure_audit_tables, record_event
from services.projections.goal_state import SKIPPED_EVENT_TYPE
from services.projections.goals_projection import audit_version_tables
from services.projections.skips import require_known, skip_entry_envelope
from services.projections.versions import VersionTable, table_prefix, version_name
from services.shared.directory_replica import DirectoryReplica
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import HoldLimits, SequencedLedger, SkipRecord, Write

DIRECTORY_AUDIT_READ_MODEL = "directory-audit"

# Fields that describe the change rather than the aggregate: the entry keeps them in its data.
_NOT_STATE = frozenset({"reason", "effective_at"})
# What an event means for fields it does not carry.
_IMPLIED: dict[str, dict[str, Any]] = {
    "directory.PersonDeparted": {"employment_status": "departed"},
    "directory.PersonRehired": {"employment_status": "active", "leave_date": None},
}


def merge_fold(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """The state after one event: its fields (but not `previous_*` echoes) over the old ones;
    an operator's skip changes nothing."""
    if event_type == SKIPPED_EVENT_TYPE:
        return state
    carried = {
        name: value
        for name, value in data.items()
        if name not in _NOT_STATE and not name.startswith("previous_")
    }
    return {**state, **carried, **_IMPLIED.get(event_type, {})}


class DirectoryAuditProjection:
    """One version of the directory audit read model (and the feed of the service's replica)."""

    def __init__(
        self,
        db: ReadModelDatabase,
        name: str = version_name(DIRECTORY_AUDIT_READ_MODEL, 1),
        replica: DirectoryReplica | None = None,
        limits: HoldLimits | None = None,
    ) -> None:
        self.db = db
        self._name = name
        self.audit = AuditTables(table_prefix(name))
        self.replica = replica
        ensure_audit_tables(db, self.audit)
        self.ledger = SequencedLedger(
            db,
            name,
            read_model=DIRECTORY_AUDIT_READ_MODEL,
            prepare=self._prepare,
            fill_skipped=self._fill_skipped,
            limits=limits,
        )

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return audit_version_tables(self.audit)

    async def apply(self, envelope: EventEnvelope) -> bool:
        return (await self.apply_batch([envelope]))[0]

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply directory events in order, in one transaction: audit entries and the replica
        together; True for each one applied now."""
        return await asyncio.to_thread(self.ledger.take, envelopes)

    def _prepare(self, envelope: EventEnvelope) -> Write:
        require_known(envelope)
        return functools.partial(self._write, envelope=envelope)

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        record_event(tx, envelope, merge_fold, self.audit)
        if self.replica is not None:
            self.replica.write_in(tx, envelope)

    def _fill_skipped(self, tx: Transaction, record: SkipRecord) -> None:
        record_event(tx, skip_entry_envelope(record), merge_fold, self.audit)
