"""Alignment queries filtered by a period, on SQLite and PostgreSQL: a goal counts when its own
start-to-due span overlaps the period (both ends inclusive, no due date = open-ended); the tree
keeps a matching goal's ancestors as context, the summary counts only the matching goals."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from northstar.projections.v1 import projections_pb2 as pb
from services.projections.api_alignment import AlignmentQueries
from services.projections.api_support import ReadContext
from services.projections.goals_projection import GoalsProjection
from services.shared.auth import HR_ADMIN, Principal, reset_current_principal, set_current_principal
from tests.builders import envelope, goal_event
from tests.integration.conftest import STORES, read_model_databases

TODAY = date(2026, 6, 1)
HR = Principal("hr-1", "acme", frozenset({HR_ADMIN}))


class OneVersion:
    """The live versions a query reads: here only the goals read model's first one."""

    def __init__(self, projection: GoalsProjection) -> None:
        self.projection = projection

    def live_name(self, read_model: str) -> str:
        return self.projection.name

    def live_names(self) -> list[str]:
        return [self.projection.name]


GOALS: dict[str, tuple[str, str, str | None, str | None]] = {
    # title: (level, start, due, parent title)
    "Strategy 2026": ("strategy", "2026-01-01", "2026-12-31", None),
    "First half push": ("company", "2026-01-01", "2026-06-30", "Strategy 2026"),
    "Q3 launch": ("team", "2026-07-01", "2026-09-30", "Strategy 2026"),
    "Last year's plan": ("company", "2025-01-01", "2025-12-31", None),
    "Carried over": ("personal", "2026-01-01", "2026-03-31", "Last year's plan"),
    "Keep the lights on": ("team", "2024-01-01", None, None),
    "Next year": ("company", "2027-01-01", "2027-12-31", None),
}


def goal_id(title: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, title))


@pytest.fixture(params=STORES)
def queries(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AlignmentQueries]:
    with read_model_databases(request, tmp_path) as new_database:
        projection = GoalsProjection(new_database())
        for title, (level, start, due, parent) in GOALS.items():
            created = goal_event(
                "Created",
                tenant_id="acme",
                title=title,
                description="",
                owner_id="owner-1",
                team_id="team-a",
                level=level,
                start_date=start,
                due_date=due,
                metric=None,
                parent_goal_id=goal_id(parent) if parent else None,
                visibility="public",
                created_by="hr-1",
                measured_by_own_metric=False,
                recurring=False,
                template_id=None,
                previous_goal_id=None,
            )
            asyncio.run(projection.apply(envelope(goal_id(title), 1, created)))
            activated = goal_event("Activated", by="hr-1")
            asyncio.run(projection.apply(envelope(goal_id(title), 2, activated)))
        context = ReadContext(projection.db, OneVersion(projection), 1.0, lambda: TODAY)
        yield AlignmentQueries(context, lambda tenant_id, team_id: "")


@pytest.fixture(autouse=True)
def as_hr_admin() -> Iterator[None]:
    token = set_current_principal(HR)
    yield
    reset_current_principal(token)


async def tree_titles(queries: AlignmentQueries, start: str = "", end: str = "") -> set[str]:
    tree = await queries.tree(pb.GetAlignmentTreeRequest(period_start=start, period_end=end))
    assert tree.total_size == len(tree.nodes)
    return {node.title for node in tree.nodes}


async def test_a_quarter_keeps_the_goals_running_in_it_and_drops_the_rest(
    queries: AlignmentQueries,
) -> None:
    assert await tree_titles(queries, "2026-07-01", "2026-09-30") == {
        "Strategy 2026",
        "Q3 launch",  # starts on the period's first day
        "Keep the lights on",  # no due date: runs on
    }


async def test_both_ends_of_a_period_are_inclusive(queries: AlignmentQueries) -> None:
    assert await tree_titles(queries, "2026-06-30", "2026-07-01") == {
        "Strategy 2026",
        "First half push",  # due on the period's first day
        "Q3 launch",  # starts on its last
        "Keep the lights on",
    }
    assert await tree_titles(queries, "2026-10-01", "2026-10-31") == {
        "Strategy 2026",
        "Keep the lights on",
    }


async def test_an_open_ended_period_is_bounded_on_one_side_only(
    queries: AlignmentQueries,
) -> None:
    assert await tree_titles(queries, start="2027-01-01") == {"Keep the lights on", "Next year"}
    assert await tree_titles(queries, end="2024-12-31") == {"Keep the lights on"}
    assert await tree_titles(queries) == set(GOALS)


async def test_the_tree_shows_ancestors_out_of_the_period_as_context_the_summary_does_not_count(
    queries: AlignmentQueries,
) -> None:
    start, end = "2026-01-01", "2026-03-31"  # the first quarter
    tree = await queries.tree(pb.GetAlignmentTreeRequest(period_start=start, period_end=end))
    depths = {node.title: node.depth for node in tree.nodes}
    assert depths == {
        "Strategy 2026": 0,
        "First half push": 1,
        "Last year's plan": 0,  # context: its child runs in the period
        "Carried over": 1,
        "Keep the lights on": 0,
    }

    summary = await queries.summary(
        pb.GetAlignmentSummaryRequest(period_start=start, period_end=end)
    )
    # Counted: in the period, strategic objectives aside.
    assert (summary.tenant.goal_count, summary.tenant.aligned_count) == (3, 1)
    assert {goal.title for goal in summary.orphan_goals} == {"Carried over", "Keep the lights on"}

    next_year = await queries.summary(pb.GetAlignmentSummaryRequest(period_start="2027-01-01"))
    assert (next_year.tenant.goal_count, next_year.tenant.aligned_count) == (2, 0)
