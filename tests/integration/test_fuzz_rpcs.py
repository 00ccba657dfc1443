"""Every RPC of every service, with requests built from the generated protobuf descriptors:
empty, huge, unicode and control-character text, NaN and infinities, negative and out-of-range
numbers and enums, random and foreign ids, hand-made page and position tokens. Whatever the
request, the answer is a precise status: never UNKNOWN, never INTERNAL, and never
RESOURCE_EXHAUSTED for a request below the message size limit.

Nothing here names a field: the descriptors say which fields exist and of what type, so the
test follows the API as it changes (a string that becomes an enum is fuzzed as an enum).
The example count is bounded (NORTHSTAR_FUZZ_EXAMPLES per RPC, default 10) so it runs in make
test. One running system per store serves every RPC's examples: it lives on an event loop of
its own thread, so each RPC can be its own hypothesis test (a sync one) and none is left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
import psycopg
import pytest
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg.conninfo import make_conninfo

from northstar.directory.v1 import directory_pb2
from northstar.feedback.v1 import feedback_pb2
from northstar.goals.v1 import goals_pb2
from northstar.kpi.v1 import kpi_pb2
from northstar.projections.v1 import projections_pb2
from services.feedback.__main__ import start_feedback_service
from services.kpi.__main__ import start_kpi_service
from services.shared.auth import PLATFORM_OPERATOR, PLATFORM_TENANT
from services.shared.position import encode_position_token
from services.shared.settings import ServiceSettings
from tests.integration.conftest import (
    FAST_RETRY,
    bearer,
    conninfo_to_url,
    holds_seed_organisation,
    started_system,
    system_settings,
)
from tests.waiting import eventually

T = TypeVar("T")
EXAMPLES = int(os.environ.get("NORTHSTAR_FUZZ_EXAMPLES", "10"))
MAX_REQUEST_BYTES = 4 * 1024 * 1024  # grpcio's default receive limit
FORBIDDEN = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
CALL_TIMEOUT_SECONDS = 5.0  # a wait for a foreign position token may run out: that is fine
CALLERS = [
    bearer("hr-1", ["hr_admin"]),
    bearer("manager-1", ["manager"]),
    bearer("owner-1", ["employee"]),
    bearer("auditor-1", ["auditor"]),
    bearer("sync", ["integration"]),
    bearer("globex-hr", ["hr_admin"], tenant_id="globex"),
    bearer("ops-1", [PLATFORM_OPERATOR], tenant_id=PLATFORM_TENANT),
    (("authorization", "Bearer not-a-token"),),
]


@dataclass(frozen=True)
class Rpc:
    service: str
    method: MethodDescriptor

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method.name}"

    def __repr__(self) -> str:
        return self.path


def every_rpc() -> list[Rpc]:
    rpcs: list[Rpc] = []
    for module in (goals_pb2, directory_pb2, projections_pb2, kpi_pb2, feedback_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            rpcs.extend(Rpc(service.full_name, method) for method in service.methods)
    return rpcs


# ---- values per field type ------------------------------------------------------------------

SEED_IDS = ["owner-1", "owner-2", "manager-1", "hr-1", "team-a", "globex-owner", "globex-team"]
HAND_MADE_TOKENS = [
    "offset:²",
    "offset:" + "9" * 5000,
    "offset:-1",
    "eyJhZnRlciI6IDUsICJmaWx0ZXIiOiAiMCJ9",  # {"after": 5, "filter": "0"}
    "%%%",
    encode_position_token(uuid.uuid4(), 10**17),
    encode_position_token(uuid.uuid4(), 0),
]
HOSTILE_TEXT = [
    "",
    " ",
    "NaN",
    "-1",
    "1e309",
    "2026-13-45",
    "2026-06-30T12:00:00Z",
    "2026-01-01",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202e",
    "\ud7ff\ufffd",
    "😀" * 100,
    "' OR 1=1 --",
    "../../etc/passwd",
]
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
SPECIAL_FLOATS = [float("nan"), float("inf"), float("-inf"), -1.0, 0.0, 1e308, -1e-308, 0.5]


class RequestMaker:
    """Random requests for one message type, from a hypothesis-provided Random.

    Values are chosen uniformly among kinds (hypothesis' own strategies favour their first,
    simplest choices, which left most fields and hostile values unexercised); hypothesis
    still seeds and replays the run, and a failure prints the request."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def text(self) -> str:
        rnd = self.rnd
        kind = rnd.randrange(9)
        if kind == 0:
            return rnd.choice(HOSTILE_TEXT)
        if kind == 1:
            return rnd.choice(SEED_IDS)
        if kind == 2:
            return rnd.choice(HAND_MADE_TOKENS)
        if kind == 3:
            return str(uuid.UUID(int=rnd.getrandbits(128)))
        if kind == 4:
            return "".join(chr(rnd.randrange(32, 0x2FFF)) for _ in range(rnd.randrange(1, 40)))
        if kind == 5:
            return "".join(chr(rnd.randrange(0, 32)) for _ in range(rnd.randrange(1, 5)))
        if kind == 6:
            length: int = rnd.choice((100, 1_000, 10_000, 100_000))
            return rnd.choice("x9é😀") * length
        if kind == 7:
            return f"offset:{rnd.randrange(-5, 10**6)}"
        return ""

    def integer(self, low: int, high: int) -> int:
        edges = [v for v in (low, high, -1, 0, 1, 2, 100, 500, 501, 10**6) if low <= v <= high]
        return self.rnd.choice(edges) if self.rnd.random() < 0.6 else self.rnd.randint(low, high)

    def scalar(self, field: FieldDescriptor) -> Any:
        kind, rnd = field.type, self.rnd
        if kind == FieldDescriptor.TYPE_STRING:
            return self.text()
        if kind == FieldDescriptor.TYPE_BYTES:
            return rnd.randbytes(rnd.randrange(0, 64))
        if kind == FieldDescriptor.TYPE_BOOL:
            return rnd.random() < 0.5
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            if rnd.random() < 0.6:
                return rnd.choice(SPECIAL_FLOATS)
            return rnd.uniform(-1e6, 1e6)
        if kind == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None
            known = [value.number for value in field.enum_type.values]
            # proto3 enums are open: unknown numbers reach the servicer as they are.
            return rnd.choice(known) if rnd.random() < 0.6 else self.integer(-(2**31), 2**31 - 1)
        return self.integer(*INT_RANGES[kind])

    def fill(self, message: Message, depth: int = 0) -> Message:
        """Sets one field (so its own check is reached, not an earlier field's) or several."""
        fields = [cast(FieldDescriptor, field) for field in message.DESCRIPTOR.fields]
        if not fields or depth > 3:
            return message
        count = 1 if self.rnd.random() < 0.5 else self.rnd.randrange(1, len(fields) + 1)
        for field in self.rnd.sample(fields, min(count, len(fields))):
            self.set(message, field, depth)
        return message

    def set(self, message: Message, field: FieldDescriptor, depth: int) -> None:
        target = getattr(message, field.name)
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_field = entry.fields_by_name["value"]
            for _ in range(self.rnd.randrange(0, 4)):
                key = self.scalar(entry.fields_by_name["key"])
                if value_field.message_type is None:
                    target[key] = self.scalar(value_field)
                else:
                    self.fill(target[key], depth + 1)
        elif field.is_repeated:
            count = self.rnd.choice([0, 1, 2, 3, 501])
            for _ in range(count):
                if field.message_type is None:
                    target.append(self.scalar(field))
                else:
                    self.fill(target.add(), depth + 1)
        elif field.message_type is not None:
            target.SetInParent()
            self.fill(target, depth + 1)
        else:
            setattr(message, field.name, self.scalar(field))


def request_for(rpc: Rpc) -> st.SearchStrategy[Message]:
    message_class = GetMessageClass(rpc.method.input_type)
    return st.randoms(use_true_random=False).map(
        lambda rnd: RequestMaker(rnd).fill(message_class())
    )


# ---- the property ---------------------------------------------------------------------------


Channels = dict[str, grpc.aio.Channel]
"""Each service's channel by its proto package's second part ("goals", "kpi", ...)."""


async def answer(channels: Channels, rpc: Rpc, request: Message, caller: Any) -> Any:
    channel = channels[rpc.service.split(".")[1]]
    output = GetMessageClass(rpc.method.output_type)
    if rpc.method.server_streaming:
        stream = channel.unary_stream(
            rpc.path,
            request_serializer=type(request).SerializeToString,
            response_deserializer=output.FromString,
        )
        return [r async for r in stream(request, metadata=caller, timeout=CALL_TIMEOUT_SECONDS)]
    unary = channel.unary_unary(
        rpc.path,
        request_serializer=type(request).SerializeToString,
        response_deserializer=output.FromString,
    )
    return await unary(request, metadata=caller, timeout=CALL_TIMEOUT_SECONDS)


class LoopThread:
    """An event loop running in a thread of its own, for sync tests to submit coroutines to."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


@dataclass
class FuzzedSystem:
    loop: LoopThread
    channels: Channels


@contextlib.asynccontextmanager
async def every_service(settings: ServiceSettings) -> AsyncIterator[Channels]:
    """Directory, goals and projections (the shared running system), the KPI and the feedback
    services."""
    async with started_system(settings) as system:
        kpi = await start_kpi_service(settings, retry=FAST_RETRY)
        kpi_channel = grpc.aio.insecure_channel(f"127.0.0.1:{kpi.runtime.grpc_port}")
        feedback = await start_feedback_service(settings, retry=FAST_RETRY)
        feedback_channel = grpc.aio.insecure_channel(f"127.0.0.1:{feedback.runtime.grpc_port}")
        try:
            await eventually(
                lambda: (
                    holds_seed_organisation(kpi.replica)
                    and holds_seed_organisation(feedback.replica)
                ),
                within_seconds=60,
                what="the KPI and feedback directory replicas holding the seed organisation",
            )
            yield {
                "goals": system.goals_channel,
                "directory": system.directory_channel,
                "projections": system.projections_channel,
                "kpi": kpi_channel,
                "feedback": feedback_channel,
            }
        finally:
            await feedback_channel.close(None)
            await feedback.stop()
            await kpi_channel.close(None)
            await kpi.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def fuzzed(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    kafka_bootstrap_servers: str,
) -> Iterator[FuzzedSystem]:
    tmp_path = tmp_path_factory.mktemp("fuzz")
    with store_for(request, tmp_path) as store_url:
        loop = LoopThread()
        context = every_service(system_settings(store_url, tmp_path, kafka_bootstrap_servers))
        try:
            channels = loop.run(context.__aenter__())
            try:
                yield FuzzedSystem(loop, channels)
            finally:
                loop.run(context.__aexit__(None, None, None))
        finally:
            loop.close()


@contextlib.contextmanager
def store_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin_dsn: str = request.getfixturevalue("postgres_dsn")
    name = f"fuzz_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conninfo_to_url(make_conninfo(admin_dsn, dbname=name))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def status_of(
    channels: Channels, rpc: Rpc, request: Message, caller: Any
) -> tuple[grpc.StatusCode, str]:
    try:
        await answer(channels, rpc, request, caller)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def test_the_fuzzer_covers_every_rpc_of_every_service() -> None:
    paths = {rpc.path for rpc in every_rpc()}

    assert "/northstar.goals.v1.GoalService/CreateGoal" in paths
    assert "/northstar.directory.v1.DirectoryService/UpsertPerson" in paths
    assert "/northstar.projections.v1.ProjectionService/ExportHistory" in paths
    assert any(path.startswith("/northstar.kpi.v1.") for path in paths)
    assert "/northstar.feedback.v1.FeedbackService/DefineQuestionTemplate" in paths
    assert len(paths) >= 35


@pytest.mark.parametrize("rpc", every_rpc(), ids=lambda rpc: f"{rpc.service}.{rpc.method.name}")
def test_no_request_makes_the_rpc_fail_unknown_internal_or_exhausted(
    fuzzed: FuzzedSystem, rpc: Rpc
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(request=request_for(rpc), caller=st.sampled_from(CALLERS))
    def answers_precisely(request: Message, caller: Any) -> None:
        code, details = fuzzed.loop.run(status_of(fuzzed.channels, rpc, request, caller))

        shown = str(request)[:2000]
        assert code not in FORBIDDEN, (rpc, code, details, shown)
        if request.ByteSize() < MAX_REQUEST_BYTES:
            assert code != grpc.StatusCode.RESOURCE_EXHAUSTED, (rpc, details, shown)

    answers_precisely()
