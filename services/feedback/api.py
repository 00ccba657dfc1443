"""gRPC servicer of the feedback service: protobuf in, one application call, protobuf out.

The caller comes from the token; the application decides what they may do and see. Calls touch
the stores, so each runs in a worker thread off the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from northstar.feedback.v1 import feedback_pb2 as pb
from northstar.feedback.v1 import feedback_pb2_grpc
from services.feedback.domain import Feedback, FeedbackSettings
from services.feedback.one_on_one_rpcs import OneOnOneRpcs
from services.feedback.protobuf_mapping import (
    DIRECTIONS,
    KINDS,
    REQUEST_KINDS,
    VISIBILITIES,
    feedback_message,
    question_inputs,
    request_message,
    results_message,
)
from services.feedback.request_cases import RequestView
from services.feedback.requests import FeedbackRequest
from services.feedback.rpc_base import (
    CommandRpcs,
    Context,
    Replay,
    T,
    expected_version,
    in_thread,
    page_offset,
)
from services.feedback.store import Saved
from services.feedback.template_rpcs import TemplateRpcs
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument
from services.shared.validation import (
    page_size,
    parse_date,
    parse_optional_uuid,
    parse_uuid,
    reject_control_characters,
)

SERVICE_FULL_NAME = "northstar.feedback.v1.FeedbackService"
CLIENT_REQUEST_ID_FIELD = "client_request_id"
"""Field 100 where `request_id` names the feedback request (answering, closing)."""


class FeedbackServicer(
    TemplateRpcs, OneOnOneRpcs, CommandRpcs, feedback_pb2_grpc.FeedbackServiceServicer
):
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
        seen = await in_thread(lambda: self.app.get_feedback(principal, feedback_id))
        return feedback_message(seen)

    async def ListFeedback(  # noqa: N802
        self, request: pb.ListFeedbackRequest, context: Context
    ) -> pb.ListFeedbackResponse:
        principal = current_principal()
        direction = DIRECTIONS.from_request(request.direction, "direction")
        limit, offset = page_size(request.page_size), page_offset(request.page_token)
        # Looked up in the index: a NUL would break a PostgreSQL text parameter.
        person_id = reject_control_characters(request.person_id, "person_id")
        seen, more = await in_thread(
            lambda: self.app.list_feedback(
                principal,
                person_id,
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
        version = expected_version(request.expected_version)

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
        version = expected_version(request.expected_version)

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
        questions = question_inputs(request.questions)
        template_id = parse_optional_uuid(request.template_id, "template_id")

        def create() -> pb.CreateFeedbackRequestResponse:
            created, saved = self.app.create_request(
                principal,
                subject_id=request.subject_id,
                kind=kind,
                reviewer_ids=list(request.reviewer_ids),
                questions=questions,
                due_date=due_date,
                anonymous=request.anonymous,
                template_id=template_id,
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
        view = await in_thread(lambda: self.app.get_request(principal, request_id))
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
        results = await in_thread(lambda: self.app.request_results(principal, request_id))
        return results_message(results)

    # ---- settings ----

    async def GetFeedbackSettings(  # noqa: N802
        self, request: pb.GetFeedbackSettingsRequest, context: Context
    ) -> pb.FeedbackSettings:
        principal = current_principal()
        settings = await in_thread(lambda: self.app.get_settings(principal))
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
