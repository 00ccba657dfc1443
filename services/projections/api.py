"""gRPC servicer of the projections service: alignment view and audit history queries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import grpc

from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from services.projections.alignment import GoalNode, alignment_tree, tenant_graph
from services.projections.audit import (
    AuditEntry,
    entries_as_of,
    fold_entries,
    load_entries,
    verify_chain,
)
from services.projections.consistency import wait_for_positions
from services.projections.goal_state import fold_goal_event
from services.shared.auth import (
    AUDITOR,
    HR_ADMIN,
    INTEGRATION,
    MANAGER,
    Principal,
    current_principal,
)
from services.shared.errors import InvalidArgument, NotFound, PermissionDenied
from services.shared.readmodel import ReadModelDatabase
from services.shared.validation import (
    page_size,
    parse_optional_date,
    parse_optional_uuid,
    parse_timestamp,
    parse_uuid,
)

Context = grpc.aio.ServicerContext[Any, Any]
HISTORY_READERS = frozenset({AUDITOR, HR_ADMIN, INTEGRATION, MANAGER})
SEE_PRIVATE = frozenset({AUDITOR, HR_ADMIN, INTEGRATION})


class ProjectionServicer(projections_pb2_grpc.ProjectionServiceServicer):
    def __init__(
        self,
        db: ReadModelDatabase,
        projection: Callable[[], str],
        wait_timeout_seconds: float,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.db = db
        # The live projection's name changes when a rebuilt version is switched in.
        self.projection = projection
        self.wait_timeout_seconds = wait_timeout_seconds
        self.today = today

    async def GetAlignmentTree(  # noqa: N802 (gRPC method names)
        self, request: projections_pb2.GetAlignmentTreeRequest, context: Context
    ) -> projections_pb2.AlignmentTree:
        principal = current_principal()
        root = parse_optional_uuid(request.root_goal_id, "root_goal_id")
        period_start = parse_optional_date(request.period_start, "period_start")
        period_end = parse_optional_date(request.period_end, "period_end")
        if period_start and period_end and period_end < period_start:
            raise InvalidArgument("period ends before it starts", field="period_end")
        limit = page_size(request.page_size)
        offset = _offset_from_token(request.page_token)
        await self._wait(principal, request.consistency_tokens)
        nodes = await asyncio.to_thread(tenant_graph, self.db, principal.tenant_id, self.today())
        ordered = [
            node
            for node in alignment_tree(nodes, root)
            if _visible(principal, node)
            and (not request.team_id or node.team_id == request.team_id)
            and _in_period(node, period_start, period_end)
        ]
        page = ordered[offset : offset + limit]
        tree = projections_pb2.AlignmentTree(nodes=[_node_to_proto(node) for node in page])
        if offset + limit < len(ordered):
            tree.next_page_token = f"offset:{offset + limit}"
        return tree

    async def GetGoalHistory(  # noqa: N802
        self, request: projections_pb2.GetGoalHistoryRequest, context: Context
    ) -> projections_pb2.GoalHistory:
        principal = current_principal()
        goal_id = str(parse_uuid(request.goal_id, "goal_id"))
        limit = page_size(request.page_size)
        offset = _offset_from_token(request.page_token)
        await self._wait(principal, request.consistency_tokens)
        entries = await self._entries(principal, goal_id)
        page = entries[offset : offset + limit]
        history = projections_pb2.GoalHistory(entries=[_entry_to_proto(e) for e in page])
        if offset + limit < len(entries):
            history.next_page_token = f"offset:{offset + limit}"
        return history

    async def GetGoalAsOf(  # noqa: N802
        self, request: projections_pb2.GetGoalAsOfRequest, context: Context
    ) -> projections_pb2.GoalSnapshot:
        principal = current_principal()
        goal_id = str(parse_uuid(request.goal_id, "goal_id"))
        if request.version < 0:
            raise InvalidArgument("must not be negative", field="version")
        if request.version and request.as_of:
            raise InvalidArgument("give a version or a time, not both", field="as_of")
        entries = await self._entries(principal, goal_id)
        if request.version:
            if request.version > entries[-1].version:
                raise NotFound(f"goal {goal_id} has no version {request.version}", field="version")
            entries = [e for e in entries if e.version <= request.version]
        elif request.as_of:
            entries = entries_as_of(entries, parse_timestamp(request.as_of, "as_of"))
            if not entries:
                raise NotFound(f"goal {goal_id} did not exist then", field="as_of")
        state = fold_entries(entries, fold_goal_event)
        return projections_pb2.GoalSnapshot(
            goal_id=goal_id,
            version=entries[-1].version,
            state_json=json.dumps(state, sort_keys=True),
        )

    async def VerifyHistory(  # noqa: N802
        self, request: projections_pb2.VerifyHistoryRequest, context: Context
    ) -> projections_pb2.VerifyHistoryResponse:
        principal = current_principal()
        aggregate_id = str(parse_uuid(request.aggregate_id, "aggregate_id"))
        result = verify_chain(await self._entries(principal, aggregate_id, "aggregate_id"))
        return projections_pb2.VerifyHistoryResponse(
            intact=result.intact,
            entries_checked=result.entries_checked,
            first_broken_version=result.first_broken_version,
            reason=result.reason,
        )

    async def _wait(self, principal: Principal, tokens: Any) -> None:
        if tokens:
            await wait_for_positions(
                self.db,
                self.projection(),
                principal.tenant_id,
                list(tokens),
                self.wait_timeout_seconds,
            )

    async def _entries(
        self, principal: Principal, aggregate_id: str, field: str = "goal_id"
    ) -> list[AuditEntry]:
        def load() -> list[AuditEntry]:
            with self.db.transaction() as tx:
                return load_entries(tx, aggregate_id)

        entries = await asyncio.to_thread(load)
        if not entries or entries[0].tenant_id != principal.tenant_id:
            raise NotFound(f"no history for {aggregate_id}", field=field)
        owner = fold_entries(entries[:1], fold_goal_event).get("owner_id")
        if not principal.roles & HISTORY_READERS and owner != principal.subject:
            raise PermissionDenied("history is for auditors, HR admins, managers and the owner")
        return entries


def _visible(principal: Principal, node: GoalNode) -> bool:
    return (
        node.visibility != "private"
        or node.owner_id == principal.subject
        or bool(principal.roles & SEE_PRIVATE)
    )


def _in_period(node: GoalNode, start: date | None, end: date | None) -> bool:
    if end is not None and node.start_date > end:
        return False
    return not (start is not None and node.due_date is not None and node.due_date < start)


def _offset_from_token(token: str) -> int:
    if not token:
        return 0
    prefix, _, number = token.partition(":")
    if prefix != "offset" or not number.isdigit():
        raise InvalidArgument(f"malformed page token {token!r}", field="page_token")
    return int(number)


def _node_to_proto(node: GoalNode) -> projections_pb2.AlignmentNode:
    return projections_pb2.AlignmentNode(
        goal_id=str(node.goal_id),
        title=node.title,
        level=node.level,
        owner_id=node.owner_id,
        team_id=node.team_id,
        status=node.status,
        progress=node.progress,
        own_progress=node.own_progress or 0.0,
        parent_goal_id=str(node.parent_goal_id) if node.parent_goal_id else "",
        contributes_to=[
            projections_pb2.Contribution(goal_id=str(target), weight=weight)
            for target, weight in node.contributes_to
        ],
        child_goal_ids=[str(child) for child in node.child_goal_ids],
        depth=node.depth,
    )


def _entry_to_proto(entry: AuditEntry) -> projections_pb2.AuditEntry:
    return projections_pb2.AuditEntry(
        aggregate_id=entry.aggregate_id,
        version=entry.version,
        event_type=entry.event_type,
        actor_id=entry.actor_id,
        occurred_at=entry.occurred_at,
        reason=entry.reason,
        changes=[
            projections_pb2.FieldChange(
                field=change.field,
                before_json=json.dumps(change.before, sort_keys=True),
                after_json=json.dumps(change.after, sort_keys=True),
            )
            for change in entry.changes
        ],
        entry_hash=entry.entry_hash,
        previous_hash=entry.previous_hash,
    )
