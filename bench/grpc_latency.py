"""Command latency over grpc.aio: CreateGoal and CheckIn against the goals service (SQLite store,
real Kafka for its relay) and a no-op grpc.aio server, with the same sequential client loop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc

from bench.report import Measurement, median, percentile
from bench.workload import (
    TEAM,
    BenchEnvironment,
    bearer_metadata,
    create_topics,
    new_namespace,
    register_owner,
    service_banners_to_stderr,
)
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals.__main__ import start_goals_service

NOOP_SERVICE = "northstar.bench.v1.NoOp"
NOOP_METHOD = "Call"
PERCENTILES = (50.0, 95.0, 99.0)
CONCURRENCY = 16

Call = Callable[[int], Awaitable[Any]]


async def concurrent_throughput(call: Call, count: int, first: int = 0) -> float:
    """Calls per second of `count` calls made by CONCURRENCY callers at once, each awaiting its
    call before the next (a closed loop)."""
    numbers = iter(range(first, first + count))

    async def caller() -> None:
        for number in numbers:
            await call(number)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - started)


async def timed_calls(call: Call, count: int, first: int = 0) -> list[float]:
    """Latencies in milliseconds of `count` sequential calls numbered from `first`."""
    latencies = []
    for number in range(first, first + count):
        started = time.perf_counter()
        await call(number)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def create_goal_request(number: int) -> goals_pb2.CreateGoalRequest:
    return goals_pb2.CreateGoalRequest(
        title=f"Close {number} deals this quarter",
        description="Benchmark goal with a measurable target",
        team_id=TEAM,
        level=goals_pb2.GOAL_LEVEL_PERSONAL,
        start_date="2026-01-01",
        due_date="2026-12-31",
        metric=goals_pb2.Metric(
            kind=goals_pb2.METRIC_KIND_NUMBER,
            direction=goals_pb2.METRIC_DIRECTION_INCREASE,
            start=0,
            target=100,
        ),
        activate=True,
    )


@dataclass(frozen=True)
class CommandRun:
    creates: list[float]
    check_ins: list[float]
    check_ins_per_second: float
    """CheckIn calls per second with CONCURRENCY callers."""


async def goals_service_latencies(env: BenchEnvironment, store_url: str = "") -> CommandRun:
    """CreateGoal and CheckIn latencies in ms (check-ins round-robin over the created goals),
    then CheckIn throughput with CONCURRENCY callers."""
    sizes = env.sizes
    namespace = new_namespace("grpc")
    await create_topics(env.require_kafka(), [f"{namespace}.goals.v1"])
    folder = f"grpc-goals-{uuid.uuid4().hex[:6]}"
    with service_banners_to_stderr():
        service = await start_goals_service(env.settings(namespace, folder, store_url))
    metadata = bearer_metadata()
    goal_ids: list[str] = []
    try:
        register_owner(service.replica)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{service.runtime.grpc_port}") as channel:
            stub = goals_pb2_grpc.GoalServiceStub(channel)

            async def create(number: int) -> None:
                response = await stub.CreateGoal(create_goal_request(number), metadata=metadata)
                goal_ids.append(response.goal.id)

            async def check_in(number: int) -> None:
                request = goals_pb2.CheckInRequest(
                    goal_id=goal_ids[number % len(goal_ids)],
                    value=float(number % 100),
                    confidence=0.7,
                    note=f"week {number}",
                )
                await stub.CheckIn(request, metadata=metadata)

            await timed_calls(create, sizes.grpc_warm_up)
            await timed_calls(check_in, sizes.grpc_warm_up)
            creates = await timed_calls(create, sizes.grpc_calls, first=sizes.grpc_warm_up)
            check_ins = await timed_calls(check_in, sizes.grpc_calls, first=sizes.grpc_warm_up)
            rate = await concurrent_throughput(check_in, sizes.grpc_calls, first=sizes.grpc_calls)
    finally:
        await service.stop()
        service.app.close()
    return CommandRun(creates, check_ins, rate)


async def noop_server_latencies(env: BenchEnvironment) -> tuple[list[float], float]:
    """Latencies in ms of a grpc.aio method that does nothing, sent the same request and token,
    then its calls per second with CONCURRENCY callers."""

    async def nothing(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                NOOP_SERVICE, {NOOP_METHOD: grpc.unary_unary_rpc_method_handler(nothing)}
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    request = create_goal_request(0).SerializeToString()
    metadata = bearer_metadata()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            method = channel.unary_unary(f"/{NOOP_SERVICE}/{NOOP_METHOD}", None, None)

            async def call(number: int) -> None:
                await method(request, metadata=metadata)

            await timed_calls(call, env.sizes.grpc_warm_up)
            latencies = await timed_calls(call, env.sizes.grpc_calls)
            return latencies, await concurrent_throughput(call, env.sizes.grpc_calls)
    finally:
        await server.stop(None)


async def grpc_command_latency(env: BenchEnvironment) -> list[Measurement]:
    baseline, baseline_rate = await noop_server_latencies(env)
    measurements = []
    for store in ("SQLite", "PostgreSQL"):
        run = await goals_service_latencies(
            env, env.new_postgres_url() if store == "PostgreSQL" else ""
        )
        suffix = "" if store == "SQLite" else ", PostgreSQL"
        for command, ours in (("CreateGoal", run.creates), ("CheckIn", run.check_ins)):
            for percent in PERCENTILES:
                measurements.append(
                    Measurement(
                        benchmark="grpc_command_latency",
                        figure=f"{command} p{percent:.0f}{suffix}",
                        unit="ms",
                        baseline=percentile(baseline, percent),
                        ours=percentile(ours, percent),
                        better="lower",
                        meaning=(
                            f"sequential {command} calls on {store} take a median"
                            f" {median(ours):.1f} ms end to end (auth, store, relay wake-up)"
                            f" against {median(baseline):.2f} ms for a no-op grpc.aio call"
                        ),
                        details={"calls": len(ours), "warm_up_calls": env.sizes.grpc_warm_up},
                    )
                )
        measurements.append(
            Measurement(
                benchmark="grpc_command_latency",
                figure=f"CheckIn throughput x{CONCURRENCY}{suffix}",
                unit="calls/s",
                baseline=baseline_rate,
                ours=run.check_ins_per_second,
                better="higher",
                meaning=(
                    f"{CONCURRENCY} concurrent callers of CheckIn on {store} against the same"
                    " callers of a no-op grpc.aio method"
                ),
                details={"calls": env.sizes.grpc_calls, "callers": CONCURRENCY},
            )
        )
    return measurements
