"""`python -m bench [--quick] [NAME ...]`: run the benchmarks, print a table of ratios against
baselines measured in the same run, and write bench/results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import shlex
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.goal_load import goal_load_with_history
from bench.grpc_latency import grpc_command_latency
from bench.memory import memory
from bench.pipeline import projection_apply_throughput, relay_throughput
from bench.report import Measurement, render_table, write_results
from bench.workload import BenchEnvironment, Sizes, warm_up_broker
from devstack.kafka import LocalKafka, ensure_kafka_jars


@dataclass(frozen=True)
class Benchmark:
    name: str
    needs_kafka: bool
    run: Callable[[BenchEnvironment], Awaitable[list[Measurement]]]


async def _goal_load(env: BenchEnvironment) -> list[Measurement]:
    # Synchronous by nature (the repository API); nothing else runs on the loop meanwhile.
    return goal_load_with_history(env)


BENCHMARKS = {
    benchmark.name: benchmark
    for benchmark in (
        Benchmark("relay_throughput", True, relay_throughput),
        Benchmark("projection_apply_throughput", True, projection_apply_throughput),
        Benchmark("grpc_command_latency", True, grpc_command_latency),
        Benchmark("goal_load_with_history", False, _goal_load),
        Benchmark("memory", True, memory),
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
