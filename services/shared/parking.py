"""Where a read model keeps the events it cannot apply yet: held events (an earlier version of
their aggregate is missing) and parked ones (for an operator), the source positions it
dead-lettered, and operators' skip decisions. Rows of the read model's own store, written in
the caller's transaction (see services/shared/sequencing.py for the rules)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from northstar_contracts.envelope import EventEnvelope
from services.shared.canonical import utc_now
from services.shared.readmodel import ReadModelDatabase, Transaction

HELD = "held"
PARKED = "parked"
# Why an event is parked (the `kind` column); the `reason` column says it in words.
FAILED = "failed"
UNKNOWN_TYPE = "unknown type"
CONFLICT = "conflict"
GAP = "gap"
BEHIND = "behind"
KINDS = (FAILED, UNKNOWN_TYPE, CONFLICT, GAP, BEHIND)

SKIPPED = "skipped"

DDL = (
    """CREATE TABLE IF NOT EXISTS parked_events (
        projection TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        state TEXT NOT NULL,
        kind TEXT NOT NULL,
        reason TEXT NOT NULL,
        applied_event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        body TEXT NOT NULL,
        source TEXT NOT NULL,
        arrived_at TEXT NOT NULL,
        PRIMARY KEY (projection, aggregate_id, version, event_id)
    )""",
    """CREATE TABLE IF NOT EXISTS dead_lettered_positions (
        read_model TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition_number BIGINT NOT NULL,
        record_offset BIGINT NOT NULL,
        error TEXT NOT NULL,
        dead_lettered_at TEXT NOT NULL,
        PRIMARY KEY (read_model, topic, partition_number, record_offset)
    )""",
    """CREATE TABLE IF NOT EXISTS parking_decisions (
        read_model TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        event_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        action TEXT NOT NULL,
        reason TEXT NOT NULL,
        operator TEXT NOT NULL,
        decided_at TEXT NOT NULL,
        filled_version INTEGER NOT NULL,
        parked_reason TEXT NOT NULL,
        PRIMARY KEY (read_model, aggregate_id, version, event_id)
    )""",
)
PARKED_COLUMNS = (
    "aggregate_id, version, event_id, state, kind, reason, applied_event_id, event_type, "
    "tenant_id, body, source, arrived_at"
)


@dataclass(frozen=True)
class Delivery:
    """One consumed record: its position, its body, and the envelope (None: not an envelope)."""

    topic: str
    partition: int
    offset: int
    body: bytes
    envelope: EventEnvelope | None
    error: str = ""
    failure: Exception | None = field(default=None, compare=False)  # why it did not decode

    @property
    def source(self) -> str:
        """Where it was read, or "" for an event applied directly (not read from Kafka)."""
        return f"{self.topic}[{self.partition}]@{self.offset}" if self.topic else ""


@dataclass(frozen=True)
class ParkedEvent:
    aggregate_id: str
    version: int
    event_id: str
    state: str
    kind: str
    reason: str
    applied_event_id: str
    event_type: str
    tenant_id: str
    body: str
    source: str
    arrived_at: str

    def envelope(self) -> EventEnvelope:
        return EventEnvelope.from_json_bytes(self.body.encode())


class ParkingStore:
    """The held and parked events of one read-model version, and its read model's dead-letter
    positions (shared by every version of the read model)."""

    def __init__(self, db: ReadModelDatabase, projection: str, read_model: str) -> None:
        self.db = db
        self.projection = projection
        self.read_model = read_model
        with db.transaction() as tx:
            for statement in DDL:
                tx.execute(statement)

    def insert(
        self,
        tx: Transaction,
        delivery: Delivery,
        envelope: EventEnvelope,
        state: str,
        kind: str,
        reason: str,
        applied_id: str,
    ) -> None:
        tx.execute(
            f"INSERT INTO parked_events (projection, {PARKED_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (projection, aggregate_id, version, event_id) DO NOTHING",
            (
                self.projection,
                envelope.aggregate_id,
                envelope.aggregate_version,
                envelope.id,
                state,
                kind,
                reason,
                applied_id,
                envelope.type,
                envelope.tenant_id,
                delivery.body.decode("utf-8", "replace"),
                delivery.source,
                utc_now().isoformat(),
            ),
        )

    def waiting(self, tx: Transaction, aggregate_id: str, version: int, event_id: str) -> bool:
        row = tx.one(
            "SELECT 1 FROM parked_events WHERE projection = ? AND aggregate_id = ? "
            "AND version = ? AND event_id = ?",
            (self.projection, aggregate_id, version, event_id),
        )
        return row is not None

    def rows(self, tx: Transaction, aggregate_id: str, state: str = HELD) -> list[ParkedEvent]:
        rows = tx.execute(
            f"SELECT {PARKED_COLUMNS} FROM parked_events WHERE projection = ? "
            "AND aggregate_id = ? AND state = ? ORDER BY version, arrived_at, event_id",
            (self.projection, aggregate_id, state),
        )
        return [parked_from_row(row) for row in rows]

    def delete(self, tx: Transaction, aggregate_id: str, version: int, event_id: str) -> None:
        tx.execute(
            "DELETE FROM parked_events WHERE projection = ? AND aggregate_id = ? "
            "AND version = ? AND event_id = ?",
            (self.projection, aggregate_id, version, event_id),
        )

    def already_dead_lettered(self, deliveries: Iterable[Delivery]) -> set[tuple[str, int, int]]:
        """Positions among `deliveries` that this read model (any version) dead-lettered."""
        wanted = {(d.topic, d.partition, d.offset) for d in deliveries}
        if not wanted:
            return set()
        rows = self.db.read(
            "SELECT topic, partition_number, record_offset FROM dead_lettered_positions "
            "WHERE read_model = ?",
            (self.read_model,),
        )
        return wanted & {(str(r[0]), int(r[1]), int(r[2])) for r in rows}

    def record_dead_letter(self, tx: Transaction, delivery: Delivery) -> None:
        tx.execute(
            "INSERT INTO dead_lettered_positions (read_model, topic, partition_number, "
            "record_offset, error, dead_lettered_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (read_model, topic, partition_number, record_offset) DO NOTHING",
            (
                self.read_model,
                delivery.topic,
                delivery.partition,
                delivery.offset,
                delivery.error[:2000],
                utc_now().isoformat(),
            ),
        )

    def parked_events(
        self, *, tenant_id: str = "", aggregate_id: str = "", limit: int = 1000
    ) -> list[ParkedEvent]:
        sql = f"SELECT {PARKED_COLUMNS} FROM parked_events WHERE projection = ?"
        params: list[object] = [self.projection]
        if tenant_id:
            sql += " AND tenant_id = ?"
            params.append(tenant_id)
        if aggregate_id:
            sql += " AND aggregate_id = ?"
            params.append(aggregate_id)
        sql += " ORDER BY aggregate_id, version, arrived_at, event_id LIMIT ?"
        params.append(limit)
        return [parked_from_row(row) for row in self.db.read(sql, params)]

    def counts(self) -> dict[str, int]:
        """Events waiting, by state (held, parked)."""
        rows = self.db.read(
            "SELECT state, COUNT(*) FROM parked_events WHERE projection = ? GROUP BY state",
            (self.projection,),
        )
        found = {str(r[0]): int(r[1]) for r in rows}
        return {HELD: found.get(HELD, 0), PARKED: found.get(PARKED, 0)}


def parked_from_row(row: Sequence[object]) -> ParkedEvent:
    return ParkedEvent(
        aggregate_id=str(row[0]),
        version=int(str(row[1])),
        event_id=str(row[2]),
        state=str(row[3]),
        kind=str(row[4]),
        reason=str(row[5]),
        applied_event_id=str(row[6]),
        event_type=str(row[7]),
        tenant_id=str(row[8]),
        body=str(row[9]),
        source=str(row[10]),
        arrived_at=str(row[11]),
    )


def delivery_of(row: ParkedEvent) -> Delivery:
    """A parked event as a delivery again (its original position kept for the record)."""
    topic, _, rest = row.source.partition("[")
    partition, _, offset = rest.partition("]@")
    return Delivery(
        topic=topic,
        partition=int(partition or 0),
        offset=int(offset or 0),
        body=row.body.encode(),
        envelope=row.envelope(),
    )
