"""Reminders on an injected clock: due soon and unanswered after three business days, once
each; anonymous requests name every reviewer; past their due date requests close. The
application cases run on SQLite and on PostgreSQL alike (one class, two parametrisations of
`store_url`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from services.feedback.reminders import ReminderScheduler, business_days_between
from services.feedback.requests import CLOSED, FeedbackRequest, QuestionInput
from tests.feedback_support import FeedbackWorld, feedback_world, principal

RATING_ONLY = [{"question_id": "q1", "rating": 4, "text": ""}]


@pytest.fixture
def world(tmp_path: Path, store_url: str) -> Iterator[FeedbackWorld]:
    built = feedback_world(tmp_path, store_url=store_url)  # Monday 2 March 2026
    yield built
    built.close()


def reminders(world: FeedbackWorld, request_id: UUID) -> list[tuple[str, list[str]]]:
    return [
        (event.reminder, event.reviewer_ids)
        for event in world.app.events.get(request_id)
        if isinstance(event, FeedbackRequest.ReminderDue)
    ]


def ask(world: FeedbackWorld, *, anonymous: bool, due: date) -> FeedbackRequest:
    request, _ = world.app.create_request(
        principal("recipient-1"),
        subject_id="",
        kind="general",
        reviewer_ids=["peer-1", "peer-2", "peer-3"],
        questions=[QuestionInput("rating", "How was the launch?")],
        due_date=due,
        anonymous=anonymous,
    )
    return request


def test_three_business_days_skip_the_weekend() -> None:
    assert business_days_between(date(2026, 3, 2), date(2026, 3, 5)) == 3  # Monday -> Thursday
    assert business_days_between(date(2026, 3, 5), date(2026, 3, 9)) == 2  # Thursday -> Monday


class TestRemindersOnEitherStore:
    def test_unanswered_then_due_soon_each_once_naming_who_has_not_answered(
        self, world: FeedbackWorld
    ) -> None:
        request = ask(world, anonymous=False, due=date(2026, 3, 10))
        world.app.submit_answer(principal("peer-1"), request.id, RATING_ONLY)
        scheduler = ReminderScheduler(world.app, world.index)
        world.clock.advance(2)  # Wednesday: two business days
        scheduler.run_once()
        assert reminders(world, request.id) == []
        world.clock.advance(1)  # Thursday: three
        scheduler.run_once()
        scheduler.run_once()
        assert reminders(world, request.id) == [("unanswered", ["peer-2", "peer-3"])]
        world.clock.advance(4)  # Monday 9 March, the day before it is due
        scheduler.run_once()
        scheduler.run_once()
        assert reminders(world, request.id)[1:] == [("due_soon", ["peer-2", "peer-3"])]

    def test_an_anonymous_request_reminds_every_reviewer_whoever_answered(
        self, world: FeedbackWorld
    ) -> None:
        request = ask(world, anonymous=True, due=date(2026, 3, 20))
        world.app.submit_answer(principal("peer-2"), request.id, RATING_ONLY)
        world.clock.advance(3)
        ReminderScheduler(world.app, world.index).run_once()
        assert reminders(world, request.id) == [("unanswered", ["peer-1", "peer-2", "peer-3"])]

    def test_a_request_past_its_due_date_closes(self, world: FeedbackWorld) -> None:
        request = ask(world, anonymous=True, due=date(2026, 3, 4))
        world.clock.advance(2)  # the due date itself: still open
        assert ReminderScheduler(world.app, world.index).run_once().closed == 0
        world.clock.advance(1)
        assert ReminderScheduler(world.app, world.index).run_once().closed == 1
        closed = world.app.load(FeedbackRequest, "acme", request.id, "request_id")
        assert closed.state == CLOSED
