"""The OneOnOne aggregate: a manager-report pair meeting on a cadence, with a shared agenda,
private notes (their writer reads them, nobody else), and action items that carry over to the
next meeting until done.

Slots: the start date, then every 7 or 14 days, or on the start's day of every month (the last
day in shorter months). A meeting held on day d is for the latest slot on or before d. A slot
is missed when the next slot arrives and no meeting was held for it; each missed slot records
exactly one Overdue event, however often the scheduler looks. Once a departure flags the
series (the manager or the report left), it takes no more changes; it stays readable.
"""

from __future__ import annotations

import calendar
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.event_clock import ClockedEvent
from services.feedback.rules import (
    CADENCES,
    EVERY_TWO_WEEKS,
    WEEKLY,
    require_choice,
    require_text,
)
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound


def slot(start: date, cadence: str, index: int) -> date:
    """The `index`-th slot (0 is the start)."""
    if cadence == WEEKLY:
        return start + timedelta(days=7 * index)
    if cadence == EVERY_TWO_WEEKS:
        return start + timedelta(days=14 * index)
    months = start.month - 1 + index
    year, month = start.year + months // 12, months % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def slots_until(start: date, cadence: str, end: date) -> Iterator[tuple[date, date]]:
    """(slot, next slot) for every slot whose next slot is on or before `end`."""
    index = 0
    while (following := slot(start, cadence, index + 1)) <= end:
        yield slot(start, cadence, index), following
        index += 1


def slot_of(start: date, cadence: str, day: date) -> date:
    """The latest slot on or before `day` (day >= start)."""
    index = 0
    while slot(start, cadence, index + 1) <= day:
        index += 1
    return slot(start, cadence, index)


class OneOnOne(Aggregate):
    class Event(ClockedEvent):
        pass

    class Scheduled(Event, Aggregate.Created):
        tenant_id: str
        manager_id: str
        report_id: str
        cadence: str
        start_date: date

    class AgendaItemAdded(Event):
        item_id: UUID
        author_id: str
        text: str

    class PrivateNoteAdded(Event):
        note_id: UUID
        writer_id: str
        text: str

    class ActionItemAdded(Event):
        item_id: UUID
        owner_id: str
        text: str
        by: str

    class ActionItemCompleted(Event):
        item_id: UUID
        by: str

    class MeetingHeld(Event):
        slot: date
        held_on: date
        carried_over_item_ids: list[UUID]
        by: str

    class Overdue(Event):
        slot: date
        manager_id: str
        report_id: str

    class Flagged(Event):
        departed_person_id: str
        role: str
        leave_date: date
        by: str

    @classmethod
    def schedule(
        cls,
        *,
        tenant_id: str,
        manager_id: str,
        report_id: str,
        cadence: str,
        start_date: date,
        today: date,
    ) -> OneOnOne:
        require_choice(cadence, CADENCES, "cadence")
        if start_date < today:
            raise InvalidArgument(
                f"{start_date.isoformat()} is in the past (today is {today.isoformat()})",
                field="start_date",
            )
        if manager_id == report_id:
            raise InvalidArgument("a 1:1 needs two people", field="report_id")
        return cls(
            tenant_id=tenant_id,
            manager_id=manager_id,
            report_id=report_id,
            cadence=cadence,
            start_date=start_date,
        )

    @event(Scheduled)
    def __init__(
        self, tenant_id: str, manager_id: str, report_id: str, cadence: str, start_date: date
    ) -> None:
        self.tenant_id = tenant_id
        self.manager_id = manager_id
        self.report_id = report_id
        self.cadence = cadence
        self.start_date = start_date
        self.held: dict[str, str] = {}  # slot -> day held (ISO dates)
        self.missed: list[str] = []
        self.agenda: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []
        self.action_items: list[dict[str, Any]] = []
        self.last_held_on: date | None = None
        self.departed: list[str] = []
        self.ends_on: date | None = None  # a participant's last day: no slot is missed after it

    # ---- reading ----

    def participants(self) -> tuple[str, str]:
        return self.manager_id, self.report_id

    def next_meeting(self, today: date) -> date:
        """The earliest slot, from the latest one that has begun, not yet held."""
        current = slot_of(self.start_date, self.cadence, max(today, self.start_date))
        index = 0
        while slot(self.start_date, self.cadence, index) < current:
            index += 1
        while slot(self.start_date, self.cadence, index).isoformat() in self.held:
            index += 1
        return slot(self.start_date, self.cadence, index)

    def notes_of(self, writer_id: str) -> list[dict[str, Any]]:
        return [note for note in self.notes if note["writer_id"] == writer_id]

    def open_action_item_ids(self) -> list[UUID]:
        return [item["item_id"] for item in self.action_items if not item["done"]]

    def missed_slots(self, today: date) -> list[date]:
        """Slots whose window has closed without a meeting and not yet recorded as overdue."""
        end = min(today, self.ends_on) if self.ends_on else today
        return [
            current
            for current, _following in slots_until(self.start_date, self.cadence, end)
            if current.isoformat() not in self.held and current.isoformat() not in self.missed
        ]

    def require_open(self) -> None:
        """Refuses a change once a participant has left: the series has nobody to meet."""
        if not self.departed:
            return
        leavers = ", ".join(
            f"{'the manager' if person == self.manager_id else 'the report'} {person}"
            for person in self.departed
        )
        last_day = self.ends_on.isoformat() if self.ends_on else "?"
        raise FailedPrecondition(
            f"{leavers} left (last day {last_day}): the 1:1 takes no more changes",
            field="one_on_one_id",
        )

    # ---- commands ----

    def add_agenda_item(self, author_id: str, text: str) -> UUID:
        self.require_open()
        item_id = uuid.uuid4()
        self._agenda_item_added(
            item_id=item_id, author_id=author_id, text=require_text(text, "text")
        )
        return item_id

    @event(AgendaItemAdded)
    def _agenda_item_added(self, item_id: UUID, author_id: str, text: str) -> None:
        self.agenda.append({"item_id": item_id, "author_id": author_id, "text": text})

    def add_private_note(self, writer_id: str, text: str) -> UUID:
        self.require_open()
        note_id = uuid.uuid4()
        self._note_added(note_id=note_id, writer_id=writer_id, text=require_text(text, "text"))
        return note_id

    @event(PrivateNoteAdded)
    def _note_added(self, note_id: UUID, writer_id: str, text: str) -> None:
        written_for = self.last_held_on.isoformat() if self.last_held_on else ""
        self.notes.append(
            {"note_id": note_id, "writer_id": writer_id, "text": text, "after": written_for}
        )

    def add_action_item(self, owner_id: str, text: str, by: str) -> UUID:
        self.require_open()
        if owner_id not in self.participants():
            raise InvalidArgument("the owner is the manager or the report", field="owner_id")
        item_id = uuid.uuid4()
        self._action_item_added(
            item_id=item_id, owner_id=owner_id, text=require_text(text, "text"), by=by
        )
        return item_id

    @event(ActionItemAdded)
    def _action_item_added(self, item_id: UUID, owner_id: str, text: str, by: str) -> None:
        after = self.last_held_on.isoformat() if self.last_held_on else self.start_date.isoformat()
        self.action_items.append(
            {"item_id": item_id, "owner_id": owner_id, "text": text, "done": False, "added": after}
        )

    def complete_action_item(self, item_id: UUID, by: str) -> None:
        self.require_open()
        item = next((i for i in self.action_items if i["item_id"] == item_id), None)
        if item is None:
            raise NotFound(f"no open action item {item_id}", field="item_id")
        if item["done"]:
            raise FailedPrecondition("the action item is done already", field="item_id")
        self._action_item_completed(item_id=item_id, by=by)

    @event(ActionItemCompleted)
    def _action_item_completed(self, item_id: UUID, by: str) -> None:
        for item in self.action_items:
            if item["item_id"] == item_id:
                item["done"] = True

    def record_meeting(self, held_on: date, today: date, by: str) -> None:
        self.require_open()
        if held_on < self.start_date:
            raise InvalidArgument(
                f"the 1:1 starts on {self.start_date.isoformat()}", field="held_on"
            )
        if held_on > today:
            raise InvalidArgument("a meeting cannot be recorded ahead of time", field="held_on")
        for_slot = slot_of(self.start_date, self.cadence, held_on)
        if for_slot.isoformat() in self.held:
            raise FailedPrecondition(
                f"the 1:1 for {for_slot.isoformat()} was recorded already", field="held_on"
            )
        self._meeting_held(
            slot=for_slot, held_on=held_on, carried_over_item_ids=self.open_action_item_ids(), by=by
        )

    @event(MeetingHeld)
    def _meeting_held(
        self, slot: date, held_on: date, carried_over_item_ids: list[UUID], by: str
    ) -> None:
        self.held[slot.isoformat()] = held_on.isoformat()
        if self.last_held_on is None or held_on > self.last_held_on:
            self.last_held_on = held_on
        # The agenda was the meeting's; done items leave the list; open ones carry over.
        self.agenda = []
        self.action_items = [item for item in self.action_items if not item["done"]]

    def record_overdue(self, today: date) -> int:
        """One Overdue event per missed slot not recorded yet; returns how many."""
        missed = self.missed_slots(today)
        for current in missed:
            self._overdue(slot=current, manager_id=self.manager_id, report_id=self.report_id)
        return len(missed)

    @event(Overdue)
    def _overdue(self, slot: date, manager_id: str, report_id: str) -> None:
        self.missed.append(slot.isoformat())

    def flag_departure(self, person_id: str, leave_date: date, by: str) -> bool:
        """Records that the manager or the report left, once; False when nothing to do."""
        if person_id in self.departed or person_id not in self.participants():
            return False
        role = "manager" if person_id == self.manager_id else "report"
        self._flagged(departed_person_id=person_id, role=role, leave_date=leave_date, by=by)
        return True

    @event(Flagged)
    def _flagged(self, departed_person_id: str, role: str, leave_date: date, by: str) -> None:
        self.departed.append(departed_person_id)
        if self.ends_on is None or leave_date < self.ends_on:
            self.ends_on = leave_date
