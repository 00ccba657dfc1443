"""The feedback service's lookup index, kept by following its own notification log (so it can
always be rebuilt from the event store): feedback by giver and recipient, requests by person
and state, 1:1s. List queries, the reminder scheduler and the departure policy read it; it
holds ids, people and template names, never any feedback text.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from services.feedback.domain import Feedback
from services.feedback.one_on_ones import OneOnOne
from services.feedback.requests import OPEN, FeedbackRequest
from services.feedback.templates import QuestionTemplate
from services.shared.readmodel import ReadModelDatabase, Transaction

_DDL = (
    """CREATE TABLE IF NOT EXISTS feedback_index (
        feedback_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        giver_id TEXT NOT NULL,
        recipient_id TEXT NOT NULL,
        given_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS feedback_index_giver ON feedback_index (tenant_id, giver_id)",
    "CREATE INDEX IF NOT EXISTS feedback_index_recipient ON feedback_index "
    "(tenant_id, recipient_id)",
    """CREATE TABLE IF NOT EXISTS request_index (
        request_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        requester_id TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        state TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS request_reviewer_index (
        request_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        reviewer_id TEXT NOT NULL,
        PRIMARY KEY (request_id, reviewer_id)
    )""",
    "CREATE INDEX IF NOT EXISTS request_reviewer_index_person ON request_reviewer_index "
    "(tenant_id, reviewer_id)",
    """CREATE TABLE IF NOT EXISTS one_on_one_index (
        one_on_one_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        manager_id TEXT NOT NULL,
        report_id TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS template_index (
        template_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        retired INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS feedback_index_position (
        singleton INTEGER PRIMARY KEY,
        notification_id BIGINT NOT NULL
    )""",
)


@dataclass(frozen=True)
class IndexedRequest:
    request_id: UUID
    tenant_id: str
    requester_id: str
    subject_id: str


class FeedbackIndex:
    def __init__(
        self, app: Application[UUID], db: ReadModelDatabase, batch_size: int = 500
    ) -> None:
        self.app = app
        self.db = db
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one catch-up at a time: rows never go back
        with db.transaction() as tx:
            for statement in _DDL:
                tx.execute(statement)
            # An index kept before reviewers were indexed follows the log again from the start
            # (every write is an upsert, so rows already there stay as they are).
            if tx.one("SELECT 1 FROM request_index") and not tx.one(
                "SELECT 1 FROM request_reviewer_index"
            ):
                tx.execute("DELETE FROM feedback_index_position")

    def position(self) -> int:
        rows = self.db.read("SELECT notification_id FROM feedback_index_position")
        return int(rows[0][0]) if rows else 0

    def catch_up(self) -> int:
        with self._lock:
            total = 0
            while True:
                notifications = self.app.recorder.select_notifications(
                    self.position(), self.batch_size, inclusive_of_start=False
                )
                if not notifications:
                    return total
                ids = {UUID(str(n.originator_id)) for n in notifications}
                aggregates: list[Aggregate] = [self.app.repository.get(i) for i in ids]
                with self.db.transaction() as tx:
                    for aggregate in aggregates:
                        _write(tx, aggregate)
                    tx.execute(
                        "INSERT INTO feedback_index_position (singleton, notification_id) "
                        "VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET "
                        "notification_id = excluded.notification_id",
                        (notifications[-1].id,),
                    )
                total += len(notifications)

    # ---- queries ----

    def feedback_ids(
        self, tenant_id: str, person_id: str, *, received: bool, offset: int, limit: int
    ) -> list[UUID]:
        column = "recipient_id" if received else "giver_id"
        rows = self.db.read(
            f"SELECT feedback_id FROM feedback_index WHERE tenant_id = ? AND {column} = ? "
            "ORDER BY given_at DESC, feedback_id LIMIT ? OFFSET ?",
            (tenant_id, person_id, limit, offset),
        )
        return [UUID(row[0]) for row in rows]

    def open_requests(self, tenant_id: str = "") -> list[IndexedRequest]:
        """Open requests of one tenant, or of every tenant ('')."""
        sql = "SELECT request_id, tenant_id, requester_id, subject_id FROM request_index "
        sql += "WHERE state = ?" + (" AND tenant_id = ?" if tenant_id else "")
        params: tuple[str, ...] = (OPEN, tenant_id) if tenant_id else (OPEN,)
        rows = self.db.read(sql + " ORDER BY request_id", params)
        return [IndexedRequest(UUID(r[0]), r[1], r[2], r[3]) for r in rows]

    def open_requests_of(self, tenant_id: str, person_id: str) -> list[UUID]:
        """Open requests the person made, is the subject of, or was asked to answer."""
        rows = self.db.read(
            "SELECT request_id FROM request_index WHERE state = ? AND tenant_id = ? "
            "AND (requester_id = ? OR subject_id = ? OR request_id IN (SELECT request_id FROM "
            "request_reviewer_index WHERE tenant_id = ? AND reviewer_id = ?)) ORDER BY request_id",
            (OPEN, tenant_id, person_id, person_id, tenant_id, person_id),
        )
        return [UUID(row[0]) for row in rows]

    def one_on_ones_of(self, tenant_id: str, person_id: str) -> list[UUID]:
        """1:1s the person is the manager or the report of."""
        rows = self.db.read(
            "SELECT one_on_one_id FROM one_on_one_index WHERE tenant_id = ? "
            "AND (manager_id = ? OR report_id = ?) ORDER BY one_on_one_id",
            (tenant_id, person_id, person_id),
        )
        return [UUID(row[0]) for row in rows]

    def one_on_one_ids(
        self, tenant_id: str, *, participant: str, person_id: str, offset: int, limit: int
    ) -> list[UUID]:
        """A page of the tenant's 1:1s by manager then report, narrowed to those `participant`
        and `person_id` are each the manager or the report of (either "" narrows nothing)."""
        sql = "SELECT one_on_one_id FROM one_on_one_index WHERE tenant_id = ?"
        params: list[str | int] = [tenant_id]
        for person in (participant, person_id):
            if person:
                sql += " AND (manager_id = ? OR report_id = ?)"
                params += [person, person]
        rows = self.db.read(
            sql + " ORDER BY manager_id, report_id, one_on_one_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [UUID(row[0]) for row in rows]

    def template_ids(
        self, tenant_id: str, *, include_retired: bool, offset: int, limit: int
    ) -> list[UUID]:
        rows = self.db.read(
            "SELECT template_id FROM template_index WHERE tenant_id = ? AND retired <= ? "
            "ORDER BY name, template_id LIMIT ? OFFSET ?",
            (tenant_id, 1 if include_retired else 0, limit, offset),
        )
        return [UUID(row[0]) for row in rows]

    def one_on_ones(self) -> list[tuple[str, UUID]]:
        """(tenant, 1:1 id) of every 1:1."""
        rows = self.db.read(
            "SELECT tenant_id, one_on_one_id FROM one_on_one_index ORDER BY one_on_one_id"
        )
        return [(str(row[0]), UUID(row[1])) for row in rows]

    def one_on_one_of(self, tenant_id: str, manager_id: str, report_id: str) -> UUID | None:
        rows = self.db.read(
            "SELECT one_on_one_id FROM one_on_one_index WHERE tenant_id = ? AND manager_id = ? "
            "AND report_id = ?",
            (tenant_id, manager_id, report_id),
        )
        return UUID(rows[0][0]) if rows else None


def _write(tx: Transaction, aggregate: Aggregate) -> None:
    if isinstance(aggregate, Feedback):
        tx.execute(
            "INSERT INTO feedback_index (feedback_id, tenant_id, giver_id, recipient_id, "
            "given_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (feedback_id) DO NOTHING",
            (
                str(aggregate.id),
                aggregate.tenant_id,
                aggregate.giver_id,
                aggregate.recipient_id,
                aggregate.created_on.isoformat(),
            ),
        )
    elif isinstance(aggregate, FeedbackRequest):
        tx.execute(
            "INSERT INTO request_index (request_id, tenant_id, requester_id, subject_id, state) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET state = excluded.state",
            (
                str(aggregate.id),
                aggregate.tenant_id,
                aggregate.requester_id,
                aggregate.subject_id,
                aggregate.state,
            ),
        )
        for reviewer_id in aggregate.reviewer_ids:
            tx.execute(
                "INSERT INTO request_reviewer_index (request_id, tenant_id, reviewer_id) "
                "VALUES (?, ?, ?) ON CONFLICT (request_id, reviewer_id) DO NOTHING",
                (str(aggregate.id), aggregate.tenant_id, reviewer_id),
            )
    elif isinstance(aggregate, QuestionTemplate):
        tx.execute(
            "INSERT INTO template_index (template_id, tenant_id, name, retired) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (template_id) DO UPDATE SET "
            "retired = excluded.retired",
            (str(aggregate.id), aggregate.tenant_id, aggregate.name, int(aggregate.retired)),
        )
    elif isinstance(aggregate, OneOnOne):
        tx.execute(
            "INSERT INTO one_on_one_index (one_on_one_id, tenant_id, manager_id, report_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (one_on_one_id) DO NOTHING",
            (str(aggregate.id), aggregate.tenant_id, aggregate.manager_id, aggregate.report_id),
        )
