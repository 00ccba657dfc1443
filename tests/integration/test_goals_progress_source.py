"""What drives a goal's progress, in the running system on real Kafka (directory, goals, KPI and
projections services, started once for this module): the owner's chosen source is honoured over
gRPC and in the alignment view, a change of source is in the audit history with its reason, and
a KPI measurement on the inbound feed moves the KPI, the goal it drives and the alignment view,
the goal's audit trail naming the measurement event, replays changing nothing; the same for
the key results a KPI drives, and through them their goal."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from northstar.goals.v1 import goals_pb2 as goals
from northstar.kpi.v1 import kpi_pb2, kpi_pb2_grpc
from northstar.projections.v1 import projections_pb2 as views
from northstar_contracts.kpi import measurements_inbound_topic
from services.kpi.__main__ import KpiService, start_kpi_service
from services.shared.position import encode_position_token
from tests.integration.conftest import (
    FAST_RETRY,
    RunningSystem,
    fresh_tenants,
    holds_seed_organisation,
    seeded,
    started_system,
    system_settings,
)
from tests.integration.test_kpi_system import define_request, poll
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]


@dataclass
class System:
    running: RunningSystem
    kpi: KpiService
    kpi_stub: kpi_pb2_grpc.KpiServiceAsyncStub
    bootstrap: str
    inbound_topic: str


@pytest.fixture(scope="module")
async def module_kpi_system(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap_servers: str
) -> AsyncIterator[System]:
    """The services started once for the module, with no organisation (see `system`)."""
    tmp_path: Path = tmp_path_factory.mktemp("progress-source")
    settings = system_settings(f"sqlite:///{tmp_path}/store.db", tmp_path, kafka_bootstrap_servers)
    async with started_system(settings, seed=False) as running:
        kpi = await start_kpi_service(settings, retry=FAST_RETRY)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{kpi.runtime.grpc_port}")
        try:
            yield System(
                running,
                kpi,
                kpi_pb2_grpc.KpiServiceStub(channel),
                kafka_bootstrap_servers,
                measurements_inbound_topic(settings.topic_namespace),
            )
        finally:
            await channel.close(None)
            await kpi.stop()


@pytest.fixture
async def system(module_kpi_system: System) -> System:
    """The module's services for one test: the seed organisation in tenants of the test's own,
    held by the KPI service's directory replica too, so no test sees another's goals or KPIs."""
    running = await seeded(module_kpi_system.running, fresh_tenants())
    await eventually(
        lambda: holds_seed_organisation(module_kpi_system.kpi.replica, running.tenants),
        within_seconds=60,
        what="the KPI service's directory replica holding the seed organisation",
    )
    return replace(module_kpi_system, running=running)


def hr(system: System) -> tuple[tuple[str, str]]:
    """The HR admin of the test's tenant standing for "acme"."""
    return system.running.bearer("hr-1", ["hr_admin"])


def metric(
    start: float, target: float, kind: Any = goals.METRIC_KIND_NUMBER, unit: str = ""
) -> Any:
    return goals.Metric(
        kind=kind, start=start, target=target, unit=unit, direction=goals.METRIC_DIRECTION_INCREASE
    )


async def create(
    system: System, title: str, level: Any, **fields: Any
) -> goals.GoalCommandResponse:
    request = goals.CreateGoalRequest(
        title=title,
        owner_id="hr-1",
        level=level,
        start_date="2026-01-01",
        due_date="2026-12-31",
        activate=True,
        **fields,
    )
    response: goals.GoalCommandResponse = await system.running.goals_stub.CreateGoal(
        request, metadata=hr(system)
    )
    return response


async def check_in(system: System, goal_id: str, value: float) -> goals.GoalCommandResponse:
    response: goals.GoalCommandResponse = await system.running.goals_stub.CheckIn(
        goals.CheckInRequest(goal_id=goal_id, value=value, confidence=0.8), metadata=hr(system)
    )
    return response


async def tree_nodes(system: System, root: str, tokens: list[str]) -> dict[str, Any]:
    tree = await system.running.projections_stub.GetAlignmentTree(
        views.GetAlignmentTreeRequest(root_goal_id=root, consistency_tokens=tokens),
        metadata=hr(system),
    )
    return {node.goal_id: node for node in tree.nodes}


async def history(system: System, aggregate_id: str, tokens: list[str]) -> list[Any]:
    page = await system.running.projections_stub.GetAuditHistory(
        views.GetAuditHistoryRequest(aggregate_id=aggregate_id, consistency_tokens=tokens),
        metadata=hr(system),
    )
    return list(page.entries)


async def test_the_owners_source_drives_a_company_goal_with_its_own_metric_and_aligned_teams(
    system: System,
) -> None:
    stub = system.running.goals_stub
    company = await create(
        system,
        "Increase sales by 20%",
        goals.GOAL_LEVEL_COMPANY,
        metric=metric(100, 120, goals.METRIC_KIND_CURRENCY, "EUR"),
        progress_source=goals.PROGRESS_SOURCE_METRIC,
    )
    assert (company.goal.progress_source, company.goal.progress_source_chosen) == (
        goals.PROGRESS_SOURCE_METRIC,
        True,
    )
    dach, nordics = [
        await create(
            system,
            f"Grow {region} sales",
            goals.GOAL_LEVEL_TEAM,
            team_id="team-a",
            parent_goal_id=company.goal.id,
            metric=metric(0, 10),
        )
        for region in ("DACH", "Nordics")
    ]
    await check_in(system, dach.goal.id, 5)  # 0.5
    await check_in(system, nordics.goal.id, 10)  # 1.0: the teams' mean is 0.75
    checked = await check_in(system, company.goal.id, 110)  # its own revenue: 0.5

    assert checked.goal.progress == pytest.approx(0.5)
    listed = await stub.ListGoals(goals.ListGoalsRequest(owner_id="hr-1"), metadata=hr(system))
    by_id = {goal.id: goal for goal in listed.goals}
    assert by_id[company.goal.id].progress == pytest.approx(0.5)
    assert by_id[company.goal.id].progress_source == goals.PROGRESS_SOURCE_METRIC
    assert by_id[dach.goal.id].progress_source == goals.PROGRESS_SOURCE_METRIC  # default rule
    assert not by_id[dach.goal.id].progress_source_chosen
    nodes = await tree_nodes(system, company.goal.id, [checked.position_token])
    assert nodes[company.goal.id].progress == pytest.approx(0.5)
    assert nodes[company.goal.id].progress_source == views.PROGRESS_SOURCE_METRIC

    changed = await stub.ChangeProgressSource(
        goals.ChangeProgressSourceRequest(
            goal_id=company.goal.id,
            progress_source=goals.PROGRESS_SOURCE_CHILDREN,
            reason="the regions report through their goals",
            request_id="source-change-1",
        ),
        metadata=hr(system),
    )
    assert changed.goal.progress == pytest.approx(0.75)
    assert changed.goal.progress_source == goals.PROGRESS_SOURCE_CHILDREN
    again = await stub.GetGoal(goals.GetGoalRequest(goal_id=company.goal.id), metadata=hr(system))
    assert again.progress == pytest.approx(0.75)
    assert again.version == changed.version
    nodes = await tree_nodes(system, company.goal.id, [changed.position_token])
    assert nodes[company.goal.id].progress == pytest.approx(0.75)
    assert nodes[company.goal.id].progress_source == views.PROGRESS_SOURCE_CHILDREN
    assert nodes[company.goal.id].own_progress == 0.0  # its children drive it now
    entries = await history(system, company.goal.id, [changed.position_token])
    last = entries[-1]
    assert (last.event_type, last.reason, last.actor_id) == (
        "goals.GoalProgressSourceChanged",
        "the regions report through their goals",
        "hr-1",
    )
    change = {c.field: (json.loads(c.before_json), json.loads(c.after_json)) for c in last.changes}
    assert change["progress_source"] == ("metric", "children")

    # The same request again answers the first result and records nothing.
    retried = await stub.ChangeProgressSource(
        goals.ChangeProgressSourceRequest(
            goal_id=company.goal.id,
            progress_source=goals.PROGRESS_SOURCE_CHILDREN,
            reason="the regions report through their goals",
            request_id="source-change-1",
        ),
        metadata=hr(system),
    )
    assert retried.version == changed.version
    for request, code, field in [
        (
            goals.ChangeProgressSourceRequest(goal_id=company.goal.id, reason="why"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "progress_source",
        ),
        (
            goals.ChangeProgressSourceRequest(
                goal_id=company.goal.id,
                progress_source=goals.PROGRESS_SOURCE_KPI,
                kpi_id=str(uuid.uuid4()),
                reason="why",
            ),
            grpc.StatusCode.FAILED_PRECONDITION,
            "kpi_id",
        ),
        (
            goals.ChangeProgressSourceRequest(
                goal_id=company.goal.id, progress_source=goals.PROGRESS_SOURCE_METRIC
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "reason",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ChangeProgressSource(request, metadata=hr(system))
        assert refused.value.code() == code
        assert field in (refused.value.details() or "")


async def test_a_kpi_measurement_on_the_feed_moves_the_goal_it_drives_once(
    system: System,
) -> None:
    defined = await system.kpi_stub.DefineKpi(
        define_request(name="Qualified leads", summary=kpi_pb2.SUMMARY_LAST), metadata=hr(system)
    )
    kpi_id = defined.kpi.kpi_id
    other_tenants = await system.kpi_stub.DefineKpi(
        define_request(name="Globex leads", owner_id="globex-owner"),
        metadata=system.running.bearer("globex-hr", ["hr_admin"], "globex"),
    )
    known = system.running.goals.kpi_policy.known
    await eventually(
        lambda: (
            known.is_known(system.running.tenant_id(), uuid.UUID(kpi_id))
            and known.is_known(
                system.running.tenant_id("globex"), uuid.UUID(other_tenants.kpi.kpi_id)
            )
        ),
        what="the goals service learning the KPIs from the KPI topic",
    )
    objective = await create(system, "Be the region's first choice", goals.GOAL_LEVEL_STRATEGY)
    goal = await create(
        system,
        "Win 100 qualified leads",
        goals.GOAL_LEVEL_COMPANY,
        parent_goal_id=objective.goal.id,
        metric=metric(0, 100),
        progress_source=goals.PROGRESS_SOURCE_KPI,
        kpi_id=kpi_id,
    )
    assert (goal.goal.progress_source, goal.goal.kpi_id) == (goals.PROGRESS_SOURCE_KPI, kpi_id)
    # Another tenant's KPI is unknown to this tenant: no goal of it can be driven by it.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await system.running.goals_stub.ChangeProgressSource(
            goals.ChangeProgressSourceRequest(
                goal_id=goal.goal.id,
                progress_source=goals.PROGRESS_SOURCE_KPI,
                kpi_id=other_tenants.kpi.kpi_id,
                reason="theirs",
            ),
            metadata=hr(system),
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION

    await publish(system, [feed_record(system, kpi_id, "2026-01", 40, "crm-1")], kpi_id)
    moved = await poll(
        lambda: system.running.goals_stub.GetGoal(
            goals.GetGoalRequest(goal_id=goal.goal.id), metadata=hr(system)
        ),
        lambda found: found.progress > 0,
        "the goal moving with its KPI",
    )
    assert moved.progress == pytest.approx(0.4)
    assert moved.current == 40
    assert moved.version == goal.version + 1  # one automatic check-in
    kpi = await system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=hr(system))
    assert kpi.status_period == "2026-01"
    token = encode_position_token(goal.goal.id, moved.version)
    nodes = await tree_nodes(system, objective.goal.id, [token])
    assert nodes[goal.goal.id].progress == pytest.approx(0.4)
    assert nodes[goal.goal.id].progress_source == views.PROGRESS_SOURCE_KPI
    assert nodes[objective.goal.id].progress == pytest.approx(0.4)  # rolled up from it
    kpi_token = encode_position_token(kpi_id, kpi.version)
    measured = [
        e
        for e in await history(system, kpi_id, [kpi_token])
        if e.event_type == "kpi.MeasurementRecorded"
    ]
    goal_entries = await history(system, goal.goal.id, [token])
    automatic = [e for e in goal_entries if e.event_type == "goals.GoalCheckedIn"]
    assert [e.caused_by_event_id for e in automatic] == [measured[0].event_id]

    # Replaying the inbound record twice changes nothing: only the sentinel after it moves.
    replay = feed_record(system, kpi_id, "2026-01", 40, "crm-1")
    await publish(
        system, [replay, replay, feed_record(system, kpi_id, "2026-02", 70, "crm-2")], kpi_id
    )
    sentinel = await poll(
        lambda: system.running.goals_stub.GetGoal(
            goals.GetGoalRequest(goal_id=goal.goal.id), metadata=hr(system)
        ),
        lambda found: found.version > moved.version,
        "the sentinel measurement reaching the goal",
    )
    assert sentinel.progress == pytest.approx(0.7)
    assert sentinel.version == moved.version + 1
    token = encode_position_token(goal.goal.id, sentinel.version)
    automatic = [
        e
        for e in await history(system, goal.goal.id, [token])
        if e.event_type == "goals.GoalCheckedIn"
    ]
    assert len(automatic) == 2
    # Redelivering the KPI's events to the policy (a relay retry) checks in nothing again.
    assert await system.running.goals.kpi_policy.apply(await kpi_envelope(system, kpi_id)) is False
    again = await system.running.goals_stub.GetGoal(
        goals.GetGoalRequest(goal_id=goal.goal.id), metadata=hr(system)
    )
    assert again.version == sentinel.version


async def test_a_kpi_measurement_moves_the_key_results_it_drives_and_so_their_goal(
    system: System,
) -> None:
    stub = system.running.goals_stub
    defined = await system.kpi_stub.DefineKpi(
        define_request(name="Signed contracts", summary=kpi_pb2.SUMMARY_LAST), metadata=hr(system)
    )
    kpi_id = defined.kpi.kpi_id
    known = system.running.goals.kpi_policy.known
    await eventually(
        lambda: known.is_known(system.running.tenant_id(), uuid.UUID(kpi_id)),
        what="the goals service learning the KPI from the KPI topic",
    )
    goal = await create(
        system,
        "Sign the first enterprise customers",
        goals.GOAL_LEVEL_COMPANY,
        progress_source=goals.PROGRESS_SOURCE_KEY_RESULTS,
    )
    fed = await stub.AddKeyResult(
        goals.AddKeyResultRequest(
            goal_id=goal.goal.id,
            title="Contracts signed",
            metric=metric(0, 50),
            progress_source=goals.PROGRESS_SOURCE_KPI,
            kpi_id=kpi_id,
        ),
        metadata=hr(system),
    )
    (contracts,) = fed.goal.key_results
    assert (contracts.progress_source, contracts.kpi_id) == (goals.PROGRESS_SOURCE_KPI, kpi_id)
    added = await stub.AddKeyResult(
        goals.AddKeyResultRequest(goal_id=goal.goal.id, title="Pilots", metric=metric(0, 100)),
        metadata=hr(system),
    )
    pilots = added.goal.key_results[1]
    assert (pilots.progress_source, pilots.kpi_id) == (goals.PROGRESS_SOURCE_METRIC, "")
    changed = await stub.ChangeKeyResultProgressSource(
        goals.ChangeKeyResultProgressSourceRequest(
            goal_id=goal.goal.id,
            key_result_id=pilots.id,
            progress_source=goals.PROGRESS_SOURCE_KPI,
            kpi_id=kpi_id,
            reason="every pilot is signed as a contract",
        ),
        metadata=hr(system),
    )
    assert changed.goal.key_results[1].progress_source == goals.PROGRESS_SOURCE_KPI
    # The KPI owns these values: a person's value is refused, naming the field.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CheckIn(
            goals.CheckInRequest(
                goal_id=goal.goal.id, key_result_id=contracts.id, value=30, confidence=0.9
            ),
            metadata=hr(system),
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "value" in (refused.value.details() or "")

    await publish(system, [feed_record(system, kpi_id, "2026-01", 25, "crm-kr-1")], kpi_id)
    moved = await poll(
        lambda: stub.GetGoal(goals.GetGoalRequest(goal_id=goal.goal.id), metadata=hr(system)),
        lambda found: found.version > changed.version,
        "the goal's key results moving with their KPI",
    )
    assert moved.version == changed.version + 2  # one automatic check-in per key result
    assert [kr.current for kr in moved.key_results] == [25, 25]
    assert moved.progress == pytest.approx((25 / 50 + 25 / 100) / 2)
    token = encode_position_token(goal.goal.id, moved.version)
    nodes = await tree_nodes(system, goal.goal.id, [token])
    assert nodes[goal.goal.id].progress == pytest.approx(moved.progress)
    assert nodes[goal.goal.id].progress_source == views.PROGRESS_SOURCE_KEY_RESULTS
    assert [
        (kr.key_result_id, kr.progress_source, kr.kpi_id)
        for kr in nodes[goal.goal.id].key_result_sources
    ] == [
        (contracts.id, views.PROGRESS_SOURCE_KPI, kpi_id),
        (pilots.id, views.PROGRESS_SOURCE_KPI, kpi_id),
    ]

    kpi = await system.kpi_stub.GetKpi(kpi_pb2.GetKpiRequest(kpi_id=kpi_id), metadata=hr(system))
    kpi_token = encode_position_token(kpi_id, kpi.version)
    (measurement,) = [
        e
        for e in await history(system, kpi_id, [kpi_token])
        if e.event_type == "kpi.MeasurementRecorded"
    ]
    entries = await history(system, goal.goal.id, [token])
    sources = [e for e in entries if e.event_type == "goals.GoalKeyResultProgressSourceChanged"]
    assert [(e.reason, e.actor_id) for e in sources] == [
        ("chosen as the key result was added", "hr-1"),
        ("every pilot is signed as a contract", "hr-1"),
    ]
    after = {c.field: json.loads(c.after_json) for c in sources[1].changes}
    assert [(kr["progress_source"], kr["kpi_id"]) for kr in after["key_results"]] == [
        ("kpi", kpi_id),
        ("kpi", kpi_id),
    ]
    automatic = [e for e in entries if e.event_type == "goals.GoalCheckedIn"]
    assert [e.caused_by_event_id for e in automatic] == [measurement.event_id] * 2
    snapshot = await system.running.projections_stub.GetGoalAsOf(
        views.GetGoalAsOfRequest(goal_id=goal.goal.id, version=moved.version), metadata=hr(system)
    )
    state = json.loads(snapshot.state_json)
    assert [kr["metric"]["current"] for kr in state["key_results"]] == [25, 25]
    assert snapshot.progress == pytest.approx(moved.progress)


def feed_record(system: System, kpi_id: str, period: str, value: float, record_id: str) -> bytes:
    body = {
        "tenant_id": system.running.tenant_id(),
        "kpi_id": kpi_id,
        "period": period,
        "value": value,
        "source_record_id": record_id,
        "source_system": "crm",
    }
    return json.dumps(body).encode()


async def publish(system: System, bodies: list[bytes], key: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=system.bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        for body in bodies:
            await producer.send_and_wait(system.inbound_topic, value=body, key=key.encode())
    finally:
        await producer.stop()


async def kpi_envelope(system: System, kpi_id: str) -> Any:
    """The KPI's first measurement event as the relay published it (from the KPI's store)."""
    from services.kpi.publishing import kpi_envelope as to_envelope

    app = system.kpi.app
    for notification in app.recorder.select_notifications(1, 1000):
        if (
            str(notification.originator_id) == kpi_id
            and "MeasurementRecorded" in notification.topic
        ):
            return to_envelope(app.mapper.to_domain_event(notification), notification)
    raise AssertionError("no measurement stored")
