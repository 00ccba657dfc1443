"""`python -m bench.apply_cpu [--events 5000] [--runs 5] [--profile]`: the goals projection's apply
path alone, in CPU seconds of this process (what a busy machine disturbs least).

The seeded goal event log's wire bytes are decoded into envelopes and handed to the goals
projection's ledger (`SequencedLedger.consume`) in batches of the consumer's size, into a fresh
SQLite store per run; no Kafka, no service. Prints the best run. For comparing two versions of
the apply path on the same machine (the benchmark rows give the ratios against Kafka)."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench.pipeline import WireMessage, wire_messages
from bench.workload import goals_application, seed_goal_events
from northstar_contracts.envelope import EventEnvelope
from services.projections.goals_projection import GoalsProjection
from services.shared.consumer import MAX_BATCH_RECORDS
from services.shared.parking import Delivery
from services.shared.readmodel import ReadModelDatabase


def apply_seconds(messages: list[WireMessage], folder: Path) -> float:
    """CPU seconds to decode and apply every message, batch by batch, into a new store."""
    db = ReadModelDatabase(f"sqlite:///{folder / 'projections.db'}")
    try:
        projection = GoalsProjection(db)
        started = time.process_time()
        for start in range(0, len(messages), MAX_BATCH_RECORDS):
            batch = messages[start : start + MAX_BATCH_RECORDS]
            deliveries = [
                Delivery("goals", 0, offset, m.value, EventEnvelope.from_json_bytes(m.value))
                for offset, m in enumerate(batch, start=start)
            ]
            projection.ledger.consume(deliveries)
        return time.process_time() - started
    finally:
        db.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.apply_cpu", description=__doc__)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="one run under cProfile")
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        app = goals_application(folder / "goals.db")
        seed_goal_events(app, arguments.events)
        messages = wire_messages(app, arguments.events)
        app.close()
        if arguments.profile:
            profiler = cProfile.Profile()
            profiler.runcall(apply_seconds, messages, folder / "profiled")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            return 0
        runs = []
        for run in range(arguments.runs):
            (folder / f"run-{run}").mkdir()
            runs.append(apply_seconds(messages, folder / f"run-{run}"))
    best, events = min(runs), arguments.events
    print(
        f"{events:,} events: best of {len(runs)} runs {best:.3f} CPU s, "
        f"{events / best:,.0f} events/s ({best / events * 1e6:.0f} µs per event)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
