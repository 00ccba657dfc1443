"""The goal index's tables and how one goal's current state becomes its rows.

Besides the lookups (owner, team, period, template, KPI, links), each goal's row holds what its
parents' roll-ups need of it: its own progress under its progress source and whether its
children drive it, so a roll-up reads index rows instead of loading every goal below.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from northstar_contracts.progress import SOURCE_KPI
from services.goals.goal import Goal
from services.shared.readmodel import ReadModelDatabase, Transaction

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
        version BIGINT NOT NULL,
        own_progress DOUBLE PRECISION,
        driven_by_children INTEGER NOT NULL DEFAULT 0
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

# Columns added after the first release of the index: (name, SQL type and default).
ROLL_UP_COLUMNS = (
    ("own_progress", "DOUBLE PRECISION"),
    ("driven_by_children", "INTEGER NOT NULL DEFAULT 0"),
)


def create_tables(db: ReadModelDatabase) -> None:
    """Creates the tables; an index made before the roll-up columns gets them, and is then
    rebuilt from the notification log (its rows and position reset), so every row holds them."""
    with db.transaction() as tx:
        for statement in INDEX_DDL:
            tx.execute(statement)
        missing = [
            (name, definition)
            for name, definition in ROLL_UP_COLUMNS
            if name not in _goal_index_columns(db, tx)
        ]
        for name, definition in missing:
            tx.execute(f"ALTER TABLE goal_index ADD COLUMN {name} {definition}")
        if missing:
            tx.execute("UPDATE goal_index SET version = 0")
            tx.execute("DELETE FROM goal_index_position")


def _goal_index_columns(db: ReadModelDatabase, tx: Transaction) -> set[str]:
    if db.engine == "sqlite":
        return {str(row[1]) for row in tx.execute("PRAGMA table_info(goal_index)")}
    rows = tx.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'goal_index' AND table_schema = current_schema()"
    )
    return {str(row[0]) for row in rows}


def write_goal(tx: Transaction, goal: Goal) -> None:
    """Indexes the goal unless a newer (or the same) version of it is indexed already."""
    written = tx.execute(
        "INSERT INTO goal_index (goal_id, tenant_id, owner_id, team_id, level, lifecycle, "
        "start_date, due_date, parent_goal_id, title, version, own_progress, driven_by_children) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (goal_id) DO UPDATE SET "
        "owner_id = excluded.owner_id, team_id = excluded.team_id, level = excluded.level, "
        "lifecycle = excluded.lifecycle, start_date = excluded.start_date, "
        "due_date = excluded.due_date, parent_goal_id = excluded.parent_goal_id, "
        "title = excluded.title, version = excluded.version, "
        "own_progress = excluded.own_progress, driven_by_children = excluded.driven_by_children "
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
            goal.own_progress(),
            1 if goal.driven_by_children else 0,
        ),
    )
    if not written:
        return
    # The rest reads nothing back: sent at commit, on PostgreSQL all in one round trip (its
    # statements in the order written here, so each goal's old links go before its new ones).
    if goal.template_id is not None:
        tx.defer(
            "INSERT INTO goal_template_uses (goal_id, tenant_id, template_id, owner_id, lifecycle) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (goal_id) DO UPDATE SET "
            "owner_id = excluded.owner_id, lifecycle = excluded.lifecycle",
            (str(goal.id), goal.tenant_id, str(goal.template_id), goal.owner_id, goal.lifecycle),
        )
    tx.defer("DELETE FROM goal_kpi_links WHERE goal_id = ?", (str(goal.id),))
    if goal.progress_source == SOURCE_KPI and goal.kpi_id is not None:
        tx.defer(
            "INSERT INTO goal_kpi_links (goal_id, tenant_id, kpi_id) VALUES (?, ?, ?)",
            (str(goal.id), goal.tenant_id, str(goal.kpi_id)),
        )
    tx.defer("DELETE FROM goal_key_result_kpi_links WHERE goal_id = ?", (str(goal.id),))
    for key_result in goal.key_results:
        if key_result.progress_source == SOURCE_KPI and key_result.kpi_id is not None:
            tx.defer(
                "INSERT INTO goal_key_result_kpi_links (goal_id, key_result_id, tenant_id, kpi_id)"
                " VALUES (?, ?, ?, ?)",
                (
                    str(goal.id),
                    str(key_result.key_result_id),
                    goal.tenant_id,
                    str(key_result.kpi_id),
                ),
            )
    tx.defer("DELETE FROM goal_links WHERE goal_id = ?", (str(goal.id),))
    links: Sequence[tuple[UUID, float, int]] = [
        *(((goal.parent_goal_id, 1.0, 1),) if goal.parent_goal_id else ()),
        *((target, weight, 0) for target, weight in goal.contributions.items()),
    ]
    for target, weight, is_primary in links:
        tx.defer(
            "INSERT INTO goal_links (goal_id, target_goal_id, weight, is_primary) "
            "VALUES (?, ?, ?, ?)",
            (str(goal.id), str(target), weight, is_primary),
        )
        tx.defer(
            "INSERT INTO goal_links_seen (goal_id, target_goal_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (str(goal.id), str(target)),
        )
