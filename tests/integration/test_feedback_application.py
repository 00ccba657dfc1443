"""Feedback application cases on SQLite and on PostgreSQL alike (one class, two
parametrisations of `store_url`): every recorded event carries the injected clock's time, and a
departure flags what the person was part of."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.feedback.domain import Feedback
from services.feedback.one_on_ones import OneOnOne
from services.feedback.publishing import feedback_envelope
from services.feedback.reminders import ReminderScheduler
from services.feedback.requests import FeedbackRequest, QuestionInput
from tests.feedback_support import FeedbackWorld, feedback_world, principal

RATING_ONLY = [{"question_id": "q1", "rating": 4, "text": ""}]


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[FeedbackWorld]:
    built = feedback_world(tmp_path, store_url=store_url)  # Monday 2 March 2026
    yield built
    built.close()


def events_after(world: FeedbackWorld, position: int) -> list[tuple[Any, Any]]:
    """(domain event, notification) of everything stored after notification `position`."""
    notifications = world.app.recorder.select_notifications(
        position, 1000, inclusive_of_start=False
    )
    return [(world.app.mapper.to_domain_event(n), n) for n in notifications]


class TestFeedbackApplicationOnEitherStore:
    def test_every_recorded_event_carries_the_injected_clocks_time(
        self, world: FeedbackWorld
    ) -> None:
        app, clock = world.app, world.clock
        clock.now = datetime(2026, 3, 2, 9, 15, 30, tzinfo=UTC)  # far from the wall clock
        stamped: list[tuple[Any, Any, datetime]] = []

        def step(action: Callable[[], object]) -> None:
            before = app.recorder.max_notification_id() or 0
            action()
            recorded = events_after(world, before)
            assert recorded, "the step recorded nothing"
            stamped.extend((event, notification, clock.now) for event, notification in recorded)

        feedback: list[Feedback] = []
        step(
            lambda: feedback.append(
                app.give_feedback(
                    principal("giver-1"),
                    recipient_id="peer-1",
                    kind="praise",
                    visibility="public",
                    text="clear release notes",
                    goal_id=None,
                    values=[],
                )[0]
            )
        )
        requests: list[FeedbackRequest] = []
        step(
            lambda: requests.append(
                app.create_request(
                    principal("recipient-1"),
                    subject_id="",
                    kind="general",
                    reviewer_ids=["peer-1", "peer-2"],
                    questions=[QuestionInput("rating", "How was the launch?")],
                    due_date=date(2026, 3, 10),
                    anonymous=False,
                )[0]
            )
        )
        request = requests[0]
        clock.advance(1)
        step(lambda: app.submit_answer(principal("peer-1"), request.id, RATING_ONLY))
        scheduler = ReminderScheduler(app, world.index)
        clock.advance(2)  # Thursday 5 March: three business days, unanswered
        step(scheduler.run_once)
        one_on_ones: list[OneOnOne] = []
        step(
            lambda: one_on_ones.append(
                app.schedule_one_on_one(
                    principal("manager-1"),
                    manager_id="",
                    report_id="recipient-1",
                    cadence="weekly",
                    start_date=date(2026, 3, 5),
                )[0]
            )
        )
        one_on_one = one_on_ones[0]
        step(lambda: app.add_action_item(principal("manager-1"), one_on_one.id, "", "plan"))
        step(lambda: app.record_meeting(principal("manager-1"), one_on_one.id, date(2026, 3, 5)))
        clock.advance(15)  # 20 March: the request is past due, the 12 March slot was missed
        step(scheduler.run_once)

        kinds = {type(event).__qualname__ for event, _notification, _at in stamped}
        assert {
            "Feedback.Given",
            "FeedbackRequest.Created",
            "FeedbackRequest.Answered",
            "FeedbackRequest.ReminderDue",
            "FeedbackRequest.Closed",
            "OneOnOne.Scheduled",
            "OneOnOne.ActionItemAdded",
            "OneOnOne.MeetingHeld",
            "OneOnOne.Overdue",
        } <= kinds
        for event, notification, at in stamped:
            assert event.timestamp == at, type(event).__qualname__
            assert feedback_envelope(event, notification).occurred_at == at
        assert feedback[0].created_on == datetime(2026, 3, 2, 9, 15, 30, tzinfo=UTC)
