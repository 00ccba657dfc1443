"""Alignment view: strategy -> objectives -> team and personal goals, with weighted roll-up.

One row per goal holds what the tree needs (folded from the goal's public events); the tree,
its roll-up progress and statuses are computed at query time over the tenant's goal graph with
the goals service's own progress maths, so both services agree on every number.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from northstar_contracts.alignment import without_cycle_links
from northstar_contracts.progress import (
    GUARDRAIL_DIRECTIONS,
    derive_status,
    expected_progress_at,
    rollup_progress,
)
from services.projections.goal_state import (
    driven_by_children,
    key_result_source,
    own_progress,
    progress_source,
)
from services.shared.readmodel import ReadModelDatabase, Row, Transaction

ALIGNMENT_TABLE = "alignment_goals"
"""Unprefixed: the view over the live version's table (the version's own table is prefixed)."""

_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    goal_id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    title TEXT NOT NULL,
    level TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    team_id TEXT NOT NULL,
    visibility TEXT NOT NULL,
    lifecycle TEXT NOT NULL,
    outcome TEXT,
    parent_goal_id TEXT,
    contributions_json TEXT NOT NULL,
    own_progress DOUBLE PRECISION,
    measured_by_own INTEGER NOT NULL,
    guardrail INTEGER NOT NULL,
    start_date TEXT NOT NULL,
    due_date TEXT,
    confidence DOUBLE PRECISION,
    version BIGINT NOT NULL,
    progress_source TEXT NOT NULL DEFAULT '',
    key_result_sources_json TEXT NOT NULL DEFAULT '[]'
)
"""
_INDEX_DDL = "CREATE INDEX IF NOT EXISTS {table}_tenant ON {table} (tenant_id)"
# Covers a tenant's (goal, version) pairs: what a cached tree compares to see what changed.
_VERSIONS_INDEX_DDL = (
    "CREATE INDEX IF NOT EXISTS {table}_tenant_versions ON {table} (tenant_id, goal_id, version)"
)
_COLUMNS = (
    "goal_id, tenant_id, title, level, owner_id, team_id, visibility, lifecycle, outcome, "
    "parent_goal_id, contributions_json, own_progress, measured_by_own, guardrail, start_date, "
    "due_date, confidence, version, progress_source, key_result_sources_json"
)
# Columns added after the first release: a table made before gains them on start.
_ADDED_COLUMNS = {
    # Rows written before say '' until rewritten.
    "progress_source": "TEXT NOT NULL DEFAULT ''",
    # Rows written before list no key result sources until rewritten.
    "key_result_sources_json": "TEXT NOT NULL DEFAULT '[]'",
}


def alignment_table(prefix: str) -> str:
    return f"{prefix}{ALIGNMENT_TABLE}"


def ensure_alignment_tables(db: ReadModelDatabase, table: str) -> None:
    with db.transaction() as tx:
        tx.execute(_DDL.format(table=table))
        tx.execute(_INDEX_DDL.format(table=table))
        tx.execute(_VERSIONS_INDEX_DDL.format(table=table))
        present = _columns(tx, db.engine, table)
        for column, definition in _ADDED_COLUMNS.items():
            if column not in present:
                tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


def _columns(tx: Transaction, engine: str, table: str) -> set[str]:
    if engine == "sqlite":
        return {str(row[1]) for row in tx.execute(f"PRAGMA table_info({table})")}
    rows = tx.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ?",
        (table,),
    )
    return {str(row[0]) for row in rows}


def _row_values(goal_id: str, version: int, state: Mapping[str, Any]) -> tuple[Any, ...]:
    """A goal's alignment row (in `_COLUMNS` order) from its folded state."""
    metric = state.get("metric") or {}
    return (
        goal_id,
        state["tenant_id"],
        state["title"],
        state["level"],
        state["owner_id"],
        state["team_id"],
        state["visibility"],
        state["lifecycle"],
        state.get("outcome"),
        state.get("parent_goal_id"),
        json.dumps(state.get("contributions") or []),
        own_progress(state),
        # Column name kept from before progress sources: "not driven by its children".
        int(not driven_by_children(state)),
        int(metric.get("direction") in GUARDRAIL_DIRECTIONS and not state.get("key_results")),
        state["start_date"],
        state.get("due_date"),
        state.get("confidence"),
        version,
        progress_source(state),
        json.dumps(
            [
                [kr["key_result_id"], key_result_source(kr), kr.get("kpi_id")]
                for kr in state.get("key_results") or []
            ]
        ),
    )


def node_from_state(goal_id: str, version: int, state: Mapping[str, Any]) -> GoalNode:
    """The graph node of a goal as its folded state says (e.g. a state at a past moment)."""
    return _node(_row_values(goal_id, version, state))


@functools.cache
def _upsert_sql(table: str) -> str:
    """The row's upsert into `table` (built once per table: it runs for every applied event)."""
    columns = _COLUMNS.split(", ")
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    placeholders = ", ".join("?" * len(columns))
    return (
        f"INSERT INTO {table} ({_COLUMNS}) VALUES ({placeholders}) "
        f"ON CONFLICT (goal_id) DO UPDATE SET {updates}"
    )


def upsert_goal_node(
    tx: Transaction, table: str, goal_id: str, version: int, state: Mapping[str, Any]
) -> None:
    tx.execute(_upsert_sql(table), _row_values(goal_id, version, state))


def defer_goal_node(
    tx: Transaction, table: str, goal_id: str, version: int, state: Mapping[str, Any]
) -> None:
    """`upsert_goal_node` held back until the transaction's deferred writes are sent, keyed by
    the goal: a later event of the same goal in the batch replaces it, so the row and its
    derived inputs (own progress, sources, encoded links) are computed once per goal per batch,
    for its last state. The state must not change afterwards (folds return new states)."""
    tx.defer(_upsert_sql(table), lambda: _row_values(goal_id, version, state), key=goal_id)


@dataclass
class GoalNode:
    goal_id: UUID
    tenant_id: str
    title: str
    level: str
    owner_id: str
    team_id: str
    visibility: str
    lifecycle: str
    outcome: str | None
    parent_goal_id: UUID | None
    contributes_to: list[tuple[UUID, float]]
    own_progress: float | None
    measured_by_own: bool
    guardrail: bool
    start_date: date
    due_date: date | None
    confidence: float | None
    version: int
    progress_source: str = ""
    # (key result id, its source, its KPI id or None), in the order they were added.
    key_result_sources: list[tuple[str, str, str | None]] = field(default_factory=list)
    progress: float = 0.0
    status: str = ""
    depth: int = 0
    child_links: list[tuple[UUID, float]] = field(default_factory=list)
    uses_children: bool = False

    @property
    def child_goal_ids(self) -> list[UUID]:
        return [child for child, _ in self.child_links]

    def expected_progress(self, today: date) -> float:
        if self.guardrail:
            # A guardrail must hold for the whole period, from its first day on.
            return 0.0 if today < self.start_date else 1.0
        return expected_progress_at(self.start_date, self.due_date, today)


def _node(row: Sequence[Any]) -> GoalNode:
    return GoalNode(
        goal_id=UUID(row[0]),
        tenant_id=row[1],
        title=row[2],
        level=row[3],
        owner_id=row[4],
        team_id=row[5],
        visibility=row[6],
        lifecycle=row[7],
        outcome=row[8],
        parent_goal_id=UUID(row[9]) if row[9] else None,
        contributes_to=[(UUID(c["goal_id"]), float(c["weight"])) for c in json.loads(row[10])],
        own_progress=None if row[11] is None else float(row[11]),
        measured_by_own=bool(row[12]),
        guardrail=bool(row[13]),
        start_date=date.fromisoformat(row[14]),
        due_date=date.fromisoformat(row[15]) if row[15] else None,
        confidence=None if row[16] is None else float(row[16]),
        version=int(row[17]),
        progress_source=str(row[18] or ""),
        key_result_sources=[(kr, source, kpi) for kr, source, kpi in json.loads(row[19] or "[]")],
    )


def tenant_graph(
    db: ReadModelDatabase, table: str, tenant_id: str, today: date
) -> dict[UUID, GoalNode]:
    """Every goal of the tenant with its rolled-up progress, status and children."""
    with db.snapshot() as tx:
        nodes = read_nodes(tx, table, tenant_id)
    return link_graph(nodes, today)


def read_nodes(
    tx: Transaction, table: str, tenant_id: str, goal_ids: Sequence[str] = ()
) -> dict[UUID, GoalNode]:
    """The tenant's goals (or only those of `goal_ids`), unlinked, in goal id order."""
    if goal_ids:
        rows: list[Row] = []
        for start in range(0, len(goal_ids), _IDS_PER_QUERY):
            chunk = goal_ids[start : start + _IDS_PER_QUERY]
            rows += tx.execute(
                f"SELECT {_COLUMNS} FROM {table} WHERE tenant_id = ? "
                f"AND goal_id IN ({', '.join('?' * len(chunk))})",
                (tenant_id, *chunk),
            )
    else:
        rows = tx.execute(f"SELECT {_COLUMNS} FROM {table} WHERE tenant_id = ?", (tenant_id,))
    # Sorted here, not by the engine: collations order ids differently.
    ordered = sorted(map(_node, rows), key=lambda node: str(node.goal_id))
    return {node.goal_id: node for node in ordered}


_IDS_PER_QUERY = 500


def read_versions(tx: Transaction, table: str, tenant_id: str) -> dict[str, int]:
    """Each of the tenant's goals and the version its row holds."""
    rows = tx.execute(f"SELECT goal_id, version FROM {table} WHERE tenant_id = ?", (tenant_id,))
    return {str(goal_id): int(version) for goal_id, version in rows}


def tenant_fingerprint(tx: Transaction, table: str, tenant_id: str) -> tuple[int, int]:
    """(rows, sum of their versions): an applied event raises its goal's version and a new
    goal adds a row, so any change to the tenant's rows changes this pair."""
    row = tx.one(
        f"SELECT COUNT(*), COALESCE(SUM(version), 0) FROM {table} WHERE tenant_id = ?",
        (tenant_id,),
    )
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


def link_graph(nodes: dict[UUID, GoalNode], today: date) -> dict[UUID, GoalNode]:
    """Fills in each node's children, rolled-up progress and status (in place; returns nodes)."""
    link_nodes(nodes, children_links(nodes), today)
    return nodes


def children_links(nodes: Mapping[UUID, GoalNode]) -> dict[UUID, list[tuple[UUID, float]]]:
    """Every goal's (child, weight) links within `nodes`: primary children (weight 1) and
    contributors, loop-closing links included."""
    children_of: dict[UUID, list[tuple[UUID, float]]] = {}
    for node in nodes.values():
        links = [(node.parent_goal_id, 1.0)] if node.parent_goal_id else []
        for target, weight in links + node.contributes_to:
            if target in nodes:
                children_of.setdefault(target, []).append((node.goal_id, weight))
    return children_of


def link_nodes(
    nodes: Mapping[UUID, GoalNode],
    children_of: Mapping[UUID, Sequence[tuple[UUID, float]]],
    today: date,
) -> list[tuple[UUID, UUID]]:
    """`link_graph` given the links; returns the loop-closing links the tree leaves out."""
    progress = rollup_progress(
        nodes,
        {g: n.own_progress for g, n in nodes.items() if n.own_progress is not None},
        children_of,
        measured_by_own={g for g, n in nodes.items() if n.measured_by_own},
    )
    # Progress uses the raw links (rollup_progress ignores loop-closing links itself, so the
    # numbers match the goals service); the tree's shape leaves those same links out.
    acyclic_children_of, ignored = without_cycle_links(children_of)
    for goal_id, node in nodes.items():
        node.progress = progress[goal_id]
        node.child_links = acyclic_children_of.get(goal_id, [])
        settle_status(node, today)
    return ignored


def rolls_up_from_children(node: GoalNode) -> bool:
    """The rule rollup_progress applies: a goal with children rolls up from them unless it is
    measured by its own measure and that measure exists."""
    return bool(node.child_links) and not (node.measured_by_own and node.own_progress is not None)


def settle_status(node: GoalNode, today: date) -> None:
    """The node's `uses_children` and status from its links, progress and lifecycle."""
    node.uses_children = rolls_up_from_children(node)
    lifecycle = node.outcome if node.lifecycle == "archived" else node.lifecycle
    node.status = derive_status(
        lifecycle=lifecycle or "cancelled",
        actual=node.progress,
        expected=node.expected_progress(today),
        confidence=node.confidence,
    )
