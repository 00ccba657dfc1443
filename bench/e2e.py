"""End to end at fixed offered loads: CheckIn commands sent at a steady rate (an open loop: a
call starts on schedule whether or not the previous one answered) to the goals service, timed
from the command's answer until the projections service has applied that version of the goal;
against the Kafka floor, messages produced at the same rate (the relay's producer settings)
timed from the send until a consumer receives them. Both on one broker, SQLite stores."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.grpc_latency import create_goal_request
from bench.report import Measurement, percentile
from bench.workload import (
    BenchEnvironment,
    bearer_metadata,
    create_topics,
    new_namespace,
    register_owner,
    service_banners_to_stderr,
)
from northstar.goals.v1 import goals_pb2, goals_pb2_grpc
from services.goals.__main__ import start_goals_service
from services.projections.__main__ import start_projections_service
from services.projections.goals_projection import GOALS_PROJECTION
from services.shared.readmodel import ReadModelDatabase

OFFERED_LOADS = (50, 200)
"""Commands (and floor messages) per second."""
GOALS = 200
POLL_SECONDS = 0.001
DEADLINE_SECONDS = 120.0
PERCENTILES = (50.0, 95.0, 99.0)


async def open_loop(
    rate: int, seconds: float, send: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Starts `send(n)` at n / rate seconds from now, for `seconds`, and waits for all."""
    started = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for number in range(int(rate * seconds)):
        delay = started + number / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(number)))
    await asyncio.gather(*tasks)


class AppliedWatch:
    """Resolves (goal, version) waits by polling the projection's applied versions, all pending
    goals in one query per poll."""

    def __init__(self, db: ReadModelDatabase) -> None:
        self.db = db
        self.pending: dict[tuple[str, int], asyncio.Future[float]] = {}

    def wait(self, goal_id: str, version: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.pending[(goal_id, version)] = future
        return future

    async def run(self) -> None:
        while True:
            if self.pending:
                goals = sorted({goal for goal, _ in self.pending})
                rows = self.db.read(
                    "SELECT aggregate_id, version FROM applied_versions WHERE projection = ? "
                    f"AND aggregate_id IN ({', '.join('?' * len(goals))})",
                    (GOALS_PROJECTION, *goals),
                )
                applied = {str(r[0]): int(r[1]) for r in rows}
                now = time.perf_counter()
                for key in [k for k in self.pending if applied.get(k[0], 0) >= k[1]]:
                    self.pending.pop(key).set_result(now)
            await asyncio.sleep(POLL_SECONDS)


async def service_latencies(env: BenchEnvironment, seconds: float) -> dict[int, list[float]]:
    namespace = new_namespace("e2e")
    await create_topics(env.require_kafka(), [f"{namespace}.goals.v1"])
    with service_banners_to_stderr():
        goals = await start_goals_service(env.settings(namespace, "e2e-goals"))
        projections = await start_projections_service(
            env.settings(namespace, "e2e-projections"), group_id=f"e2e-{uuid.uuid4().hex[:8]}"
        )
    watch = AppliedWatch(projections.db)
    watching = asyncio.create_task(watch.run())
    metadata = bearer_metadata()
    latencies: dict[int, list[float]] = {}
    try:
        register_owner(goals.replica)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{goals.runtime.grpc_port}") as channel:
            stub = goals_pb2_grpc.GoalServiceStub(channel)
            goal_ids = []
            for number in range(GOALS):
                response = await stub.CreateGoal(create_goal_request(number), metadata=metadata)
                goal_ids.append(response.goal.id)
                last = watch.wait(response.goal.id, response.goal.version)
            await asyncio.wait_for(last, DEADLINE_SECONDS)  # the projection has caught up

            for rate in OFFERED_LOADS:
                samples: list[float] = []

                async def check_in(number: int, samples: list[float] = samples) -> None:
                    request = goals_pb2.CheckInRequest(
                        goal_id=goal_ids[number % GOALS],
                        value=float(number % 100),
                        confidence=0.7,
                        note=f"load {number}",
                    )
                    response = await stub.CheckIn(request, metadata=metadata)
                    accepted = time.perf_counter()
                    visible = watch.wait(response.goal.id, response.goal.version)
                    samples.append(await asyncio.wait_for(visible, DEADLINE_SECONDS) - accepted)

                await open_loop(rate, seconds, check_in)
                latencies[rate] = [sample * 1000 for sample in samples]
    finally:
        watching.cancel()
        await projections.runtime.stop()
        projections.db.close()
        await goals.stop()
        goals.app.close()
    return latencies


async def kafka_floor(env: BenchEnvironment, seconds: float) -> dict[int, list[float]]:
    bootstrap = env.require_kafka()
    topic = f"{new_namespace('floor')}.floor.v1"
    await create_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=2
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"floor-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
    )
    await producer.start()
    await consumer.start()
    sent: dict[bytes, float] = {}
    received: dict[bytes, float] = {}
    assigned, drained = asyncio.Event(), asyncio.Event()
    awaited: set[bytes] = set()

    async def receive() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=5)
            now = time.perf_counter()
            if consumer.assignment():
                assigned.set()
            for records in batches.values():
                for record in records:
                    received[record.value] = now
                    awaited.discard(record.value)
            if not awaited:
                drained.set()

    receiving = asyncio.create_task(receive())
    latencies: dict[int, list[float]] = {}
    try:
        await asyncio.wait_for(assigned.wait(), DEADLINE_SECONDS)
        for rate in OFFERED_LOADS:
            keys: list[bytes] = []

            async def send(number: int, rate: int = rate, keys: list[bytes] = keys) -> None:
                value = f"{rate}-{number}".encode()
                keys.append(value)
                awaited.add(value)
                drained.clear()
                sent[value] = time.perf_counter()
                await (await producer.send(topic, value=value, key=value))

            await open_loop(rate, seconds, send)
            await asyncio.wait_for(drained.wait(), DEADLINE_SECONDS)
            latencies[rate] = [(received[k] - sent[k]) * 1000 for k in keys]
    finally:
        receiving.cancel()
        await consumer.stop()
        await producer.stop()
    return latencies


async def e2e_latency(env: BenchEnvironment) -> list[Measurement]:
    seconds = env.sizes.e2e_seconds
    floor = await kafka_floor(env, seconds)
    ours = await service_latencies(env, seconds)
    measurements = []
    for rate in OFFERED_LOADS:
        for percent in PERCENTILES:
            measurements.append(
                Measurement(
                    benchmark="e2e_latency",
                    figure=f"{rate}/s p{percent:.0f}",
                    unit="ms",
                    baseline=percentile(floor[rate], percent),
                    ours=percentile(ours[rate], percent),
                    better="lower",
                    meaning=(
                        f"CheckIn at {rate}/s for {seconds:.0f} s: from the command's answer"
                        " until the projection applied it, against produce-to-consume of"
                        " bare Kafka messages at the same rate"
                    ),
                    details={
                        "commands": len(ours[rate]),
                        "floor_messages": len(floor[rate]),
                        "poll_seconds": POLL_SECONDS,
                    },
                )
            )
    return measurements
