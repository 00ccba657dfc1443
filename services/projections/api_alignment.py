"""Alignment queries: the strategy tree, alignment shares and orphans, paths and contributors."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import date

from northstar.projections.v1 import projections_pb2
from services.projections.alignment import GoalNode
from services.projections.alignment_shape import IndexedListing
from services.projections.alignment_views import (
    Share,
    alignment_summary,
    contributors,
    goal_path,
)
from services.projections.api_support import Page, ReadContext, TenantGoals
from services.projections.protobuf_mapping import counted_statuses, node_to_proto, status_counts
from services.shared.auth import current_principal
from services.shared.errors import InvalidArgument, NotFound
from services.shared.validation import parse_optional_date, parse_optional_uuid, parse_uuid

DepartmentOf = Callable[[str, str], str]
"""(tenant id, team id) -> the department's team id ('' when the directory does not know)."""


class AlignmentQueries:
    def __init__(self, context: ReadContext, department_of: DepartmentOf) -> None:
        self.context = context
        self.department_of = department_of

    async def tree(
        self, request: projections_pb2.GetAlignmentTreeRequest
    ) -> projections_pb2.AlignmentTree:
        principal = current_principal()
        root = parse_optional_uuid(request.root_goal_id, "root_goal_id")
        period = _period(request.period_start, request.period_end)
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        goals = await self.context.graph(principal)
        if root is not None and not goals.readable(root):
            raise NotFound(f"goal {root} not found", field="root_goal_id")
        listing, shown = goals.listing(root)
        if request.team_id or period != (None, None):
            matching = [
                seen
                and (not request.team_id or node.team_id == request.team_id)
                and _in_period(node, *period)
                for node, seen in zip(listing.nodes, shown, strict=True)
            ]
        else:
            matching = shown
        kept, depths = _with_visible_ancestors(listing, shown, matching)
        items, next_token = page.slice(kept)
        if root is None and matching is shown:
            # Every visible goal is kept: its audience's counts, kept with the graph, suffice.
            counts = _visible_statuses(goals)
        else:
            counts = status_counts(listing.nodes[index] for index in kept)
        return projections_pb2.AlignmentTree(
            nodes=[
                node_to_proto(listing.nodes[index], goals.readable, depths[index])
                for index in items
            ],
            next_page_token=next_token,
            status_counts=counts,
            total_size=len(kept),
        )

    async def summary(
        self, request: projections_pb2.GetAlignmentSummaryRequest
    ) -> projections_pb2.AlignmentSummary:
        principal = current_principal()
        period = _period(request.period_start, request.period_end)
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        goals = await self.context.graph(principal)
        counted = [
            node
            for node in goals.nodes.values()
            if goals.shows(node)
            and (not request.team_id or node.team_id == request.team_id)
            and _in_period(node, *period)
        ]
        teams = sorted({node.team_id for node in counted})
        departments = await asyncio.to_thread(
            lambda: {team: self.department_of(principal.tenant_id, team) for team in teams}
        )
        summary = alignment_summary(
            principal.tenant_id, goals.nodes, counted, lambda team: departments.get(team, "")
        )
        orphans, next_token = page.slice(summary.orphans)
        return projections_pb2.AlignmentSummary(
            tenant=_share(summary.tenant),
            departments=[_share(share) for share in summary.departments],
            teams=[_share(share) for share in summary.teams],
            orphan_goals=[node_to_proto(node, goals.readable, depth=0) for node in orphans],
            next_page_token=next_token,
            orphan_count=len(summary.orphans),
        )

    async def path(self, request: projections_pb2.GetGoalPathRequest) -> projections_pb2.GoalPath:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        await self.context.wait(principal, request.consistency_tokens)
        goals = await self.context.graph(principal)
        if not goals.readable(goal_id):
            raise NotFound(f"goal {goal_id} not found", field="goal_id")
        path = goal_path(goals.nodes, goal_id)
        shown = [node for node in path if goals.shows(node)]
        return projections_pb2.GoalPath(
            nodes=[
                node_to_proto(node, goals.readable, depth=index) for index, node in enumerate(shown)
            ],
            reaches_strategy=path[-1].level == "strategy",
        )

    async def contributors(
        self, request: projections_pb2.ListContributorsRequest
    ) -> projections_pb2.ListContributorsResponse:
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        goals = await self.context.graph(principal)
        if not goals.readable(goal_id):
            raise NotFound(f"goal {goal_id} not found", field="goal_id")
        found = [c for c in contributors(goals.nodes, goal_id) if goals.shows(c.node)]
        items, next_token = page.slice(found)
        return projections_pb2.ListContributorsResponse(
            contributors=[
                projections_pb2.Contributor(
                    goal=node_to_proto(c.node, goals.readable, depth=c.distance),
                    direct=c.direct,
                    distance=c.distance,
                    effective_weight=c.effective_weight,
                )
                for c in items
            ],
            next_page_token=next_token,
            total_size=len(found),
        )


def _period(start_text: str, end_text: str) -> tuple[date | None, date | None]:
    start = parse_optional_date(start_text, "period_start")
    end = parse_optional_date(end_text, "period_end")
    if start and end and end < start:
        raise InvalidArgument("period ends before it starts", field="period_end")
    return start, end


def _in_period(node: GoalNode, start: date | None, end: date | None) -> bool:
    if end is not None and node.start_date > end:
        return False
    return not (start is not None and node.due_date is not None and node.due_date < start)


def _with_visible_ancestors(
    listing: IndexedListing, shown: list[bool], matching: list[bool]
) -> tuple[list[int], list[int]]:
    """The matching nodes of a depth-first listing, with their visible ancestors as context (as
    indexes into the listing), and each node's depth counted over kept ancestors only (by
    index): a goal below one the caller may not see moves up to the nearest ancestor they do
    see, so the listing stays a tree."""
    parents = listing.parents
    if matching is shown:
        keep = list(shown)  # a visible ancestor of a visible goal is itself kept
    else:
        keep = [False] * len(parents)
        for index, matches in enumerate(matching):
            if not matches:
                continue
            keep[index] = True
            above = parents[index]
            while above >= 0 and not keep[above]:  # kept: so are the visible goals above it
                if shown[above]:
                    keep[above] = True
                above = parents[above]
    kept: list[int] = []
    depths = [0] * len(parents)
    nearest_kept = [-1] * len(parents)
    for index, parent in enumerate(parents):
        ancestor = -1 if parent < 0 else parent if keep[parent] else nearest_kept[parent]
        nearest_kept[index] = ancestor
        if keep[index]:
            depths[index] = 0 if ancestor < 0 else depths[ancestor] + 1
            kept.append(index)
    return kept, depths


def _visible_statuses(goals: TenantGoals) -> list[projections_pb2.StatusCount]:
    """The status counts of every goal the caller may see, summed over the audiences they see."""
    total: Counter[str] = Counter()
    for number, counts in enumerate(goals.graph.statuses_by_audience):
        if goals.visible_audiences[number]:
            total.update(counts)
    return counted_statuses(total)


def _share(share: Share) -> projections_pb2.AlignmentShare:
    return projections_pb2.AlignmentShare(
        scope_id=share.scope_id,
        goal_count=share.goal_count,
        aligned_count=share.aligned_count,
        aligned_share=share.aligned_share,
    )
