"""Audit history out and back in: JSON Lines and CSV exports, and imports that keep every hash.

An export carries each entry verbatim (hashes included), so an auditor can load it into an
empty audit store and verify the chains there without trusting the service that produced it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from services.projections.alignment import GoalNode, node_from_state
from services.projections.audit import (
    COLUMNS,
    STANDALONE,
    AuditEntry,
    AuditTables,
    fold_entries,
    insert_entry,
)
from services.projections.goal_state import fold_goal_event
from services.shared.canonical import canonical_json
from services.shared.readmodel import ReadModelDatabase

CSV_HEADER = [
    "tenant_id",
    "aggregate_type",
    "aggregate_id",
    "version",
    "event_id",
    "event_type",
    "actor_id",
    "occurred_at",
    "reason",
    "data_json",
    "changes_json",
    "previous_hash",
    "entry_hash",
]
JSONL_MEDIA_TYPE = "application/x-ndjson"
CSV_MEDIA_TYPE = "text/csv"
EXPORT_BATCH = 500


def jsonl_line(entry: AuditEntry) -> str:
    return canonical_json(entry.to_json_dict()) + "\n"


def export_jsonl(entries: Iterable[AuditEntry]) -> Iterator[str]:
    for entry in entries:
        yield jsonl_line(entry)


def _csv_text(row: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def csv_header() -> str:
    return _csv_text(CSV_HEADER)


def csv_line(entry: AuditEntry) -> str:
    return _csv_text(entry.to_row())


def export_csv(entries: Iterable[AuditEntry]) -> str:
    return csv_header() + "".join(csv_line(entry) for entry in entries)


def import_jsonl(
    db: ReadModelDatabase, lines: Iterable[str], tables: AuditTables = STANDALONE
) -> int:
    """Load a JSON Lines export into an (empty) audit store, verbatim: hashes are kept."""
    entries = [AuditEntry.from_json_dict(json.loads(line)) for line in lines if line.strip()]
    return _insert_all(db, entries, tables)


def import_csv(db: ReadModelDatabase, text: str, tables: AuditTables = STANDALONE) -> int:
    """Load a CSV export into an (empty) audit store, verbatim: hashes are kept."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != CSV_HEADER:
        raise ValueError("not an audit CSV export: the header row differs")
    return _insert_all(db, [AuditEntry.from_row(tuple(row)) for row in rows[1:]], tables)


def _insert_all(db: ReadModelDatabase, entries: list[AuditEntry], tables: AuditTables) -> int:
    with db.transaction() as tx:
        for entry in entries:
            insert_entry(tx, entry, tables)
    return len(entries)


def tenant_entries(
    db: ReadModelDatabase, tenant_id: str, tables: AuditTables, *, batch: int = EXPORT_BATCH
) -> Iterator[list[AuditEntry]]:
    """Every entry of the tenant in (aggregate id, version) order, a batch at a time, so an
    export of a large tenant never holds its whole history in memory."""
    after_aggregate, after_version = "", 0
    while True:
        rows = db.read(
            f"SELECT {COLUMNS} FROM {tables.entries} WHERE tenant_id = ? "
            "AND (aggregate_id > ? OR (aggregate_id = ? AND version > ?)) "
            "ORDER BY aggregate_id, version LIMIT ?",
            (tenant_id, after_aggregate, after_aggregate, after_version, batch),
        )
        if not rows:
            return
        entries = [AuditEntry.from_row(row) for row in rows]
        yield entries
        after_aggregate, after_version = entries[-1].aggregate_id, entries[-1].version


def tenant_aggregate_ids(db: ReadModelDatabase, tenant_id: str, tables: AuditTables) -> list[str]:
    rows = db.read(
        f"SELECT DISTINCT aggregate_id FROM {tables.entries} WHERE tenant_id = ? "
        "ORDER BY aggregate_id",
        (tenant_id,),
    )
    return [str(row[0]) for row in rows]


def goals_as_of(
    db: ReadModelDatabase, tenant_id: str, tables: AuditTables, moment: datetime
) -> list[GoalNode]:
    """Every goal of the tenant folded from its entries up to `moment` (goals that did not
    exist yet are left out), read a batch at a time."""
    nodes: list[GoalNode] = []
    current: list[AuditEntry] = []

    def close() -> None:
        if current:
            state = fold_entries(current, fold_goal_event)
            if state.get("tenant_id"):  # a goal whose creation was skipped has no state
                nodes.append(node_from_state(current[0].aggregate_id, current[-1].version, state))
            current.clear()

    for batch in tenant_entries(db, tenant_id, tables):
        for entry in batch:
            if current and entry.aggregate_id != current[0].aggregate_id:
                close()
            if datetime.fromisoformat(entry.occurred_at) <= moment:
                current.append(entry)
    close()
    return nodes
