"""Peak memory while consuming the event log: the goals projection against a bare consumer.

Each side runs in a fresh interpreter (`python -m bench.memory projection|baseline ...`) with
its peak resident set reset just before consuming (Linux: /proc/self/clear_refs), so the peaks
of earlier work (imports, other benchmarks) hide nothing. The figure is how far the peak rose
above the resident set at the start. getrusage's ru_maxrss cannot serve here: on exec a child
inherits its parent's peak.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from bench.pipeline import published_namespace, time_projection, time_raw_consumer
from bench.report import Measurement
from bench.workload import BenchEnvironment, Sizes
from services.shared.settings import topic_for

REPO_ROOT = Path(__file__).resolve().parent.parent
PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK_RSS = "5"  # clear_refs command: reset the peak resident set to the current one
PROBE_DEADLINE_SECONDS = 600.0
MIB = 1024 * 1024


def resident_set_bytes() -> tuple[int, int]:
    """(current, peak) resident set of this process, from /proc/self/status (VmRSS, VmHWM)."""
    status = PROC_STATUS.read_text()
    values = {
        name: int(kib) * 1024
        for name, kib in re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M)
    }
    return values["VmRSS"], values["VmHWM"]


def reset_peak_resident_set() -> None:
    PROC_CLEAR_REFS.write_text(RESET_PEAK_RSS)


async def memory(env: BenchEnvironment) -> list[Measurement]:
    namespace = await published_namespace(env)
    baseline = await _probe(env, "baseline", namespace)
    ours = await _probe(env, "projection", namespace)
    events = env.sizes.events
    ours_mib, baseline_mib = ours["rss_growth_bytes"] / MIB, baseline["rss_growth_bytes"] / MIB
    return [
        Measurement(
            benchmark="memory",
            figure="peak RSS growth",
            unit="MiB",
            baseline=baseline_mib,
            ours=ours_mib,
            better="lower",
            meaning=(
                f"applying {events:,} events grows the projection's peak RSS by"
                f" {ours_mib:.1f} MiB, against {baseline_mib:.1f} MiB for a consumer that only"
                " reads them (each in a fresh process)"
            ),
            details={"events": events, "projection": ours, "baseline": baseline},
        )
    ]


async def _probe(env: BenchEnvironment, side: str, namespace: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.memory",
        side,
        "--bootstrap",
        env.require_kafka(),
        "--namespace",
        namespace,
        "--events",
        str(env.sizes.events),
        "--scratch",
        str(env.scratch / f"memory-{side}"),
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(PROBE_DEADLINE_SECONDS):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"the {side} memory probe exited with code {process.returncode}")
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return result


async def _measure(side: str, env: BenchEnvironment, namespace: str) -> dict[str, Any]:
    reset_peak_resident_set()
    before, _ = resident_set_bytes()
    if side == "projection":
        run = await time_projection(env, namespace, "projection", env.sizes.events)
        seconds = run.total_seconds
    else:
        topic = topic_for("goals", namespace)
        seconds = await time_raw_consumer(env.require_kafka(), topic, env.sizes.events)
    after, peak = resident_set_bytes()
    return {
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": peak - before,
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("side", choices=["projection", "baseline"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    arguments = parser.parse_args(argv)
    logging.disable(logging.INFO)
    env = BenchEnvironment(
        sizes=dataclasses.replace(Sizes.full(), events=arguments.events),
        scratch=arguments.scratch,
        kafka_bootstrap_servers=arguments.bootstrap,
    )
    result = asyncio.run(_measure(arguments.side, env, arguments.namespace))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
