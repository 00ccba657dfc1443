"""gRPC servicer of the projections service: translates each RPC to one query and back.

Queries always read the live version of each read model, resolved per call, so a rebuild's
switch is seen by the next call and never breaks one in flight.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import grpc

from northstar.projections.v1 import projections_pb2, projections_pb2_grpc
from services.projections.api_alignment import AlignmentQueries, DepartmentOf
from services.projections.api_audit import AuditQueries
from services.projections.api_feedback import FeedbackQueries
from services.projections.api_kpi import KpiQueries
from services.projections.api_parking import ParkingOperations
from services.projections.api_support import (
    LiveVersions,
    NoReportingLines,
    ReadContext,
    require_role,
)
from services.projections.content_hash import ContentDigest
from services.projections.operator_requests import OperatorRequestLog, OperatorRequests
from services.projections.protobuf_mapping import READ_MODELS
from services.projections.rebuild import RebuildStatus
from services.shared.auth import PLATFORM_OPERATOR, current_principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import FailedPrecondition
from services.shared.goal_visibility import ReportingLines
from services.shared.idempotency import DEFAULT_RETENTION
from services.shared.kpi_visibility import Manages
from services.shared.readmodel import ReadModelDatabase
from services.shared.sequencing import SequencedLedger

Context = grpc.aio.ServicerContext[Any, Any]
PLATFORM_OPERATORS = frozenset({PLATFORM_OPERATOR})
"""A read model holds every tenant's rows and is rebuilt from every tenant's events: starting a
rebuild, its progress (offsets of shared topics) and content hashes (row counts that move with
other tenants' activity) are the platform's business, never a tenant's."""
_SERVICE = "/northstar.projections.v1.ProjectionService/"
PLATFORM_METHODS = frozenset(
    _SERVICE + name
    for name in (
        "StartRebuild",
        "GetRebuildStatus",
        "GetContentHash",
        "ListParkedEvents",
        "RetryParkedEvents",
        "SkipParkedEvent",
    )
)
"""The RPCs a platform operator may call; every other one serves a tenant's data."""


class Rebuilds(LiveVersions, Protocol):
    def live_ledger(self, read_model: str) -> SequencedLedger: ...

    async def start_rebuild(self, read_model: str) -> RebuildStatus: ...

    async def status(self, read_model: str) -> RebuildStatus: ...

    async def content_hash(self, read_model: str, version: str) -> ContentDigest: ...


def _no_departments(tenant_id: str, team_id: str) -> str:
    return ""


def _manages_nobody(tenant_id: str, manager_id: str, person_id: str) -> bool:
    return False


class ProjectionServicer(projections_pb2_grpc.ProjectionServiceServicer):
    def __init__(
        self,
        db: ReadModelDatabase,
        read_models: Rebuilds,
        wait_timeout_seconds: float,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        department_of: DepartmentOf = _no_departments,
        directory: DirectoryReplica | None = None,
        manages: Manages = _manages_nobody,
        reporting_lines: ReportingLines | None = None,
        request_retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.read_models = read_models
        self.reads = ReadContext(
            db, read_models, wait_timeout_seconds, today, reporting_lines or NoReportingLines()
        )
        self.alignment = AlignmentQueries(self.reads, department_of)
        self.audit = AuditQueries(self.reads, manages)
        self.kpis = KpiQueries(self.reads, manages)
        self.requests = OperatorRequests(OperatorRequestLog(db), request_retention)
        self.parking = ParkingOperations(read_models.live_ledger, self.requests)
        self.feedback = FeedbackQueries(self.reads, directory) if directory else None

    # ---- alignment ----

    async def GetAlignmentTree(  # noqa: N802 (gRPC method names)
        self, request: projections_pb2.GetAlignmentTreeRequest, context: Context
    ) -> projections_pb2.AlignmentTree:
        return await self.alignment.tree(request)

    async def GetAlignmentSummary(  # noqa: N802
        self, request: projections_pb2.GetAlignmentSummaryRequest, context: Context
    ) -> projections_pb2.AlignmentSummary:
        return await self.alignment.summary(request)

    async def GetGoalPath(  # noqa: N802
        self, request: projections_pb2.GetGoalPathRequest, context: Context
    ) -> projections_pb2.GoalPath:
        return await self.alignment.path(request)

    async def ListContributors(  # noqa: N802
        self, request: projections_pb2.ListContributorsRequest, context: Context
    ) -> projections_pb2.ListContributorsResponse:
        return await self.alignment.contributors(request)

    # ---- audit ----

    async def GetGoalHistory(  # noqa: N802
        self, request: projections_pb2.GetGoalHistoryRequest, context: Context
    ) -> projections_pb2.GoalHistory:
        return await self.audit.goal_history(request)

    async def GetAuditHistory(  # noqa: N802
        self, request: projections_pb2.GetAuditHistoryRequest, context: Context
    ) -> projections_pb2.AuditHistory:
        return await self.audit.aggregate_history(request)

    async def GetGoalAsOf(  # noqa: N802
        self, request: projections_pb2.GetGoalAsOfRequest, context: Context
    ) -> projections_pb2.GoalSnapshot:
        return await self.audit.goal_as_of(request)

    async def VerifyHistory(  # noqa: N802
        self, request: projections_pb2.VerifyHistoryRequest, context: Context
    ) -> projections_pb2.VerifyHistoryResponse:
        return await self.audit.verify(request)

    async def ExportHistory(  # noqa: N802
        self, request: projections_pb2.ExportHistoryRequest, context: Context
    ) -> AsyncIterator[projections_pb2.ExportHistoryChunk]:
        async for chunk in self.audit.export(request):
            yield chunk

    # ---- feedback ----

    async def GetFeedbackActivity(  # noqa: N802
        self, request: projections_pb2.GetFeedbackActivityRequest, context: Context
    ) -> projections_pb2.FeedbackActivity:
        if self.feedback is None:
            raise FailedPrecondition("this projections process has no directory replica")
        return await self.feedback.activity(request)

    # ---- KPIs ----

    async def ListKpiScoreboard(  # noqa: N802
        self, request: projections_pb2.ListKpiScoreboardRequest, context: Context
    ) -> projections_pb2.ListKpiScoreboardResponse:
        return await self.kpis.scoreboard(request)

    # ---- rebuilds ----

    async def StartRebuild(  # noqa: N802
        self, request: projections_pb2.StartRebuildRequest, context: Context
    ) -> projections_pb2.RebuildStatus:
        require_role(current_principal(), PLATFORM_OPERATORS, "starting a rebuild")
        read_model = READ_MODELS.from_request(request.read_model, "read_model")

        async def start() -> projections_pb2.RebuildStatus:
            return _status_to_proto(await self.read_models.start_rebuild(read_model))

        async def status_now(result: Mapping[str, Any]) -> projections_pb2.RebuildStatus:
            # A retry answers the rebuild it started as it stands now (running or switched).
            return _status_to_proto(await self.read_models.status(read_model))

        return await self.requests.once(
            "StartRebuild",
            request,
            start,
            lambda status: {"read_model": read_model, "building": status.building_version},
            status_now,
        )

    async def GetRebuildStatus(  # noqa: N802
        self, request: projections_pb2.GetRebuildStatusRequest, context: Context
    ) -> projections_pb2.RebuildStatus:
        require_role(current_principal(), PLATFORM_OPERATORS, "rebuild status")
        read_model = READ_MODELS.from_request(request.read_model, "read_model")
        return _status_to_proto(await self.read_models.status(read_model))

    async def GetContentHash(  # noqa: N802
        self, request: projections_pb2.GetContentHashRequest, context: Context
    ) -> projections_pb2.ContentHash:
        require_role(current_principal(), PLATFORM_OPERATORS, "content hashes")
        read_model = READ_MODELS.from_request(request.read_model, "read_model")
        digest = await self.read_models.content_hash(read_model, request.version)
        return projections_pb2.ContentHash(
            version=digest.version, sha256=digest.sha256, row_count=digest.row_count
        )

    # ---- parked events ----

    async def ListParkedEvents(  # noqa: N802
        self, request: projections_pb2.ListParkedEventsRequest, context: Context
    ) -> projections_pb2.ListParkedEventsResponse:
        return await self.parking.list(request)

    async def RetryParkedEvents(  # noqa: N802
        self, request: projections_pb2.RetryParkedEventsRequest, context: Context
    ) -> projections_pb2.ParkedEventsOutcome:
        return await self.parking.retry(request)

    async def SkipParkedEvent(  # noqa: N802
        self, request: projections_pb2.SkipParkedEventRequest, context: Context
    ) -> projections_pb2.ParkedEventsOutcome:
        return await self.parking.skip(request)


def _status_to_proto(status: RebuildStatus) -> projections_pb2.RebuildStatus:
    return projections_pb2.RebuildStatus(
        read_model=READ_MODELS.to_proto(status.read_model),
        live_version=status.live_version,
        building_version=status.building_version,
        partitions=[
            projections_pb2.PartitionProgress(
                topic=p.topic, partition=p.partition, applied_offset=p.applied, end_offset=p.end
            )
            for p in status.partitions
        ],
        progress=status.progress,
        switched_at=status.switched_at,
        started_at=status.started_at,
    )
