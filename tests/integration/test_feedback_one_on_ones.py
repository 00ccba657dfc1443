"""1:1s on an injected clock: one overdue event per missed slot, none for a slot that took
place, open action items carry over until done, and a series a departure flagged takes no more
changes. The application cases run on SQLite and on
PostgreSQL alike (one class, two parametrisations of `store_url`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from services.feedback.one_on_ones import OneOnOne, slot
from services.feedback.policies import when_person_departed_flag_their_requests
from services.feedback.protobuf_mapping import one_on_one_message
from services.feedback.reminders import ReminderScheduler
from services.shared.errors import FailedPrecondition, InvalidArgument, PermissionDenied
from tests.feedback_support import FeedbackWorld, feedback_world, person_departed, principal

MANAGER, REPORT = principal("manager-1"), principal("recipient-1")


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[FeedbackWorld]:
    built = feedback_world(tmp_path, store_url=store_url)  # Monday 2 March 2026
    yield built
    built.close()


def overdue_slots(world: FeedbackWorld, one_on_one: OneOnOne) -> list[date]:
    return [
        event.slot
        for event in world.app.events.get(one_on_one.id)
        if isinstance(event, OneOnOne.Overdue)
    ]


def schedule(world: FeedbackWorld, cadence: str = "weekly") -> OneOnOne:
    one_on_one, _ = world.app.schedule_one_on_one(
        MANAGER,
        manager_id="",
        report_id="recipient-1",
        cadence=cadence,
        start_date=date(2026, 3, 3),
    )
    return one_on_one


def test_monthly_slots_keep_the_start_day_or_the_month_end() -> None:
    start = date(2026, 1, 31)
    assert [slot(start, "monthly", i) for i in range(3)] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
    ]


class TestOneOnOnesOnEitherStore:
    def test_each_missed_slot_gives_exactly_one_overdue_event(self, world: FeedbackWorld) -> None:
        one_on_one = schedule(world)
        scheduler = ReminderScheduler(world.app, world.index)
        world.clock.advance(9)  # Wednesday 11 March: the 3 March slot's week is over
        assert scheduler.run_once().overdue == 1
        assert scheduler.run_once().overdue == 0  # the same slot never twice
        world.clock.advance(14)  # 25 March: the 10 and 17 March slots are over as well
        scheduler.run_once()
        scheduler.run_once()
        assert overdue_slots(world, one_on_one) == [
            date(2026, 3, 3),
            date(2026, 3, 10),
            date(2026, 3, 17),
        ]

    def test_a_slot_that_took_place_is_not_overdue(self, world: FeedbackWorld) -> None:
        one_on_one = schedule(world)
        world.clock.advance(1)
        world.app.record_meeting(REPORT, one_on_one.id, date(2026, 3, 3))
        world.clock.advance(8)  # 11 March
        world.app.record_meeting(MANAGER, one_on_one.id, date(2026, 3, 11))  # the 10 March slot
        world.clock.advance(7)  # 18 March: both windows have closed
        assert world.app.record_overdue_slots("acme", one_on_one.id) == 0
        assert overdue_slots(world, one_on_one) == []

    def test_open_action_items_carry_over_until_done(self, world: FeedbackWorld) -> None:
        one_on_one = schedule(world)
        world.clock.advance(1)
        world.app.add_agenda_item(REPORT, one_on_one.id, "career plans")
        one_on_one, _ = world.app.add_action_item(
            MANAGER, one_on_one.id, "recipient-1", "draft plan"
        )
        one_on_one, _ = world.app.add_action_item(
            MANAGER, one_on_one.id, "manager-1", "book course"
        )
        plan, course = (item["item_id"] for item in one_on_one.action_items)
        world.app.complete_action_item(MANAGER, one_on_one.id, course)
        one_on_one, _ = world.app.record_meeting(MANAGER, one_on_one.id, date(2026, 3, 3))
        held = [
            e for e in world.app.events.get(one_on_one.id) if isinstance(e, OneOnOne.MeetingHeld)
        ]
        assert held[0].carried_over_item_ids == [plan]
        assert [i["item_id"] for i in one_on_one.action_items] == [plan]  # done items leave
        assert one_on_one.agenda == []  # the agenda was that meeting's
        world.clock.advance(7)
        one_on_one, _ = world.app.record_meeting(MANAGER, one_on_one.id, date(2026, 3, 10))
        assert [i["item_id"] for i in one_on_one.action_items] == [plan]  # still open: still there

    def test_private_notes_are_read_by_their_writer_only(self, world: FeedbackWorld) -> None:
        one_on_one = schedule(world)
        world.app.add_private_note(MANAGER, one_on_one.id, "ask about workload")
        today = world.app.today()
        as_report = one_on_one_message(
            world.app.get_one_on_one(REPORT, one_on_one.id), "recipient-1", today
        )
        as_manager = one_on_one_message(
            world.app.get_one_on_one(MANAGER, one_on_one.id), "manager-1", today
        )
        assert list(as_report.my_notes) == []
        assert [n.text for n in as_manager.my_notes] == ["ask about workload"]

    def test_a_cadence_cannot_start_in_the_past(self, world: FeedbackWorld) -> None:
        with pytest.raises(InvalidArgument) as refused:
            world.app.schedule_one_on_one(
                MANAGER,
                manager_id="",
                report_id="recipient-1",
                cadence="weekly",
                start_date=date(2026, 3, 1),
            )
        assert refused.value.field == "start_date"
        assert world.app.recorder.max_notification_id() in (None, 0)

    def test_a_series_flagged_by_a_departure_takes_no_more_changes(
        self, world: FeedbackWorld
    ) -> None:
        app = world.app
        one_on_one = schedule(world)
        one_on_one, _ = app.add_action_item(MANAGER, one_on_one.id, "recipient-1", "hand over")
        item_id = one_on_one.action_items[0]["item_id"]
        departure = person_departed("acme", "recipient-1", date(2026, 3, 6))
        world.replica.apply_envelope(departure)
        assert when_person_departed_flag_their_requests(app, world.index, departure) == 1
        world.clock.advance(1)
        stored = app.recorder.max_notification_id()
        changes: dict[str, Callable[[], object]] = {
            "agenda": lambda: app.add_agenda_item(MANAGER, one_on_one.id, "handover"),
            "note": lambda: app.add_private_note(MANAGER, one_on_one.id, "exit talk"),
            "action": lambda: app.add_action_item(MANAGER, one_on_one.id, "manager-1", "x"),
            "done": lambda: app.complete_action_item(MANAGER, one_on_one.id, item_id),
            "held": lambda: app.record_meeting(MANAGER, one_on_one.id, date(2026, 3, 3)),
        }
        for name, change in changes.items():
            with pytest.raises(FailedPrecondition) as refused:
                change()
            assert refused.value.field == "one_on_one_id", name
            assert "the report recipient-1 left (last day 2026-03-06)" in str(refused.value), name
        with pytest.raises(PermissionDenied):  # the leaver is no current member at all
            app.add_agenda_item(REPORT, one_on_one.id, "last words")
        assert app.recorder.max_notification_id() == stored
        # Reads keep working, and show who left.
        read = one_on_one_message(
            app.get_one_on_one(MANAGER, one_on_one.id), "manager-1", app.today()
        )
        assert list(read.departed_person_ids) == ["recipient-1"]
        assert [a.text for a in read.action_items] == ["hand over"]
        listed, _more = app.list_one_on_ones(MANAGER, "", offset=0, limit=5)
        assert [item.one_on_one.id for item in listed] == [one_on_one.id]
