"""The cached tenant graphs over the goals read model, on SQLite and PostgreSQL: after any run of
applied goal events (check-ins, new goals, new links, lifecycles), the graph a query gets equals
the graph read and rolled up from scratch (the contracts' `rollup_progress` over freshly read
rows), another tenant's events leave a tenant's cached graph as it was, and a rebuilt version's
table gets a graph of its own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.projections.alignment import read_nodes
from services.projections.alignment_cache import TenantGraph, TenantGraphs
from services.projections.goals_projection import GoalsProjection
from tests.builders import created, envelope, goal_event, metric
from tests.integration.conftest import NewDatabase
from tests.unit.test_alignment_cache import oracle_progress as progress_of_final_goals

TODAY = date(2026, 6, 1)
GOALS = [str(uuid.UUID(int=n + 1)) for n in range(8)]


def check_in(value: float) -> tuple[str, dict[str, Any]]:
    return goal_event(
        "CheckedIn", value=value, confidence=0.8, note="", by="hr-1", key_result_id=None
    )


def aligned(parent: str) -> tuple[str, dict[str, Any]]:
    return goal_event(
        "Aligned", parent_goal_id=parent, previous_parent_goal_id=None, reason="", by="hr-1"
    )


event_kinds = st.sampled_from(["check_in", "check_in", "check_in", "align", "complete", "new"])


def oracle_progress(projection: GoalsProjection, tenant_id: str) -> dict[uuid.UUID, float]:
    with projection.db.snapshot() as tx:
        goals = read_nodes(tx, projection.alignment, tenant_id)
    return progress_of_final_goals(goals)


def progress_of(graph: TenantGraph) -> dict[uuid.UUID, float]:
    return {goal_id: node.progress for goal_id, node in graph.nodes.items()}


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_the_cached_graph_follows_every_applied_event(
    new_db: NewDatabase, data: st.DataObject
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    graphs = TenantGraphs(db)
    versions: dict[str, int] = {}

    def event(goal_id: str, tenant_id: str, body: tuple[str, dict[str, Any]]) -> Any:
        versions[goal_id] = versions.get(goal_id, 0) + 1
        return envelope(goal_id, versions[goal_id], body, tenant_id=tenant_id)

    def create(goal_id: str, parent: str | None, tenant_id: str = "acme") -> list[Any]:
        body = created(goal_id[-4:], parent_goal_id=parent, measure=metric(10.0))
        body[1]["tenant_id"] = tenant_id
        return [
            event(goal_id, tenant_id, body),
            event(goal_id, tenant_id, goal_event("Activated", by="hr-1")),
        ]

    existing = GOALS[:3]
    first = [e for i, g in enumerate(existing) for e in create(g, existing[i - 1] if i else None)]
    asyncio.run(projection.apply_batch(first))
    graph = graphs.graph(projection.alignment, "acme", TODAY)
    assert progress_of(graph) == oracle_progress(projection, "acme")

    other_goal = str(uuid.uuid4())
    for _step in range(data.draw(st.integers(1, 5), label="batches")):
        batch: list[Any] = []
        for kind in data.draw(st.lists(event_kinds, min_size=1, max_size=4), label="events"):
            goal_id = data.draw(st.sampled_from(existing))
            if kind == "check_in":
                batch.append(
                    event(goal_id, "acme", check_in(data.draw(st.sampled_from([0.0, 3.0, 10.0]))))
                )
            elif kind == "complete":
                batch.append(event(goal_id, "acme", goal_event("Completed", by="hr-1")))
            elif kind == "align":
                parent = data.draw(
                    st.sampled_from(existing[: existing.index(goal_id)] or [goal_id])
                )
                if parent != goal_id:
                    batch.append(event(goal_id, "acme", aligned(parent)))
            elif len(existing) < len(GOALS):
                new = GOALS[len(existing)]
                batch += create(new, data.draw(st.sampled_from(existing)))
                existing.append(new)
        asyncio.run(projection.apply_batch(batch))
        graph = graphs.graph(projection.alignment, "acme", TODAY)
        assert progress_of(graph) == oracle_progress(projection, "acme")
        assert set(graph.nodes) == {uuid.UUID(g) for g in existing}

        # Another tenant's events change nothing of this tenant's graph: the same one is served.
        kept = graph
        asyncio.run(projection.apply_batch(create(other_goal, None, tenant_id="globex")))
        other_goal = str(uuid.uuid4())
        assert graphs.graph(projection.alignment, "acme", TODAY) is kept


def test_a_graph_is_kept_per_table_and_per_day(new_db: NewDatabase) -> None:
    db = new_db()
    live, rebuilt = GoalsProjection(db), GoalsProjection(db, name="goals-v2")
    graphs = TenantGraphs(db)
    goal_id = GOALS[0]
    history = [
        envelope(goal_id, 1, created("Grow", measure=metric(10.0))),
        envelope(goal_id, 2, goal_event("Activated", by="hr-1")),
        envelope(goal_id, 3, check_in(5.0)),
    ]
    asyncio.run(live.apply_batch(history))
    asyncio.run(rebuilt.apply_batch(history[:2]))
    (node,) = graphs.graph(live.alignment, "acme", TODAY).nodes.values()
    (other,) = graphs.graph(rebuilt.alignment, "acme", TODAY).nodes.values()
    assert (node.progress, other.progress) == (0.5, 0.0)
    later = graphs.graph(live.alignment, "acme", date(2027, 1, 1))
    (late,) = later.nodes.values()
    assert (late.status, node.status) != ("", "")
    assert later.today == date(2027, 1, 1)
    assert graphs.graph(live.alignment, "acme", TODAY).today == TODAY


@pytest.mark.parametrize("capacity", [1])
def test_a_full_cache_forgets_the_least_recently_used_tenant(
    new_db: NewDatabase, capacity: int
) -> None:
    db = new_db()
    projection = GoalsProjection(db)
    graphs = TenantGraphs(db, capacity=capacity)
    for number, tenant_id in enumerate(("acme", "globex")):
        body = created("Grow", measure=metric(10.0))
        body[1]["tenant_id"] = tenant_id
        asyncio.run(projection.apply(envelope(GOALS[number], 1, body, tenant_id=tenant_id)))
    acme = graphs.graph(projection.alignment, "acme", TODAY)
    graphs.graph(projection.alignment, "globex", TODAY)
    again = graphs.graph(projection.alignment, "acme", TODAY)
    assert again is not acme
    assert progress_of(again) == progress_of(acme)
