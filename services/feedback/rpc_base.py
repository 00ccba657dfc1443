"""What every feedback RPC stands on: the application, worker threads, the request-id rule
(each command at most once per client request id) and the small parsers of the API's fields."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from google.protobuf.message import Message

from services.feedback.application import FeedbackApplication
from services.shared.auth import Principal
from services.shared.errors import InvalidArgument, NorthstarError
from services.shared.idempotency import (
    REQUEST_ID_FIELD,
    parse_request_id,
    raise_if_recorded_meanwhile,
    run_once,
)

T = TypeVar("T")
Context = Any
Replay = Callable[[Mapping[str, Any]], T]


async def in_thread(call: Callable[[], T]) -> T:
    return await asyncio.to_thread(call)


def expected_version(value: int) -> int:
    if value < 0:
        raise InvalidArgument("must not be negative", field="expected_version")
    return value


def page_offset(token: str) -> int:
    if not token:
        return 0
    if not token.isascii() or not token.isdigit() or len(token) > 9:
        raise InvalidArgument(f"malformed page token {token[:40]!r}", field="page_token")
    return int(token)


class CommandRpcs:
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

        return await in_thread(
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
