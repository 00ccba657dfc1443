"""1:1 use cases: schedule, read, list, agenda, private notes, action items, meetings. Each takes
the caller and authorises first; only the two participants ever see a 1:1's content (HR admins
list the tenant's schedules)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

from services.feedback import authorization as policy
from services.feedback.event_clock import records_on_clock
from services.feedback.one_on_ones import OneOnOne
from services.feedback.store import SYSTEM_ACTOR, FeedbackStore, Saved
from services.shared.auth import Principal
from services.shared.errors import FailedPrecondition, InvalidArgument

OneOnOneResult = tuple[OneOnOne, Saved]


@dataclass(frozen=True)
class ListedOneOnOne:
    one_on_one: OneOnOne
    shared: bool  # the caller is a participant: the agenda and action items are theirs to read


@records_on_clock
class OneOnOneCases(FeedbackStore):
    def schedule_one_on_one(
        self,
        principal: Principal,
        *,
        manager_id: str,
        report_id: str,
        cadence: str,
        start_date: date,
    ) -> OneOnOneResult:
        tenant = principal.tenant_id
        manager_id = manager_id or principal.subject
        policy.require_can_schedule(principal, self.directory, manager_id)
        if not report_id:
            raise InvalidArgument("is required", field="report_id")
        self.require_person(tenant, manager_id, "manager_id")
        report = self.require_person(tenant, report_id, "report_id")
        if report.manager_id != manager_id:
            raise FailedPrecondition(
                f"{report_id} does not report to {manager_id}", field="report_id"
            )
        one_on_one = OneOnOne.schedule(
            tenant_id=tenant,
            manager_id=manager_id,
            report_id=report_id,
            cadence=cadence,
            start_date=start_date,
            today=self.today(),
        )
        return one_on_one, self.save_as(principal, tenant, one_on_one)

    def get_one_on_one(self, principal: Principal, one_on_one_id: UUID) -> OneOnOne:
        one_on_one = self.load(OneOnOne, principal.tenant_id, one_on_one_id, "one_on_one_id")
        policy.require_participant(principal, one_on_one)
        return one_on_one

    def list_one_on_ones(
        self, principal: Principal, person_id: str, *, offset: int, limit: int
    ) -> tuple[list[ListedOneOnOne], bool]:
        """A page of the series the caller may see, and whether more may follow."""
        if self.index is None:
            raise RuntimeError("listing needs the feedback index")
        ids = self.index.one_on_one_ids(
            principal.tenant_id,
            participant=policy.one_on_ones_listed_for(principal),
            person_id=person_id,
            offset=offset,
            limit=limit + 1,
        )
        listed = []
        for one_on_one_id in ids[:limit]:
            one_on_one = self.load(OneOnOne, principal.tenant_id, one_on_one_id, "one_on_one_id")
            listed.append(
                ListedOneOnOne(one_on_one, policy.shares_one_on_one(principal, one_on_one))
            )
        return listed, len(ids) > limit

    def _for_change(self, principal: Principal, one_on_one_id: UUID) -> OneOnOne:
        policy.require_writer(principal, self.directory, "change 1:1s")
        return self.get_one_on_one(principal, one_on_one_id)

    def add_agenda_item(
        self, principal: Principal, one_on_one_id: UUID, text: str
    ) -> OneOnOneResult:
        one_on_one = self._for_change(principal, one_on_one_id)
        one_on_one.add_agenda_item(principal.subject, text)
        return one_on_one, self.save_as(principal, principal.tenant_id, one_on_one)

    def add_private_note(
        self, principal: Principal, one_on_one_id: UUID, text: str
    ) -> OneOnOneResult:
        one_on_one = self._for_change(principal, one_on_one_id)
        one_on_one.add_private_note(principal.subject, text)
        return one_on_one, self.save_as(principal, principal.tenant_id, one_on_one)

    def add_action_item(
        self, principal: Principal, one_on_one_id: UUID, owner_id: str, text: str
    ) -> OneOnOneResult:
        one_on_one = self._for_change(principal, one_on_one_id)
        one_on_one.add_action_item(owner_id or principal.subject, text, principal.subject)
        return one_on_one, self.save_as(principal, principal.tenant_id, one_on_one)

    def complete_action_item(
        self, principal: Principal, one_on_one_id: UUID, item_id: UUID
    ) -> OneOnOneResult:
        one_on_one = self._for_change(principal, one_on_one_id)
        one_on_one.complete_action_item(item_id, principal.subject)
        return one_on_one, self.save_as(principal, principal.tenant_id, one_on_one)

    def record_meeting(
        self, principal: Principal, one_on_one_id: UUID, held_on: date
    ) -> OneOnOneResult:
        one_on_one = self._for_change(principal, one_on_one_id)
        one_on_one.record_meeting(held_on, self.today(), principal.subject)
        return one_on_one, self.save_as(principal, principal.tenant_id, one_on_one)

    def flag_one_on_one_departure(
        self, tenant_id: str, one_on_one_id: UUID, person_id: str, leave_date: date
    ) -> bool:
        """The departure policy's command: the manager or the report left."""
        one_on_one = self.load(OneOnOne, tenant_id, one_on_one_id, "one_on_one_id")
        if not one_on_one.flag_departure(person_id, leave_date, SYSTEM_ACTOR):
            return False
        self.save_as(None, tenant_id, one_on_one)
        return True

    def record_overdue_slots(self, tenant_id: str, one_on_one_id: UUID) -> int:
        """The scheduler's pass over one 1:1: one Overdue event per newly missed slot."""
        one_on_one = self.load(OneOnOne, tenant_id, one_on_one_id, "one_on_one_id")
        recorded = one_on_one.record_overdue(self.today())
        if recorded:
            self.save_as(None, tenant_id, one_on_one)
        return recorded
