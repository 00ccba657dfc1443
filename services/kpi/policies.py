"""Reactions of the KPI service to time passing.

when_cadence_missed_record_overdue: a period ended without any measurement, so the KPI records
MeasurementOverdue for it, exactly once (the aggregate remembers which periods it flagged; a
second pass, or a second pod, finds nothing new to record). The clock is the application's, so
tests move time by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from services.kpi.application import KpiApplication
from services.kpi.index import KpiIndex
from services.shared.auth import INTEGRATION, Principal
from services.shared.errors import ConcurrentUpdate

logger = logging.getLogger(__name__)

POLICY_ACTOR = "northstar/kpi"
CHECK_EVERY_SECONDS = 60.0
_PAGE = 500


def policy_principal(tenant_id: str) -> Principal:
    """The service's own account in a tenant: the overdue check acts as it."""
    return Principal(subject=POLICY_ACTOR, tenant_id=tenant_id, roles=frozenset({INTEGRATION}))


def when_cadence_missed_record_overdue(app: KpiApplication, index: KpiIndex) -> int:
    """One pass over every KPI; returns how many KPIs recorded an overdue period."""
    index.catch_up()
    recorded = 0
    for tenant_id in index.tenants():
        principal = policy_principal(tenant_id)
        after = ""
        while True:
            page = index.kpis(tenant_id, after=after, limit=_PAGE)
            for row in page:
                try:
                    recorded += app.record_overdue_measurements(principal, row.kpi_id).changed
                except ConcurrentUpdate:
                    continue  # another writer got there first; the next pass looks again
            if len(page) < _PAGE:
                break
            after = str(page[-1].kpi_id)
    return recorded


class OverdueCheck:
    """Runs the pass every `interval_seconds` until stopped; a failed pass is logged and retried
    at the next interval, never fatal."""

    def __init__(
        self,
        app: KpiApplication,
        index: KpiIndex,
        *,
        interval_seconds: float = CHECK_EVERY_SECONDS,
        on_recorded: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.index = index
        self.interval_seconds = interval_seconds
        self.on_recorded = on_recorded
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        recorded = await asyncio.to_thread(when_cadence_missed_record_overdue, self.app, self.index)
        if recorded:
            self.on_recorded()
        return recorded

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.run_once()
            except Exception:
                logger.exception("the overdue check failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_seconds)
