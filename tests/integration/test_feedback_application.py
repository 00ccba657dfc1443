"""Feedback application cases on SQLite and on PostgreSQL alike (one class, two
parametrisations of `store_url`): every recorded event carries the injected clock's time, a
departure flags what the person was part of, and question templates are stored, validated,
tenant-scoped and referenced by requests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.feedback.domain import Feedback
from services.feedback.one_on_ones import OneOnOne
from services.feedback.policies import when_person_departed_flag_their_requests
from services.feedback.publishing import feedback_envelope
from services.feedback.reminders import ReminderScheduler
from services.feedback.requests import FeedbackRequest, QuestionInput
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from tests.feedback_support import FeedbackWorld, feedback_world, person_departed, principal

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

    def test_a_departure_flags_every_open_request_and_one_on_one_the_person_was_part_of(
        self, world: FeedbackWorld
    ) -> None:
        app = world.app

        def ask(requester: str, subject: str, reviewers: list[str]) -> FeedbackRequest:
            return app.create_request(
                principal(requester),
                subject_id=subject,
                kind="general",
                reviewer_ids=reviewers,
                questions=[QuestionInput("rating", "How was the launch?")],
                due_date=date(2026, 3, 20),
                anonymous=False,
            )[0]

        # peer-1 leaves: requester of one, subject of one, reviewer of one; not in the last.
        as_requester = ask("peer-1", "", ["peer-2"])
        as_subject = ask("manager-1", "peer-1", ["peer-2"])
        as_reviewer = ask("recipient-1", "", ["peer-1", "peer-2"])
        not_involved = ask("recipient-1", "", ["peer-2", "peer-3"])
        closed = ask("giver-1", "", ["peer-1"])
        app.close_request(principal("giver-1"), closed.id)
        as_report = app.schedule_one_on_one(
            principal("manager-1"),
            manager_id="",
            report_id="peer-1",
            cadence="weekly",
            start_date=date(2026, 3, 2),
        )[0]
        as_manager = app.schedule_one_on_one(
            principal("recipient-1"),
            manager_id="",
            report_id="report-1",
            cadence="weekly",
            start_date=date(2026, 3, 2),
        )[0]  # recipient-1 manages report-1; peer-1 is in neither side of it
        others = app.schedule_one_on_one(
            principal("manager-1"),
            manager_id="",
            report_id="peer-2",
            cadence="weekly",
            start_date=date(2026, 3, 2),
        )[0]

        departure = person_departed("acme", "peer-1", date(2026, 3, 6))
        world.replica.apply_envelope(departure)
        assert when_person_departed_flag_their_requests(app, world.index, departure) == 4
        # Delivered again (at-least-once): nothing is flagged twice.
        assert when_person_departed_flag_their_requests(app, world.index, departure) == 0

        def flags(aggregate_id: Any, event_class: type[Any]) -> list[tuple[str, str]]:
            return [
                (event.departed_person_id, event.role)
                for event in app.events.get(aggregate_id)
                if isinstance(event, event_class)
            ]

        flagged = FeedbackRequest.Flagged
        assert flags(as_requester.id, flagged) == [("peer-1", "requester")]
        assert flags(as_subject.id, flagged) == [("peer-1", "subject")]
        assert flags(as_reviewer.id, flagged) == [("peer-1", "reviewer")]
        assert flags(not_involved.id, flagged) == flags(closed.id, flagged) == []
        assert flags(as_report.id, OneOnOne.Flagged) == [("peer-1", "report")]
        assert flags(as_manager.id, OneOnOne.Flagged) == flags(others.id, OneOnOne.Flagged) == []

        manager_leaves = person_departed("acme", "recipient-1", date(2026, 3, 10))
        world.replica.apply_envelope(manager_leaves)
        when_person_departed_flag_their_requests(app, world.index, manager_leaves)
        assert flags(as_manager.id, OneOnOne.Flagged) == [("recipient-1", "manager")]
        # Only slots whose week ended by the last day are missed: the 2 March one, however
        # late the scheduler looks.
        world.clock.advance(30)
        assert app.record_overdue_slots("acme", as_manager.id) == 1

    def test_templates_are_defined_listed_retired_and_referenced_within_their_tenant(
        self, world: FeedbackWorld
    ) -> None:
        app, hr = world.app, principal("hr-1")
        questions = [
            QuestionInput(
                "rating", "Do they listen?", 1, 4, ("Never", "Rarely", "Often", "Always")
            ),
            QuestionInput("text", "One piece of advice?"),
        ]
        template, _ = app.define_template(hr, "Quarterly check", questions)
        other, _ = app.define_template(hr, "Annual review", [QuestionInput("text", "Growth?")])
        listed, more = app.list_templates(
            principal("peer-1"), include_retired=False, offset=0, limit=10
        )
        assert ([t.name for t in listed], more) == (["Annual review", "Quarterly check"], False)

        request, _ = app.create_request(
            principal("recipient-1"),
            subject_id="",
            kind="general",
            reviewer_ids=["peer-1"],
            questions=[],
            due_date=date(2026, 3, 20),
            anonymous=False,
            template_id=template.id,
        )
        assert request.template_id == template.id
        assert [(q["question_id"], q["scale_labels"]) for q in request.questions] == [
            ("q1", ["Never", "Rarely", "Often", "Always"]),
            ("q2", []),
        ]

        app.retire_template(hr, other.id, 0)
        listed, _ = app.list_templates(hr, include_retired=False, offset=0, limit=10)
        assert [t.name for t in listed] == ["Quarterly check"]
        listed, _ = app.list_templates(hr, include_retired=True, offset=0, limit=1)
        assert [t.name for t in listed] == ["Annual review"]
        with pytest.raises(FailedPrecondition) as retired:
            app.create_request(
                principal("recipient-1"),
                subject_id="",
                kind="general",
                reviewer_ids=["peer-1"],
                questions=[],
                due_date=date(2026, 3, 20),
                anonymous=False,
                template_id=other.id,
            )
        assert retired.value.field == "template_id"
        # Another tenant neither sees nor uses it, and only HR admins define templates.
        with pytest.raises(NotFound) as foreign:
            app.template_questions("globex", template.id)
        assert foreign.value.field == "template_id"
        assert app.list_templates(
            principal("hr-1", "globex"), include_retired=True, offset=0, limit=10
        ) == ([], False)
        with pytest.raises(PermissionDenied):
            app.define_template(principal("manager-1"), "Mine", questions)

    @pytest.mark.parametrize(
        ("questions", "field"),
        [
            ([], "questions"),
            ([QuestionInput("rating", "Backwards?", 5, 1)], "questions[0].scale_max"),
            ([QuestionInput("text", "Fine")] * 31, "questions"),
            (
                [QuestionInput("rating", "Labels?", 1, 3, ("low", "high"))],
                "questions[0].scale_labels",
            ),
            ([QuestionInput("text", "   ")], "questions[0].prompt"),
        ],
        ids=["empty", "bounds inverted", "too many", "labels per point", "blank prompt"],
    )
    def test_an_invalid_template_names_the_field_and_stores_nothing(
        self, world: FeedbackWorld, questions: list[QuestionInput], field: str
    ) -> None:
        with pytest.raises(InvalidArgument) as refused:
            world.app.define_template(principal("hr-1"), "Broken", questions)
        assert refused.value.field == field
        assert world.app.recorder.max_notification_id() in (None, 0)
