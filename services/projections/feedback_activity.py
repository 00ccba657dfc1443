"""One version of the feedback read model: the feedback activity view (feedback items, named
answers, 1:1s) and the audit history of feedback metadata, applied once each, atomically.

The topic never carries private texts or anonymous answers; the audit history keeps even less:
no text at all (contracts.feedback.CONTENT_FIELDS are dropped before an entry is sealed), so a
retracted public text is gone from the history as from the view.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.feedback import CONTENT_FIELDS
from northstar_contracts.registry import EVENTS
from services.projections.audit import AuditTables, State, ensure_audit_tables, record_event
from services.projections.goal_state import SKIPPED_EVENT_TYPE
from services.projections.skips import require_known, skip_entry_envelope
from services.projections.versions import VersionTable, table_prefix, version_name
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import HoldLimits, SequencedLedger, SkipRecord, Write

FEEDBACK_READ_MODEL = "feedback"


@dataclass(frozen=True)
class FeedbackTables:
    prefix: str

    @property
    def items(self) -> str:
        return f"{self.prefix}feedback_items"

    @property
    def answers(self) -> str:
        return f"{self.prefix}feedback_answers"

    @property
    def one_on_ones(self) -> str:
        return f"{self.prefix}feedback_one_on_ones"

    @property
    def overdue(self) -> str:
        return f"{self.prefix}feedback_overdue"

    def ddl(self) -> list[str]:
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.items} (
                feedback_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                giver_id TEXT NOT NULL,
                recipient_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                visibility TEXT NOT NULL,
                goal_id TEXT NOT NULL,
                values_json TEXT NOT NULL,
                text TEXT NOT NULL,
                given_at TEXT NOT NULL,
                retracted BIGINT NOT NULL
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.answers} (
                request_id TEXT NOT NULL,
                reviewer_id TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                answered_at TEXT NOT NULL,
                PRIMARY KEY (request_id, reviewer_id)
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.one_on_ones} (
                one_on_one_id TEXT PRIMARY KEY,
                tenant_id TEXT NOT NULL,
                manager_id TEXT NOT NULL,
                report_id TEXT NOT NULL,
                last_held_on TEXT NOT NULL
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.overdue} (
                one_on_one_id TEXT NOT NULL,
                slot TEXT NOT NULL,
                tenant_id TEXT NOT NULL,
                PRIMARY KEY (one_on_one_id, slot)
            )""",
        ]


def feedback_version_tables(name: str) -> list[VersionTable]:
    prefix = table_prefix(name)
    tables = FeedbackTables(prefix)
    audit = AuditTables(prefix)
    return [
        VersionTable("audit_entries", audit.entries, "aggregate_id, version"),
        VersionTable("audit_heads", audit.heads, "aggregate_id"),
        VersionTable("feedback_items", tables.items, "feedback_id"),
        VersionTable("feedback_answers", tables.answers, "request_id, reviewer_id"),
        VersionTable("feedback_one_on_ones", tables.one_on_ones, "one_on_one_id"),
        VersionTable("feedback_overdue", tables.overdue, "one_on_one_id, slot"),
    ]


def metadata_fold(state: State, event_type: str, data: Mapping[str, Any]) -> State:
    """The aggregate's metadata after one event: its fields over the old ones; an operator's
    skip changes nothing."""
    if event_type == SKIPPED_EVENT_TYPE:
        return state
    carried = {k: v for k, v in data.items() if not k.startswith("previous_")}
    if event_type == "feedback.FeedbackRetracted":
        carried["retracted"] = True
    return {**state, **carried}


def without_content(envelope: EventEnvelope) -> EventEnvelope:
    data = {k: v for k, v in envelope.data.items() if k not in CONTENT_FIELDS}
    return envelope.model_copy(update={"data": data})


class FeedbackActivityProjection:
    def __init__(
        self,
        db: ReadModelDatabase,
        name: str = version_name(FEEDBACK_READ_MODEL, 1),
        limits: HoldLimits | None = None,
    ) -> None:
        self.db = db
        self._name = name
        prefix = table_prefix(name)
        self.tables_ = FeedbackTables(prefix)
        self.audit = AuditTables(prefix)
        ensure_audit_tables(db, self.audit)
        with db.transaction() as tx:
            for statement in self.tables_.ddl():
                tx.execute(statement)
        self.ledger = SequencedLedger(
            db,
            name,
            read_model=FEEDBACK_READ_MODEL,
            prepare=self._prepare,
            fill_skipped=self._fill_skipped,
            limits=limits,
        )

    @property
    def name(self) -> str:
        return self._name

    def tables(self) -> list[VersionTable]:
        return feedback_version_tables(self.name)

    async def apply(self, envelope: EventEnvelope) -> bool:
        return (await self.apply_batch([envelope]))[0]

    async def apply_batch(self, envelopes: list[EventEnvelope]) -> list[bool]:
        """Apply feedback events in order, per aggregate in version order (sequenced ledger);
        True for each one applied now."""
        return await asyncio.to_thread(self.ledger.take, envelopes)

    def _prepare(self, envelope: EventEnvelope) -> Write:
        require_known(envelope)
        return functools.partial(self._write, envelope=envelope)

    def _fill_skipped(self, tx: Transaction, record: SkipRecord) -> None:
        record_event(tx, skip_entry_envelope(record), metadata_fold, self.audit)

    def _write(self, tx: Transaction, envelope: EventEnvelope) -> None:
        EVENTS.read(envelope)  # an event type this release does not know is refused, not skipped
        record_event(tx, without_content(envelope), metadata_fold, self.audit)
        _write_view(tx, self.tables_, envelope)


def _write_view(tx: Transaction, tables: FeedbackTables, envelope: EventEnvelope) -> None:
    data, tenant, aggregate = envelope.data, envelope.tenant_id, envelope.aggregate_id
    at = envelope.occurred_at.isoformat()
    match envelope.type:
        case "feedback.FeedbackGiven":
            tx.execute(
                f"INSERT INTO {tables.items} (feedback_id, tenant_id, giver_id, recipient_id, "
                "kind, visibility, goal_id, values_json, text, given_at, retracted) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (feedback_id) DO NOTHING",
                (
                    aggregate,
                    tenant,
                    data["giver_id"],
                    data["recipient_id"],
                    data["kind"],
                    data["visibility"],
                    data.get("goal_id") or "",
                    json.dumps(data.get("values") or []),
                    data.get("text") or "",
                    at,
                ),
            )
        case "feedback.FeedbackVisibilityNarrowed":
            tx.execute(
                f"UPDATE {tables.items} SET visibility = ? WHERE feedback_id = ?",
                (data["visibility"], aggregate),
            )
        case "feedback.FeedbackRetracted":
            tx.execute(
                f"UPDATE {tables.items} SET retracted = 1, text = '' WHERE feedback_id = ?",
                (aggregate,),
            )
        case "feedback.FeedbackRequestAnswered":
            tx.execute(
                f"INSERT INTO {tables.answers} (request_id, reviewer_id, tenant_id, answered_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (request_id, reviewer_id) DO NOTHING",
                (aggregate, data["reviewer_id"], tenant, at),
            )
        case "feedback.OneOnOneScheduled":
            tx.execute(
                f"INSERT INTO {tables.one_on_ones} (one_on_one_id, tenant_id, manager_id, "
                "report_id, last_held_on) VALUES (?, ?, ?, ?, '') "
                "ON CONFLICT (one_on_one_id) DO NOTHING",
                (aggregate, tenant, data["manager_id"], data["report_id"]),
            )
        case "feedback.OneOnOneMeetingHeld":
            tx.execute(
                f"UPDATE {tables.one_on_ones} SET last_held_on = ? "
                "WHERE one_on_one_id = ? AND last_held_on < ?",
                (data["held_on"], aggregate, data["held_on"]),
            )
        case "feedback.OneOnOneOverdue":
            tx.execute(
                f"INSERT INTO {tables.overdue} (one_on_one_id, slot, tenant_id) VALUES (?, ?, ?) "
                "ON CONFLICT (one_on_one_id, slot) DO NOTHING",
                (aggregate, data["slot"], tenant),
            )
        case _:
            pass  # audited only: requests, reminders, agenda and note metadata
