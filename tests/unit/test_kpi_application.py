"""KPI use cases on a real SQLite store and directory replica: who may do what, refusals that
store nothing, the overdue check on an injected clock, and survey results that never give a
respondent away."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from northstar_contracts.directory import PersonDepartedV1, PersonRegisteredV1
from northstar_contracts.envelope import EventEnvelope
from northstar_contracts.registry import EventContract
from services.kpi.application import KpiApplication, KpiDefinition, UnknownOwner
from services.kpi.index import KpiIndex
from services.kpi.nps import NoResponses, TooFewResponses
from services.kpi.policies import when_cadence_missed_record_overdue
from services.kpi.publishing import kpi_envelope
from services.kpi.survey_use_cases import SurveyUseCases
from services.kpi.thresholds import min_target_max
from services.shared.auth import Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.errors import NotFound, PermissionDenied
from services.shared.eventstore import persistence_env
from services.shared.readmodel import ReadModelDatabase


def person(subject: str, *roles: str, tenant: str = "acme") -> Principal:
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset(roles))


HR = person("hr-1", "hr_admin")
OWNER = person("owner-1", "employee")
MANAGER = person("manager-1", "manager")
PEER = person("peer-1", "employee")
AUDITOR = person("audit-1", "auditor")
FEED = person("crm", "integration")
GLOBEX_HR = person("globex-hr", "hr_admin", tenant="globex")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def directory_event(contract: EventContract, aggregate_id: str, version: int) -> EventEnvelope:
    return EventEnvelope(
        id=f"{aggregate_id}-{version}",
        type=f"directory.{type(contract).__name__.removesuffix('V1')}",
        schema_version=1,
        source="northstar/directory",
        tenant_id="acme",
        aggregate_type="Person",
        aggregate_id=aggregate_id,
        aggregate_version=version,
        sequence=1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        actor_id="hr-1",
        data=contract.model_dump(mode="json"),
    )


def registered(person_id: str, manager_id: str = "", team_id: str = "team-a") -> EventEnvelope:
    contract = PersonRegisteredV1(
        tenant_id="acme",
        person_id=person_id,
        name=person_id,
        email=f"{person_id}@acme.example",
        title="",
        team_id=team_id,
        manager_id=manager_id,
        employment_status="active",
        start_date=None,
        leave_date=None,
        effective_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    return directory_event(contract, f"person-{person_id}", 1)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 2, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> KpiApplication:
    replica = DirectoryReplica(ReadModelDatabase(f"sqlite:///{tmp_path}/replica.db"))
    for envelope in (
        registered("hr-1"),
        registered("manager-1"),
        registered("owner-1", manager_id="manager-1"),
        registered("peer-1"),
        registered("gone-1"),
    ):
        replica.apply_envelope(envelope)
    departed = PersonDepartedV1(
        person_id="gone-1",
        leave_date=datetime(2026, 1, 31).date(),
        manager_id="",
        team_id="team-a",
        reason="",
        effective_at=datetime(2026, 1, 31, tzinfo=UTC),
    )
    replica.apply_envelope(directory_event(departed, "person-gone-1", 2))
    return KpiApplication(
        env=persistence_env("kpi", f"sqlite:///{tmp_path}/kpi.db"), directory=replica, clock=clock
    )


def definition(**changes: object) -> KpiDefinition:
    values: dict[str, object] = {
        "name": "Churn",
        "description": "",
        "unit": "%",
        "owner_id": "owner-1",
        "objective_goal_id": "",
        "target_type": "decrease_to",
        "cadence": "monthly",
        "summary": "average",
        "visibility": "restricted",
        "first_period": "2026-01",
        "target": 2.0,
        "thresholds": min_target_max(maximum=3.0),
    } | changes
    return KpiDefinition(**values)  # type: ignore[arg-type]


def stored(app: KpiApplication) -> int:
    return app.recorder.max_notification_id() or 0


def test_managers_define_kpis_for_their_reports_but_not_for_others(app: KpiApplication) -> None:
    assert app.define_kpi(MANAGER, definition()).changed
    with pytest.raises(PermissionDenied) as raised:
        app.define_kpi(MANAGER, definition(owner_id="peer-1"))
    assert raised.value.field == "owner_id"
    with pytest.raises(PermissionDenied):
        app.define_kpi(OWNER, definition())


def test_the_owner_must_be_a_current_member_of_the_directory(app: KpiApplication) -> None:
    for owner in ("nobody", "gone-1"):
        with pytest.raises(UnknownOwner) as raised:
            app.define_kpi(HR, definition(owner_id=owner))
        assert raised.value.field == "owner_id"
    assert stored(app) == 0


def test_restricted_kpis_are_hidden_from_peers_and_other_tenants(app: KpiApplication) -> None:
    kpi = app.define_kpi(HR, definition()).aggregate
    for reader in (OWNER, MANAGER, HR, AUDITOR):
        assert app.get_kpi(reader, kpi.id).id == kpi.id
    for stranger in (PEER, GLOBEX_HR):
        with pytest.raises(NotFound) as raised:
            app.get_kpi(stranger, kpi.id)
        assert raised.value.field == "kpi_id"
    before = stored(app)
    with pytest.raises(NotFound):
        app.record_measurement(GLOBEX_HR, kpi.id, "2026-01", 2.5)
    assert stored(app) == before


def test_auditors_and_departed_people_write_nothing(app: KpiApplication) -> None:
    kpi = app.define_kpi(HR, definition(visibility="tenant")).aggregate
    with pytest.raises(PermissionDenied):
        app.record_measurement(AUDITOR, kpi.id, "2026-01", 2.5)
    with pytest.raises(PermissionDenied):
        app.record_measurement(person("gone-1", "manager"), kpi.id, "2026-01", 2.5)
    with pytest.raises(PermissionDenied):
        app.record_measurement(PEER, kpi.id, "2026-01", 2.5)


def test_people_record_manual_measurements_and_integrations_integration_ones(
    app: KpiApplication,
) -> None:
    kpi_id = app.define_kpi(HR, definition()).aggregate.id
    app.record_measurement(OWNER, kpi_id, "2026-01", 2.5)
    app.record_measurement(OWNER, kpi_id, "2026-01", 2.5)  # manual entries each count
    app.record_measurement(FEED, kpi_id, "2026-01", 1.0, "crm-7")
    again = app.record_measurement(FEED, kpi_id, "2026-01", 1.0, "crm-7")
    assert not again.changed
    measurements = app.get_kpi(HR, kpi_id).measurements("2026-01")
    assert [m["source"] for m in measurements] == ["manual", "manual", "integration"]
    assert [m["source_account"] for m in measurements] == ["owner-1", "owner-1", "crm"]
    assert app.get_kpi(HR, kpi_id).period_value("2026-01") == 2.0


def test_the_overdue_check_records_each_missed_period_once(
    app: KpiApplication, tmp_path: Path, clock: Clock
) -> None:
    index = KpiIndex(app, ReadModelDatabase(f"sqlite:///{tmp_path}/index.db"))
    kpi_id = app.define_kpi(HR, definition(first_period="2025-12")).aggregate.id
    app.record_measurement(OWNER, kpi_id, "2026-01", 2.0)
    assert when_cadence_missed_record_overdue(app, index) == 1  # December only
    assert when_cadence_missed_record_overdue(app, index) == 0
    clock.now = datetime(2026, 3, 1, tzinfo=UTC)
    assert when_cadence_missed_record_overdue(app, index) == 1  # February
    assert when_cadence_missed_record_overdue(app, index) == 0
    assert app.get_kpi(HR, kpi_id).overdue_periods == ("2025-12", "2026-02")
    overdue = [
        n
        for n in app.recorder.select_notifications(0, 100)
        if n.topic.endswith("MeasurementOverdue")
    ]
    assert len(overdue) == 2


def test_survey_events_never_leave_the_service(app: KpiApplication) -> None:
    surveys = SurveyUseCases(app)
    survey_id = surveys.create_survey(
        HR, name="Team pulse", kind="enps", cadence="quarterly", owner_id=""
    ).aggregate.id
    surveys.record_response(OWNER, survey_id, period="2026-Q1", score=9)
    kpi_id = app.define_kpi(HR, definition()).aggregate.id
    published = [
        kpi_envelope(app.mapper.to_domain_event(n), n)
        for n in app.recorder.select_notifications(0, 100)
    ]
    assert [e.aggregate_id for e in published if e is not None] == [str(kpi_id)]
    assert sum(e is None for e in published) == 2


def test_survey_results_need_the_anonymity_minimum_and_latest_answers_count(
    app: KpiApplication,
) -> None:
    surveys = SurveyUseCases(app)
    survey_id = surveys.create_survey(
        FEED, name="Customer NPS", kind="nps", cadence="monthly", owner_id="hr-1"
    ).aggregate.id
    with pytest.raises(NoResponses):
        surveys.results(HR, survey_id, "2026-01")
    for number, score in enumerate([10, 9, 9, 10]):
        surveys.record_response(
            FEED, survey_id, period="2026-01", score=score, respondent_id=f"c{number}", group="emea"
        )
    with pytest.raises(TooFewResponses):
        surveys.results(HR, survey_id, "2026-01")
    for number, score in enumerate([9, 7, 8, 8, 3, 6], start=4):
        group = "emea" if number < 8 else "apac"
        surveys.record_response(
            FEED, survey_id, period="2026-01", score=score, respondent_id=f"c{number}", group=group
        )
    # c0 answers again: 0 replaces their 10.
    surveys.record_response(
        FEED, survey_id, period="2026-01", score=0, respondent_id="c0", group="emea"
    )
    results = surveys.results(HR, survey_id, "2026-01")
    assert results.overall.responses == 10
    assert (results.overall.promoters, results.overall.detractors) == (4, 3)
    assert results.overall.score == pytest.approx(10.0)
    assert [g.group for g in results.groups] == []  # apac's 2 answers would show as overall - emea
    assert results.hidden_groups == 2
    surveys.set_anonymity_minimum(HR, 3)
    assert [g.group for g in surveys.results(HR, survey_id, "2026-01").groups] == []
    surveys.record_response(
        FEED, survey_id, period="2026-01", score=9, respondent_id="c10", group="apac"
    )
    shown = surveys.results(HR, survey_id, "2026-01").groups
    assert [(g.group, g.result.responses) for g in shown] == [("apac", 3), ("emea", 8)]
    with pytest.raises(PermissionDenied):
        surveys.results(PEER, survey_id, "2026-01")


def test_people_answer_enps_for_themselves_only(app: KpiApplication) -> None:
    surveys = SurveyUseCases(app)
    survey_id = surveys.create_survey(
        HR, name="Pulse", kind="enps", cadence="quarterly", owner_id=""
    ).aggregate.id
    assert surveys.record_response(PEER, survey_id, period="2026-Q1", score=8).changed
    assert not surveys.record_response(PEER, survey_id, period="2026-Q1", score=8).changed
    with pytest.raises(PermissionDenied) as raised:
        surveys.record_response(PEER, survey_id, period="2026-Q1", score=8, respondent_id="owner-1")
    assert raised.value.field == "respondent_id"
