"""The inbound measurement feed: records from northstar.kpi.measurements.inbound.v1 applied to
KPIs.

Runs on the shared consumer runtime (manual commit, ordered, bounded retries). Each record is
applied once per (KPI, period, source record id): a replayed feed changes nothing. A record that
fails validation or names an unknown KPI, a period that does not fit the KPI's cadence, or a
source record already recorded with another value is dead-lettered at once to
northstar.kpi.measurements.inbound.v1.dlq with the reason in its headers; the records after it
apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from faststream.kafka import KafkaBroker

from northstar_contracts.errors import ContractViolation
from northstar_contracts.kpi import (
    MEASUREMENTS_INBOUND_TOPIC,
    MeasurementRecord,
    parse_measurement_record,
)
from services.kpi.application import KpiApplication
from services.shared.auth import INTEGRATION, Principal
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.errors import FailedPrecondition, NotFound, PermissionDenied
from services.shared.metrics import ServiceMetrics

FEED_ACCOUNT = "kpi-measurement-feed"
FEED_CONSUMER_GROUP = "northstar-kpi-measurements"
# The record itself is at fault: retrying cannot help. Anything else (a store outage, a
# concurrent write) is retried before the record is given up.
PERMANENT_RECORD_ERRORS: tuple[type[Exception], ...] = (
    ContractViolation,  # InvalidArgument is one too
    NotFound,
    FailedPrecondition,
    PermissionDenied,
)


def feed_principal(tenant_id: str) -> Principal:
    """The feed acts as its tenant's integration account, under the same policy as the API."""
    return Principal(subject=FEED_ACCOUNT, tenant_id=tenant_id, roles=frozenset({INTEGRATION}))


def apply_record(app: KpiApplication, record: MeasurementRecord) -> bool:
    """Applies one record; False when it changed nothing (a replay)."""
    return app.record_measurement(
        feed_principal(record.tenant_id),
        record.kpi_id,
        record.period,
        record.value,
        record.source_record_id,
        source_system=record.source_system,
    ).changed


class MeasurementFeed:
    """Subscribes the KPI service to the feed; `on_saved` runs (on the loop) after changes."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        app: KpiApplication,
        metrics: ServiceMetrics,
        on_saved: Callable[[], None] = lambda: None,
        topic: str = MEASUREMENTS_INBOUND_TOPIC,
        group_id: str = FEED_CONSUMER_GROUP,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.app = app
        self.on_saved = on_saved
        self.consumer = EventConsumer(
            broker=broker,
            name="kpi-measurement-feed",
            topics=[topic],
            group_id=group_id,
            apply=self.apply,
            metrics=metrics,
            retry=retry,
            decode=parse_measurement_record,
            permanent_errors=PERMANENT_RECORD_ERRORS,
        )

    async def apply(self, record: MeasurementRecord) -> bool:
        changed = await asyncio.to_thread(apply_record, self.app, record)
        if changed:
            self.on_saved()
        return changed
