"""Commands a client may retry: a request id makes a command happen at most once.

A command that names a `request_id` is recorded under (tenant, caller, request id) with a
fingerprint of the request and the result it produced (aggregate ids and versions), in the
service's own event store and in the same transaction as the command's events
(services/shared/request_recorders.py): either both are stored or neither. A retry under the
same id within the retention window answers the recorded result and stores nothing; another
request under the same id is refused. Two copies of one request racing each other cannot both
be recorded: the second one's transaction fails on the record's key, and it answers the first
one's result.
"""

from __future__ import annotations

import contextvars
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from services.shared.auth import Principal
from services.shared.errors import FailedPrecondition, InvalidArgument

REQUEST_ID_FIELD = "request_id"
DEFAULT_RETENTION = timedelta(hours=24)
REQUEST_RECORD_KWARG = "request_record"
"""The keyword of Application.save that carries a RequestRecord to the recorder."""
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")

T = TypeVar("T")


@dataclass(frozen=True)
class RequestKey:
    tenant_id: str
    actor_id: str
    request_id: str


@dataclass(frozen=True)
class RequestRecord:
    """One recorded command: what was asked (fingerprint) and what it produced (result)."""

    key: RequestKey
    method: str
    fingerprint: str
    result: Mapping[str, Any]
    recorded_at: float  # seconds since the epoch
    replaces_before: float = 0.0
    """A record of the same key recorded before this moment has expired and is replaced."""


class RequestLog(Protocol):
    """Where records live: the application recorders of services.shared.request_recorders."""

    def find_request(self, key: RequestKey, recorded_after: float) -> RequestRecord | None: ...

    def forget_requests(self, recorded_before: float) -> int: ...


class RequestReused(FailedPrecondition):
    """Another request was already recorded under this request id."""


class RequestAlreadyRecorded(Exception):
    """Raised by a save that lost a race to the same request: answer the winner's result."""

    def __init__(self, record: RequestRecord) -> None:
        super().__init__(f"request {record.key.request_id!r} already recorded")
        self.record = record


def parse_request_id(text: str, field: str = REQUEST_ID_FIELD) -> str:
    """ "" (no id) or a request id of 1-128 visible ASCII characters."""
    if text and not _REQUEST_ID.fullmatch(text):
        raise InvalidArgument(
            "must be at most 128 visible ASCII characters (a UUID, say)", field=field
        )
    return text


def fingerprint(method: str, request: Message, id_field: str = REQUEST_ID_FIELD) -> str:
    """The same for a retry of `request` and different for any other request (or method);
    `id_field` names the request's client request id (cleared first)."""
    bare = type(request)()
    bare.CopyFrom(request)
    bare.ClearField(id_field)
    digest = hashlib.sha256(method.encode() + b"\0")
    digest.update(bare.SerializeToString(deterministic=True))
    return digest.hexdigest()


@dataclass(frozen=True)
class PendingRequest:
    """A command under way with a request id: what its save records."""

    key: RequestKey
    method: str
    fingerprint: str
    retention: timedelta
    started_at: float = field(default_factory=time.time)

    def record(self, result: Mapping[str, Any]) -> RequestRecord:
        return RequestRecord(
            key=self.key,
            method=self.method,
            fingerprint=self.fingerprint,
            result=dict(result),
            recorded_at=time.time(),
            replaces_before=self.started_at - self.retention.total_seconds(),
        )


_pending: contextvars.ContextVar[PendingRequest | None] = contextvars.ContextVar(
    "northstar_pending_request", default=None
)


@contextmanager
def pending_request(request: PendingRequest | None) -> Iterator[None]:
    token = _pending.set(request)
    try:
        yield
    finally:
        _pending.reset(token)


def request_kwargs(result: Mapping[str, Any]) -> dict[str, RequestRecord]:
    """Keyword arguments of Application.save: the current command's record, if it has an id."""
    request = _pending.get()
    return {} if request is None else {REQUEST_RECORD_KWARG: request.record(result)}


def raise_if_recorded_meanwhile(log: RequestLog) -> None:
    """After a failed save: if the current request's key was recorded meanwhile (a copy of the
    request won the race), say so, so the caller answers that result instead of an error."""
    request = _pending.get()
    if request is None:
        return
    record = log.find_request(request.key, request.started_at - request.retention.total_seconds())
    if record is not None:
        raise RequestAlreadyRecorded(record)


def run_once(
    log: RequestLog,
    principal: Principal,
    request_id: str,
    method: str,
    request: Message,
    retention: timedelta,
    run: Callable[[], T],
    replay: Callable[[Mapping[str, Any]], T],
    id_field: str = REQUEST_ID_FIELD,
) -> T:
    """`run()` unless the same request was recorded under `request_id` within `retention`, in
    which case `replay(result)` answers the recorded result. Runs in a worker thread.
    `id_field` names the field that carries the id where `request_id` means something else."""
    if not request_id:
        return run()
    pending = PendingRequest(
        key=RequestKey(principal.tenant_id, principal.subject, request_id),
        method=method,
        fingerprint=fingerprint(method, request, id_field),
        retention=retention,
    )
    found = log.find_request(pending.key, pending.started_at - retention.total_seconds())
    if found is None:
        try:
            with pending_request(pending):
                return run()
        except RequestAlreadyRecorded as raced:
            found = raced.record
    if (found.method, found.fingerprint) != (pending.method, pending.fingerprint):
        raise RequestReused(
            f"was already used for another request ({found.method}) within the last "
            f"{_hours(retention)}; use a new request id for a new request",
            field=id_field,
        )
    return replay(found.result)


def _hours(retention: timedelta) -> str:
    hours = retention.total_seconds() / 3600
    return f"{hours:g} h"
