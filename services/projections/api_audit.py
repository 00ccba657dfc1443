"""Audit queries: history of any aggregate, a goal at a past version or time, verification of
the hash chains, and exports auditors can verify elsewhere."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from uuid import UUID

from northstar.projections.v1 import projections_pb2
from services.projections.alignment import GoalNode, link_graph, node_from_state
from services.projections.api_support import (
    History,
    Page,
    ReadContext,
    require_role,
)
from services.projections.audit import (
    AuditEntry,
    State,
    entries_as_of,
    fold_entries,
    verify_chain,
)
from services.projections.audit_export import (
    CSV_MEDIA_TYPE,
    JSONL_MEDIA_TYPE,
    csv_header,
    csv_line,
    goals_as_of,
    jsonl_line,
    tenant_aggregate_ids,
    tenant_entries,
)
from services.projections.goal_state import fold_goal_event
from services.projections.kpi_projection import KPI_AGGREGATE_TYPE, kpi_fold
from services.projections.protobuf_mapping import CSV, EXPORT_FORMATS, JSONL, entry_to_proto
from services.shared.auth import (
    AUDITOR,
    HR_ADMIN,
    INTEGRATION,
    MANAGER,
    Principal,
    current_principal,
)
from services.shared.errors import InvalidArgument, NotFound, PermissionDenied
from services.shared.goal_visibility import GoalAudience
from services.shared.kpi_visibility import KpiAudience, Manages, can_view_kpi
from services.shared.validation import parse_timestamp, parse_uuid

GOAL = "Goal"
GOAL_HISTORY_READERS = frozenset({AUDITOR, HR_ADMIN, INTEGRATION, MANAGER})
HISTORY_READERS = frozenset({AUDITOR, HR_ADMIN, INTEGRATION})
EXPORTERS = frozenset({AUDITOR, HR_ADMIN})
# Per export format: its media type, how one entry is written, and the file's first line.
_WRITERS: dict[str, tuple[str, Callable[[AuditEntry], str], str]] = {
    JSONL: (JSONL_MEDIA_TYPE, jsonl_line, ""),
    CSV: (CSV_MEDIA_TYPE, csv_line, csv_header()),
}


def _manages_nobody(tenant_id: str, manager_id: str, person_id: str) -> bool:
    return False


class AuditQueries:
    def __init__(self, context: ReadContext, manages: Manages = _manages_nobody) -> None:
        self.context = context
        self.manages = manages

    async def goal_history(
        self, request: projections_pb2.GetGoalHistoryRequest
    ) -> projections_pb2.GoalHistory:
        principal = current_principal()
        goal_id = str(parse_uuid(request.goal_id, "goal_id"))
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        history = await self._readable(principal, goal_id, "goal_id", goals_only=True)
        entries, next_token = page.slice(history.entries)
        return projections_pb2.GoalHistory(
            entries=[entry_to_proto(e) for e in entries], next_page_token=next_token
        )

    async def aggregate_history(
        self, request: projections_pb2.GetAuditHistoryRequest
    ) -> projections_pb2.AuditHistory:
        principal = current_principal()
        aggregate_id = str(parse_uuid(request.aggregate_id, "aggregate_id"))
        page = Page.of(request.page_size, request.page_token)
        await self.context.wait(principal, request.consistency_tokens)
        history = await self._readable(principal, aggregate_id, "aggregate_id")
        entries, next_token = page.slice(history.entries)
        return projections_pb2.AuditHistory(
            entries=[entry_to_proto(e) for e in entries], next_page_token=next_token
        )

    async def goal_as_of(
        self, request: projections_pb2.GetGoalAsOfRequest
    ) -> projections_pb2.GoalSnapshot:
        principal = current_principal()
        goal_id = str(parse_uuid(request.goal_id, "goal_id"))
        if request.version < 0:
            raise InvalidArgument("must not be negative", field="version")
        if request.version and request.as_of:
            raise InvalidArgument("give a version or a time, not both", field="as_of")
        moment = parse_timestamp(request.as_of, "as_of") if request.as_of else None
        entries = (await self._readable(principal, goal_id, "goal_id", goals_only=True)).entries
        if request.version:
            if request.version > entries[-1].version:
                raise NotFound(f"goal {goal_id} has no version {request.version}", field="version")
            entries = [e for e in entries if e.version <= request.version]
        elif moment is not None:
            entries = entries_as_of(entries, moment)
            if not entries:
                raise NotFound(f"goal {goal_id} did not exist then", field="as_of")
        state = fold_entries(entries, fold_goal_event)
        # Roll-up at that moment: every goal of the tenant as it was then, this one included.
        at = moment or datetime.fromisoformat(entries[-1].occurred_at)
        node = await asyncio.to_thread(
            self._node_at, principal.tenant_id, goal_id, entries[-1].version, state, at
        )
        return projections_pb2.GoalSnapshot(
            goal_id=goal_id,
            version=entries[-1].version,
            state_json=json.dumps(state, sort_keys=True),
            progress=node.progress,
            own_progress=node.own_progress or 0.0,
        )

    def _node_at(
        self, tenant_id: str, goal_id: str, version: int, state: State, moment: datetime
    ) -> GoalNode:
        """The goal's node in the tenant's goal graph as every goal stood at `moment`."""
        nodes = {
            node.goal_id: node
            for node in goals_as_of(self.context.db, tenant_id, self.context.goal_audit(), moment)
        }
        nodes[UUID(goal_id)] = node_from_state(goal_id, version, state)
        return link_graph(nodes, moment.date())[UUID(goal_id)]

    async def verify(
        self, request: projections_pb2.VerifyHistoryRequest
    ) -> projections_pb2.VerifyHistoryResponse:
        principal = current_principal()
        if request.aggregate_id:
            aggregate_id = str(parse_uuid(request.aggregate_id, "aggregate_id"))
            aggregate_ids = [aggregate_id]
            await self._readable(principal, aggregate_id, "aggregate_id")
        else:
            require_role(principal, HISTORY_READERS, "verifying a whole tenant's history")
            aggregate_ids = await asyncio.to_thread(self._tenant_aggregates, principal.tenant_id)
        checked_entries = 0
        for count, aggregate_id in enumerate(aggregate_ids, start=1):
            history = await self.context.history(aggregate_id)
            result = verify_chain(history.entries, history.head)
            checked_entries += result.entries_checked
            if not result.intact:
                return projections_pb2.VerifyHistoryResponse(
                    intact=False,
                    entries_checked=checked_entries,
                    first_broken_version=result.first_broken_version,
                    reason=result.reason,
                    broken_aggregate_id=aggregate_id,
                    aggregates_checked=count,
                )
        return projections_pb2.VerifyHistoryResponse(
            intact=True, entries_checked=checked_entries, aggregates_checked=len(aggregate_ids)
        )

    async def export(
        self, request: projections_pb2.ExportHistoryRequest
    ) -> AsyncIterator[projections_pb2.ExportHistoryChunk]:
        principal = current_principal()
        require_role(principal, EXPORTERS, "exporting history")
        media_type, line, header = _WRITERS[EXPORT_FORMATS.from_request(request.format, "format")]
        batches: Iterator[list[AuditEntry]]
        if request.aggregate_id:
            aggregate_id = str(parse_uuid(request.aggregate_id, "aggregate_id"))
            batches = iter(
                [(await self._readable(principal, aggregate_id, "aggregate_id")).entries]
            )
        else:
            batches = self._tenant_batches(principal.tenant_id)
        first: projections_pb2.ExportHistoryChunk | None = projections_pb2.ExportHistoryChunk(
            data=header.encode(), content_type=media_type
        )
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            data = "".join(line(entry) for entry in batch).encode()
            if first is not None:
                first.data += data
                yield first
                first = None
            else:
                yield projections_pb2.ExportHistoryChunk(data=data)
        if first is not None:
            yield first

    # ---- helpers ----

    async def _readable(
        self, principal: Principal, aggregate_id: str, field: str, *, goals_only: bool = False
    ) -> History:
        """The history if the caller's tenant owns the aggregate and the caller may read it;
        another tenant's aggregate is not found, exactly like an unknown one."""
        history = await self.context.history(aggregate_id)
        entries = history.entries
        if (
            not entries
            or entries[0].tenant_id != principal.tenant_id
            or (goals_only and entries[0].aggregate_type != GOAL)
        ):
            what = "goal" if goals_only else "aggregate"
            raise NotFound(f"no {what} {aggregate_id} with a history", field=field)
        if entries[0].aggregate_type == GOAL:
            goal = fold_entries(entries, fold_goal_event)
            is_owner = goal.get("owner_id") == principal.subject
            # Who sees the goal now decides who reads its past, as in the goals service (whose
            # GetGoal answers versions and past moments to whoever sees the goal today).
            goal_audience = GoalAudience(
                tenant_id=entries[0].tenant_id,
                owner_id=str(goal.get("owner_id") or ""),
                team_id=str(goal.get("team_id") or ""),
                visibility=str(goal.get("visibility") or ""),
            )
            if not await self.context.may_see(principal, goal_audience):
                # A goal the caller may not see does not exist for them.
                raise NotFound(f"no goal {aggregate_id} with a history", field=field)
            if not principal.roles & GOAL_HISTORY_READERS and not is_owner:
                raise PermissionDenied(
                    "a goal's history is for auditors, HR admins, managers and its owner"
                )
        elif entries[0].aggregate_type == KPI_AGGREGATE_TYPE:
            # Whoever may see the KPI in the KPI service may read its history; nobody else
            # learns that it exists.
            kpi = fold_entries(entries, kpi_fold)
            kpi_audience = KpiAudience(entries[0].tenant_id, kpi["owner_id"], kpi["visibility"])
            if not can_view_kpi(principal, kpi_audience, self.manages):
                raise NotFound(f"no aggregate {aggregate_id} with a history", field=field)
        else:
            require_role(
                principal, HISTORY_READERS, f"the history of a {entries[0].aggregate_type}"
            )
        return history

    def _tenant_aggregates(self, tenant_id: str) -> list[str]:
        return [
            aggregate_id
            for tables in self.context.audit_tables()
            for aggregate_id in tenant_aggregate_ids(self.context.db, tenant_id, tables)
        ]

    def _tenant_batches(self, tenant_id: str) -> Iterator[list[AuditEntry]]:
        for tables in self.context.audit_tables():
            yield from tenant_entries(self.context.db, tenant_id, tables)
