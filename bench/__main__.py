"""`python -m bench [--quick] [NAME ...]`: run the benchmarks, print a table of ratios against
baselines measured in the same run, and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import logging
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from bench import hris_feed
from bench.e2e import e2e_latency
from bench.goal_load import goal_load_with_history
from bench.goal_tree import goal_tree_check_in
from bench.grpc_latency import grpc_command_latency
from bench.memory import memory
from bench.pipeline import projection_apply_throughput, relay_throughput
from bench.rebuild import rebuild_throughput
from bench.report import Measurement, render_table, write_results
from bench.workload import (
    BenchEnvironment,
    Sizes,
    create_topics,
    new_namespace,
    service_banners_to_stderr,
    warm_up_broker,
)
from devstack.kafka import LocalKafka, ensure_kafka_jars
from northstar_contracts.hris import hris_inbound_topic
from services.directory.__main__ import start_directory_service
from services.directory.sample_feed import SampleFeed, generate_feed, publish_records
from services.shared.consumer import EventConsumer
from services.shared.directory_replica import DirectoryReplica
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase


@dataclass(frozen=True)
class Benchmark:
    name: str
    needs_kafka: bool
    run: Callable[[BenchEnvironment], Awaitable[list[Measurement]]]


async def _goal_load(env: BenchEnvironment) -> list[Measurement]:
    # Synchronous by nature (the repository API); nothing else runs on the loop meanwhile.
    return goal_load_with_history(env)


HRIS_FEED_SIZES = {"full": (10_000, 500), "quick": (1_000, 50)}
"""(people, teams) of the HRIS feed; a fiftieth of the people leave."""


async def _hris_feed(env: BenchEnvironment) -> list[Measurement]:
    """bench/hris_feed.py's convergence and replay, timed against a bare consumer of the feed."""
    people, teams = HRIS_FEED_SIZES["quick" if env.sizes.events == Sizes.quick().events else "full"]
    feed = generate_feed(hris_feed.TENANT, people=people, teams=teams, departures=people // 50)
    bootstrap = env.require_kafka()
    settings = env.settings(new_namespace("hris"), "hris-feed")
    inbound, raw = hris_inbound_topic(settings.topic_namespace), f"{new_namespace('hrisraw')}.raw"
    await create_topics(bootstrap, [inbound, settings.topic_for("directory"), raw])
    limit = max(120.0, people / 20)
    records = len(feed.records)
    replay = [*feed.records, *feed.records, _replay_marker()]

    with service_banners_to_stderr():
        service = await start_directory_service(settings)
    broker = KafkaBroker(bootstrap)
    replicas = [service.replica]
    for name in hris_feed.REPLICA_SERVICES:  # the replicas goals, feedback and kpi keep
        db = ReadModelDatabase(f"sqlite:///{env.scratch / f'hris-{name}-replica.db'}")
        replicas.append(DirectoryReplica(db))
        EventConsumer(
            broker=broker,
            name=f"{name}-directory-replica",
            topics=[settings.topic_for("directory")],
            group_id=f"{settings.topic_namespace}-{name}",
            apply=replicas[-1].apply,
            metrics=ServiceMetrics(name),
        )
    await broker.start()
    hris_feed.quiet_message_logs()

    def stored() -> int:
        return service.app.recorder.max_notification_id() or 0

    try:
        started = time.perf_counter()
        await publish_records(bootstrap, inbound, feed.records)
        applied = await hris_feed.wait_for(
            lambda: stored() >= records, limit_seconds=limit, what="the directory applying it"
        )
        for replica in replicas:
            await hris_feed.wait_for(
                functools.partial(hris_feed.converged, replica, feed),
                limit_seconds=limit,
                what="a replica converging",
            )
        converged = time.perf_counter() - started
        before = stored()
        started = time.perf_counter()
        await publish_records(bootstrap, inbound, replay)
        await hris_feed.wait_for(
            lambda: stored() > before, limit_seconds=limit * 2, what="the replays applied"
        )
        replayed = time.perf_counter() - started
        new_events = stored() - before - 1  # the marker's own event aside
    finally:
        await broker.stop()
        await service.stop()
        for replica in replicas[1:]:
            replica.db.close()
    if new_events:
        raise RuntimeError(f"replaying the feed changed the directory: {new_events} new events")
    raw_feed, raw_replay = await _raw_consumption(bootstrap, raw, feed, replay, limit)
    sizes = {"people": people, "teams": teams, "departures": len(feed.departed)}
    return [
        Measurement(
            benchmark="hris_feed",
            figure="convergence",
            unit="s",
            baseline=raw_feed,
            ours=converged,
            better="lower",
            meaning=f"{records:,} HRIS records: published until the directory and the goals, "
            "feedback and kpi replicas all hold them, against a bare consumer receiving them",
            details=sizes | {"records": records, "directory_applied_seconds": applied},
        ),
        Measurement(
            benchmark="hris_feed",
            figure="replay twice",
            unit="s",
            baseline=raw_replay,
            ours=replayed,
            better="lower",
            meaning="the same feed twice more plus a marker: published until the marker is "
            "applied, with no new event from the replays, against a bare consumer",
            details=sizes | {"records": len(replay), "new_events": new_events},
        ),
    ]


def _replay_marker() -> dict[str, str]:
    """A record the replays end with: once the directory has applied it, so have they."""
    return {
        "tenant_id": hris_feed.TENANT,
        "record_type": "team_upsert",
        "external_id": "replay-marker",
        "name": "Replay marker",
        "effective_at": "2030-01-01T00:00:00+00:00",
    }


async def _raw_consumption(
    bootstrap: str, topic: str, feed: SampleFeed, replay: Sequence[dict[str, Any]], limit: float
) -> tuple[float, float]:
    """Seconds from publishing the feed (then the replay) until a bare consumer has it all."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received = 0
    async with asyncio.timeout(limit):  # joined before the clock starts, as the services are
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=50)

    async def receive(until: int) -> None:
        nonlocal received
        async with asyncio.timeout(limit):
            while received < until:
                batches = await consumer.getmany(timeout_ms=50)
                received += sum(len(batch) for batch in batches.values())

    try:
        timings = []
        for records in (feed.records, replay):
            started = time.perf_counter()
            receiving = asyncio.create_task(receive(received + len(records)))
            await publish_records(bootstrap, topic, records)
            await receiving
            timings.append(time.perf_counter() - started)
    finally:
        await consumer.stop()
    return timings[0], timings[1]


BENCHMARKS = {
    benchmark.name: benchmark
    for benchmark in (
        Benchmark("relay_throughput", True, relay_throughput),
        Benchmark("projection_apply_throughput", True, projection_apply_throughput),
        Benchmark("grpc_command_latency", True, grpc_command_latency),
        Benchmark("goal_tree_check_in", True, goal_tree_check_in),
        Benchmark("goal_load_with_history", False, _goal_load),
        Benchmark("memory", True, memory),
        Benchmark("hris_feed", True, _hris_feed),
        Benchmark("rebuild_throughput", True, rebuild_throughput),
        Benchmark("e2e_latency", True, e2e_latency),
    )
}


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--rebuild-events",
        type=int,
        default=0,
        metavar="N",
        help="events of rebuild_throughput's topic (default 1,000,000; 20,000 with --quick)",
    )
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return arguments


async def run_selected(
    env: BenchEnvironment, selected: list[Benchmark]
) -> tuple[list[Measurement], dict[str, float]]:
    if env.kafka_bootstrap_servers:
        await warm_up_broker(env.kafka_bootstrap_servers)
    measurements: list[Measurement] = []
    seconds: dict[str, float] = {}
    for benchmark in selected:
        _progress(f"running {benchmark.name} ...")
        started = time.perf_counter()
        measurements.extend(await benchmark.run(env))
        seconds[benchmark.name] = time.perf_counter() - started
        _progress(f"{benchmark.name} done in {seconds[benchmark.name]:.1f} s")
    return measurements, seconds


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # FastStream logs every consumed message at INFO; the table needs a quiet terminal.
    logging.disable(logging.INFO)
    sizes = Sizes.quick() if arguments.quick else Sizes.full()
    if arguments.rebuild_events:
        sizes = dataclasses.replace(sizes, rebuild_events=arguments.rebuild_events)
    selected = [BENCHMARKS[name] for name in arguments.names or BENCHMARKS]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="northstar-bench-") as scratch:
        env = BenchEnvironment(sizes=sizes, scratch=Path(scratch))
        with contextlib.ExitStack() as stack:
            stack.callback(env.close)
            if any(benchmark.needs_kafka for benchmark in selected):
                _progress("starting Apache Kafka ...")
                kafka = stack.enter_context(LocalKafka(jars_dir=ensure_kafka_jars()))
                env.kafka_bootstrap_servers = kafka.bootstrap_servers
            measurements, seconds = asyncio.run(run_selected(env, selected))
    print(render_table(measurements))
    path = write_results(
        measurements,
        command=shlex.join(
            ["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])]
        ),
        quick=arguments.quick,
        sizes=dataclasses.asdict(sizes),
        seconds_by_benchmark=seconds | {"total": time.perf_counter() - started},
    )
    _progress(f"results written to {path}")
    return 0


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
