"""The projections at a tenant's scale: the alignment tree of a large tenant (p50/p99 against the
plain SQL read of the same rows), and the apply cost of goal events against the tenant's size
and a goal's history length (events/s, against the smallest size)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.report import Measurement, median, percentile
from bench.workload import BenchEnvironment
from northstar.projections.v1 import projections_pb2
from northstar_contracts.envelope import EventEnvelope, envelope_id
from northstar_contracts.registry import EVENTS
from services.projections.api_alignment import AlignmentQueries
from services.projections.api_support import ReadContext
from services.projections.goals_projection import GOALS_PROJECTION, GoalsProjection
from services.shared.auth import EMPLOYEE, Principal, set_current_principal
from services.shared.readmodel import ReadModelDatabase

TENANT = "acme"
TODAY = date(2026, 6, 1)
BATCH = 500
"""Events per apply, as the consumer hands them over."""
OWNERS = 500
START = datetime(2026, 1, 1, tzinfo=UTC)
TEAMS = 50


class _LiveFirstVersions:
    """The first version of every read model is live (no rebuild in these runs)."""

    def live_name(self, read_model: str) -> str:
        return GOALS_PROJECTION if read_model == "goals" else f"{read_model}-v1"

    def live_names(self) -> list[str]:
        return [GOALS_PROJECTION]


def goal_ids(count: int) -> list[str]:
    return [str(uuid.UUID(int=number + 1)) for number in range(count)]


def _parent(ids: list[str], number: int) -> str | None:
    """A strategy of 10 objectives, 100 company goals, 1,000 team goals, personal goals below
    (cut short for smaller tenants): each goal under a goal of the level above."""
    if number < 10:
        return None
    if number < 110:
        return ids[number % 10]
    if number < 1_110:
        return ids[10 + number % 100]
    return ids[110 + number % 1_000]


def _level(number: int) -> str:
    if number < 10:
        return "strategy"
    return "company" if number < 110 else "team" if number < 1_110 else "personal"


def _event(goal_id: str, version: int, short_type: str, **fields: Any) -> EventEnvelope:
    """A public goal event as the relay publishes it (its data passed its contract)."""
    event_type = f"goals.Goal{short_type}"
    return EventEnvelope(
        id=envelope_id(goal_id, version),
        type=event_type,
        schema_version=1,
        source="northstar/goals",
        tenant_id=TENANT,
        aggregate_type="Goal",
        aggregate_id=goal_id,
        aggregate_version=version,
        sequence=version,
        occurred_at=START + timedelta(seconds=version),
        actor_id="hr-1",
        data=EVENTS.outbound_data(event_type, fields)[1],
    )


def _created(goal_id: str, number: int, ids: list[str], measured: bool) -> EventEnvelope:
    metric = {"kind": "number", "direction": "increase", "start": 0.0, "target": 10.0}
    return _event(
        goal_id,
        1,
        "Created",
        tenant_id=TENANT,
        title=f"goal {number}",
        description="",
        owner_id=f"owner-{number % OWNERS}",
        team_id=f"team-{number % TEAMS}",
        level=_level(number),
        start_date=date(2026, 1, 1),
        due_date=date(2026, 12, 31),
        metric=metric | {"unit": "", "current": 0.0} if measured else None,
        parent_goal_id=_parent(ids, number),
        visibility=("public", "team", "private")[number % 3],
        created_by="hr-1",
        measured_by_own_metric=False,
        recurring=False,
        template_id=None,
        previous_goal_id=None,
    )


def tenant_events(count: int) -> list[EventEnvelope]:
    """Each goal created and activated; leaves (personal goals, or team goals in small tenants)
    measured by a metric, one visibility in three each."""
    ids = goal_ids(count)
    events = []
    for number, goal_id in enumerate(ids):
        events.append(_created(goal_id, number, ids, measured=number >= min(110, count // 2)))
        events.append(_event(goal_id, 2, "Activated", by="hr-1"))
    return events


def _spread(ids: list[str]) -> list[str]:
    step = max(len(ids) // CHECKED_IN_GOALS, 1)
    return ids[::step][:CHECKED_IN_GOALS]


def check_in(goal_id: str, version: int, value: float) -> EventEnvelope:
    return _event(
        goal_id,
        version,
        "CheckedIn",
        value=value,
        confidence=0.8,
        note="",
        by="hr-1",
        key_result_id=None,
    )


async def apply_all(projection: GoalsProjection, events: list[EventEnvelope]) -> None:
    for start in range(0, len(events), BATCH):
        await projection.apply_batch(events[start : start + BATCH])


async def _timed_ms(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def alignment_tree_latency(env: BenchEnvironment) -> list[Measurement]:
    """GetAlignmentTree's first page of a large tenant, as an employee (visibility applied),
    timed in-process; against reading the same tenant's rows with plain SQL, no shaping."""
    goals, queries = env.sizes.tree_goals, env.sizes.tree_queries
    db = ReadModelDatabase(f"sqlite:///{env.scratch / f'tree-{goals}.db'}")
    try:
        projection = GoalsProjection(db)
        await apply_all(projection, tenant_events(goals))
        context = ReadContext(db, _LiveFirstVersions(), 5.0, lambda: TODAY)
        tree = AlignmentQueries(context, lambda tenant, team: "")
        set_current_principal(Principal("owner-3", TENANT, frozenset({EMPLOYEE})))
        request = projections_pb2.GetAlignmentTreeRequest()
        sql = f"SELECT * FROM {projection.alignment} WHERE tenant_id = ?"

        async def raw_read() -> None:
            db.read(sql, (TENANT,))

        async def query() -> None:
            await tree.tree(request)

        cold = await _timed_ms(query)  # the first query links the whole tenant
        answer = await tree.tree(request)
        steady: list[float] = []
        baseline: list[float] = []
        for _ in range(queries):
            baseline.append(await _timed_ms(raw_read))
            steady.append(await _timed_ms(query))
        # Each query after one more check-in: the tenant's graph brought up to date first.
        leaves = goal_ids(goals)[min(110, goals // 2) :]
        after_check_in: list[float] = []
        for number in range(queries):
            await projection.apply(
                check_in(leaves[number % len(leaves)], 3 + number // len(leaves), number % 11)
            )
            after_check_in.append(await _timed_ms(query))
    finally:
        db.close()
    details = {
        "goals": goals,
        "queries": queries,
        "first_query_ms": cold,
        "total_size": answer.total_size,
        "page_nodes": len(answer.nodes),
    }
    meaning = (
        f"GetAlignmentTree, first page of {goals:,} goals as an employee, in-process, against "
        "SELECT * of the tenant's alignment rows"
    )
    figures = [
        ("p50", steady, 50),
        ("p99", steady, 99),
        ("after a check-in p50", after_check_in, 50),
        ("after a check-in p99", after_check_in, 99),
    ]
    return [
        Measurement(
            benchmark="alignment_tree_latency",
            figure=f"tree {name}, {goals:,} goals",
            unit="ms",
            baseline=percentile(baseline, percent),
            ours=percentile(samples, percent),
            better="lower",
            meaning=meaning,
            details=details,
        )
        for name, samples, percent in figures
    ]


CHECKED_IN_GOALS = 50
"""The timed check-ins are spread over this many goals at every size, so each batch writes as
many alignment rows (one per goal per batch) whatever the tenant's size."""
APPLY_ROUNDS = 3


async def projection_apply_cost(env: BenchEnvironment) -> list[Measurement]:
    """Check-ins applied (batches of 500, through the ledger, SQLite) into tenants of growing
    size, and into the smallest tenant's goals after each got a long history; events/s against
    the smallest tenant. Rounds alternate between the tenants; the median round of each."""
    events = env.sizes.apply_cost_events
    smallest = min(env.sizes.apply_cost_goals)
    history = max(env.sizes.apply_cost_goals) // 10
    labels = {goals: f"{goals:,} goals" for goals in env.sizes.apply_cost_goals}
    labels[-smallest] = f"{smallest:,} goals with {history + 2:,} events each"
    tenants: dict[int, tuple[GoalsProjection, list[str], int]] = {}
    timings: dict[int, list[float]] = {}
    try:
        for key in labels:
            goals = abs(key)
            db = ReadModelDatabase(f"sqlite:///{env.scratch / f'apply-{key}.db'}")
            projection = GoalsProjection(db)
            checked = _spread(goal_ids(goals)[min(110, goals // 2) :])  # measured goals
            prior = tenant_events(goals)
            if key < 0:
                prior += [
                    check_in(goal_id, 3 + n, n % 11) for n in range(history) for goal_id in checked
                ]
            await apply_all(projection, prior)
            tenants[key] = (projection, checked, 3 + (history if key < 0 else 0))
        for _round in range(APPLY_ROUNDS):
            for key, (projection, checked, version) in tenants.items():
                timed = [
                    check_in(checked[n % len(checked)], version + n // len(checked), n % 11)
                    for n in range(events)
                ]
                tenants[key] = (projection, checked, version + events // len(checked) + 1)
                started = time.perf_counter()
                await apply_all(projection, timed)
                timings.setdefault(key, []).append(time.perf_counter() - started)
    finally:
        for projection, _, _ in tenants.values():
            projection.db.close()
    rates = {key: events / median(seconds) for key, seconds in timings.items()}
    return [
        Measurement(
            benchmark="projection_apply_cost",
            figure=f"apply rate, {labels[key]}",
            unit="events/s",
            baseline=rates[smallest],
            ours=rate,
            better="higher",
            meaning=f"{events:,} check-ins over {CHECKED_IN_GOALS} goals applied into a tenant of "
            f"{labels[key]}, against the same into {smallest:,} goals (1.0: independent of the "
            "tenant's size and of the goals' history)",
            details={"goals": abs(key), "events": events, "seconds": timings[key]},
        )
        for key, rate in rates.items()
    ]
