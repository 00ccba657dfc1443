"""Sequenced dead letters for read models fed in order per aggregate (as Axon's sequenced DLQ).

A read model applies each aggregate's events strictly in version order. What it does with an
event depends on the aggregate's applied version (the head) and on what is parked:

- the next version, of a type the read model knows: applied (rows, marker, event id);
- a version at or below the head: the same id is a duplicate (skipped, counted); another id is a
  *conflict*, parked with both ids, never dropped;
- a version past the next one: *held* until the missing versions arrive, then applied in order;
  when more than `max_held` events wait, or the oldest waited `max_hold_seconds`, the held
  events are parked (reason "gap");
- an unknown event type, or an event whose write fails (not a store outage): parked;
- any event of an aggregate that has parked events: parked behind them, in order.

Parked and held events, dead-lettered source positions and the consumed offsets are rows of
the read model's own store, written in the transaction that writes the read model, so a crash
loses none of them. Other aggregates flow on. An operator retries an aggregate's parked events
(after a fix) or skips one with a recorded reason; a skip that frees the aggregate's next
version fills it through `fill_skipped` (the audit history records an entry for it) and is
replayed by any rebuild of the same read model, so a rebuild reaches the same content.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from northstar_contracts.envelope import EventEnvelope
from services.shared.canonical import utc_now
from services.shared.errors import FailedPrecondition, NotFound
from services.shared.parking import (
    BEHIND,
    CONFLICT,
    FAILED,
    GAP,
    HELD,
    PARKED,
    UNKNOWN_TYPE,
    Delivery,
    ParkedEvent,
    ParkingStore,
    delivery_of,
)
from services.shared.readmodel import (
    ReadModelDatabase,
    Transaction,
    applied_event_id,
    applied_version,
    ensure_applied_versions,
    load_applied_event_ids,
    load_applied_versions,
    record_applied,
    record_consumed,
    savepoint,
    store_unavailable,
)

logger = logging.getLogger(__name__)

SKIPPED = "skipped"


class UnknownEventType(Exception):
    """The read model does not know this event type (or its schema version)."""


Write = Callable[[Transaction], None]
Prepare = Callable[[EventEnvelope], Write]
"""The read-model change of one event; raises UnknownEventType for a type it does not know."""


@dataclass(frozen=True)
class SkipRecord:
    """An operator's skip of a parked event that frees the aggregate's next version."""

    envelope: EventEnvelope
    reason: str
    operator: str
    parked_reason: str
    decided_at: datetime


FillSkipped = Callable[[Transaction, SkipRecord], None]

Prefetch = Callable[[Transaction, Sequence[EventEnvelope]], None]
"""Reads what a batch's writes will need in one go (e.g. the aggregates' audit heads, into the
transaction's memo) before its events are applied one by one."""


@dataclass(frozen=True)
class HoldLimits:
    max_held: int = 100
    max_hold_seconds: float = 30.0


@dataclass
class Outcome:
    """What one call did: applied envelopes (in order), and counts of everything else (`held`:
    events that started waiting for an earlier version in this call)."""

    applied: list[EventEnvelope] = field(default_factory=list)
    duplicates: int = 0
    held: int = 0
    parked: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    dead_lettered: int = 0

    def add_parked(self, kind: str) -> None:
        self.parked[kind] = self.parked.get(kind, 0) + 1


@dataclass
class _Batch:
    """State one transaction keeps about aggregates it touches."""

    tx: Transaction
    isolate: bool
    parked: set[str]
    held: set[str]
    skips: dict[tuple[str, int, str], tuple[str, str, str, bool, str]]
    outcome: Outcome = field(default_factory=Outcome)
    heads: dict[str, int] = field(default_factory=dict)


class SequencedLedger:
    """Applies one read-model version's events with the rules above (see the module doc)."""

    def __init__(
        self,
        db: ReadModelDatabase,
        projection: str,
        *,
        read_model: str,
        prepare: Prepare,
        fill_skipped: FillSkipped,
        limits: HoldLimits | None = None,
        prefetch: Prefetch | None = None,
    ) -> None:
        self.db = db
        self.prefetch = prefetch
        self.projection = projection
        self.read_model = read_model
        self.prepare = prepare
        self.fill_skipped = fill_skipped
        self.limits = limits or HoldLimits()
        ensure_applied_versions(db)
        self.store = ParkingStore(db, projection, read_model)

    # ---- consuming ----

    def consume(self, deliveries: Sequence[Delivery]) -> Outcome:
        """Takes a batch in record order, all in one transaction with the consumed offsets.
        A write that fails makes the batch run again with each event in a savepoint of its own,
        so the failing event is parked and the others apply. Store outages propagate."""
        try:
            with self.db.transaction() as tx:
                return self._consume(tx, deliveries, isolate=False)
        except Exception as error:
            if store_unavailable(error):
                raise
            logger.info("%s: batch failed (%r); isolating each event", self.projection, error)
        with self.db.transaction() as tx:
            return self._consume(tx, deliveries, isolate=True)

    def take(self, envelopes: Sequence[EventEnvelope]) -> list[bool]:
        """`consume` for events not read from Kafka (no offsets): True for each one applied."""
        deliveries = [Delivery("", 0, 0, e.to_json_bytes(), e) for e in envelopes]
        applied = Counter(_key(e) for e in self.consume(deliveries).applied)
        results = []
        for envelope in envelopes:  # a redelivery within the list is applied once, the first time
            results.append(applied[_key(envelope)] > 0)
            applied[_key(envelope)] -= 1
        return results

    def _consume(self, tx: Transaction, deliveries: Sequence[Delivery], isolate: bool) -> Outcome:
        batch = self._batch(tx, isolate)
        # The heads (and whatever the read model's writes need) of every aggregate in the batch
        # in one query each, not one per event: on PostgreSQL each query is a round trip.
        envelopes = [d.envelope for d in deliveries if d.envelope is not None]
        heads = load_applied_versions(tx, self.projection, (e.aggregate_id for e in envelopes))
        batch.heads.update(heads)
        redelivered = [
            (e.aggregate_id, e.aggregate_version)
            for e in envelopes
            if e.aggregate_version <= heads[e.aggregate_id]
        ]
        if redelivered:
            load_applied_event_ids(tx, self.projection, redelivered)
        if self.prefetch is not None and envelopes:
            self.prefetch(tx, envelopes)
        next_offsets: dict[tuple[str, int], int] = {}
        for delivery in deliveries:
            key = (delivery.topic, delivery.partition)
            next_offsets[key] = max(next_offsets.get(key, 0), delivery.offset + 1)
            if delivery.envelope is None:
                self.store.record_dead_letter(tx, delivery)
                batch.outcome.dead_lettered += 1
            else:
                self._take(batch, delivery, delivery.envelope)
        record_consumed(tx, self.projection, next_offsets)
        return batch.outcome

    def already_dead_lettered(self, deliveries: Iterable[Delivery]) -> set[tuple[str, int, int]]:
        """Positions among `deliveries` that this read model (any version) dead-lettered."""
        return self.store.already_dead_lettered(deliveries)

    def _batch(self, tx: Transaction, isolate: bool) -> _Batch:
        rows = tx.execute(
            "SELECT DISTINCT aggregate_id, state FROM parked_events WHERE projection = ?",
            (self.projection,),
        )
        skips = tx.execute(
            "SELECT aggregate_id, version, event_id, reason, operator, decided_at, filled_version, "
            "parked_reason "
            "FROM parking_decisions WHERE read_model = ? AND action = ?",
            (self.read_model, SKIPPED),
        )
        return _Batch(
            tx,
            isolate,
            parked={str(r[0]) for r in rows if r[1] == PARKED},
            held={str(r[0]) for r in rows if r[1] == HELD},
            skips={
                (str(r[0]), int(r[1]), str(r[2])): (r[3], r[4], r[5], bool(r[6]), r[7])
                for r in skips
            },
        )

    def _head(self, batch: _Batch, aggregate_id: str) -> int:
        if aggregate_id not in batch.heads:
            batch.heads[aggregate_id] = applied_version(batch.tx, self.projection, aggregate_id)
        return batch.heads[aggregate_id]

    def _take(self, batch: _Batch, delivery: Delivery, envelope: EventEnvelope) -> None:
        aggregate_id, version = envelope.aggregate_id, envelope.aggregate_version
        if (aggregate_id in batch.parked or aggregate_id in batch.held) and self.store.waiting(
            batch.tx, aggregate_id, version, envelope.id
        ):
            batch.outcome.duplicates += 1  # the same event again, already waiting
            return
        head = self._head(batch, aggregate_id)
        if version <= head:
            applied_id = applied_event_id(batch.tx, self.projection, aggregate_id, version)
            if self._skipped(batch, envelope):
                batch.outcome.skipped += 1  # an operator skipped it in this or another version
            elif applied_id in ("", envelope.id):
                batch.outcome.duplicates += 1
            else:
                reason = (
                    f"event {envelope.id} carries version {version}, which was applied as "
                    f"event {applied_id}"
                )
                self._park(batch, delivery, envelope, CONFLICT, reason, applied_id)
            return
        if aggregate_id in batch.parked:
            reason = "waits behind an earlier parked event of its aggregate"
            self._park(batch, delivery, envelope, BEHIND, reason)
            return
        if version > head + 1:
            self._hold(batch, delivery, envelope, head)
            return
        if self._apply(batch, delivery, envelope) and aggregate_id in batch.held:
            self._release_held(batch, aggregate_id)

    def _apply(self, batch: _Batch, delivery: Delivery, envelope: EventEnvelope) -> bool:
        """Applies the aggregate's next version (or replays a recorded skip); False if parked."""
        skip = batch.skips.get((envelope.aggregate_id, envelope.aggregate_version, envelope.id))
        try:
            if skip is not None:  # an operator's skip, replayed (a rebuild, a redelivery)
                reason, operator, decided_at, filled, parked_reason = skip
                batch.outcome.skipped += 1
                if not filled:
                    return False
                moment = datetime.fromisoformat(decided_at)
                record = SkipRecord(envelope, reason, operator, parked_reason, moment)
                self._in_step(batch, lambda tx: self._fill(tx, record))
            else:
                write = self.prepare(envelope)
                self._in_step(batch, lambda tx: self._write(tx, write, envelope))
                batch.outcome.applied.append(envelope)
        except UnknownEventType as error:
            self._park(batch, delivery, envelope, UNKNOWN_TYPE, str(error))
            return False
        except Exception as error:
            if store_unavailable(error) or not batch.isolate:
                raise
            reason = f"{type(error).__name__}: {error}"[:2000]
            self._park(batch, delivery, envelope, FAILED, reason)
            return False
        batch.heads[envelope.aggregate_id] = envelope.aggregate_version
        return True

    def _write(self, tx: Transaction, write: Write, envelope: EventEnvelope) -> None:
        write(tx)
        record_applied(
            tx, self.projection, envelope.aggregate_id, envelope.aggregate_version, envelope.id
        )

    def _fill(self, tx: Transaction, record: SkipRecord) -> None:
        self.fill_skipped(tx, record)
        envelope = record.envelope
        record_applied(
            tx, self.projection, envelope.aggregate_id, envelope.aggregate_version, envelope.id
        )

    @staticmethod
    def _in_step(batch: _Batch, step: Write) -> None:
        if batch.isolate:
            with savepoint(batch.tx):
                step(batch.tx)
        else:
            step(batch.tx)

    @staticmethod
    def _skipped(batch: _Batch, envelope: EventEnvelope) -> bool:
        return (envelope.aggregate_id, envelope.aggregate_version, envelope.id) in batch.skips

    # ---- holding and parking ----

    def _hold(self, batch: _Batch, delivery: Delivery, envelope: EventEnvelope, head: int) -> None:
        reason = f"waits for version {head + 1} of its aggregate"
        self.store.insert(batch.tx, delivery, envelope, HELD, GAP, reason, "")
        batch.held.add(envelope.aggregate_id)
        batch.outcome.held += 1
        held = self.store.rows(batch.tx, envelope.aggregate_id)
        if len(held) > self.limits.max_held:
            self._park_gap(batch, envelope.aggregate_id, held, head)

    def _release_held(self, batch: _Batch, aggregate_id: str) -> None:
        """Applies held events that now follow the head, in version order."""
        batch.held.discard(aggregate_id)  # no nested release while this one runs
        for row in self.store.rows(batch.tx, aggregate_id):
            if row.version > self._head(batch, aggregate_id) + 1:
                batch.held.add(aggregate_id)
                return
            self.store.delete(batch.tx, aggregate_id, row.version, row.event_id)
            self._take(batch, delivery_of(row), row.envelope())
            if aggregate_id in batch.parked:
                self._park_held(batch, aggregate_id)
                return

    def _park_gap(
        self, batch: _Batch, aggregate_id: str, held: list[ParkedEvent], head: int
    ) -> None:
        waited = (utc_now() - datetime.fromisoformat(held[0].arrived_at)).total_seconds()
        reason = (
            f"version {head + 1} did not arrive while {len(held)} later events waited "
            f"({waited:.1f}s)"
        )
        first = held[0]
        batch.tx.execute(
            "UPDATE parked_events SET state = ?, kind = ?, reason = ? WHERE projection = ? "
            "AND aggregate_id = ? AND version = ? AND event_id = ?",
            (PARKED, GAP, reason, self.projection, aggregate_id, first.version, first.event_id),
        )
        batch.outcome.add_parked(GAP)
        batch.parked.add(aggregate_id)
        self._park_held(batch, aggregate_id)
        logger.warning("%s: parked %s: %s", self.projection, aggregate_id, reason)

    def _park_held(self, batch: _Batch, aggregate_id: str) -> None:
        """The aggregate is parked: the events it held wait behind the parked one."""
        for _ in self.store.rows(batch.tx, aggregate_id):
            batch.outcome.add_parked(BEHIND)
        batch.tx.execute(
            "UPDATE parked_events SET state = ?, kind = ?, "
            "reason = 'waits behind an earlier parked event of its aggregate' "
            "WHERE projection = ? AND aggregate_id = ? AND state = ?",
            (PARKED, BEHIND, self.projection, aggregate_id, HELD),
        )
        batch.held.discard(aggregate_id)

    def _park(
        self,
        batch: _Batch,
        delivery: Delivery,
        envelope: EventEnvelope,
        kind: str,
        reason: str,
        applied_id: str = "",
    ) -> None:
        self.store.insert(batch.tx, delivery, envelope, PARKED, kind, reason, applied_id)
        batch.outcome.add_parked(kind)
        batch.parked.add(envelope.aggregate_id)
        if envelope.aggregate_id in batch.held:
            self._park_held(batch, envelope.aggregate_id)
        logger.warning(
            "%s: parked %s v%d (%s): %s",
            self.projection,
            envelope.aggregate_id,
            envelope.aggregate_version,
            kind,
            reason,
        )

    # ---- time bound, operators, queries ----

    def sweep(self, now: datetime | None = None) -> Outcome:
        """Parks holds older than the time bound, and re-runs aggregates whose parked events
        no longer wait behind anything (a retry that raced a consumer in another process)."""
        moment = now or utc_now()
        oldest_allowed = (moment - timedelta(seconds=self.limits.max_hold_seconds)).isoformat()
        with self.db.transaction() as tx:
            batch = self._batch(tx, isolate=True)
            expired = tx.execute(
                "SELECT aggregate_id FROM parked_events WHERE projection = ? AND state = ? "
                "GROUP BY aggregate_id HAVING MIN(arrived_at) < ?",
                (self.projection, HELD, oldest_allowed),
            )
            for (aggregate_id,) in expired:
                head = self._head(batch, aggregate_id)
                self._park_gap(batch, aggregate_id, self.store.rows(tx, aggregate_id), head)
            for aggregate_id in sorted(batch.parked):
                parked = self.store.rows(tx, aggregate_id, PARKED)
                if parked and all(row.kind == BEHIND for row in parked):
                    self._rerun(batch, aggregate_id)
            return batch.outcome

    def retry(self, aggregate_id: str) -> Outcome:
        """Takes the aggregate's parked events again, in version order, with today's code."""
        with self.db.transaction() as tx:
            batch = self._batch(tx, isolate=True)
            if aggregate_id not in batch.parked:
                raise NotFound(f"no parked events of {aggregate_id}", field="aggregate_id")
            self._rerun(batch, aggregate_id)
            return batch.outcome

    def _rerun(self, batch: _Batch, aggregate_id: str) -> None:
        rows = self.store.rows(batch.tx, aggregate_id, PARKED) + self.store.rows(
            batch.tx, aggregate_id
        )
        rows.sort(key=lambda row: (row.version, row.arrived_at, row.event_id))
        batch.tx.execute(
            "DELETE FROM parked_events WHERE projection = ? AND aggregate_id = ?",
            (self.projection, aggregate_id),
        )
        batch.parked.discard(aggregate_id)
        batch.held.discard(aggregate_id)
        for row in rows:
            self._take(batch, delivery_of(row), row.envelope())

    def skip(self, aggregate_id: str, event_id: str, reason: str, operator: str) -> Outcome:
        """Removes one parked event with the operator's reason (recorded), then retries the
        aggregate's other parked events. If the event held the aggregate's next version and no
        other parked event does, `fill_skipped` fills that version (an audit entry)."""
        with self.db.transaction() as tx:
            batch = self._batch(tx, isolate=True)
            rows = [r for r in self.store.rows(tx, aggregate_id, PARKED) if r.event_id == event_id]
            if not rows:
                raise NotFound(f"no parked event {event_id} of {aggregate_id}", field="event_id")
            row = rows[0]
            if row.kind == BEHIND:
                raise FailedPrecondition(
                    "this event waits behind another parked event: skip or retry that one first",
                    field="event_id",
                )
            decided_at = utc_now()
            self.store.delete(tx, aggregate_id, row.version, row.event_id)
            others_at_version = any(
                r.version == row.version for r in self.store.rows(tx, aggregate_id, PARKED)
            )
            fills = row.version == self._head(batch, aggregate_id) + 1 and not others_at_version
            tx.execute(
                "INSERT INTO parking_decisions (read_model, aggregate_id, version, event_id, "
                "tenant_id, event_type, action, reason, operator, decided_at, filled_version, "
                "parked_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.read_model,
                    aggregate_id,
                    row.version,
                    row.event_id,
                    row.tenant_id,
                    row.event_type,
                    SKIPPED,
                    reason,
                    operator,
                    decided_at.isoformat(),
                    int(fills),
                    row.reason,
                ),
            )
            if fills:
                record = SkipRecord(row.envelope(), reason, operator, row.reason, decided_at)
                self._fill(tx, record)
                batch.heads[aggregate_id] = row.version
            batch.outcome.skipped += 1
            logger.warning(
                "%s: %s skipped %s v%d (%s): %s",
                self.projection,
                operator,
                aggregate_id,
                row.version,
                row.kind,
                reason,
            )
            self._rerun(batch, aggregate_id)
            return batch.outcome

    def parked_events(
        self, *, tenant_id: str = "", aggregate_id: str = "", limit: int = 1000
    ) -> list[ParkedEvent]:
        return self.store.parked_events(tenant_id=tenant_id, aggregate_id=aggregate_id, limit=limit)

    def counts(self) -> dict[str, int]:
        """Events waiting, by state (held, parked)."""
        return self.store.counts()


def _key(envelope: EventEnvelope) -> tuple[str, int, str]:
    return (envelope.aggregate_id, envelope.aggregate_version, envelope.id)
