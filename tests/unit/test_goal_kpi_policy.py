"""The goals service's KPI policy on its own stores (no Kafka): a KPI's definition makes it
known to its tenant only, and its measurements check in on the goals it drives, once, in order,
the check-in caused by the measurement event; another tenant's KPI moves no goal. The same holds
for the key results a KPI drives."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.kpi import (
    KpiDefinedV1,
    MeasurementCorrectedV1,
    MeasurementRecordedV1,
    ThresholdsContract,
)
from northstar_contracts.registry import EventContract
from services.goals.application import GoalsApplication
from services.goals.index import GoalIndex
from services.goals.metrics import Metric
from services.goals.policies import KpiPolicy
from services.shared.errors import FailedPrecondition
from services.shared.eventstore import event_metadata, persistence_env
from services.shared.readmodel import ReadModelDatabase
from tests.unit.test_goal_policies import HR_ADMIN, NOW, Goals


def kpi_event(
    contract: EventContract, kpi_id: UUID, version: int, tenant: str = "acme"
) -> EventEnvelope:
    return EventEnvelope(
        id=f"{kpi_id}-{version}",
        type=f"kpi.{type(contract).__name__.removesuffix('V1')}",
        schema_version=1,
        source="northstar/kpi",
        tenant_id=tenant,
        aggregate_type="Kpi",
        aggregate_id=str(kpi_id),
        aggregate_version=version,
        sequence=version,
        occurred_at=NOW,
        actor_id="crm",
        data=contract.model_dump(mode="json"),
    )


def defined(kpi_id: UUID, tenant: str = "acme") -> EventEnvelope:
    thresholds = ThresholdsContract(kind="min_target_max", bands=[], minimum=80, maximum=None)
    contract = KpiDefinedV1(
        tenant_id=tenant, name="Leads", description="", unit="", owner_id="max",
        objective_goal_id="", target_type="increase_to", cadence="monthly", summary="last",
        visibility="tenant", first_period="2026-01", target=100, thresholds=thresholds, by="max",
    )  # fmt: skip
    return kpi_event(contract, kpi_id, 1, tenant)


def measured(kpi_id: UUID, version: int, period: str, value: float, **kw: Any) -> EventEnvelope:
    contract = MeasurementRecordedV1(
        measurement_id=uuid4(), period=period, value=value, source="integration",
        source_account="crm", source_record_id=f"r{version}", period_value=value,
        period_measurement_count=1, target=100, status="red", by="crm",
    )  # fmt: skip
    return kpi_event(contract, kpi_id, version, **kw)


def corrected(kpi_id: UUID, version: int, period: str, value: float) -> EventEnvelope:
    contract = MeasurementCorrectedV1(
        measurement_id=uuid4(), period=period, value=value, previous_value=0,
        period_value=value, target=100, status="red", reason="typo", by="crm",
    )  # fmt: skip
    return kpi_event(contract, kpi_id, version)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Goals, KpiPolicy]:
    goals = Goals(tmp_path)
    # A store with the service's own mapper, which keeps each event's command metadata.
    env = persistence_env("goals", f"sqlite:///{tmp_path / 'goals.db'}")
    goals.app = GoalsApplication(env=env, directory=goals.replica)
    goals.index = GoalIndex(goals.app, ReadModelDatabase(f"sqlite:///{tmp_path / 'index.db'}"))
    goals.app.after_save.append(goals._index_saved)
    policy = KpiPolicy(
        goals.app, goals.index, ReadModelDatabase(f"sqlite:///{tmp_path / 'kpi.db'}")
    )
    goals.app.kpi_catalogue = policy.known
    return goals, policy


def kpi_goal(goals: Goals, kpi_id: UUID) -> UUID:
    result = goals.app.create_goal(
        HR_ADMIN, title="Win 100 leads", description="", owner_id="ann", team_id="",
        level="personal",
        start_date=date(2026, 1, 1), due_date=date(2026, 12, 31),
        metric=Metric("number", "increase", 0, 100), parent_goal_id=None, visibility="public",
        activate=True, progress_source="kpi", kpi_id=kpi_id,
    )  # fmt: skip
    return result.goal.id


def apply(policy: KpiPolicy, *envelopes: EventEnvelope) -> list[bool]:
    return [asyncio.run(policy.apply(envelope)) for envelope in envelopes]


def test_measurements_check_in_once_in_order_caused_by_the_measurement(
    setup: tuple[Goals, KpiPolicy],
) -> None:
    goals, policy = setup
    kpi_id = uuid4()
    with pytest.raises(FailedPrecondition) as unknown:
        kpi_goal(goals, kpi_id)
    assert unknown.value.field == "kpi_id"
    apply(policy, defined(kpi_id))
    goal_id = kpi_goal(goals, kpi_id)
    first = measured(kpi_id, 2, "2026-01", 40)
    assert apply(policy, first, first) == [True, False]
    goal = goals.app.get_goal("acme", goal_id)
    assert goal.progress() == pytest.approx(0.4)
    assert goal.check_in_count == 1
    # The relay publishes the check-in with the measurement event as its causation id.
    recorder = goals.app.recorder
    (notification,) = recorder.select_notifications(recorder.max_notification_id(), 1)
    stored = goals.app.mapper.to_domain_event(notification)
    assert stored.kpi_event_id == first.id  # type: ignore[attr-defined]
    assert event_metadata(stored)["causation_id"] == first.id
    # A correction of the same period moves it; the policy store lost (replayed from the
    # start) checks nothing in twice: the goal remembers what it recorded.
    apply(policy, corrected(kpi_id, 3, "2026-01", 50))
    goal = goals.app.get_goal("acme", goal_id)
    assert goal.progress() == pytest.approx(0.5)
    assert goal.check_in_count == 2
    goal.check_in_kpi_measurement(kpi_id, 2, "2026-01", 40, "crm")
    assert goal.collect_events() == []


def test_another_tenants_kpi_is_unknown_and_moves_no_goal(setup: tuple[Goals, KpiPolicy]) -> None:
    goals, policy = setup
    ours, theirs = uuid4(), uuid4()
    apply(policy, defined(ours), defined(theirs, tenant="globex"))
    assert (policy.known.is_known("acme", ours), policy.known.is_known("acme", theirs)) == (
        True,
        False,
    )
    with pytest.raises(FailedPrecondition):
        kpi_goal(goals, theirs)
    goal_id = kpi_goal(goals, ours)
    # A measurement claiming our KPI's id from another tenant moves nothing.
    apply(policy, measured(ours, 2, "2026-01", 90, tenant="globex"))
    assert goals.app.get_goal("acme", goal_id).check_in_count == 0


def test_a_measurement_checks_in_on_each_key_result_it_drives_once_in_its_tenant_only(
    setup: tuple[Goals, KpiPolicy],
) -> None:
    goals, policy = setup
    kpi_id, other = uuid4(), uuid4()
    apply(policy, defined(kpi_id), defined(other))
    goal_id = goals.create("ann").goal.id
    leads, calls = (
        goals.app.add_key_result(
            HR_ADMIN, goal_id, title, Metric("number", "increase", 0, 100), 1.0,
            progress_source="kpi", kpi_id=kpi,
        ).goal.key_results[-1].key_result_id
        for title, kpi in (("Leads", kpi_id), ("Calls", other))
    )  # fmt: skip
    first = measured(kpi_id, 2, "2026-01", 40)
    assert apply(policy, first, first) == [True, False]
    goal = goals.app.get_goal("acme", goal_id)
    values = {kr.key_result_id: kr.metric.current for kr in goal.key_results}
    assert values == {leads: 40.0, calls: 0.0}
    assert goal.progress() == pytest.approx(0.2)  # key results: (0.4 + 0) / 2
    recorder = goals.app.recorder
    (notification,) = recorder.select_notifications(recorder.max_notification_id(), 1)
    stored = goals.app.mapper.to_domain_event(notification)
    assert stored.key_result_id == leads  # type: ignore[attr-defined]
    assert event_metadata(stored)["causation_id"] == first.id
    # Another tenant's measurement under the same KPI id moves nothing here.
    apply(policy, measured(kpi_id, 3, "2026-01", 90, tenant="globex"))
    assert goals.app.get_goal("acme", goal_id).check_in_count == 1
    # Back on its own metric, the key result takes no measurement any more.
    goals.app.change_key_result_progress_source(
        HR_ADMIN, goal_id, leads, "metric", "counted by hand from now on"
    )
    apply(policy, measured(kpi_id, 4, "2026-01", 70))
    assert goals.app.get_goal("acme", goal_id).check_in_count == 1
