"""Loading a goal with a long check-in history: the goals application (a snapshot every 50
versions) against the same stored history replayed in full by an application without snapshots."""

from __future__ import annotations

import time
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import MutableOrImmutableAggregate

from bench.report import Measurement, median
from bench.workload import BenchEnvironment, goals_application, seed_long_history
from services.goals.application import SNAPSHOT_EVERY, GoalsApplication
from services.goals.goal import Goal
from services.shared.eventstore import persistence_env


class GoalsWithoutSnapshots(GoalsApplication):
    """The same application replaying every event: the baseline."""

    snapshotting_intervals: ClassVar[dict[type[MutableOrImmutableAggregate[Any]], int]] = {}


def load_seconds(app: GoalsApplication, goal_id: UUID, expected_version: int) -> float:
    started = time.perf_counter()
    goal: object = app.repository.get(goal_id)
    elapsed = time.perf_counter() - started
    if not isinstance(goal, Goal) or goal.version != expected_version:
        raise RuntimeError(f"loaded {goal!r}, not goal {goal_id} at version {expected_version}")
    return elapsed


def _alternating_loads(
    snapshotting: GoalsApplication,
    replaying: GoalsApplication,
    goal_id: UUID,
    version: int,
    loads: int,
) -> tuple[list[float], list[float]]:
    """Load times in ms, (with snapshots, replaying everything), after one untimed load each."""
    if replaying.snapshots is not None:
        raise RuntimeError("the baseline application still reads snapshots")
    for app in (snapshotting, replaying):
        if app.repository.cache is not None:
            raise RuntimeError("an aggregate cache would hide the cost of loading")
        load_seconds(app, goal_id, version)  # warm-up: statement preparation, page cache
    ours, baseline = [], []
    for _ in range(loads):
        ours.append(load_seconds(snapshotting, goal_id, version) * 1000)
        baseline.append(load_seconds(replaying, goal_id, version) * 1000)
    return ours, baseline


def goal_load_with_history(env: BenchEnvironment) -> list[Measurement]:
    check_ins = env.sizes.history_check_ins
    version = check_ins + 2  # Created + Activated + the check-ins
    store = env.scratch / "history" / "goals.db"
    snapshotting = goals_application(store)
    replaying = GoalsWithoutSnapshots(
        env=persistence_env("goals", f"sqlite:///{store}") | {"IS_SNAPSHOTTING_ENABLED": "no"}
    )
    try:
        goal_id = seed_long_history(snapshotting, check_ins)
        ours, baseline = _alternating_loads(
            snapshotting, replaying, goal_id, version, env.sizes.history_loads
        )
    finally:
        snapshotting.close()
        replaying.close()
    ours_ms, baseline_ms = median(ours), median(baseline)
    return [
        Measurement(
            benchmark="goal_load_with_history",
            figure="median load",
            unit="ms",
            baseline=baseline_ms,
            ours=ours_ms,
            better="lower",
            meaning=(
                f"a goal with {check_ins:,} check-ins loads in {ours_ms:.2f} ms from its latest"
                f" snapshot (every {SNAPSHOT_EVERY} versions), {baseline_ms / ours_ms:,.0f}x"
                f" faster than replaying all {version:,} events ({baseline_ms:.0f} ms)"
            ),
            details={
                "check_ins": check_ins,
                "events": version,
                "loads": env.sizes.history_loads,
                "ours_ms": ours,
                "baseline_ms": baseline,
            },
        )
    ]
