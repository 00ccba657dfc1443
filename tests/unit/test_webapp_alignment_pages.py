"""The alignment page asks for the whole tree: every page, merged, with the filters kept."""

from __future__ import annotations

import asyncio
from typing import Any

from northstar.projections.v1 import projections_pb2 as pb
from webapp.backend import TREE_PAGE_SIZE, Backend
from webapp.session import Visitor

GOALS = [f"goal-{number}" for number in range(TREE_PAGE_SIZE * 2 + 7)]


class PagedTree:
    """A projections stub answering offset pages of a fixed tree, recording each request."""

    def __init__(self) -> None:
        self.requests: list[pb.GetAlignmentTreeRequest] = []

    async def GetAlignmentTree(  # noqa: N802 (the gRPC stub's name)
        self, request: pb.GetAlignmentTreeRequest, **_: Any
    ) -> pb.AlignmentTree:
        self.requests.append(request)
        start = int(request.page_token or 0)
        end = start + request.page_size
        return pb.AlignmentTree(
            nodes=[pb.AlignmentNode(goal_id=goal) for goal in GOALS[start:end]],
            next_page_token=str(end) if end < len(GOALS) else "",
            status_counts=[pb.StatusCount(status=pb.GOAL_STATUS_ON_TRACK, count=len(GOALS))],
            total_size=len(GOALS),
        )


def test_every_page_of_the_tree_is_fetched_and_merged() -> None:
    async def fetch() -> tuple[Any, PagedTree]:
        backend = Backend("127.0.0.1", 1, "secret", "acme")
        stub = PagedTree()
        backend.projections = stub  # type: ignore[assignment]
        try:
            answer = await backend.alignment_tree(
                pb.GetAlignmentTreeRequest(team_id="team-a"), Visitor("hr-1", "acme", ("hr_admin",))
            )
        finally:
            await backend.close()
        return answer, stub

    answer, stub = asyncio.run(fetch())
    assert answer.error is None
    assert [node.goal_id for node in answer.value.nodes] == GOALS
    assert answer.value.total_size == len(GOALS)
    assert [entry.count for entry in answer.value.status_counts] == [len(GOALS)]
    assert len(stub.requests) == 3
    assert {request.team_id for request in stub.requests} == {"team-a"}
