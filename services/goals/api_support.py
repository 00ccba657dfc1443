"""What every RPC of the goals servicer shares: its collaborators, once-per-request-id runs in
a worker thread, and the protobuf answer of a saved command."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from uuid import UUID

import grpc
from google.protobuf.message import Message

from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals.application import CommandResult, GoalsApplication
from services.goals.caller_queries import GoalQueries
from services.goals.goal import Goal
from services.goals.index import GoalIndex
from services.goals.planning import GoalPlanning
from services.goals.protobuf_mapping import command_response
from services.goals.queries import GoalView, goal_view
from services.shared.auth import Principal, current_principal
from services.shared.errors import InvalidArgument, NorthstarError
from services.shared.idempotency import REQUEST_ID_FIELD, parse_request_id, run_once
from services.shared.position import encode_position_token
from services.shared.validation import parse_uuid

T = TypeVar("T")
Context = grpc.aio.ServicerContext[Any, Any]
GoalCommand = (
    goals_pb2.CheckInRequest
    | goals_pb2.ChangeTargetRequest
    | goals_pb2.ChangeDueDateRequest
    | goals_pb2.ActivateGoalRequest
    | goals_pb2.CompleteGoalRequest
    | goals_pb2.CancelGoalRequest
    | goals_pb2.ArchiveGoalRequest
    | goals_pb2.ReopenGoalRequest
    | goals_pb2.AddKeyResultRequest
    | goals_pb2.RenameGoalRequest
    | goals_pb2.DescribeGoalRequest
    | goals_pb2.ChangeGoalVisibilityRequest
    | goals_pb2.ChangeMetricRequest
    | goals_pb2.RemoveKeyResultRequest
    | goals_pb2.AlignGoalRequest
    | goals_pb2.SetContributionsRequest
    | goals_pb2.ReassignGoalRequest
    | goals_pb2.ChangeProgressSourceRequest
    | goals_pb2.ChangeKeyResultProgressSourceRequest
)
"""A command on one goal: each names goal_id, expected_version and request_id."""


class GoalServicerBase(goals_pb2_grpc.GoalServiceServicer):
    """The goals servicer's state and helpers; the RPCs live in api.py, api_planning.py and
    api_queries.py."""

    def __init__(
        self,
        app: GoalsApplication,
        index: GoalIndex,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.app = app
        self.index = index
        self.planning = GoalPlanning(app, index)
        self.queries = GoalQueries(app, index)
        self.today = today

    async def _change(
        self,
        request: GoalCommand,
        command: Callable[[Principal, UUID, int], CommandResult],
        request_fields: Mapping[str, str] | None = None,
    ) -> goals_pb2.GoalCommandResponse:
        """One application command on one goal, as the caller, once per request id;
        `request_fields` names the request's field for a domain field where they differ (e.g.
        the domain's due_date is ChangeDueDate's new_due_date)."""
        principal = current_principal()
        goal_id = parse_uuid(request.goal_id, "goal_id")
        expected_version = request.expected_version
        require_version(expected_version)

        def change() -> goals_pb2.GoalCommandResponse:
            with named_as_in_request(request_fields or {}):
                result = command(principal, goal_id, expected_version)
            return self._response(result)

        return await self._once(principal, request, change, self._one_goal_again(principal))

    async def _once(
        self,
        principal: Principal,
        request: Message,
        run: Callable[[], T],
        replay: Callable[[Mapping[str, Any]], T],
    ) -> T:
        """`run` in a worker thread, at most once per request id (services.shared.idempotency):
        a retry answers `replay` of the first run's recorded result."""
        request_id = parse_request_id(getattr(request, REQUEST_ID_FIELD))
        method = type(request).__name__.removesuffix("Request")
        return await in_thread(
            lambda: run_once(
                self.app.request_log,
                principal,
                request_id,
                method,
                request,
                self.app.request_retention,
                run,
                replay,
            )
        )

    def _saved(self, principal: Principal, result: Mapping[str, Any]) -> list[CommandResult]:
        """The goals a recorded command saved, each at the version it saved."""
        saved = []
        for raw_id, version in result["goals"]:
            goal_id = UUID(raw_id)
            goal = self.app.get_goal(principal.tenant_id, goal_id, version=version)
            token = encode_position_token(goal_id, version)
            saved.append(CommandResult(goal, version, token, last_notification_id=0))
        return saved

    def _one_goal_again(
        self, principal: Principal
    ) -> Callable[[Mapping[str, Any]], goals_pb2.GoalCommandResponse]:
        return lambda result: self._response(self._saved(principal, result)[0])

    def _view(self, goal: Goal) -> GoalView:
        return goal_view(self.app, self.index, goal, self.today())

    def _response(self, result: CommandResult) -> goals_pb2.GoalCommandResponse:
        return command_response(result, self._view(result.goal))


async def in_thread(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


@contextmanager
def named_as_in_request(request_fields: Mapping[str, str]) -> Iterator[None]:
    """Refusals inside name the request's field for a domain field (`request_fields`)."""
    try:
        yield
    except NorthstarError as error:
        renamed = in_request_terms(error, request_fields)
        if renamed is error:
            raise
        raise renamed from None


def in_request_terms(error: NorthstarError, request_fields: Mapping[str, str]) -> Exception:
    for domain_field, request_field in request_fields.items():
        if error.field == domain_field or error.field.startswith(domain_field + "."):
            field = request_field + error.field[len(domain_field) :]
            return type(error)(error.reason, field=field)
    return error


def require_version(expected_version: int) -> None:
    if expected_version < 0:
        raise InvalidArgument("must not be negative", field="expected_version")
