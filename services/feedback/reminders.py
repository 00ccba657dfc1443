"""The reminder scheduler: a periodic pass, driven by the injectable clock, that turns time into
events other systems consume. Each pass is idempotent per slot: running it twice, or on two
replicas, records nothing twice (the aggregates remember what they recorded).

- A request due today or tomorrow: one `due_soon` reminder.
- A request three business days old: one `unanswered` reminder (named requests: reviewers who
  have not answered, none if all have; anonymous ones: every reviewer, see application.remind).
- A request past its due date: closed, with its aggregates.
- A 1:1 slot whose window closed without a meeting: one OneOnOneOverdue per missed slot.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, timedelta

from services.feedback.application import FeedbackApplication
from services.feedback.index import FeedbackIndex
from services.feedback.requests import FeedbackRequest

logger = logging.getLogger(__name__)

DUE_SOON, UNANSWERED = "due_soon", "unanswered"
UNANSWERED_AFTER_BUSINESS_DAYS = 3
DUE_SOON_DAYS = 1


def business_days_between(start: date, end: date) -> int:
    """Weekdays after `start` up to and including `end` (Monday to Thursday is 3)."""
    days, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days += 1
    return days


@dataclass(frozen=True)
class SchedulerPass:
    reminders: int = 0
    closed: int = 0
    overdue: int = 0


class ReminderScheduler:
    def __init__(
        self, app: FeedbackApplication, index: FeedbackIndex, interval_seconds: float = 60.0
    ) -> None:
        self.app = app
        self.index = index
        self.interval_seconds = interval_seconds

    def run_once(self) -> SchedulerPass:
        self.index.catch_up()
        today = self.app.today()
        reminders = closed = overdue = 0
        for indexed in self.index.open_requests():
            tenant, request_id = indexed.tenant_id, indexed.request_id
            request = self.app.load(FeedbackRequest, tenant, request_id, "request_id")
            if request.due_date < today:
                closed += self.app.close_due_request(tenant, request_id)
                continue
            if (request.due_date - today).days <= DUE_SOON_DAYS:
                reminders += self.app.remind(tenant, request_id, DUE_SOON)
            if business_days_between(request.opened_on, today) >= UNANSWERED_AFTER_BUSINESS_DAYS:
                reminders += self.app.remind(tenant, request_id, UNANSWERED)
        for tenant, one_on_one_id in self.index.one_on_ones():
            overdue += self.app.record_overdue_slots(tenant, one_on_one_id)
        return SchedulerPass(reminders, closed, overdue)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.run_once)
            except Exception:  # a store outage: the next pass tries again
                logger.exception("feedback reminder pass failed; retrying next interval")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval_seconds)
            except TimeoutError:
                continue
