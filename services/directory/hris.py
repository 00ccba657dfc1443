"""The inbound HRIS feed: records from northstar.hris.inbound.v1 applied to the directory.

Runs on the shared consumer runtime (manual ack, bounded retries). A batch of records is
applied as one unit: each record sees the ones before it, and their events are stored in one
transaction. When any record of the batch fails, nothing of it is stored and the consumer
applies its records one by one: a record that fails validation or names an unknown or looping
reference is dead-lettered at once to northstar.hris.inbound.v1.dlq with the reason in its
headers; the records after it apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from uuid import UUID

from faststream.kafka import KafkaBroker

from northstar_contracts.errors import ContractViolation
from northstar_contracts.hris import (
    HRIS_INBOUND_TOPIC,
    DepartureRecord,
    HrisRecord,
    PersonUpsertRecord,
    TeamUpsertRecord,
    parse_hris_record,
)
from services.directory.application import DirectoryApplication
from services.directory.domain import PersonDetails, TeamDetails, person_uuid, team_uuid
from services.shared.auth import INTEGRATION, Principal
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
)
from services.shared.metrics import ServiceMetrics

HRIS_ACTOR_ID = "hris-feed"
HRIS_CONSUMER_GROUP = "northstar-directory-hris"
# The record itself is at fault: retrying cannot help. Anything else (a store outage, a
# concurrent write) is retried before the record is given up.
PERMANENT_RECORD_ERRORS: tuple[type[Exception], ...] = (
    ContractViolation,  # InvalidArgument is one too
    NotFound,
    FailedPrecondition,
    PermissionDenied,
)


def feed_principal(tenant_id: str) -> Principal:
    """The HRIS feed acts as its tenant's integration account, under the same policy as the API."""
    return Principal(subject=HRIS_ACTOR_ID, tenant_id=tenant_id, roles=frozenset({INTEGRATION}))


def apply_record(app: DirectoryApplication, record: HrisRecord) -> bool:
    """Applies one record; False when it changed nothing (a replay, or older than the data)."""
    principal = feed_principal(record.tenant_id)
    if isinstance(record, PersonUpsertRecord):
        details = PersonDetails(
            name=record.name,
            email=record.email,
            title=record.title,
            team_id=record.team_id,
            manager_id=record.manager_id,
            employment_status=record.employment_status,
            start_date=record.start_date,
            leave_date=record.leave_date,
        )
        return app.upsert_person(
            principal, record.external_id, details, effective_at=record.effective_at
        ).changed
    if isinstance(record, TeamUpsertRecord):
        team = TeamDetails(
            name=record.name, parent_team_id=record.parent_team_id, lead_id=record.lead_id
        )
        return app.upsert_team(
            principal, record.external_id, team, effective_at=record.effective_at
        ).changed
    assert isinstance(record, DepartureRecord)
    return app.record_departure(
        principal,
        record.external_id,
        record.leave_date,
        record.reason,
        effective_at=record.effective_at,
    ).changed


def apply_records(app: DirectoryApplication, records: list[HrisRecord]) -> list[bool]:
    """`apply_record` of each, in order, stored together in one transaction (all or none)."""
    with app.saving_together():
        app.load_ahead(aggregate_id for record in records for aggregate_id in read_by(record))
        return [apply_record(app, record) for record in records]


def read_by(record: HrisRecord) -> list[UUID]:
    """The people and teams applying `record` reads: its own, and those it refers to and must
    exist (a team's lead need not)."""
    tenant_id = record.tenant_id
    if isinstance(record, PersonUpsertRecord):
        ids = [person_uuid(tenant_id, record.external_id)]
        if record.team_id:
            ids.append(team_uuid(tenant_id, record.team_id))
        if record.manager_id:
            ids.append(person_uuid(tenant_id, record.manager_id))
        return ids
    if isinstance(record, TeamUpsertRecord):
        ids = [team_uuid(tenant_id, record.external_id)]
        if record.parent_team_id:
            ids.append(team_uuid(tenant_id, record.parent_team_id))
        return ids
    return [person_uuid(tenant_id, record.external_id)]


class HrisFeed:
    """Subscribes the directory to the HRIS topic; `on_saved` runs (on the loop) after changes."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        app: DirectoryApplication,
        metrics: ServiceMetrics,
        on_saved: Callable[[], None] = lambda: None,
        topic: str = HRIS_INBOUND_TOPIC,
        group_id: str = HRIS_CONSUMER_GROUP,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.app = app
        self.on_saved = on_saved
        self.consumer = EventConsumer(
            broker=broker,
            name="directory-hris",
            topics=[topic],
            group_id=group_id,
            apply=self.apply,
            metrics=metrics,
            retry=retry,
            decode=parse_hris_record,
            permanent_errors=PERMANENT_RECORD_ERRORS,
        )

    async def apply(self, record: HrisRecord) -> bool:
        changed = await asyncio.to_thread(apply_record, self.app, record)
        if changed:
            self.on_saved()
        return changed

    async def apply_batch(self, records: list[HrisRecord]) -> list[bool]:
        """The consumer's batch entry point (see `apply_records`)."""
        changed = await asyncio.to_thread(apply_records, self.app, records)
        if any(changed):
            self.on_saved()
        return changed
