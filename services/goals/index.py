"""The goals service's own lookup index: goals by owner, team, period, and alignment links.

It follows the service's notification log from a tracked position (like the relay), so it can
be rebuilt from the event store at any time; rows are derived from the current aggregate state,
never from a second copy of the domain rules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlparse
from uuid import UUID

from northstar_contracts.progress import SOURCE_KPI
from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.rules import CLOSED_LIFECYCLES
from services.shared.readmodel import ReadModelDatabase, Transaction

logger = logging.getLogger(__name__)
CATCH_UP_ATTEMPTS = 5

INDEX_DDL = (
    """
    CREATE TABLE IF NOT EXISTS goal_index (
        goal_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        level TEXT NOT NULL,
        lifecycle TEXT NOT NULL,
        start_date TEXT NOT NULL,
        due_date TEXT,
        parent_goal_id TEXT,
        title TEXT NOT NULL,
        version BIGINT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS goal_links (
        goal_id TEXT NOT NULL,
        target_goal_id TEXT NOT NULL,
        weight DOUBLE PRECISION NOT NULL,
        is_primary INTEGER NOT NULL,
        PRIMARY KEY (goal_id, target_goal_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS goal_links_target ON goal_links (target_goal_id)",
    # Every link the index has seen, kept when it is removed: the goals that were children of
    # a goal at some past moment are among these (a state at that moment is checked, not this).
    """
    CREATE TABLE IF NOT EXISTS goal_links_seen (
        goal_id TEXT NOT NULL,
        target_goal_id TEXT NOT NULL,
        PRIMARY KEY (goal_id, target_goal_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS goal_links_seen_target ON goal_links_seen (target_goal_id)",
    "INSERT INTO goal_links_seen (goal_id, target_goal_id) "
    "SELECT goal_id, target_goal_id FROM goal_links WHERE TRUE ON CONFLICT DO NOTHING",
    "CREATE INDEX IF NOT EXISTS goal_index_owner ON goal_index (tenant_id, owner_id)",
    "CREATE INDEX IF NOT EXISTS goal_index_team ON goal_index (tenant_id, team_id)",
    """
    CREATE TABLE IF NOT EXISTS goal_template_uses (
        goal_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        template_id TEXT NOT NULL,
        owner_id TEXT NOT NULL,
        lifecycle TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS goal_template_uses_template ON goal_template_uses "
    "(tenant_id, template_id)",
    # Goals measured by a KPI (progress source kpi): whom a KPI's measurement checks in on.
    """
    CREATE TABLE IF NOT EXISTS goal_kpi_links (
        goal_id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        kpi_id TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS goal_kpi_links_kpi ON goal_kpi_links (tenant_id, kpi_id)",
    # Key results measured by a KPI: their goals are checked in on too.
    """
    CREATE TABLE IF NOT EXISTS goal_key_result_kpi_links (
        goal_id TEXT NOT NULL,
        key_result_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        kpi_id TEXT NOT NULL,
        PRIMARY KEY (goal_id, key_result_id)
    )
    """,
    "CREATE INDEX IF NOT EXISTS goal_key_result_kpi_links_kpi "
    "ON goal_key_result_kpi_links (tenant_id, kpi_id)",
    """
    CREATE TABLE IF NOT EXISTS goal_index_position (
        singleton INTEGER PRIMARY KEY,
        notification_id BIGINT NOT NULL
    )
    """,
)


def index_url_for(store_url: str) -> str:
    return sibling_store_url(store_url, "index")


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
class IndexedGoal:
    goal_id: UUID
    owner_id: str
    team_id: str
    level: str
    lifecycle: str
    start_date: date
    due_date: date | None
    title: str


class GoalIndex:
    def __init__(self, app: GoalsApplication, db: ReadModelDatabase, batch_size: int = 500) -> None:
        self.app = app
        self.db = db
        self.batch_size = batch_size
        # Every save catches up in its request's thread: two runs side by side would read the
        # same position, and the slower one would write older goal state over newer.
        self._catch_up_lock = threading.Lock()
        with db.transaction() as tx:
            for statement in INDEX_DDL:
                tx.execute(statement)

    def position(self) -> int:
        row = self.db.read("SELECT notification_id FROM goal_index_position WHERE singleton = 1")
        return int(row[0][0]) if row else 0

    def catch_up(self) -> int:
        """Index every notification after the tracked position; returns how many.

        One run at a time in this process. Replicas sharing the index database may still
        overlap, so a row never goes back to an older goal version and the position never moves
        backwards, and every run locks rows in goal id order, so two runs never deadlock; a
        transaction the database still aborts (a serialisation failure) is run again.
        """
        with self._catch_up_lock:
            attempt = 1
            while True:
                try:
                    return self._catch_up()
                except Exception as error:
                    if attempt >= CATCH_UP_ATTEMPTS or not _is_transient(error):
                        raise
                    logger.warning("goal index catch-up aborted (%s); running it again", error)
                    time.sleep(0.01 * 2**attempt)
                    attempt += 1

    def _catch_up(self) -> int:
        total = 0
        while True:
            start = self.position()
            notifications = self.app.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return total
            # Sorted: writers sharing the index lock its rows in one order, never in each other's
            # reverse (a set's order differs between processes, and two of them deadlocked).
            goal_ids = sorted({UUID(str(n.originator_id)) for n in notifications})
            goals: list[object] = [self.app.repository.get(goal_id) for goal_id in goal_ids]
            with self.db.transaction() as tx:
                for goal in goals:
                    if isinstance(goal, Goal):
                        _write_goal(tx, goal)
                tx.execute(
                    "INSERT INTO goal_index_position (singleton, notification_id) VALUES (1, ?) "
                    "ON CONFLICT (singleton) DO UPDATE SET "
                    "notification_id = excluded.notification_id "
                    "WHERE goal_index_position.notification_id < excluded.notification_id",
                    (notifications[-1].id,),
                )
            total += len(notifications)

    def children_of(self, goal_id: UUID) -> list[tuple[UUID, float]]:
        """Goals aligned to (primary, weight 1) or contributing to (their weight) this goal."""
        rows = self.db.read(
            "SELECT goal_id, weight FROM goal_links WHERE target_goal_id = ? ORDER BY goal_id",
            (str(goal_id),),
        )
        return [(UUID(row[0]), float(row[1])) for row in rows]

    def children_ever(self, goal_id: UUID) -> list[UUID]:
        """Goals that were linked to this goal at any time since the index has seen them."""
        rows = self.db.read(
            "SELECT goal_id FROM goal_links_seen WHERE target_goal_id = ? ORDER BY goal_id",
            (str(goal_id),),
        )
        return [UUID(row[0]) for row in rows]

    def primary_children_by_owner(self, goal_id: UUID) -> dict[str, UUID]:
        """Owner -> goal of the open or completed goals whose primary parent is `goal_id`."""
        rows = self.db.read(
            "SELECT g.owner_id, g.goal_id FROM goal_links l "
            "JOIN goal_index g ON g.goal_id = l.goal_id "
            "WHERE l.target_goal_id = ? AND l.is_primary = 1 AND g.lifecycle NOT IN (?, ?) "
            "ORDER BY g.goal_id",
            (str(goal_id), *CLOSED_LIFECYCLES),
        )
        return {str(owner): UUID(str(goal)) for owner, goal in rows}

    def goals_driven_by_kpi(self, tenant_id: str, kpi_id: UUID) -> list[UUID]:
        """The tenant's goals whose progress source is this KPI, or with a key result whose
        source it is, in goal id order."""
        rows = self.db.read(
            "SELECT goal_id FROM goal_kpi_links WHERE tenant_id = ? AND kpi_id = ? "
            "UNION SELECT goal_id FROM goal_key_result_kpi_links WHERE tenant_id = ? "
            "AND kpi_id = ? ORDER BY goal_id",
            (tenant_id, str(kpi_id), tenant_id, str(kpi_id)),
        )
        return [UUID(str(row[0])) for row in rows]

    def template_uses_by_owner(self, tenant_id: str, template_id: UUID) -> dict[str, UUID]:
        """Owner -> goal of the goals (not cancelled or archived) made from a template."""
        rows = self.db.read(
            "SELECT owner_id, goal_id FROM goal_template_uses "
            "WHERE tenant_id = ? AND template_id = ? AND lifecycle NOT IN (?, ?) "
            "ORDER BY goal_id",
            (tenant_id, str(template_id), *CLOSED_LIFECYCLES),
        )
        return {str(owner): UUID(str(goal)) for owner, goal in rows}

    def list_goals(
        self,
        tenant_id: str,
        *,
        owner_id: str = "",
        team_id: str = "",
        period_start: date | None = None,
        period_end: date | None = None,
        lifecycles: Sequence[str] = (),
        after_goal_id: str = "",
        limit: int = 50,
    ) -> list[IndexedGoal]:
        """Goals of a tenant in goal id order, after `after_goal_id` (keyset pagination)."""
        sql = "SELECT goal_id, owner_id, team_id, level, lifecycle, start_date, due_date, title "
        sql += "FROM goal_index WHERE tenant_id = ? AND goal_id > ?"
        params: list[object] = [tenant_id, after_goal_id]
        if lifecycles:
            sql += f" AND lifecycle IN ({', '.join('?' for _ in lifecycles)})"
            params.extend(lifecycles)
        if owner_id:
            sql += " AND owner_id = ?"
            params.append(owner_id)
        if team_id:
            sql += " AND team_id = ?"
            params.append(team_id)
        if period_end is not None:
            sql += " AND start_date <= ?"
            params.append(period_end.isoformat())
        if period_start is not None:
            sql += " AND (due_date IS NULL OR due_date >= ?)"
            params.append(period_start.isoformat())
        sql += " ORDER BY goal_id LIMIT ?"
        params.append(limit)
        return [_indexed(row) for row in self.db.read(sql, params)]


def _is_transient(error: Exception) -> bool:
    """A PostgreSQL transaction the server rolled back to resolve a conflict (deadlock,
    serialisation failure): running it again succeeds."""
    from psycopg.errors import TransactionRollback

    return isinstance(error, TransactionRollback)


def _write_goal(tx: Transaction, goal: Goal) -> None:
    """Indexes the goal unless a newer (or the same) version of it is indexed already."""
    written = tx.execute(
        "INSERT INTO goal_index (goal_id, tenant_id, owner_id, team_id, level, lifecycle, "
        "start_date, due_date, parent_goal_id, title, version) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (goal_id) DO UPDATE SET "
        "owner_id = excluded.owner_id, team_id = excluded.team_id, level = excluded.level, "
        "lifecycle = excluded.lifecycle, start_date = excluded.start_date, "
        "due_date = excluded.due_date, parent_goal_id = excluded.parent_goal_id, "
        "title = excluded.title, version = excluded.version "
        "WHERE goal_index.version < excluded.version RETURNING goal_id",
        (
            str(goal.id),
            goal.tenant_id,
            goal.owner_id,
            goal.team_id,
            goal.level,
            goal.lifecycle,
            goal.start_date.isoformat(),
            goal.due_date.isoformat() if goal.due_date else None,
            str(goal.parent_goal_id) if goal.parent_goal_id else None,
            goal.title,
            goal.version,
        ),
    )
    if not written:
        return
    if goal.template_id is not None:
        tx.execute(
            "INSERT INTO goal_template_uses (goal_id, tenant_id, template_id, owner_id, lifecycle) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (goal_id) DO UPDATE SET "
            "owner_id = excluded.owner_id, lifecycle = excluded.lifecycle",
            (str(goal.id), goal.tenant_id, str(goal.template_id), goal.owner_id, goal.lifecycle),
        )
    tx.execute("DELETE FROM goal_kpi_links WHERE goal_id = ?", (str(goal.id),))
    if goal.progress_source == SOURCE_KPI and goal.kpi_id is not None:
        tx.execute(
            "INSERT INTO goal_kpi_links (goal_id, tenant_id, kpi_id) VALUES (?, ?, ?)",
            (str(goal.id), goal.tenant_id, str(goal.kpi_id)),
        )
    tx.execute("DELETE FROM goal_key_result_kpi_links WHERE goal_id = ?", (str(goal.id),))
    for key_result in goal.key_results:
        if key_result.progress_source == SOURCE_KPI and key_result.kpi_id is not None:
            tx.execute(
                "INSERT INTO goal_key_result_kpi_links (goal_id, key_result_id, tenant_id, kpi_id)"
                " VALUES (?, ?, ?, ?)",
                (
                    str(goal.id),
                    str(key_result.key_result_id),
                    goal.tenant_id,
                    str(key_result.kpi_id),
                ),
            )
    tx.execute("DELETE FROM goal_links WHERE goal_id = ?", (str(goal.id),))
    links: Sequence[tuple[UUID, float, int]] = [
        *(((goal.parent_goal_id, 1.0, 1),) if goal.parent_goal_id else ()),
        *((target, weight, 0) for target, weight in goal.contributions.items()),
    ]
    for target, weight, is_primary in links:
        tx.execute(
            "INSERT INTO goal_links (goal_id, target_goal_id, weight, is_primary) "
            "VALUES (?, ?, ?, ?)",
            (str(goal.id), str(target), weight, is_primary),
        )
        tx.execute(
            "INSERT INTO goal_links_seen (goal_id, target_goal_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (str(goal.id), str(target)),
        )


def _indexed(row: tuple[object, ...]) -> IndexedGoal:
    return IndexedGoal(
        goal_id=UUID(str(row[0])),
        owner_id=str(row[1]),
        team_id=str(row[2]),
        level=str(row[3]),
        lifecycle=str(row[4]),
        start_date=date.fromisoformat(str(row[5])),
        due_date=date.fromisoformat(str(row[6])) if row[6] else None,
        title=str(row[7]),
    )
