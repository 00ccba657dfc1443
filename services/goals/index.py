"""The goals service's own lookup index: goals by owner, team, period, alignment links, and
what roll-ups need of each goal (services.goals.index_rows).

Every save writes the rows of the goals it saved, from the aggregates in hand, right after the
events are stored. Replicas sharing the index (PostgreSQL) thus see each other's goals at once.
A write that never happened (a crash between the save and it, a failed write) is made good by
following the notification log from a tracked position, like the relay: at start and then in
the background, so the index can be rebuilt from the event store at any time. Rows are derived
from the current aggregate state, never from a second copy of the domain rules.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar
from urllib.parse import urlparse
from uuid import UUID

from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.index_rows import create_tables, write_goal
from services.goals.rules import CLOSED_LIFECYCLES
from services.shared.readmodel import ReadModelDatabase

logger = logging.getLogger(__name__)
CATCH_UP_ATTEMPTS = 5
FOLLOW_INTERVAL_SECONDS = 1.0
T = TypeVar("T")


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


RollUpLink = tuple[str, str, float, float | None, int]
"""A link a roll-up follows: parent id, child id, weight, and what the child adds: its own
progress (None when its children drive it) and 1 when its children drive it, else 0. Ids stay
text: a roll-up of a large tree would spend most of its time making UUIDs."""


class GoalIndex:
    def __init__(
        self,
        app: GoalsApplication,
        db: ReadModelDatabase,
        batch_size: int = 500,
        *,
        follow_saves: bool = True,
    ) -> None:
        """`follow_saves`: write the rows of every goal the application saves (the service
        does); without it only `catch_up` fills the index."""
        self.app = app
        self.db = db
        self.batch_size = batch_size
        # Two catch-ups side by side would read the same position, and the slower one would
        # write older goal state over newer.
        self._catch_up_lock = threading.Lock()
        self._following: threading.Thread | None = None
        self._stop_following = threading.Event()
        create_tables(db)
        if follow_saves:
            app.goals_saved.append(self.record)

    def position(self) -> int:
        row = self.db.read("SELECT notification_id FROM goal_index_position WHERE singleton = 1")
        return int(row[0][0]) if row else 0

    def record(self, goals: Sequence[Goal]) -> None:
        """Indexes goals just saved, in one transaction (rows locked in goal id order). It does
        not move the position: a save with an earlier notification id may not be indexed yet."""
        ordered = sorted(goals, key=lambda goal: goal.id)

        def write() -> None:
            with self.db.transaction() as tx:
                for goal in ordered:
                    write_goal(tx, goal)

        _retrying(write, "goal index write")

    def catch_up(self) -> int:
        """Index every notification after the tracked position; returns how many.

        Goals already indexed at (or past) a notification's version are not loaded again, so
        following a log the saves have indexed costs a read of the log and one query per batch.
        One run at a time in this process. Replicas sharing the index database may still
        overlap, so a row never goes back to an older goal version and the position never moves
        backwards, and every run locks rows in goal id order, so two runs never deadlock; a
        transaction the database still aborts (a serialisation failure) is run again.
        """
        with self._catch_up_lock:
            return _retrying(self._catch_up, "goal index catch-up")

    def start_following(self, interval_seconds: float = FOLLOW_INTERVAL_SECONDS) -> None:
        """Catches up every `interval_seconds` on a thread of its own, until stop_following."""

        def follow() -> None:
            while not self._stop_following.wait(interval_seconds):
                try:
                    self.catch_up()
                except Exception:
                    logger.exception("goal index catch-up failed; trying again")

        self._stop_following.clear()
        self._following = threading.Thread(target=follow, name="goal-index", daemon=True)
        self._following.start()

    def stop_following(self) -> None:
        self._stop_following.set()
        if self._following is not None:
            self._following.join()
            self._following = None

    def _catch_up(self) -> int:
        total = 0
        while True:
            start = self.position()
            notifications = self.app.recorder.select_notifications(
                start, self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return total
            latest: dict[UUID, int] = {}
            for notification in notifications:
                goal_id = UUID(str(notification.originator_id))
                latest[goal_id] = max(latest.get(goal_id, 0), notification.originator_version)
            indexed = self._indexed_versions(list(latest))
            # Sorted: writers sharing the index lock its rows in one order, never in each other's
            # reverse (a set's order differs between processes, and two of them deadlocked).
            behind = sorted(g for g, version in latest.items() if indexed.get(g, 0) < version)
            goals: list[object] = [self.app.repository.get(goal_id) for goal_id in behind]
            with self.db.transaction() as tx:
                for goal in goals:
                    if isinstance(goal, Goal):
                        write_goal(tx, goal)
                tx.execute(
                    "INSERT INTO goal_index_position (singleton, notification_id) VALUES (1, ?) "
                    "ON CONFLICT (singleton) DO UPDATE SET "
                    "notification_id = excluded.notification_id "
                    "WHERE goal_index_position.notification_id < excluded.notification_id",
                    (notifications[-1].id,),
                )
            total += len(notifications)

    def _indexed_versions(self, goal_ids: Sequence[UUID]) -> dict[UUID, int]:
        if not goal_ids:
            return {}
        rows = self.db.read(
            "SELECT goal_id, version FROM goal_index "
            f"WHERE goal_id IN ({', '.join('?' for _ in goal_ids)})",
            [str(goal_id) for goal_id in goal_ids],
        )
        return {UUID(str(goal_id)): int(version) for goal_id, version in rows}

    def roll_up_links(self, tenant_id: str, goal_id: UUID) -> list[RollUpLink]:
        """Every link below `goal_id` its roll-up follows, in one recursive query: the goal's own
        links, then those of each child of the tenant that its children drive, and so on (a goal
        measured by its own progress ends the walk). Parent, then child, in id order."""
        links = (
            "SELECT l.target_goal_id, l.goal_id, l.weight, c.own_progress, c.driven_by_children "
            "FROM goal_links l JOIN goal_index c ON c.goal_id = l.goal_id"
        )
        # A link met again (a shared child, a loop) is the same row: UNION keeps it once, so
        # the walk ends even on a loop.
        rows = self.db.read(
            "WITH RECURSIVE below (parent_id, goal_id, weight, own_progress, driven) AS ("
            f"{links} WHERE l.target_goal_id = ? AND c.tenant_id = ?"
            " UNION "
            f"{links} JOIN below b ON l.target_goal_id = b.goal_id"
            " WHERE b.driven = 1 AND c.tenant_id = ?"
            ") SELECT parent_id, goal_id, weight, own_progress, driven FROM below "
            "ORDER BY parent_id, goal_id",
            (str(goal_id), tenant_id, tenant_id),
        )
        return [
            (str(p), str(c), float(w), None if own is None else float(own), int(d))
            for p, c, w, own, d in rows
        ]

    def ancestor_levels(self, goal: Goal) -> list[str]:
        """Levels on the goal's primary-parent path upwards, the tenant's goals only, each goal
        once (for the SMART 'Relevant' check)."""
        tenant_id, parent_goal_id = goal.tenant_id, goal.parent_goal_id
        levels: list[str] = []
        seen: set[UUID] = {goal.id}
        while parent_goal_id is not None and parent_goal_id not in seen:
            seen.add(parent_goal_id)
            rows = self.db.read(
                "SELECT level, parent_goal_id FROM goal_index WHERE goal_id = ? AND tenant_id = ?",
                (str(parent_goal_id), tenant_id),
            )
            if not rows:
                break
            levels.append(str(rows[0][0]))
            parent_goal_id = UUID(str(rows[0][1])) if rows[0][1] else None
        return levels

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


def _retrying(run: Callable[[], T], what: str) -> T:
    attempt = 1
    while True:
        try:
            return run()
        except Exception as error:
            if attempt >= CATCH_UP_ATTEMPTS or not _is_transient(error):
                raise
            logger.warning("%s aborted (%s); running it again", what, error)
            time.sleep(0.01 * 2**attempt)
            attempt += 1


def _is_transient(error: Exception) -> bool:
    """A PostgreSQL transaction the server rolled back to resolve a conflict (deadlock,
    serialisation failure): running it again succeeds."""
    from psycopg.errors import TransactionRollback

    return isinstance(error, TransactionRollback)


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
