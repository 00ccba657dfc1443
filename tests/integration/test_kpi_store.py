"""The KPI service's store on SQLite and on PostgreSQL alike: KPIs, measurements, corrections,
overdue periods and surveys saved by one application instance load the same in a fresh one,
and the index finds every KPI for the overdue check."""

from __future__ import annotations

from datetime import UTC, datetime

from services.kpi.application import KpiApplication, KpiDefinition
from services.kpi.index import KpiIndex, sibling_store_url
from services.kpi.policies import when_cadence_missed_record_overdue
from services.kpi.survey_use_cases import SurveyUseCases
from services.kpi.thresholds import bands
from services.shared.auth import Principal
from services.shared.directory_replica import DirectoryReplica
from services.shared.eventstore import persistence_env
from services.shared.readmodel import ReadModelDatabase
from tests.unit.test_kpi_application import registered

HR = Principal(subject="hr-1", tenant_id="acme", roles=frozenset({"hr_admin"}))
CRM = Principal(subject="crm", tenant_id="acme", roles=frozenset({"integration"}))


def clock() -> datetime:
    return datetime(2026, 4, 2, tzinfo=UTC)


def test_kpis_and_surveys_survive_a_restart_on_either_store(store_url: str) -> None:
    replica_db = ReadModelDatabase(
        sibling_store_url(store_url, "directory"), schema="kpi_directory"
    )
    index_db = ReadModelDatabase(sibling_store_url(store_url, "index"), schema="kpi_index")
    replica = DirectoryReplica(replica_db)
    replica.apply_envelope(registered("hr-1"))
    env = persistence_env("kpi", store_url)
    try:
        first = KpiApplication(env=env, directory=replica, clock=clock)
        definition = KpiDefinition(
            name="Tickets resolved",
            description="",
            unit="tickets",
            owner_id="hr-1",
            objective_goal_id="",
            target_type="increase_to",
            cadence="quarterly",
            summary="sum",
            visibility="tenant",
            first_period="2025-Q4",
            target=100,
            thresholds=bands(("red", None, 80), ("amber", 80, 100), ("green", 100, None)),
        )
        kpi_id = first.define_kpi(HR, definition).aggregate.id
        measured = first.record_measurement(CRM, kpi_id, "2026-Q1", 70, "desk-1")
        first.record_measurement(CRM, kpi_id, "2026-Q1", 20, "desk-2")
        assert measured.measurement_id is not None
        first.correct_measurement(HR, kpi_id, measured.measurement_id, 85, "export missed a day")
        index = KpiIndex(first, index_db)
        assert when_cadence_missed_record_overdue(first, index) == 1  # 2025-Q4
        surveys = SurveyUseCases(first)
        survey_id = surveys.create_survey(
            HR, name="NPS", kind="nps", cadence="quarterly", owner_id=""
        ).aggregate.id
        for number, score in enumerate([10, 10, 9, 6, 8]):
            surveys.record_response(
                CRM, survey_id, period="2026-Q1", score=score, respondent_id=f"c{number}"
            )

        again = KpiApplication(env=env, directory=replica, clock=clock)
        kpi = again.get_kpi(HR, kpi_id)
        assert (kpi.period_value("2026-Q1"), kpi.status, kpi.overdue_periods) == (
            105.0,
            "green",
            ("2025-Q4",),
        )
        assert [m["original_value"] for m in kpi.measurements("2026-Q1")] == [70, 20]
        assert SurveyUseCases(again).results(HR, survey_id, "2026-Q1").overall.score == 40.0
        assert when_cadence_missed_record_overdue(again, KpiIndex(again, index_db)) == 0
    finally:
        replica_db.close()
        index_db.close()
