"""An alignment table made before progress sources (and key result sources) gains the columns on
start, on SQLite and on PostgreSQL, and keeps its rows; a goal's next event fills them in."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.projections.alignment import (
    _DDL,
    ensure_alignment_tables,
    tenant_graph,
    upsert_goal_node,
)
from services.shared.readmodel import ReadModelDatabase

OLD_DDL = _DDL.replace(",\n    progress_source TEXT NOT NULL DEFAULT ''", "").replace(
    ",\n    key_result_sources_json TEXT NOT NULL DEFAULT '[]'", ""
)
STATE: dict[str, Any] = {
    "tenant_id": "acme", "title": "Grow", "level": "company", "owner_id": "hr-1", "team_id": "",
    "visibility": "public", "lifecycle": "active", "outcome": None, "parent_goal_id": None,
    "contributions": [], "metric": {"kind": "number", "direction": "increase", "start": 0,
    "target": 10, "unit": "", "current": 5}, "key_results": [{"key_result_id": "kr-1",
    "title": "Leads", "metric": {"kind": "number", "direction": "increase", "start": 0,
    "target": 10, "unit": "", "current": 5}, "weight": 1.0, "progress_source": "kpi",
    "kpi_id": "kpi-1"}], "start_date": "2026-01-01",
    "due_date": None, "confidence": None, "progress_source": None,
}  # fmt: skip
GOAL = "3f1b6c9e-0a7d-4d6e-9a51-0d3b8f7a2c10"


def test_an_old_alignment_table_gains_the_progress_source_column(store_url: str) -> None:
    db = ReadModelDatabase(store_url, schema="projections")
    try:
        table = "goals_v1_alignment_goals"
        assert "progress_source" not in OLD_DDL
        assert "key_result_sources_json" not in OLD_DDL
        with db.transaction() as tx:
            tx.execute(OLD_DDL.format(table=table))
            tx.execute(
                f"INSERT INTO {table} VALUES "
                "(?, 'acme', 'Old', 'company', 'hr-1', '', 'public', 'active', NULL, NULL, '[]', "
                "0.5, 1, 0, '2026-01-01', NULL, NULL, 3)",
                (GOAL,),
            )
        ensure_alignment_tables(db, table)
        ensure_alignment_tables(db, table)  # a second start changes nothing
        (node,) = tenant_graph(db, table, "acme", date(2026, 6, 1)).values()
        assert (node.title, node.progress_source, node.own_progress) == ("Old", "", 0.5)
        assert node.key_result_sources == []
        with db.transaction() as tx:
            upsert_goal_node(tx, table, GOAL, 4, STATE)
        (node,) = tenant_graph(db, table, "acme", date(2026, 6, 1)).values()
        assert (node.progress_source, node.progress) == ("key_results", 0.5)
        assert node.key_result_sources == [("kr-1", "kpi", "kpi-1")]
    finally:
        db.close()
