"""Reactions of the goals service to other services' events.

when_person_departed_flag_their_goals: a person left (directory.PersonDeparted), so each of
their open goals records FlaggedForReassignment with the person and their manager at the time.
Redelivery changes nothing: a goal already flagged for that departure is skipped.

when_kpi_measured_check_in_linked_goals: a KPI was measured or a measurement corrected
(kpi.MeasurementRecorded / kpi.MeasurementCorrected), so each active goal of the tenant whose
progress source is that KPI records an automatic check-in of the period's value, caused by
(causation id) the measurement event. Redelivery changes nothing: a goal records a KPI's
measurement only when it is newer than the last one it recorded (docs/goals.md).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterator
from uuid import UUID

from northstar_contracts.directory import PERSON_DEPARTED, PersonDepartedV1
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.kpi import (
    KPI_DEFINED,
    MEASUREMENT_CORRECTED,
    MEASUREMENT_RECORDED,
    MeasurementCorrectedV1,
    MeasurementRecordedV1,
)
from northstar_contracts.registry import EVENTS
from services.goals.application import GoalsApplication
from services.goals.index import GoalIndex
from services.goals.kpis import KnownKpis
from services.goals.rules import OPEN_LIFECYCLES
from services.shared.errors import ConcurrentUpdate, NotFound
from services.shared.eventstore import CommandContext
from services.shared.readmodel import ReadModelDatabase, Transaction
from services.shared.sequencing import HoldLimits, SequencedLedger, SkipRecord, Write

POLICY_ACTOR = "northstar/goals"
KPI_POLICY = "goals-kpi-policy"
SAVE_ATTEMPTS = 5
_PAGE = 500
logger = logging.getLogger(__name__)


def when_person_departed_flag_their_goals(
    app: GoalsApplication, index: GoalIndex, envelope: EventEnvelope
) -> int:
    """Flags the departed person's open goals; returns how many were newly flagged."""
    departure = EVENTS.read(envelope)
    if not isinstance(departure, PersonDepartedV1):
        raise TypeError(f"not a departure: {envelope.type}")
    context = CommandContext(
        tenant_id=envelope.tenant_id,
        actor_id=envelope.actor_id or POLICY_ACTOR,
        correlation_id=envelope.correlation_id or envelope.id,
        causation_id=envelope.id,
    )
    flagged = 0
    for goal_id in _open_goals_of(index, envelope.tenant_id, departure.person_id):
        goal = app.get_goal(envelope.tenant_id, goal_id)
        if goal.owner_id != departure.person_id:
            continue  # reassigned since the index row was read
        if goal.flag_for_reassignment(
            departure.person_id, departure.manager_id, departure.leave_date, context.actor_id
        ):
            # A concurrent change raises ConcurrentUpdate: the consumer retries the whole event,
            # and goals flagged on the first attempt are skipped the second time.
            app.save_goals(context, goal)
            flagged += 1
    return flagged


def _open_goals_of(index: GoalIndex, tenant_id: str, person_id: str) -> Iterator[UUID]:
    after = ""
    while True:
        rows = index.list_goals(
            tenant_id,
            owner_id=person_id,
            lifecycles=OPEN_LIFECYCLES,
            after_goal_id=after,
            limit=_PAGE,
        )
        for row in rows:
            yield row.goal_id
        if len(rows) < _PAGE:
            return
        after = str(rows[-1].goal_id)


class DeparturePolicy:
    """The EventConsumer apply function for the directory topic."""

    def __init__(self, app: GoalsApplication, index: GoalIndex) -> None:
        self.app = app
        self.index = index

    async def apply(self, envelope: EventEnvelope) -> bool:
        """False when a departure left nothing to flag (a redelivery, or no open goals); other
        directory events concern the replica, not this policy, and pass through."""
        if envelope.type != PERSON_DEPARTED:
            return True
        flagged = await asyncio.to_thread(
            when_person_departed_flag_their_goals, self.app, self.index, envelope
        )
        return flagged > 0


def when_kpi_measured_check_in_linked_goals(
    app: GoalsApplication, index: GoalIndex, envelope: EventEnvelope
) -> int:
    """Checks the period's value in on every goal this KPI drives; returns how many moved."""
    measurement = EVENTS.read(envelope)
    if not isinstance(measurement, MeasurementRecordedV1 | MeasurementCorrectedV1):
        raise TypeError(f"not a KPI measurement: {envelope.type}")
    kpi_id = UUID(envelope.aggregate_id)
    actor = envelope.actor_id or POLICY_ACTOR
    context = CommandContext(
        tenant_id=envelope.tenant_id,
        actor_id=actor,
        correlation_id=envelope.correlation_id or envelope.id,
        causation_id=envelope.id,
    )
    moved = 0
    # Looked up within the KPI's own tenant, and each goal loaded within it: another tenant's
    # KPI never moves a goal, even one naming the same id.
    for goal_id in index.goals_driven_by_kpi(envelope.tenant_id, kpi_id):
        for attempt in range(1, SAVE_ATTEMPTS + 1):
            try:
                goal = app.get_goal(envelope.tenant_id, goal_id)
            except NotFound:
                break
            recorded = goal.check_in_kpi_measurement(
                kpi_id,
                envelope.aggregate_version,
                measurement.period,
                measurement.period_value,
                actor,
                kpi_event_id=envelope.id,
            )
            if not recorded:
                break
            try:
                app.save_goals(context, goal)
            except ConcurrentUpdate:
                if attempt == SAVE_ATTEMPTS:
                    raise
                continue  # someone changed the goal meanwhile: load it again
            moved += 1
            break
    return moved


class KpiPolicy:
    """Consumes the KPI topic in order per KPI (the shared sequencing ledger, in the goals
    service's own KPI store): remembers each tenant's KPIs and runs the measurement policy."""

    def __init__(
        self,
        app: GoalsApplication,
        index: GoalIndex,
        db: ReadModelDatabase,
        limits: HoldLimits | None = None,
    ) -> None:
        self.app = app
        self.index = index
        self.known = KnownKpis(db)
        self.ledger = SequencedLedger(
            db,
            KPI_POLICY,
            read_model=KPI_POLICY,
            prepare=self._prepare,
            fill_skipped=self._fill_skipped,
            limits=limits,
        )

    async def apply(self, envelope: EventEnvelope) -> bool:
        """One KPI event outside Kafka (tests, replays); False unless applied now."""
        return (await asyncio.to_thread(self.ledger.take, [envelope]))[0]

    def _prepare(self, envelope: EventEnvelope) -> Write:
        if envelope.type == KPI_DEFINED:
            return functools.partial(self._remember, envelope=envelope)
        if envelope.type in (MEASUREMENT_RECORDED, MEASUREMENT_CORRECTED):
            return functools.partial(self._check_in, envelope=envelope)
        # Targets, thresholds, statuses, overdue periods (and types added later) move no goal.
        return _nothing

    @staticmethod
    def _remember(tx: Transaction, envelope: EventEnvelope) -> None:
        KnownKpis.remember(tx, envelope)

    def _check_in(self, tx: Transaction, envelope: EventEnvelope) -> None:
        # The goals' own record of applied measurements makes this safe to run again if the
        # ledger's transaction does not commit after the goals were saved.
        moved = when_kpi_measured_check_in_linked_goals(self.app, self.index, envelope)
        if moved:
            logger.info(
                "KPI %s measurement %s moved %d goal(s)", envelope.aggregate_id, envelope.id, moved
            )

    def _fill_skipped(self, tx: Transaction, record: SkipRecord) -> None:
        """An operator skipped a KPI event: no goal moves for it."""


def _nothing(tx: Transaction) -> None:
    """A KPI event that concerns no goal."""
