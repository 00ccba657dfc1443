"""gRPC servicer of the feedback service: protobuf in, one application call, protobuf out.

The caller comes from the token; the application decides what they may do and see. Calls touch
the stores, so each runs in a worker thread off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message

from northstar.feedback.v1 import feedback_pb2 as pb
from northstar.feedback.v1 import feedback_pb2_grpc
from services.feedback.application import FeedbackApplication
from services.feedback.domain import Feedback, FeedbackSettings
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
from services.feedback.one_on_one_cases import OneOnOneResult
from services.feedback.one_on_ones import OneOnOne
from services.feedback.request_cases import RequestView
from services.feedback.requests import FeedbackRequest, QuestionInput
from services.feedback.store import Saved
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument, NorthstarError
from services.shared.idempotency import (
    REQUEST_ID_FIELD,
    parse_request_id,
    raise_if_recorded_meanwhile,
    run_once,
)
from services.shared.validation import (
    page_size,
    parse_date,
    parse_optional_uuid,
    parse_uuid,
)

SERVICE_FULL_NAME = "northstar.feedback.v1.FeedbackService"
CLIENT_REQUEST_ID_FIELD = "client_request_id"
"""Field 100 where `request_id` names the feedback request (answering, closing)."""
T = TypeVar("T")
Context = Any
Replay = Callable[[Mapping[str, Any]], T]


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

    async def _once(
        self,
        principal: Principal,
        request: Message,
        run: Callable[[], T],
        replay: Replay[T],
        *,
        id_field: str = REQUEST_ID_FIELD,
        fingerprinted: Message | None = None,
    ) -> T:
        """`run` in a worker thread, at most once per client request id
        (services.shared.idempotency): a retry answers `replay` of the first run's recorded
        result. `fingerprinted` is what tells two requests apart, when not all of `request`."""
        request_id = parse_request_id(getattr(request, id_field), id_field)
        method = type(request).__name__.removesuffix("Request")

        def guarded() -> T:
            try:
                return run()
            except NorthstarError:
                # A copy of this request may have been recorded meanwhile, and this one then
                # refused by the domain (already answered, say): answer the copy's result.
                raise_if_recorded_meanwhile(self.app.request_log)
                raise

        return await _in_thread(
            lambda: run_once(
                self.app.request_log,
                principal,
                request_id,
                method,
                fingerprinted or request,
                self.app.request_retention,
                guarded,
                replay,
                id_field,
            )
        )

    def _feedback_response(
        self,
        respond: Callable[..., T],
        principal: Principal,
        result: tuple[Feedback, Saved],
    ) -> T:
        feedback, saved = result
        return respond(
            feedback=feedback_message(self.app.seen(principal, feedback)),
            position_token=saved.position_token,
        )

    def _feedback_again(self, respond: Callable[..., T], principal: Principal) -> Replay[T]:
        return lambda result: self._feedback_response(
            respond, principal, self.app.recorded(Feedback, principal, result)
        )

    def _one_on_one_again(self, respond: Callable[..., T], principal: Principal) -> Replay[T]:
        def again(result: Mapping[str, Any]) -> T:
            recorded = self.app.recorded(OneOnOne, principal, result)
            return respond(
                one_on_one=self._one_on_one(recorded, principal.subject),
                position_token=recorded[1].position_token,
            )

        return again

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
            given = self.app.give_feedback(
                principal,
                recipient_id=request.recipient_id,
                kind=kind,
                visibility=visibility,
                text=request.text,
                goal_id=goal_id,
                values=list(request.values),
            )
            return self._feedback_response(pb.GiveFeedbackResponse, principal, given)

        again = self._feedback_again(pb.GiveFeedbackResponse, principal)
        return await self._once(principal, request, give, again)

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
            narrowed = self.app.narrow_visibility(principal, feedback_id, visibility, version)
            return self._feedback_response(pb.NarrowFeedbackVisibilityResponse, principal, narrowed)

        again = self._feedback_again(pb.NarrowFeedbackVisibilityResponse, principal)
        return await self._once(principal, request, narrow, again)

    async def RetractFeedback(  # noqa: N802
        self, request: pb.RetractFeedbackRequest, context: Context
    ) -> pb.RetractFeedbackResponse:
        principal = current_principal()
        feedback_id = parse_uuid(request.feedback_id, "feedback_id")
        version = _version(request.expected_version)

        def retract() -> pb.RetractFeedbackResponse:
            retracted = self.app.retract_feedback(principal, feedback_id, request.reason, version)
            return self._feedback_response(pb.RetractFeedbackResponse, principal, retracted)

        again = self._feedback_again(pb.RetractFeedbackResponse, principal)
        return await self._once(principal, request, retract, again)

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
            return _request_response(pb.CreateFeedbackRequestResponse, created, saved)

        def again(result: Mapping[str, Any]) -> pb.CreateFeedbackRequestResponse:
            created, saved = self.app.recorded(FeedbackRequest, principal, result)
            return _request_response(pb.CreateFeedbackRequestResponse, created, saved)

        return await self._once(principal, request, create, again)

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

        def submit() -> pb.SubmitFeedbackAnswerResponse:
            self.app.submit_answer(principal, request_id, answers)
            return pb.SubmitFeedbackAnswerResponse(accepted=True)

        # Told apart by the request answered, never by the answers: nothing derived from an
        # anonymous answer (a hash of a rating is easily reversed) is stored with its author.
        fingerprinted = pb.SubmitFeedbackAnswerRequest(request_id=request.request_id)
        return await self._once(
            principal,
            request,
            submit,
            lambda _result: pb.SubmitFeedbackAnswerResponse(accepted=True),
            id_field=CLIENT_REQUEST_ID_FIELD,
            fingerprinted=fingerprinted,
        )

    async def CloseFeedbackRequest(  # noqa: N802
        self, request: pb.CloseFeedbackRequestRequest, context: Context
    ) -> pb.CloseFeedbackRequestResponse:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")

        def close() -> pb.CloseFeedbackRequestResponse:
            closed, saved = self.app.close_request(principal, request_id)
            return _request_response(pb.CloseFeedbackRequestResponse, closed, saved)

        def again(result: Mapping[str, Any]) -> pb.CloseFeedbackRequestResponse:
            closed, saved = self.app.recorded(FeedbackRequest, principal, result)
            return _request_response(pb.CloseFeedbackRequestResponse, closed, saved)

        return await self._once(principal, request, close, again, id_field=CLIENT_REQUEST_ID_FIELD)

    async def GetFeedbackRequestResults(  # noqa: N802
        self, request: pb.GetFeedbackRequestResultsRequest, context: Context
    ) -> pb.FeedbackRequestResults:
        principal = current_principal()
        request_id = parse_uuid(request.request_id, "request_id")
        results = await _in_thread(lambda: self.app.request_results(principal, request_id))
        return results_message(results)

    # ---- 1:1s ----

    def _one_on_one(self, result: OneOnOneResult, caller: str) -> pb.OneOnOne:
        return one_on_one_message(result[0], caller, self.app.today())

    async def _one_on_one_command(
        self,
        principal: Principal,
        request: Message,
        respond: Callable[..., T],
        change: Callable[[], OneOnOneResult],
    ) -> T:
        """Every 1:1 command: `change` once per request id, answered with the 1:1 as the caller
        sees it and the position token."""

        def run() -> T:
            result = change()
            return respond(
                one_on_one=self._one_on_one(result, principal.subject),
                position_token=result[1].position_token,
            )

        again = self._one_on_one_again(respond, principal)
        return await self._once(principal, request, run, again)

    async def ScheduleOneOnOne(  # noqa: N802
        self, request: pb.ScheduleOneOnOneRequest, context: Context
    ) -> pb.ScheduleOneOnOneResponse:
        principal = current_principal()
        cadence = CADENCES.from_request(request.cadence, "cadence")
        start = parse_date(request.start_date, "start_date")
        return await self._one_on_one_command(
            principal,
            request,
            pb.ScheduleOneOnOneResponse,
            lambda: self.app.schedule_one_on_one(
                principal,
                manager_id=request.manager_id,
                report_id=request.report_id,
                cadence=cadence,
                start_date=start,
            ),
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
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddAgendaItemResponse,
            lambda: self.app.add_agenda_item(principal, one_on_one_id, request.text),
        )

    async def AddPrivateNote(  # noqa: N802
        self, request: pb.AddPrivateNoteRequest, context: Context
    ) -> pb.AddPrivateNoteResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddPrivateNoteResponse,
            lambda: self.app.add_private_note(principal, one_on_one_id, request.text),
        )

    async def AddActionItem(  # noqa: N802
        self, request: pb.AddActionItemRequest, context: Context
    ) -> pb.AddActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.AddActionItemResponse,
            lambda: self.app.add_action_item(
                principal, one_on_one_id, request.owner_id, request.text
            ),
        )

    async def CompleteActionItem(  # noqa: N802
        self, request: pb.CompleteActionItemRequest, context: Context
    ) -> pb.CompleteActionItemResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        item_id = parse_uuid(request.item_id, "item_id")
        return await self._one_on_one_command(
            principal,
            request,
            pb.CompleteActionItemResponse,
            lambda: self.app.complete_action_item(principal, one_on_one_id, item_id),
        )

    async def RecordOneOnOneMeeting(  # noqa: N802
        self, request: pb.RecordOneOnOneMeetingRequest, context: Context
    ) -> pb.RecordOneOnOneMeetingResponse:
        principal = current_principal()
        one_on_one_id = parse_uuid(request.one_on_one_id, "one_on_one_id")
        held_on = parse_date(request.held_on, "held_on")
        return await self._one_on_one_command(
            principal,
            request,
            pb.RecordOneOnOneMeetingResponse,
            lambda: self.app.record_meeting(principal, one_on_one_id, held_on),
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

        def update() -> pb.FeedbackSettings:
            return _settings_message(
                self.app.update_settings(principal, request.anonymity_threshold, visibilities)
            )

        def again(result: Mapping[str, Any]) -> pb.FeedbackSettings:
            settings, _saved = self.app.recorded(FeedbackSettings, principal, result)
            return _settings_message(
                (settings.anonymity_threshold, settings.allowed_visibilities, settings.version)
            )

        return await self._once(principal, request, update, again)


def _request_response(respond: Callable[..., T], request: FeedbackRequest, saved: Saved) -> T:
    return respond(
        request=request_message(RequestView(request, False)), position_token=saved.position_token
    )


def _settings_message(settings: tuple[int, list[str], int]) -> pb.FeedbackSettings:
    threshold, visibilities, version = settings
    return pb.FeedbackSettings(
        anonymity_threshold=threshold,
        allowed_visibilities=[VISIBILITIES.to_proto(v) for v in visibilities],
        version=version,
    )
