"""Audit history: every event of every aggregate, hash-chained per aggregate, replayable.

Each entry keeps the event's own data (so any past state is a fold of entries, not a stored
copy), the field-level before/after it caused, and `entry_hash = sha256(previous_hash +
canonical entry)`. Changing, removing or reordering any stored entry breaks the chain at that
entry, which `verify_chain` reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from northstar_contracts.envelope import EventEnvelope
from services.shared.canonical import canonical_json
from services.shared.readmodel import ReadModelDatabase, Transaction

GENESIS_HASH = "0" * 64

State = dict[str, Any]
Fold = Callable[[State, str, Mapping[str, Any]], State]
"""Applies one event (type, data) to an aggregate's state and returns the new state."""

COLUMNS = (
    "tenant_id, aggregate_type, aggregate_id, version, event_id, event_type, actor_id, "
    "occurred_at, reason, data_json, changes_json, previous_hash, entry_hash"
)


@dataclass(frozen=True)
class AuditTables:
    """The audit tables of one read-model version: `<prefix>audit_entries` and
    `<prefix>audit_heads`. The empty prefix names a standalone store, or, in the service's
    database, the read-only views over the live versions."""

    prefix: str = ""

    @property
    def entries(self) -> str:
        return f"{self.prefix}audit_entries"

    @property
    def heads(self) -> str:
        return f"{self.prefix}audit_heads"

    def ddl(self) -> list[str]:
        return [
            f"""CREATE TABLE IF NOT EXISTS {self.entries} (
                tenant_id TEXT NOT NULL,
                aggregate_type TEXT NOT NULL,
                aggregate_id TEXT NOT NULL,
                version BIGINT NOT NULL,
                event_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                actor_id TEXT NOT NULL,
                occurred_at TEXT NOT NULL,
                reason TEXT NOT NULL,
                data_json TEXT NOT NULL,
                changes_json TEXT NOT NULL,
                previous_hash TEXT NOT NULL,
                entry_hash TEXT NOT NULL,
                PRIMARY KEY (aggregate_id, version)
            )""",
            f"""CREATE TABLE IF NOT EXISTS {self.heads} (
                aggregate_id TEXT PRIMARY KEY,
                version BIGINT NOT NULL,
                state_json TEXT NOT NULL,
                entry_hash TEXT NOT NULL
            )""",
            f"CREATE INDEX IF NOT EXISTS {self.entries}_tenant "
            f"ON {self.entries} (tenant_id, aggregate_id, version)",
        ]


STANDALONE = AuditTables()


@dataclass(frozen=True)
class FieldChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class AuditEntry:
    tenant_id: str
    aggregate_type: str
    aggregate_id: str
    version: int
    event_id: str
    event_type: str
    actor_id: str
    occurred_at: str
    reason: str
    data: dict[str, Any]
    changes: list[FieldChange] = field(default_factory=list)
    previous_hash: str = GENESIS_HASH
    entry_hash: str = ""

    def content_hash(self) -> str:
        """Hash over everything but the hash itself, chained to the previous entry."""
        return _digest(self, canonical_json(self.data), _changes_json(self.changes))

    def to_row(self) -> tuple[Any, ...]:
        return _row(self, canonical_json(self.data), _changes_json(self.changes))

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> AuditEntry:
        return cls(
            tenant_id=row[0],
            aggregate_type=row[1],
            aggregate_id=row[2],
            version=int(row[3]),
            event_id=row[4],
            event_type=row[5],
            actor_id=row[6],
            occurred_at=row[7],
            reason=row[8],
            data=json.loads(row[9]),
            changes=[FieldChange(**change) for change in json.loads(row[10])],
            previous_hash=row[11],
            entry_hash=row[12],
        )

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> AuditEntry:
        values = dict(raw)
        values["changes"] = [FieldChange(**change) for change in values.get("changes", [])]
        return cls(**values)


@dataclass(frozen=True)
class VerifyResult:
    intact: bool
    entries_checked: int
    first_broken_version: int = 0
    reason: str = ""


def ensure_audit_tables(db: ReadModelDatabase, tables: AuditTables = STANDALONE) -> None:
    with db.transaction() as tx:
        for statement in tables.ddl():
            tx.execute(statement)


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[FieldChange]:
    """Top-level fields that appeared, disappeared or changed value, in a stable order (a field
    that appears as null is a change too: the history then shows every field a goal starts with).
    """
    return _encoded_changes(before, after)[0]


_EXACT_SCALARS = (str, int, bool, type(None))
"""Types whose values encode alike exactly when they are equal (and of the same type: 1, 1.0
and True are equal but encode as 1, 1.0 and true)."""


def _encoded_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[list[FieldChange], str]:
    """`field_changes` and their canonical JSON, each value encoded at most once: a scalar is
    compared without encoding, a float by its repr (what JSON writes), anything else by its
    canonical JSON, which the changes' JSON then reuses."""
    changes: list[FieldChange] = []
    parts: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        encoded: tuple[str, str] | None = None
        if (name in before) != (name in after):
            pass
        elif old is new:
            continue  # the fold carried the value over: the very same object encodes alike
        elif type(old) is type(new) and type(old) in _EXACT_SCALARS:
            if old == new:
                continue
        elif type(old) is float and type(new) is float:
            if repr(old) == repr(new):
                continue
        else:
            encoded = (_value_json(old), _value_json(new))
            if encoded[0] == encoded[1]:
                continue
        old_json, new_json = encoded or (_value_json(old), _value_json(new))
        changes.append(FieldChange(name, old, new))
        parts.append(f'{{"after":{new_json},"before":{old_json},"field":{_text_json(name)}}}')
    return changes, "[" + ",".join(parts) + "]"


def _changes_json(changes: Iterable[FieldChange]) -> str:
    """The canonical JSON of a list of changes (what `canonical_json` of their dicts gives)."""
    return canonical_json(
        [{"field": c.field, "before": c.before, "after": c.after} for c in changes]
    )


def _text_json(value: Any) -> str:
    return encode_basestring_ascii(value) if type(value) is str else canonical_json(value)


def _value_json(value: Any) -> str:
    """`canonical_json(value)`, with the scalars a goal's fields mostly hold written directly
    (what the encoder writes for them) instead of through the encoder."""
    kind = type(value)
    if value is None:
        return "null"
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return canonical_json(value)


def _content_text(entry: AuditEntry, data_json: str, changes_json: str) -> str:
    """`canonical_json` of the entry's content (everything but its hash), assembled from the
    already encoded data and changes: the same text, byte for byte (the known-answer vectors of
    tests/unit/test_audit_tamper_evidence.py pin it), without encoding them again."""
    text = _text_json
    return (
        f'{{"actor_id":{text(entry.actor_id)},"aggregate_id":{text(entry.aggregate_id)},'
        f'"aggregate_type":{text(entry.aggregate_type)},"changes":{changes_json},'
        f'"data":{data_json},"event_id":{text(entry.event_id)},'
        f'"event_type":{text(entry.event_type)},"occurred_at":{text(entry.occurred_at)},'
        f'"previous_hash":{text(entry.previous_hash)},"reason":{text(entry.reason)},'
        f'"tenant_id":{text(entry.tenant_id)},"version":{canonical_json(entry.version)}}}'
    )


def _digest(entry: AuditEntry, data_json: str, changes_json: str) -> str:
    content = _content_text(entry, data_json, changes_json)
    return hashlib.sha256((entry.previous_hash + content).encode()).hexdigest()


def _row(entry: AuditEntry, data_json: str, changes_json: str) -> tuple[Any, ...]:
    return (
        entry.tenant_id,
        entry.aggregate_type,
        entry.aggregate_id,
        entry.version,
        entry.event_id,
        entry.event_type,
        entry.actor_id,
        entry.occurred_at,
        entry.reason,
        data_json,
        changes_json,
        entry.previous_hash,
        entry.entry_hash,
    )


def fold_entries(entries: Iterable[AuditEntry], fold: Fold) -> State:
    state: State = {}
    for entry in entries:
        state = fold(state, entry.event_type, entry.data)
    return state


_AUDIT_HEADS_MEMO = "audit_heads:"


def _heads_memo(tx: Transaction, tables: AuditTables) -> dict[str, tuple[State, str] | None]:
    """(state, entry hash) after the last entry of each aggregate this transaction read or
    wrote (None: no entry yet); written rows are deferred, so this is what reads them back."""
    memo: dict[str, tuple[State, str] | None] = tx.memo.setdefault(
        _AUDIT_HEADS_MEMO + tables.heads, {}
    )
    return memo


def load_heads(tx: Transaction, aggregate_ids: Iterable[str], tables: AuditTables) -> None:
    """Reads the chain heads of several aggregates in one query per 500 ids into the
    transaction's memo, so `record_event` of a batch reads none itself."""
    memo = _heads_memo(tx, tables)
    wanted = sorted({a for a in aggregate_ids if a not in memo})
    for start in range(0, len(wanted), _HEADS_CHUNK):
        chunk = wanted[start : start + _HEADS_CHUNK]
        rows = tx.execute(
            f"SELECT aggregate_id, state_json, entry_hash FROM {tables.heads} "
            f"WHERE aggregate_id IN ({', '.join('?' * len(chunk))})",
            chunk,
        )
        found = {str(r[0]): (json.loads(r[1]), str(r[2])) for r in rows}
        for aggregate_id in chunk:
            memo[aggregate_id] = found.get(aggregate_id)


_HEADS_CHUNK = 500


def record_event(
    tx: Transaction, envelope: EventEnvelope, fold: Fold, tables: AuditTables = STANDALONE
) -> tuple[AuditEntry, State]:
    """Append the envelope to its aggregate's chain (the caller guarantees version order);
    returns the new entry and the aggregate's state after it."""
    # The head holds the folded state after the last entry, so appending stays O(1) however
    # long the history is. Within a transaction it is kept in the memo (folds return new
    # states, never change the one given), and its row and the entry's are written with the
    # transaction's other deferred writes: once per aggregate per batch for the head.
    memo = _heads_memo(tx, tables)
    aggregate_id = envelope.aggregate_id
    if aggregate_id not in memo:
        load_heads(tx, [aggregate_id], tables)
    head = memo[aggregate_id]
    before: State = head[0] if head else {}
    after = fold(dict(before), envelope.type, envelope.data)
    changes, changes_json = _encoded_changes(before, after)
    data = dict(envelope.data)
    data_json = canonical_json(data)
    # In AuditEntry's field order: the entry is built once to be hashed and once sealed, which
    # costs less than dataclasses.replace.
    content = (
        storable_text(envelope.tenant_id),
        storable_text(envelope.aggregate_type),
        aggregate_id,
        envelope.aggregate_version,
        envelope.id,
        storable_text(envelope.type),
        storable_text(envelope.actor_id),
        envelope.occurred_at.isoformat(),
        storable_text(str(envelope.data.get("reason") or "")),
        data,
        changes,
        head[1] if head else GENESIS_HASH,
    )
    sealed = AuditEntry(*content, _digest(AuditEntry(*content), data_json, changes_json))
    tx.defer(_insert_sql(tables), _row(sealed, data_json, changes_json))
    memo[aggregate_id] = (after, sealed.entry_hash)
    _defer_head(tx, sealed, after, tables)
    return sealed, after


def _defer_head(tx: Transaction, entry: AuditEntry, state: State, tables: AuditTables) -> None:
    def row() -> tuple[Any, ...]:  # encoded when sent: once, for the last entry of the batch
        return (entry.aggregate_id, entry.version, canonical_json(state), entry.entry_hash)

    tx.defer(_upsert_head_sql(tables), row, key=entry.aggregate_id)


def _upsert_head_sql(tables: AuditTables) -> str:
    return (
        f"INSERT INTO {tables.heads} (aggregate_id, version, state_json, entry_hash) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id) DO UPDATE SET "
        "version = excluded.version, state_json = excluded.state_json, "
        "entry_hash = excluded.entry_hash"
    )


def _insert_sql(tables: AuditTables) -> str:
    return f"INSERT INTO {tables.entries} ({COLUMNS}) VALUES ({', '.join('?' * 13)})"


def storable_text(text: str) -> str:
    """PostgreSQL text cannot hold NUL; the entry is sealed with what is stored, so verify holds.
    (The event's exact data stays intact inside data_json, where JSON escapes it.)"""
    return text.replace("\x00", "\ufffd")


def insert_entry(tx: Transaction, entry: AuditEntry, tables: AuditTables = STANDALONE) -> None:
    tx.execute(_insert_sql(tables), entry.to_row())


def load_entries(
    tx: Transaction,
    aggregate_id: str,
    *,
    up_to_version: int | None = None,
    tables: AuditTables = STANDALONE,
) -> list[AuditEntry]:
    sql = f"SELECT {COLUMNS} FROM {tables.entries} WHERE aggregate_id = ?"
    params: list[Any] = [aggregate_id]
    if up_to_version is not None:
        sql += " AND version <= ?"
        params.append(up_to_version)
    return [AuditEntry.from_row(row) for row in tx.execute(sql + " ORDER BY version", params)]


def load_head(
    tx: Transaction, aggregate_id: str, tables: AuditTables = STANDALONE
) -> tuple[int, str] | None:
    """(version, entry hash) the chain's head records for the aggregate, if any."""
    row = tx.one(
        f"SELECT version, entry_hash FROM {tables.heads} WHERE aggregate_id = ?", (aggregate_id,)
    )
    return None if row is None else (int(row[0]), str(row[1]))


def entries_as_of(entries: Iterable[AuditEntry], moment: datetime) -> list[AuditEntry]:
    return [e for e in entries if datetime.fromisoformat(e.occurred_at) <= moment]


def verify_chain(
    entries: Iterable[AuditEntry], head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk the chain in version order; report the first entry that does not hold.

    `head` (the recorded last version and hash) also catches entries cut off the end.
    """
    previous_hash = GENESIS_HASH
    expected_version = 1
    checked = 0
    for entry in entries:
        checked += 1
        if entry.version != expected_version:
            return VerifyResult(
                False, checked, expected_version, f"version {expected_version} is missing"
            )
        if entry.previous_hash != previous_hash:
            return VerifyResult(
                False, checked, entry.version, "previous_hash does not match the entry before"
            )
        if entry.content_hash() != entry.entry_hash:
            return VerifyResult(
                False, checked, entry.version, "entry content does not match its hash"
            )
        previous_hash = entry.entry_hash
        expected_version += 1
    if head is not None:
        head_version, head_hash = head
        last_version = expected_version - 1
        if head_version > last_version:
            return VerifyResult(
                False,
                checked,
                expected_version,
                f"version {expected_version} is missing (the head records {head_version})",
            )
        if head_version < last_version:
            return VerifyResult(
                False, checked, head_version + 1, "entry is not part of the recorded chain"
            )
        if head_hash != previous_hash:
            return VerifyResult(
                False, checked, last_version, "last entry does not match the recorded head"
            )
    return VerifyResult(True, checked)
