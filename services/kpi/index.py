"""The KPI service's own lookup index: every KPI by tenant, for listing and the overdue check.

It follows the service's notification log from a tracked position (like the relay), so it can
be rebuilt from the event store at any time; rows come from the current aggregate state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import urlparse
from uuid import UUID

from services.kpi.application import KpiApplication
from services.kpi.domain import Kpi
from services.shared.readmodel import ReadModelDatabase

_DDL = (
    """
    CREATE TABLE IF NOT EXISTS kpi_index (
        kpi_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        visibility TEXT NOT NULL,
        objective_goal_id TEXT NOT NULL,
        version BIGINT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS kpi_index_tenant ON kpi_index (tenant_id, kpi_id)",
    """
    CREATE TABLE IF NOT EXISTS kpi_index_position (
        singleton INTEGER PRIMARY KEY,
        notification_id BIGINT NOT NULL
    )
    """,
)


def sibling_store_url(store_url: str, suffix: str) -> str:
    """SQLite: a file beside the event store (no lock contention); PostgreSQL: same database
    (the caller picks its own schema)."""
    parsed = urlparse(store_url)
    if parsed.scheme == "sqlite":
        path = parsed.path
        stem = path[: -len(".db")] if path.endswith(".db") else path
        return f"sqlite://{stem}-{suffix}.db"
    return store_url


@dataclass(frozen=True)
class IndexedKpi:
    kpi_id: UUID
    tenant_id: str
    name: str
    owner_id: str
    visibility: str
    objective_goal_id: str


class KpiIndex:
    def __init__(self, app: KpiApplication, db: ReadModelDatabase, batch_size: int = 500) -> None:
        self.app = app
        self.db = db
        self.batch_size = batch_size
        # One catch-up at a time in this process: two side by side would read the same
        # position, and the slower could write older state over newer.
        self._lock = threading.Lock()
        with db.transaction() as tx:
            for statement in _DDL:
                tx.execute(statement)

    def position(self) -> int:
        rows = self.db.read("SELECT notification_id FROM kpi_index_position WHERE singleton = 1")
        return int(rows[0][0]) if rows else 0

    def catch_up(self) -> int:
        with self._lock:
            total = 0
            while True:
                start = self.position()
                notifications = self.app.recorder.select_notifications(
                    start, self.batch_size, inclusive_of_start=False
                )
                if not notifications:
                    return total
                ids = {UUID(str(n.originator_id)) for n in notifications}
                kpis = [kpi for kpi in (self.app.find(Kpi, i) for i in ids) if kpi is not None]
                with self.db.transaction() as tx:
                    for kpi in kpis:
                        # Replicas sharing the index never move a row back to an older version.
                        tx.execute(
                            "INSERT INTO kpi_index (kpi_id, tenant_id, name, owner_id, "
                            "visibility, objective_goal_id, version) VALUES (?, ?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT (kpi_id) DO UPDATE SET name = excluded.name, "
                            "owner_id = excluded.owner_id, visibility = excluded.visibility, "
                            "objective_goal_id = excluded.objective_goal_id, "
                            "version = excluded.version WHERE kpi_index.version < excluded.version",
                            (
                                str(kpi.id),
                                kpi.tenant_id,
                                kpi.name,
                                kpi.owner_id,
                                kpi.visibility,
                                kpi.objective_goal_id,
                                kpi.version,
                            ),
                        )
                    tx.execute(
                        "INSERT INTO kpi_index_position (singleton, notification_id) "
                        "VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET "
                        "notification_id = excluded.notification_id "
                        "WHERE kpi_index_position.notification_id < excluded.notification_id",
                        (notifications[-1].id,),
                    )
                total += len(notifications)

    def tenants(self) -> list[str]:
        return [str(row[0]) for row in self.db.read("SELECT DISTINCT tenant_id FROM kpi_index")]

    def kpis(self, tenant_id: str, *, after: str = "", limit: int = 500) -> list[IndexedKpi]:
        """The tenant's KPIs ordered by id, after `after` (a KPI id), at most `limit`."""
        rows = self.db.read(
            "SELECT kpi_id, tenant_id, name, owner_id, visibility, objective_goal_id "
            "FROM kpi_index WHERE tenant_id = ? AND kpi_id > ? ORDER BY kpi_id LIMIT ?",
            (tenant_id, after, limit),
        )
        return [IndexedKpi(UUID(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]
