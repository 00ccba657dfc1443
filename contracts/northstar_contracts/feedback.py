"""Public events of the feedback topic (northstar.feedback.v1): feedback, feedback requests,
1:1s and the tenant's feedback settings.

What never travels here: the text of any feedback that is not public, 1:1 agenda, action item
and note texts, any answer's content, and anything about anonymous answers but the aggregates
of perspectives that reached the threshold, once the request is closed (not even who answered).
Fields are never renamed or retyped in place: a breaking change is a new schema version.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import Field

from northstar_contracts.registry import EVENTS, Contract, EventContract, PersonalData

TOPIC = "northstar.feedback.v1"
SOURCE = "northstar/feedback"
TYPE_PREFIX = "feedback."
FEEDBACK = "Feedback"
FEEDBACK_REQUEST = "FeedbackRequest"
ONE_ON_ONE = "OneOnOne"
SETTINGS = "FeedbackSettings"
QUESTION_TEMPLATE = "QuestionTemplate"

Kind = Literal["praise", "constructive", "note_to_self"]
Visibility = Literal["public", "private", "private_with_manager", "manager_only", "giver_only"]
RequestKind = Literal["general", "three_sixty", "upward"]
Perspective = Literal["self", "manager", "peer", "direct_report"]
QuestionKind = Literal["rating", "text"]
Cadence = Literal["weekly", "every_two_weeks", "monthly"]
ReminderKind = Literal["due_soon", "unanswered"]

CONTENT_FIELDS = frozenset({"text"})
"""Fields that hold what someone wrote: audit histories keep metadata only and drop them."""


def feedback_event(type_name: str, aggregate_type: str) -> Callable[[Contract], Contract]:
    return EVENTS.register(type_name, version=1, topic=TOPIC, aggregate_type=aggregate_type)


By = Field(description="Person id of whoever caused the change (or northstar/feedback).")


@feedback_event("feedback.FeedbackGiven", FEEDBACK)
class FeedbackGivenV1(EventContract):
    """A person gave feedback to another person (or wrote a note to self about them)."""

    tenant_id: str = Field(description="Tenant the feedback belongs to.")
    giver_id: str = Field(description="Person id of the giver.")
    recipient_id: str = Field(description="Person id of the person the feedback is about.")
    kind: Kind = Field(description="praise, constructive or note_to_self.")
    visibility: Visibility = Field(description="Who may read the text (docs/feedback.md).")
    goal_id: UUID | None = Field(description="The goal the feedback is about, if any.")
    values: list[str] = Field(description="Company values the feedback is tagged with.")
    text: str | None = PersonalData(
        "The text, for public feedback only; null otherwise (it never leaves the service)."
    )


@feedback_event("feedback.FeedbackVisibilityNarrowed", FEEDBACK)
class FeedbackVisibilityNarrowedV1(EventContract):
    """The giver let fewer people read the feedback (visibility is never widened)."""

    visibility: Visibility = Field(description="New visibility.")
    previous_visibility: Visibility = Field(description="Visibility before.")
    by: str = By


@feedback_event("feedback.FeedbackRetracted", FEEDBACK)
class FeedbackRetractedV1(EventContract):
    """The giver retracted the feedback: its text is hidden from everyone from now on;
    consumers that kept the text of public feedback must drop it."""

    by: str = By


class ReviewerContract(EventContract):
    """One person asked to answer, with how they stand to the subject."""

    reviewer_id: str = Field(description="Person id of the reviewer.")
    perspective: Perspective = Field(description="self, manager, peer or direct_report.")


class QuestionContract(EventContract):
    """One question of a request or of a question template."""

    question_id: str = Field(description="Id within the request, e.g. q1.")
    kind: QuestionKind = Field(description="rating (whole number on a scale) or text.")
    prompt: str = Field(description="The question as asked.")
    scale_min: int = Field(description="Rating questions: lowest score (0 for text).")
    scale_max: int = Field(description="Rating questions: highest score (0 for text).")
    scale_labels: list[str] = Field(
        default_factory=list,
        description="Rating questions: one label per score, lowest first, or none.",
    )


@feedback_event("feedback.FeedbackRequestCreated", FEEDBACK_REQUEST)
class FeedbackRequestCreatedV1(EventContract):
    """Someone asked reviewers for feedback about a subject, with questions and a due date."""

    tenant_id: str = Field(description="Tenant the request belongs to.")
    requester_id: str = Field(description="Person id of whoever asked.")
    subject_id: str = Field(description="Person id of the person the feedback is about.")
    kind: RequestKind = Field(description="general, three_sixty or upward.")
    reviewers: list[ReviewerContract] = Field(description="Who is asked, by perspective.")
    questions: list[QuestionContract] = Field(description="The questions.")
    due_date: date = Field(description="Last day to answer; the request closes after it.")
    anonymous: bool = Field(description="Peer and direct-report answers are anonymous.")
    anonymity_threshold: int = Field(ge=3, description="Answers a perspective needs to show.")
    template_id: UUID | None = Field(
        default=None, description="The question template the questions came from, if any."
    )


@feedback_event("feedback.FeedbackRequestAnswered", FEEDBACK_REQUEST)
class FeedbackRequestAnsweredV1(EventContract):
    """A named reviewer answered (never published for anonymous answers; never the content)."""

    reviewer_id: str = Field(description="Person id of the reviewer.")
    perspective: Perspective = Field(description="How they stand to the subject.")


@feedback_event("feedback.FeedbackRequestReminderDue", FEEDBACK_REQUEST)
class FeedbackRequestReminderDueV1(EventContract):
    """Reviewers should be reminded: the request is due soon, or still unanswered three
    business days after it was made. For anonymous requests every reviewer is named, whether
    they answered or not, so a reminder never tells who answered."""

    reminder: ReminderKind = Field(description="due_soon or unanswered.")
    reviewer_ids: list[str] = Field(description="Whom to remind.")
    due_date: date = Field(description="The request's due date.")


class QuestionAggregateContract(EventContract):
    """Ratings of one question within one perspective (comments stay in the service)."""

    question_id: str = Field(description="The question.")
    rating_counts: list[int] = Field(description="How many gave each score, lowest first.")
    rating_mean: float | None = Field(description="Mean score; null for text questions.")


class PerspectiveAggregateContract(EventContract):
    """An anonymous perspective that reached the threshold."""

    perspective: Perspective = Field(description="peer or direct_report.")
    answer_count: int = Field(description="How many of that perspective answered (>= threshold).")
    questions: list[QuestionAggregateContract] = Field(description="Per rating question.")


@feedback_event("feedback.FeedbackRequestClosed", FEEDBACK_REQUEST)
class FeedbackRequestClosedV1(EventContract):
    """The request closed (by its requester, or at its due date). Anonymous perspectives below
    the threshold are absent, exactly as if nobody of them had answered."""

    by: str = By
    named_answer_count: int = Field(description="Answers of named reviewers.")
    aggregates: list[PerspectiveAggregateContract] = Field(
        description="One per anonymous perspective that reached the threshold."
    )


@feedback_event("feedback.FeedbackRequestFlagged", FEEDBACK_REQUEST)
class FeedbackRequestFlaggedV1(EventContract):
    """The requester, the subject or a reviewer of an open request left the organisation."""

    departed_person_id: str = Field(description="Person id of whoever left.")
    role: Literal["requester", "subject", "reviewer"] = Field(
        description="Their part in the request."
    )
    leave_date: date = Field(description="Their last day.")
    by: str = By


@feedback_event("feedback.OneOnOneScheduled", ONE_ON_ONE)
class OneOnOneScheduledV1(EventContract):
    """A manager and a direct report started a recurring 1:1."""

    tenant_id: str = Field(description="Tenant of the pair.")
    manager_id: str = Field(description="Person id of the manager.")
    report_id: str = Field(description="Person id of the report.")
    cadence: Cadence = Field(description="weekly, every_two_weeks or monthly.")
    start_date: date = Field(description="The first meeting's slot.")


@feedback_event("feedback.OneOnOneAgendaItemAdded", ONE_ON_ONE)
class OneOnOneAgendaItemAddedV1(EventContract):
    """An item was added to the next meeting's shared agenda (its text stays in the service)."""

    item_id: UUID = Field(description="Id of the item.")
    author_id: str = Field(description="Who added it.")


@feedback_event("feedback.OneOnOnePrivateNoteAdded", ONE_ON_ONE)
class OneOnOnePrivateNoteAddedV1(EventContract):
    """A participant wrote a private note (only they read it; its text stays in the service)."""

    note_id: UUID = Field(description="Id of the note.")
    writer_id: str = Field(description="Who wrote it.")


@feedback_event("feedback.OneOnOneActionItemAdded", ONE_ON_ONE)
class OneOnOneActionItemAddedV1(EventContract):
    """An action item was added with an owner (its text stays in the service)."""

    item_id: UUID = Field(description="Id of the action item.")
    owner_id: str = Field(description="Who is to do it.")
    by: str = By


@feedback_event("feedback.OneOnOneActionItemCompleted", ONE_ON_ONE)
class OneOnOneActionItemCompletedV1(EventContract):
    """An action item was done."""

    item_id: UUID = Field(description="Id of the action item.")
    by: str = By


@feedback_event("feedback.OneOnOneMeetingHeld", ONE_ON_ONE)
class OneOnOneMeetingHeldV1(EventContract):
    """The 1:1 took place for a slot; open action items carry over to the next meeting."""

    slot: date = Field(description="The cadence slot the meeting was for.")
    held_on: date = Field(description="The day it took place.")
    carried_over_item_ids: list[UUID] = Field(description="Open action items carried over.")
    by: str = By


@feedback_event("feedback.OneOnOneOverdue", ONE_ON_ONE)
class OneOnOneOverdueV1(EventContract):
    """A cadence slot passed without the 1:1 taking place (once per missed slot)."""

    slot: date = Field(description="The missed slot.")
    manager_id: str = Field(description="Person id of the manager.")
    report_id: str = Field(description="Person id of the report.")


@feedback_event("feedback.OneOnOneFlagged", ONE_ON_ONE)
class OneOnOneFlaggedV1(EventContract):
    """The manager or the report of a 1:1 left the organisation; no slot after their last day
    is missed."""

    departed_person_id: str = Field(description="Person id of whoever left.")
    role: Literal["manager", "report"] = Field(description="Their part in the 1:1.")
    leave_date: date = Field(description="Their last day.")
    by: str = By


@feedback_event("feedback.QuestionTemplateDefined", QUESTION_TEMPLATE)
class QuestionTemplateDefinedV1(EventContract):
    """An HR admin stored a question template requests can reference by id."""

    tenant_id: str = Field(description="Tenant the template belongs to.")
    name: str = Field(description="The template's name.")
    questions: list[QuestionContract] = Field(description="Its questions, q1 first.")
    by: str = By


@feedback_event("feedback.QuestionTemplateRetired", QUESTION_TEMPLATE)
class QuestionTemplateRetiredV1(EventContract):
    """The template is chosen for new requests no more (requests made with it keep theirs)."""

    by: str = By


@feedback_event("feedback.FeedbackSettingsChanged", SETTINGS)
class FeedbackSettingsChangedV1(EventContract):
    """The tenant's feedback settings changed."""

    tenant_id: str = Field(description="The tenant.")
    anonymity_threshold: int = Field(ge=3, description="Answers a perspective needs to show.")
    allowed_visibilities: list[Visibility] = Field(description="What givers may choose.")
    by: str = By
