"""Protobuf shapes of the feedback service: enum <-> domain word, aggregates -> messages.
Only what the caller may see is ever put into a message."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from northstar.feedback.v1 import feedback_pb2 as pb
from services.feedback import rules
from services.feedback.application import SeenFeedback
from services.feedback.one_on_one_cases import ListedOneOnOne
from services.feedback.one_on_ones import OneOnOne
from services.feedback.questions import QuestionInput
from services.feedback.request_cases import RequestView, Results
from services.feedback.requests import CLOSED, OPEN
from services.feedback.templates import QuestionTemplate
from services.shared import feedback_visibility as visibility
from services.shared.feedback_visibility import Access
from services.shared.proto_enums import EnumTable

KINDS = EnumTable(
    pb.FeedbackKind.DESCRIPTOR,
    {
        pb.FEEDBACK_KIND_PRAISE: rules.PRAISE,
        pb.FEEDBACK_KIND_CONSTRUCTIVE: rules.CONSTRUCTIVE,
        pb.FEEDBACK_KIND_NOTE_TO_SELF: rules.NOTE_TO_SELF,
    },
)
VISIBILITIES = EnumTable(
    pb.FeedbackVisibility.DESCRIPTOR,
    {
        pb.FEEDBACK_VISIBILITY_PUBLIC: visibility.PUBLIC,
        pb.FEEDBACK_VISIBILITY_PRIVATE: visibility.PRIVATE,
        pb.FEEDBACK_VISIBILITY_PRIVATE_WITH_MANAGER: visibility.PRIVATE_WITH_MANAGER,
        pb.FEEDBACK_VISIBILITY_MANAGER_ONLY: visibility.MANAGER_ONLY,
        pb.FEEDBACK_VISIBILITY_GIVER_ONLY: visibility.GIVER_ONLY,
    },
)
ACCESS = EnumTable(
    pb.FeedbackAccess.DESCRIPTOR,
    {pb.FEEDBACK_ACCESS_FULL: Access.FULL, pb.FEEDBACK_ACCESS_METADATA: Access.METADATA},
)
DIRECTIONS = EnumTable(
    pb.FeedbackDirection.DESCRIPTOR,
    {pb.FEEDBACK_DIRECTION_GIVEN: "given", pb.FEEDBACK_DIRECTION_RECEIVED: "received"},
    default="received",
)
REQUEST_KINDS = EnumTable(
    pb.FeedbackRequestKind.DESCRIPTOR,
    {
        pb.FEEDBACK_REQUEST_KIND_GENERAL: rules.GENERAL,
        pb.FEEDBACK_REQUEST_KIND_THREE_SIXTY: rules.THREE_SIXTY,
        pb.FEEDBACK_REQUEST_KIND_UPWARD: rules.UPWARD,
    },
)
PERSPECTIVES = EnumTable(
    pb.Perspective.DESCRIPTOR,
    {
        pb.PERSPECTIVE_SELF: rules.SELF,
        pb.PERSPECTIVE_MANAGER: rules.MANAGER,
        pb.PERSPECTIVE_PEER: rules.PEER,
        pb.PERSPECTIVE_DIRECT_REPORT: rules.DIRECT_REPORT,
    },
)
QUESTION_KINDS = EnumTable(
    pb.QuestionKind.DESCRIPTOR,
    {pb.QUESTION_KIND_RATING: rules.RATING, pb.QUESTION_KIND_TEXT: rules.TEXT},
)
REQUEST_STATES = EnumTable(
    pb.FeedbackRequestState.DESCRIPTOR,
    {pb.FEEDBACK_REQUEST_STATE_OPEN: OPEN, pb.FEEDBACK_REQUEST_STATE_CLOSED: CLOSED},
)
CADENCES = EnumTable(
    pb.Cadence.DESCRIPTOR,
    {
        pb.CADENCE_WEEKLY: rules.WEEKLY,
        pb.CADENCE_EVERY_TWO_WEEKS: rules.EVERY_TWO_WEEKS,
        pb.CADENCE_MONTHLY: rules.MONTHLY,
    },
)


def feedback_message(seen: SeenFeedback) -> pb.Feedback:
    feedback = seen.feedback
    full = seen.access is Access.FULL
    return pb.Feedback(
        feedback_id=str(feedback.id),
        giver_id=feedback.giver_id,
        recipient_id=feedback.recipient_id,
        kind=KINDS.to_proto(feedback.kind),
        visibility=VISIBILITIES.to_proto(feedback.visibility),
        text=feedback.text if full else "",
        goal_id=str(feedback.goal_id) if feedback.goal_id else "",
        values=feedback.values,
        given_at=feedback.created_on.isoformat(),
        retracted=feedback.retracted,
        access=ACCESS.to_proto(seen.access),
        version=feedback.version,
    )


def request_message(view: RequestView) -> pb.FeedbackRequest:
    request = view.request
    return pb.FeedbackRequest(
        request_id=str(request.id),
        requester_id=request.requester_id,
        subject_id=request.subject_id,
        kind=REQUEST_KINDS.to_proto(request.kind),
        reviewers=[
            pb.Reviewer(
                reviewer_id=r["reviewer_id"], perspective=PERSPECTIVES.to_proto(r["perspective"])
            )
            for r in request.reviewers
        ],
        questions=[question_message(q) for q in request.questions],
        due_date=request.due_date.isoformat(),
        anonymous=request.anonymous,
        anonymity_threshold=request.anonymity_threshold,
        state=REQUEST_STATES.to_proto(request.state),
        answered_by_caller=view.answered_by_caller,
        version=request.version,
        template_id=str(request.template_id) if request.template_id else "",
    )


def question_message(question: Mapping[str, Any]) -> pb.Question:
    return pb.Question(
        question_id=question["question_id"],
        kind=QUESTION_KINDS.to_proto(question["kind"]),
        prompt=question["prompt"],
        scale_min=question["scale_min"],
        scale_max=question["scale_max"],
        scale_labels=question.get("scale_labels", []),
    )


def question_inputs(
    questions: Sequence[pb.Question], field: str = "questions"
) -> list[QuestionInput]:
    """The questions of a request message, their kinds in domain words."""
    return [
        QuestionInput(
            QUESTION_KINDS.from_request(q.kind, f"{field}[{i}].kind"),
            q.prompt,
            q.scale_min,
            q.scale_max,
            tuple(q.scale_labels),
        )
        for i, q in enumerate(questions)
    ]


def template_message(template: QuestionTemplate) -> pb.QuestionTemplate:
    return pb.QuestionTemplate(
        template_id=str(template.id),
        name=template.name,
        questions=[question_message(q) for q in template.questions],
        retired=template.retired,
        version=template.version,
    )


def answer_message(answer: Mapping[str, Any]) -> pb.Answer:
    return pb.Answer(
        question_id=answer["question_id"], rating=answer["rating"], text=answer["text"]
    )


def results_message(results: Results) -> pb.FeedbackRequestResults:
    return pb.FeedbackRequestResults(
        request_id=str(results.request.id),
        named=[
            pb.NamedAnswers(
                reviewer_id=reviewer_id,
                perspective=PERSPECTIVES.to_proto(perspective),
                answers=[answer_message(a) for a in answers],
            )
            for reviewer_id, perspective, answers in results.named
        ],
        aggregates=[
            pb.PerspectiveAggregate(
                perspective=PERSPECTIVES.to_proto(aggregate["perspective"]),
                answer_count=aggregate["answer_count"],
                questions=[
                    pb.QuestionAggregate(
                        question_id=q["question_id"],
                        rating_counts=q["rating_counts"],
                        rating_mean=q["rating_mean"] or 0.0,
                        comments=q.get("comments", []),
                    )
                    for q in aggregate["questions"]
                ],
            )
            for aggregate in results.aggregates
        ],
    )


def one_on_one_message(one_on_one: OneOnOne, caller: str, today: date) -> pb.OneOnOne:
    return pb.OneOnOne(
        one_on_one_id=str(one_on_one.id),
        manager_id=one_on_one.manager_id,
        report_id=one_on_one.report_id,
        cadence=CADENCES.to_proto(one_on_one.cadence),
        start_date=one_on_one.start_date.isoformat(),
        next_meeting=one_on_one.next_meeting(today).isoformat(),
        agenda=[
            pb.AgendaItem(item_id=str(i["item_id"]), author_id=i["author_id"], text=i["text"])
            for i in one_on_one.agenda
        ],
        action_items=[
            pb.ActionItem(
                item_id=str(i["item_id"]),
                owner_id=i["owner_id"],
                text=i["text"],
                done=i["done"],
                added_for=i["added"],
            )
            for i in one_on_one.action_items
        ],
        my_notes=[
            pb.PrivateNote(note_id=str(n["note_id"]), text=n["text"], written_for=n["after"])
            for n in one_on_one.notes_of(caller)
        ],
        last_held_on=one_on_one.last_held_on.isoformat() if one_on_one.last_held_on else "",
        missed_slots=list(one_on_one.missed),
        version=one_on_one.version,
        departed_person_ids=list(one_on_one.departed),
    )


def listed_one_on_one_message(listed: ListedOneOnOne, today: date) -> pb.OneOnOne:
    """A series in a list: never a private note; the agenda and action items only for the
    participants."""
    message = one_on_one_message(listed.one_on_one, "", today)
    message.ClearField("my_notes")
    if not listed.shared:
        message.ClearField("agenda")
        message.ClearField("action_items")
    return message
