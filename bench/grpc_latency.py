"""Command latency over grpc.aio: CreateGoal and CheckIn against the goals service (SQLite store,
real Kafka for its relay) and a no-op grpc.aio server, with the same sequential client loop."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
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

Call = Callable[[int], Awaitable[Any]]


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


async def goals_service_latencies(env: BenchEnvironment) -> tuple[list[float], list[float]]:
    """(CreateGoal, CheckIn) latencies in ms; check-ins go round-robin over the created goals."""
    sizes = env.sizes
    namespace = new_namespace("grpc")
    await create_topics(env.require_kafka(), [f"{namespace}.goals.v1"])
    with service_banners_to_stderr():
        service = await start_goals_service(env.settings(namespace, "grpc-goals"))
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
    finally:
        await service.stop()
        service.app.close()
    return creates, check_ins


async def noop_server_latencies(env: BenchEnvironment) -> list[float]:
    """Latencies in ms of a grpc.aio method that does nothing, sent the same request and token."""

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
            return await timed_calls(call, env.sizes.grpc_calls)
    finally:
        await server.stop(None)


async def grpc_command_latency(env: BenchEnvironment) -> list[Measurement]:
    baseline = await noop_server_latencies(env)
    creates, check_ins = await goals_service_latencies(env)
    measurements = []
    for command, ours in (("CreateGoal", creates), ("CheckIn", check_ins)):
        for percent in PERCENTILES:
            ours_ms, baseline_ms = percentile(ours, percent), percentile(baseline, percent)
            measurements.append(
                Measurement(
                    benchmark="grpc_command_latency",
                    figure=f"{command} p{percent:.0f}",
                    unit="ms",
                    baseline=baseline_ms,
                    ours=ours_ms,
                    better="lower",
                    meaning=(
                        f"sequential {command} calls take a median {median(ours):.1f} ms"
                        f" end to end (auth, store, relay wake-up) against"
                        f" {median(baseline):.2f} ms for a no-op grpc.aio call"
                    ),
                    details={"calls": len(ours), "warm_up_calls": env.sizes.grpc_warm_up},
                )
            )
    return measurements
