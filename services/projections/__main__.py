"""Wiring of the projections service: `northstar-projections` or
`python -m services.projections` (settings from NORTHSTAR_*, listed by --help)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from northstar.projections.v1 import projections_pb2_grpc
from services.projections.api import PLATFORM_METHODS, ProjectionServicer
from services.projections.audit import AuditTables
from services.projections.directory_audit import (
    DIRECTORY_AUDIT_READ_MODEL,
    DirectoryAuditProjection,
)
from services.projections.feedback_activity import (
    FEEDBACK_READ_MODEL,
    FeedbackActivityProjection,
    feedback_version_tables,
)
from services.projections.goals_projection import (
    GOALS_PROJECTION,
    GOALS_READ_MODEL,
    GoalsProjection,
    audit_version_tables,
    goals_version_tables,
)
from services.projections.kpi_projection import KPI_READ_MODEL, KpiProjection, kpi_version_tables
from services.projections.rebuild import ReadModelKind, ReadModels
from services.projections.versions import VersionTable, table_prefix
from services.shared.consumer import RetryPolicy
from services.shared.directory_replica import DirectoryReplica
from services.shared.launcher import run_service
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.runtime import ServiceRuntime
from services.shared.sequencing import HoldLimits
from services.shared.settings import ServiceSettings

SERVICE = "projections"
SUMMARY = (
    "The projections service: read models (alignment view, audit history) built from the event "
    "topics on Kafka and served over gRPC."
)
GRPC_SERVICE_NAME = "northstar.projections.v1.ProjectionService"


class ProjectionsRuntime(ServiceRuntime):
    """The shared runtime, plus the read models' consumers (which it starts and stops)."""

    read_models: ReadModels | None = None

    async def stop(self) -> None:
        await super().stop()
        if self.read_models is not None:
            await self.read_models.stop()


@dataclass
class ProjectionsService:
    runtime: ProjectionsRuntime
    db: ReadModelDatabase
    read_models: ReadModels
    replica: DirectoryReplica
    servicer: ProjectionServicer


def read_model_kinds(
    db: ReadModelDatabase,
    settings: ServiceSettings,
    replica: DirectoryReplica,
    limits: HoldLimits | None = None,
) -> list[ReadModelKind]:
    def directory_tables(name: str) -> list[VersionTable]:
        return audit_version_tables(AuditTables(table_prefix(name)))

    return [
        ReadModelKind(
            name=GOALS_READ_MODEL,
            topics=(settings.topic_for("goals"),),
            build=lambda name: GoalsProjection(db, name, limits),
            tables=goals_version_tables,
        ),
        ReadModelKind(
            name=DIRECTORY_AUDIT_READ_MODEL,
            topics=(settings.topic_for("directory"),),
            build=lambda name: DirectoryAuditProjection(db, name, replica, limits),
            tables=directory_tables,
        ),
        ReadModelKind(
            name=FEEDBACK_READ_MODEL,
            topics=(settings.topic_for("feedback"),),
            build=lambda name: FeedbackActivityProjection(db, name, limits),
            tables=feedback_version_tables,
        ),
        ReadModelKind(
            name=KPI_READ_MODEL,
            topics=(settings.topic_for("kpi"),),
            build=lambda name: KpiProjection(db, name, limits),
            tables=kpi_version_tables,
        ),
    ]


async def start_projections_service(
    settings: ServiceSettings,
    *,
    group_id: str = "northstar-projections",
    retry: RetryPolicy | None = None,
    hold_limits: HoldLimits | None = None,
    metrics: ServiceMetrics | None = None,
) -> ProjectionsService:
    """`metrics` lets a caller watch the counters while the service starts (its read models
    consume from then on); a new set is made by default."""
    metrics = metrics or ServiceMetrics(SERVICE)
    # Served before the read models start: a start that replays a lost store shows its progress.
    metrics.start_http(settings.metrics_port, host=settings.grpc_host)
    db = ReadModelDatabase(settings.store_url_for(SERVICE), schema="projections")
    replica = DirectoryReplica(db)
    read_models = ReadModels(
        db,
        read_model_kinds(db, settings, replica, hold_limits),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group_id,
        metrics=metrics,
        retry=retry,
        bare_group_version=GOALS_PROJECTION,
    )
    runtime = ProjectionsRuntime(SERVICE, settings, metrics)
    # Returns once every read model has caught up with what its consumer group had committed:
    # gRPC (and its health check) starts only then.
    await read_models.start()
    runtime.read_models = read_models
    servicer = ProjectionServicer(
        db,
        read_models,
        wait_timeout_seconds=settings.read_wait_timeout_seconds,
        department_of=replica.department_of,
        directory=replica,
        manages=replica.is_in_management_chain,
        reporting_lines=replica,
        request_retention=settings.request_retention,
    )
    await runtime.start(
        [(projections_pb2_grpc.add_ProjectionServiceServicer_to_server, servicer)],
        [GRPC_SERVICE_NAME],
        platform_methods=PLATFORM_METHODS,
    )
    return ProjectionsService(
        runtime=runtime, db=db, read_models=read_models, replica=replica, servicer=servicer
    )


async def serve(settings: ServiceSettings) -> None:
    """Runs the service until SIGTERM or SIGINT, then stops it cleanly."""
    # The default namespace keeps the group it always had (northstar-projections); another
    # namespace (a second installation, a test run) gets a group of its own.
    service = await start_projections_service(
        settings, group_id=f"{settings.topic_namespace}-projections"
    )
    await service.runtime.run_until_signalled()


def cli(argv: Sequence[str] | None = None) -> int:
    """`northstar-projections`: see --help for the settings."""
    # Its read models catch up from Kafka before it serves: without Kafka it cannot start.
    return run_service(SERVICE, SUMMARY, serve, argv, needs_kafka_to_start=True)


if __name__ == "__main__":
    sys.exit(cli())
