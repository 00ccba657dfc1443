"""The FeedbackRequest aggregate: reviewers by perspective, questions, a due date, named
answers, reminders, departures and closing with per-perspective aggregates.

Anonymous answers never enter this aggregate (they would be stored as events, one per person):
they go to the ballot box (ballots.py) and come back only as aggregates, at close, for the
perspectives that reached the threshold. Below it a perspective is absent from the results,
exactly as if nobody of it had answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.feedback.event_clock import ClockedEvent
from services.feedback.questions import QuestionInput as QuestionInput  # re-exported
from services.feedback.questions import validated_questions
from services.feedback.rules import (
    ANONYMOUS_PERSPECTIVES,
    PERSPECTIVES,
    RATING,
    REQUEST_KINDS,
    UPWARD,
    AlreadyAnswered,
    NotAReviewer,
    RequestClosed,
    require_choice,
    require_text,
    require_threshold,
)
from services.shared.errors import InvalidArgument

OPEN, CLOSED = "open", "closed"
Answers = list[dict[str, Any]]
"""One reviewer's answers: [{"question_id", "rating", "text"}], one per question, in order."""


def validated_answers(
    questions: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]]
) -> Answers:
    """Exactly one answer per question, each within its question's scale or non-empty text."""
    by_id = {q["question_id"]: q for q in questions}
    given: dict[str, dict[str, Any]] = {}
    for position, answer in enumerate(answers):
        field = f"answers[{position}]"
        question = by_id.get(answer["question_id"])
        if question is None:
            raise InvalidArgument(
                f"no question {answer['question_id']!r} in this request",
                field=f"{field}.question_id",
            )
        if question["question_id"] in given:
            raise InvalidArgument("answered twice", field=f"{field}.question_id")
        if question["kind"] == RATING:
            rating = int(answer["rating"])
            if not question["scale_min"] <= rating <= question["scale_max"]:
                raise InvalidArgument(
                    f"must lie between {question['scale_min']} and {question['scale_max']}",
                    field=f"{field}.rating",
                )
            if answer.get("text"):
                raise InvalidArgument("a rating question takes no text", field=f"{field}.text")
            given[question["question_id"]] = {
                "question_id": question["question_id"],
                "rating": rating,
                "text": "",
            }
        else:
            text = require_text(str(answer["text"]), f"{field}.text")
            given[question["question_id"]] = {
                "question_id": question["question_id"],
                "rating": 0,
                "text": text.strip(),
            }
    missing = [q["question_id"] for q in questions if q["question_id"] not in given]
    if missing:
        raise InvalidArgument(f"unanswered questions: {', '.join(missing)}", field="answers")
    return [given[q["question_id"]] for q in questions]


def aggregate_answers(
    questions: Sequence[Mapping[str, Any]], answer_sets: Sequence[Answers]
) -> list[dict[str, Any]]:
    """Per question: rating counts and mean, or the comments sorted (never in arrival order),
    so the aggregate is the same whoever gave which answer."""
    result: list[dict[str, Any]] = []
    for question in questions:
        qid = question["question_id"]
        answers = [a for answers in answer_sets for a in answers if a["question_id"] == qid]
        if question["kind"] == RATING:
            low, high = question["scale_min"], question["scale_max"]
            counts = [0] * (high - low + 1)
            for answer in answers:
                counts[answer["rating"] - low] += 1
            mean = sum(a["rating"] for a in answers) / len(answers) if answers else None
            result.append({"question_id": qid, "rating_counts": counts, "rating_mean": mean})
        else:
            comments = sorted(a["text"] for a in answers)
            result.append(
                {"question_id": qid, "rating_counts": [], "rating_mean": None, "comments": comments}
            )
    return result


class FeedbackRequest(Aggregate):
    class Event(ClockedEvent):
        pass

    class Created(Event, Aggregate.Created):
        tenant_id: str
        requester_id: str
        subject_id: str
        kind: str
        reviewers: list[dict[str, str]]
        questions: list[dict[str, Any]]
        due_date: date
        anonymous: bool
        anonymity_threshold: int
        opened_on: date
        template_id: UUID | None = None

    class Answered(Event):
        reviewer_id: str
        perspective: str
        answers: list[dict[str, Any]]

    class ReminderDue(Event):
        reminder: str
        reviewer_ids: list[str]
        due_date: date

    class Closed(Event):
        by: str
        named_answer_count: int
        aggregates: list[dict[str, Any]]

    class Flagged(Event):
        departed_person_id: str
        role: str
        leave_date: date
        by: str

    @classmethod
    def create(
        cls,
        *,
        tenant_id: str,
        requester_id: str,
        subject_id: str,
        kind: str,
        reviewers: Sequence[tuple[str, str]],
        questions: Sequence[QuestionInput],
        due_date: date,
        anonymous: bool,
        anonymity_threshold: int,
        today: date,
        template_id: UUID | None = None,
    ) -> FeedbackRequest:
        require_choice(kind, REQUEST_KINDS, "kind")
        if not reviewers:
            raise InvalidArgument("ask at least one reviewer", field="reviewer_ids")
        for position, (_reviewer, perspective) in enumerate(reviewers):
            require_choice(perspective, PERSPECTIVES, f"reviewer_ids[{position}]")
        if due_date < today:
            raise InvalidArgument(
                f"{due_date.isoformat()} is in the past (today is {today.isoformat()})",
                field="due_date",
            )
        return cls(
            tenant_id=tenant_id,
            requester_id=requester_id,
            subject_id=subject_id,
            kind=kind,
            reviewers=[{"reviewer_id": r, "perspective": p} for r, p in reviewers],
            questions=validated_questions(kind, questions),
            due_date=due_date,
            anonymous=anonymous or kind == UPWARD,
            anonymity_threshold=require_threshold(anonymity_threshold),
            opened_on=today,
            template_id=template_id,
        )

    @event(Created)
    def __init__(
        self,
        tenant_id: str,
        requester_id: str,
        subject_id: str,
        kind: str,
        reviewers: list[dict[str, str]],
        questions: list[dict[str, Any]],
        due_date: date,
        anonymous: bool,
        anonymity_threshold: int,
        opened_on: date,
        template_id: UUID | None = None,
    ) -> None:
        self.tenant_id = tenant_id
        self.requester_id = requester_id
        self.subject_id = subject_id
        self.kind = kind
        self.reviewers = reviewers
        self.questions = questions
        self.due_date = due_date
        self.anonymous = anonymous
        self.anonymity_threshold = anonymity_threshold
        self.opened_on = opened_on
        self.template_id = template_id
        self.state = OPEN
        self.named_answers: dict[str, dict[str, Any]] = {}
        self.reminders_sent: list[str] = []
        self.flagged: list[str] = []
        self.aggregates: list[dict[str, Any]] = []

    # ---- reading ----

    def perspective_of(self, reviewer_id: str) -> str | None:
        for reviewer in self.reviewers:
            if reviewer["reviewer_id"] == reviewer_id:
                return reviewer["perspective"]
        return None

    def answers_anonymously(self, reviewer_id: str) -> bool:
        return self.anonymous and self.perspective_of(reviewer_id) in ANONYMOUS_PERSPECTIVES

    @property
    def reviewer_ids(self) -> list[str]:
        return [r["reviewer_id"] for r in self.reviewers]

    def anonymous_perspectives(self) -> list[str]:
        if not self.anonymous:
            return []
        present = {r["perspective"] for r in self.reviewers}
        return [p for p in ANONYMOUS_PERSPECTIVES if p in present]

    # ---- answering ----

    def check_can_answer(self, reviewer_id: str) -> None:
        if self.perspective_of(reviewer_id) is None:
            raise NotAReviewer("you were not asked to answer this request", field="request_id")
        if self.state != OPEN:
            raise RequestClosed("the request is closed", field="request_id")

    def answer(self, reviewer_id: str, answers: Sequence[Mapping[str, Any]]) -> None:
        """A named answer (anonymous ones go to the ballot box instead)."""
        self.check_can_answer(reviewer_id)
        if self.answers_anonymously(reviewer_id):
            raise TypeError("anonymous answers never enter the aggregate")
        if reviewer_id in self.named_answers:
            raise AlreadyAnswered("you answered this request already", field="request_id")
        perspective = self.perspective_of(reviewer_id) or ""
        checked = validated_answers(self.questions, answers)
        self._answered(reviewer_id=reviewer_id, perspective=perspective, answers=checked)

    @event(Answered)
    def _answered(self, reviewer_id: str, perspective: str, answers: list[dict[str, Any]]) -> None:
        self.named_answers[reviewer_id] = {"perspective": perspective, "answers": answers}

    # ---- reminders, departures, closing ----

    def remind(self, reminder: str, reviewer_ids: Sequence[str]) -> bool:
        """Records the reminder once per kind; False when already sent, closed or nobody left."""
        if self.state != OPEN or reminder in self.reminders_sent or not reviewer_ids:
            return False
        self._reminder_due(
            reminder=reminder, reviewer_ids=list(reviewer_ids), due_date=self.due_date
        )
        return True

    @event(ReminderDue)
    def _reminder_due(self, reminder: str, reviewer_ids: list[str], due_date: date) -> None:
        self.reminders_sent.append(reminder)

    def role_of(self, person_id: str) -> str | None:
        """requester, subject or reviewer (in that order, for someone who is more than one)."""
        if person_id == self.requester_id:
            return "requester"
        if person_id == self.subject_id:
            return "subject"
        return "reviewer" if person_id in self.reviewer_ids else None

    def flag_departure(self, person_id: str, leave_date: date, by: str) -> bool:
        """Records that someone of the open request left, once; False when nothing to do."""
        role = self.role_of(person_id)
        if self.state != OPEN or person_id in self.flagged or role is None:
            return False
        self._flagged(departed_person_id=person_id, role=role, leave_date=leave_date, by=by)
        return True

    @event(Flagged)
    def _flagged(self, departed_person_id: str, role: str, leave_date: date, by: str) -> None:
        self.flagged.append(departed_person_id)

    def close(self, by: str, anonymous_answers: Mapping[str, Sequence[Answers]]) -> None:
        """Closes with the aggregates of anonymous perspectives that reached the threshold;
        `anonymous_answers` are the ballot box's answer sets by perspective."""
        if self.state != OPEN:
            raise RequestClosed("the request is closed already", field="request_id")
        aggregates = [
            {
                "perspective": perspective,
                "answer_count": len(anonymous_answers.get(perspective, ())),
                "questions": aggregate_answers(
                    self.questions, list(anonymous_answers.get(perspective, ()))
                ),
            }
            for perspective in self.anonymous_perspectives()
            if len(anonymous_answers.get(perspective, ())) >= self.anonymity_threshold
        ]
        self._closed(by=by, named_answer_count=len(self.named_answers), aggregates=aggregates)

    @event(Closed)
    def _closed(self, by: str, named_answer_count: int, aggregates: list[dict[str, Any]]) -> None:
        self.state = CLOSED
        self.aggregates = aggregates
