"""gRPC servicer of the feedback service: protobuf in, one application call, protobuf out.

The caller comes from the token; the application decides what they may do and see. Calls touch
the stores, so each runs in a worker thread off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from northstar.feedback.v1 import feedback_pb2 as pb
from northstar.feedback.v1 import feedback_pb2_grpc
from services.feedback.application import FeedbackApplication
from services.feedback.messages import (
    CADENCES,
    DIRECTIONS,
    KINDS,
    QUESTION_KINDS,
    REQUEST_KINDS,
    VISIBILITIES,
    feedback_message,
    one_on_one_message,
    request_message,
    results_message,
)
from services.feedback.one_on_ones import OneOnOne
from services.feedback.request_cases import RequestView
from services.feedback.requests import QuestionInput
from services.feedback.store import Saved
from services.shared.auth import current_principal
from services.shared.errors import InvalidArgument
from services.shared.validation import (
    page_size,
    parse_date,
    parse_optional_uuid,
    parse_uuid,
)

SERVICE_FULL_NAME = "northstar.feedback.v1.FeedbackService"
T = TypeVar("T")
Context = Any


async def _in_thread(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def _version(value: int) -> int:
    if value < 0:
        raise InvalidArgument("must not be negative", field="expected_version")
    return value


def _offset(token: str) -> int:
    if not token:
        return 0
    if not token.isascii() or not token.isdigit() or len(token) > 9:
        raise InvalidArgument(f"malformed page token {token[:40]!r}", field="page_token")
    return int(token)


class FeedbackServicer(feedback_pb2_grpc.FeedbackServiceServicer):
    def __init__(self, app: FeedbackApplication) -> None:
        self.app = app

    # ---- feedback ----

    async def GiveFeedback(  # noqa: N802 (gRPC method names)
        self, request: pb.GiveFeedbackRequest, context: Context
    ) -> pb.GiveFeedbackResponse:
        principal = current_principal()
        kind = KINDS.from_request(request.kind, "kind")
        # Unset is fine for a note to self (giver only); the domain refuses it for the rest.
        visibility = (
            VISIBILITIES.from_request(request.visibility, "visibility")
            if request.visibility
            else ""
        )
        goal_id = parse_optional_uuid(request.goal_id, "goal_id")

        def give() -> pb.GiveFeedbackResponse:
            feedback, saved = self.app.give_feedback(
                principal,
                recipient_id=request.recipient_id,
                kind=kind,
                visibility=visibility,
                text=request.text,
                goal_id=goal_id,
                values=list(request.values),
            )
            seen = self.app.get_feedback(principal, feedback.id)
            return pb.GiveFeedbackResponse(
                feedback=feedback_message(seen), position_token=saved.position_token
            )

        return await _in_thread(give)

    async def GetFeedback(  # noqa: N802
        self, request: pb.GetFeedbackRequest, context: Context
    ) -> pb.Feedback:
        principal = current_principal()
        feedback_id = parse_uuid(request.feedback_id, "feedback_id")
        seen = await _in_thread(lambda: self.app.get_feedback(principal, feedback_id))
        return feedback_message(seen)

    async def ListFeedback(  # noqa: N802
        self, request: pb.ListFeedbackRequest, context: Context
    ) -> pb.ListFeedbackResponse:
        principal = current_principal()
        direction = DIRECTIONS.from_request(request.direction, "direction")
        limit, offset = page_size(request.page_size), _offset(request.page_token)
        seen, more = await _in_thread(
            lambda: self.app.list_feedback(
                principal,
                request.person_id,
                received=direction == "received",
                offset=offset,
                limit=limit,
            )
        )
        # The token counts index rows, seen or not, so a page never repeats or skips one.
        next_token = str(offset + len(seen)) if more else ""
        return pb.ListFeedbackResponse(
            feedback=[feedback_message(s) for s in seen], next_page_token=next_token
        )

    async def NarrowFeedbackVisibility(  # noqa: N802
        self, request: pb.NarrowFeedbackVisibilityRequest, context: Context
    ) -> pb.NarrowFeedbackVisibilityResponse:
        principal = current_principal()
        feedback_id = parse_uuid(request.feedback_id, "feedback_id")
        visibility = VISIBILITIES.from_request(request.visibility, "visibility")
        version = _version(request.expected_version)

        def narrow() -> pb.NarrowFeedbackVisibilityResponse:
            feedback, saved = self.app.narrow_visibility(
                principal, feedback_id, visibility, version
            )
            seen = self.app.get_feedback(principal, feedback.id)
            return pb.NarrowFeedbackVisibilityResponse(
                feedback=feedback_message(seen), position_token=saved.position_token
            )

        return await _in_thread(narrow)

    async def RetractFeedback(  # noqa: N802
        self, request: pb.RetractFeedbackRequest, context: Context
    ) -> pb.RetractFeedbackResponse:
        principal = current_principal()
        feedback_id = parse_uuid(request.feedback_id, "feedback_id")
        version = _version(request.expected_version)

        def retract() -> pb.RetractFeedbackResponse:
            feedback, saved = self.app.retract_feedback(
                principal, feedback_id, request.reason, version
            )
            seen = self.app.get_feedback(principal, feedback.id)
            return pb.RetractFeedbackResponse(
                feedback=feedback_message(seen), position_token=saved.position_token
            )

        return await _in_thread(retract)

    # ---- requests ----

    async def CreateFeedbackRequest(  # noqa: N802
        self, request: pb.CreateFeedbackRequestRequest, context: Context
    ) -> pb.CreateFeedbackRequestResponse:
        principal = current_principal()
        kind = REQUEST_KINDS.from_request(request.kind, "kind")
        due_date = parse_date(request.due_date, "due_date")
        questions = [
            QuestionInput(
                QUESTION_KINDS.from_request(q.kind, f"questions[{i}].kind"),
                q.prompt,
                q.scale_min,
                q.scale_max,
            )
            for i, q in enumerate(request.questions)
        ]

        def create() -> pb.CreateFeedbackRequestResponse:
            created, saved = self.app.create_request(
                principal,
                subject_id=request.subject_id,
                kind=kind,
                reviewer_ids=list(request.reviewer_ids),
                questions=questions,
                due_date=due_date,
                anonymous=request.anonymous,
            )
            return pb.CreateFeedbackRequestResponse(
                request=request_message(RequestView(created, False)),
                position_token=saved.position_token,
            )

        return await _in_thread(create)

    async def GetFeedbackRequest(  # noqa: N802
        self, request: pb.GetFeedbackRequestRequest, context: Context
    ) -> pb.FeedbackRequest:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")
        view = await _in_thread(lambda: self.app.get_request(principal, request_id))
        return request_message(view)

    async def SubmitFeedbackAnswer(  # noqa: N802
        self, request: pb.SubmitFeedbackAnswerRequest, context: Context
    ) -> pb.SubmitFeedbackAnswerResponse:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")
        answers = [
            {"question_id": a.question_id, "rating": a.rating, "text": a.text}
            for a in request.answers
        ]
        await _in_thread(lambda: self.app.submit_answer(principal, request_id, answers))
        return pb.SubmitFeedbackAnswerResponse(accepted=True)

    async def CloseFeedbackRequest(  # noqa: N802
        self, request: pb.CloseFeedbackRequestRequest, context: Context
    ) -> pb.CloseFeedbackRequestResponse:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")
        closed, saved = await _in_thread(lambda: self.app.close_request(principal, request_id))
        return pb.CloseFeedbackRequestResponse(
            request=request_message(RequestView(closed, False)),
            position_token=saved.position_token,
        )

    async def GetFeedbackRequestResults(  # noqa: N802
        self, request: pb.GetFeedbackRequestResultsRequest, context: Context
    ) -> pb.FeedbackRequestResults:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")
        results = await _in_thread(lambda: self.app.request_results(principal, request_id))
        return results_message(results)

    # ---- 1:1s ----

    def _one_on_one(self, result: tuple[OneOnOne, Saved], caller: str) -> pb.OneOnOne:
        return one_on_one_message(result[0], caller, self.app.today())

    async def ScheduleOneOnOne(  # noqa: N802
        self, request: pb.ScheduleOneOnOneRequest, context: Context
    ) -> pb.ScheduleOneOnOneResponse:
        principal = current_principal()
        cadence = CADENCES.from_request(request.cadence, "cadence")
        start = parse_date(request.start_date, "start_date")
        result = await _in_thread(
            lambda: self.app.schedule_one_on_one(
                principal,
                manager_id=request.manager_id,
                report_id=request.report_id,
                cadence=cadence,
                start_date=start,
            )
        )
        return pb.ScheduleOneOnOneResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    async def GetOneOnOne(  # noqa: N802
        self, request: pb.GetOneOnOneRequest, context: Context
    ) -> pb.OneOnOne:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        found = await _in_thread(lambda: self.app.get_one_on_one(principal, one_on_one_id))
        return one_on_one_message(found, principal.subject, self.app.today())

    async def AddAgendaItem(  # noqa: N802
        self, request: pb.AddAgendaItemRequest, context: Context
    ) -> pb.AddAgendaItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        result = await _in_thread(
            lambda: self.app.add_agenda_item(principal, one_on_one_id, request.text)
        )
        return pb.AddAgendaItemResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    async def AddPrivateNote(  # noqa: N802
        self, request: pb.AddPrivateNoteRequest, context: Context
    ) -> pb.AddPrivateNoteResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        result = await _in_thread(
            lambda: self.app.add_private_note(principal, one_on_one_id, request.text)
        )
        return pb.AddPrivateNoteResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    async def AddActionItem(  # noqa: N802
        self, request: pb.AddActionItemRequest, context: Context
    ) -> pb.AddActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        result = await _in_thread(
            lambda: self.app.add_action_item(
                principal, one_on_one_id, request.owner_id, request.text
            )
        )
        return pb.AddActionItemResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    async def CompleteActionItem(  # noqa: N802
        self, request: pb.CompleteActionItemRequest, context: Context
    ) -> pb.CompleteActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        item_id = parse_uuid(request.item_id, "item_id")
        result = await _in_thread(
            lambda: self.app.complete_action_item(principal, one_on_one_id, item_id)
        )
        return pb.CompleteActionItemResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    async def RecordOneOnOneMeeting(  # noqa: N802
        self, request: pb.RecordOneOnOneMeetingRequest, context: Context
    ) -> pb.RecordOneOnOneMeetingResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        held_on = parse_date(request.held_on, "held_on")
        result = await _in_thread(
            lambda: self.app.record_meeting(principal, one_on_one_id, held_on)
        )
        return pb.RecordOneOnOneMeetingResponse(
            one_on_one=self._one_on_one(result, principal.subject),
            position_token=result[1].position_token,
        )

    # ---- settings ----

    async def GetFeedbackSettings(  # noqa: N802
        self, request: pb.GetFeedbackSettingsRequest, context: Context
    ) -> pb.FeedbackSettings:
        principal = current_principal()
        settings = await _in_thread(lambda: self.app.get_settings(principal))
        return _settings_message(settings)

    async def UpdateFeedbackSettings(  # noqa: N802
        self, request: pb.UpdateFeedbackSettingsRequest, context: Context
    ) -> pb.FeedbackSettings:
        principal = current_principal()
        if request.anonymity_threshold < 0:
            raise InvalidArgument("must not be negative", field="anonymity_threshold")
        visibilities = [
            VISIBILITIES.from_request(v, f"allowed_visibilities[{i}]")
            for i, v in enumerate(request.allowed_visibilities)
        ]
        settings = await _in_thread(
            lambda: self.app.update_settings(principal, request.anonymity_threshold, visibilities)
        )
        return _settings_message(settings)


def _settings_message(settings: tuple[int, list[str], int]) -> pb.FeedbackSettings:
    threshold, visibilities, version = settings
    return pb.FeedbackSettings(
        anonymity_threshold=threshold,
        allowed_visibilities=[VISIBILITIES.to_proto(v) for v in visibilities],
        version=version,
    )
