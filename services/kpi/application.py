"""KPI use cases: one method each, taking the caller; each authorises (services.kpi.authorization),
loads the aggregate, calls one domain method and saves.

Every command runs in a command context (tenant, actor, correlation id) stored with its events,
checks the caller's expected version, and maps a concurrent write to ConcurrentUpdate (ABORTED).
Survey use cases are in services.kpi.survey_use_cases, on the same store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from services.kpi import authorization as policy
from services.kpi.authorization import Directory
from services.kpi.domain import Kpi
from services.kpi.surveys import Survey
from services.kpi.thresholds import Thresholds
from services.shared.auth import INTEGRATION, Principal
from services.shared.canonical import utc_now
from services.shared.errors import ConcurrentUpdate, FailedPrecondition, NotFound, PermissionDenied
from services.shared.eventstore import CommandContext, NorthstarApplication, command_context
from services.shared.idempotency import raise_if_recorded_meanwhile, request_kwargs
from services.shared.position import encode_position_token

AggregateT = TypeVar("AggregateT", bound=Aggregate)
Clock = Callable[[], datetime]
MANUAL_RECORD_PREFIX = "manual-"
logger = logging.getLogger(__name__)


class UnknownOwner(FailedPrecondition):
    """The owner is not a current member of the tenant's directory."""


@dataclass(frozen=True)
class KpiDefinition:
    """Everything DefineKpi says about a new KPI."""

    name: str
    description: str
    unit: str
    owner_id: str
    objective_goal_id: str
    target_type: str
    cadence: str
    summary: str
    visibility: str
    first_period: str
    target: float
    thresholds: Thresholds


@dataclass(frozen=True)
class Saved:
    """An aggregate after a command, whether the command recorded anything, and its token."""

    aggregate: Any
    changed: bool
    position_token: str
    measurement_id: UUID | None = None


class KpiApplication(NorthstarApplication):
    name = "kpi"
    # A daily KPI gathers a few events a day; a survey one per answer.
    snapshotting_intervals = {Kpi: 100, Survey: 200}

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        directory: Directory,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(env)
        # People and reporting lines: the local directory replica (owners, permissions).
        self.directory = directory
        self.clock = clock
        # Called with the aggregate type and the number of events each save appended (relay
        # wake-up, index, metrics).
        self.after_save: list[Callable[[str, int], None]] = []

    # ---- commands ----

    def define_kpi(
        self, principal: Principal, definition: KpiDefinition, correlation_id: str = ""
    ) -> Saved:
        kpi = Kpi.define(
            tenant_id=principal.tenant_id,
            by=principal.subject,
            **{name: getattr(definition, name) for name in KpiDefinition.__dataclass_fields__},
        )
        policy.require_can_define(principal, self.directory, kpi.owner_id)
        self._require_current_person(principal.tenant_id, kpi.owner_id, "owner_id")
        return self.save_changes(principal, kpi, correlation_id)

    def change_target(
        self,
        principal: Principal,
        kpi_id: UUID,
        from_period: str,
        target: float,
        reason: str,
        expected_version: int = 0,
    ) -> Saved:
        kpi = self._kpi_to_change(principal, kpi_id, expected_version)
        kpi.change_target(from_period, target, reason, principal.subject)
        return self.save_changes(principal, kpi)

    def change_thresholds(
        self,
        principal: Principal,
        kpi_id: UUID,
        thresholds: Thresholds,
        reason: str,
        expected_version: int = 0,
    ) -> Saved:
        kpi = self._kpi_to_change(principal, kpi_id, expected_version)
        kpi.change_thresholds(thresholds, reason, principal.subject)
        return self.save_changes(principal, kpi)

    def record_measurement(
        self,
        principal: Principal,
        kpi_id: UUID,
        period: str,
        value: float,
        source_record_id: str = "",
        *,
        source_system: str = "",
        correlation_id: str = "",
    ) -> Saved:
        """Integrations record as `integration` (their record ids make replays no-ops); people
        as `manual`. A replayed source record changes nothing (`changed` False)."""
        kpi = self._kpi_to_change(principal, kpi_id, 0)
        integration = principal.has_role(INTEGRATION)
        measurement_id = kpi.record_measurement(
            period=period,
            value=value,
            source="integration" if integration else "manual",
            source_account=source_system or principal.subject,
            source_record_id=source_record_id or f"{MANUAL_RECORD_PREFIX}{uuid4()}",
            by=principal.subject,
        )
        noted = {"measurement_id": str(measurement_id or "")}
        saved = self.save_changes(principal, kpi, correlation_id, noted=noted)
        return Saved(saved.aggregate, saved.changed, saved.position_token, measurement_id)

    def correct_measurement(
        self,
        principal: Principal,
        kpi_id: UUID,
        measurement_id: UUID,
        value: float,
        reason: str,
        expected_version: int = 0,
    ) -> Saved:
        kpi = self._kpi_to_change(principal, kpi_id, expected_version)
        kpi.correct_measurement(measurement_id, value, reason, principal.subject)
        return self.save_changes(principal, kpi)

    def record_overdue_measurements(self, principal: Principal, kpi_id: UUID) -> Saved:
        """The periodic check: each ended period without a measurement, once (see policies)."""
        if not principal.has_role(INTEGRATION):
            raise PermissionDenied("the overdue check runs as the service's own account")
        kpi = self.find_kpi(principal.tenant_id, kpi_id, "kpi_id")
        kpi.record_overdue_periods(self.clock().date())
        return self.save_changes(principal, kpi)

    # ---- queries ----

    def get_kpi(self, principal: Principal, kpi_id: UUID, field: str = "kpi_id") -> Kpi:
        kpi = self.find_kpi(principal.tenant_id, kpi_id, field)
        policy.require_can_view(principal, self.directory, kpi, field)
        return kpi

    # ---- shared by the use cases ----

    def find_kpi(self, tenant_id: str, kpi_id: UUID, field: str) -> Kpi:
        kpi = self.find(Kpi, kpi_id)
        if kpi is None or kpi.tenant_id != tenant_id:
            raise NotFound(f"KPI {kpi_id} not found", field=field)
        return kpi

    def find(self, kind: type[AggregateT], aggregate_id: UUID) -> AggregateT | None:
        try:
            aggregate: object = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def recorded(self, principal: Principal, result: Mapping[str, Any]) -> Saved:
        """What a command recorded under its request id answered (services.shared.idempotency):
        the aggregate at the version the command left it, for a retry to answer again."""
        aggregate_id, version = UUID(result["id"]), int(result["version"])
        aggregate: Any = self.repository.get(aggregate_id, version=version)
        if getattr(aggregate, "tenant_id", None) != principal.tenant_id:
            raise TypeError("a request record names another tenant's aggregate")
        measurement_id = result.get("measurement_id") or None
        return Saved(
            aggregate,
            bool(result["changed"]),
            encode_position_token(aggregate_id, version),
            UUID(measurement_id) if measurement_id else None,
        )

    def save_changes(
        self,
        principal: Principal,
        aggregate: Aggregate,
        correlation_id: str = "",
        *,
        noted: Mapping[str, Any] | None = None,
    ) -> Saved:
        """Stores the pending events, stamped with the caller, in one transaction, together with
        the command's request record when it has a request id (`noted` adds to what a retry
        answers). A command with a request id is recorded even when it changed nothing, so that
        its retry answers the same."""
        pending = len(aggregate.pending_events)
        token = encode_position_token(aggregate.id, aggregate.version)
        result = {"id": str(aggregate.id), "version": aggregate.version, "changed": bool(pending)}
        record = request_kwargs(result | dict(noted or {}))
        if not pending and not record:
            return Saved(aggregate, False, token)
        context = CommandContext.new(principal.tenant_id, principal.subject, correlation_id)
        with command_context(context):
            try:
                self.save(aggregate, **record)
            except IntegrityError:
                raise_if_recorded_meanwhile(self.request_log)
                raise ConcurrentUpdate(
                    "changed concurrently; reload and retry", field="expected_version"
                ) from None
        if pending:
            for callback in self.after_save:
                try:
                    callback(type(aggregate).__name__, pending)
                except Exception:
                    # The events are stored: the command succeeded, whatever follows.
                    logger.exception("work after a save failed; it catches up with the next save")
        return Saved(aggregate, bool(pending), token)

    def _kpi_to_change(self, principal: Principal, kpi_id: UUID, expected_version: int) -> Kpi:
        kpi = self.get_kpi(principal, kpi_id)
        policy.require_can_change(principal, self.directory, kpi)
        if expected_version and kpi.version != expected_version:
            raise ConcurrentUpdate(
                f"the KPI is at version {kpi.version}, not {expected_version}; reload and retry",
                field="expected_version",
            )
        return kpi

    def _require_current_person(self, tenant_id: str, person_id: str, field: str) -> None:
        person = self.directory.person(tenant_id, person_id)
        if person is None:
            raise UnknownOwner(f"no person {person_id!r} in the directory", field=field)
        if person.has_departed:
            raise UnknownOwner(f"{person_id} has left the organisation", field=field)
