"""Survey use cases (NPS, eNPS): create a survey, record an answer, read results, set the
tenant's anonymity minimum. One method each, taking the caller, on the KPI service's store.

Results never name or list a respondent: they are counts, shares, the score and its interval,
the 0-10 distribution, and per-group breakdowns only for groups at or above the anonymity
minimum (services.kpi.nps.shown_groups). Fewer answers than the minimum in the whole period
withhold the results altogether (TooFewResponses); none at all is NoResponses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from uuid import UUID

from services.kpi import authorization as policy
from services.kpi.application import KpiApplication, Saved
from services.kpi.domain import MAX_ID_LENGTH, parse_kpi_period, require_text
from services.kpi.nps import (
    DEFAULT_ANONYMITY_MINIMUM,
    NpsResult,
    TooFewResponses,
    nps,
    shown_groups,
)
from services.kpi.surveys import ENPS, Survey, SurveySettings, respondent_key, settings_id
from services.shared.auth import Principal
from services.shared.errors import NotFound


@dataclass(frozen=True)
class GroupResult:
    group: str
    result: NpsResult


@dataclass(frozen=True)
class SurveyResults:
    survey: Survey
    period: str
    overall: NpsResult
    groups: list[GroupResult]
    hidden_groups: int
    """Groups answered in the period but not shown (too few answers to stay anonymous)."""
    anonymity_minimum: int


class SurveyUseCases:
    def __init__(self, app: KpiApplication) -> None:
        self.app = app

    def create_survey(
        self, principal: Principal, *, name: str, kind: str, cadence: str, owner_id: str
    ) -> Saved:
        policy.require_can_create_survey(principal, self.app.directory)
        survey = Survey.create(
            tenant_id=principal.tenant_id,
            name=name,
            kind=kind,
            cadence=cadence,
            owner_id=owner_id or principal.subject,
            by=principal.subject,
        )
        return self.app.save_changes(principal, survey)

    def record_response(
        self,
        principal: Principal,
        survey_id: UUID,
        *,
        period: str,
        score: int,
        respondent_id: str = "",
        group: str = "",
    ) -> Saved:
        """The respondent's answer for the period (their latest answer counts). "" respondent
        means the caller; "" group means, for eNPS, the respondent's team in the directory."""
        survey = self._survey(principal, survey_id)
        respondent = respondent_id or principal.subject
        respondent = require_text(respondent, "respondent_id", max_length=MAX_ID_LENGTH)
        policy.require_can_answer(principal, self.app.directory, survey, respondent)
        key = parse_kpi_period(period, survey.cadence).key
        if not group and survey.kind == ENPS:
            person = self.app.directory.person(principal.tenant_id, respondent)
            group = person.team_id if person is not None else ""
        survey.record_response(key, respondent_key(survey.id, respondent), score, group)
        return self.app.save_changes(principal, survey)

    def results(self, principal: Principal, survey_id: UUID, period: str) -> SurveyResults:
        survey = self._survey(principal, survey_id)
        policy.require_can_read_results(principal, survey)
        key = parse_kpi_period(period, survey.cadence).key
        answers = list(survey.answers(key))
        overall = nps(score for score, _group in answers)  # NoResponses when there are none
        minimum = self.anonymity_minimum(principal.tenant_id)
        if overall.responses < minimum:
            raise TooFewResponses(
                f"{key} has fewer than {minimum} answers: results are withheld so that nobody's "
                "answer can be told",
                field="period",
            )
        counts = Counter(group for _score, group in answers if group)
        shown = shown_groups(counts, minimum)
        groups = [
            GroupResult(
                group, nps(score for score, answer_group in answers if answer_group == group)
            )
            for group in sorted(shown)
        ]
        return SurveyResults(survey, key, overall, groups, len(counts) - len(shown), minimum)

    def set_anonymity_minimum(self, principal: Principal, minimum: int) -> Saved:
        policy.require_can_change_settings(principal, self.app.directory)
        settings = self.app.find(SurveySettings, settings_id(principal.tenant_id))
        if settings is None:
            settings = SurveySettings(tenant_id=principal.tenant_id, by=principal.subject)
        settings.change_anonymity_minimum(minimum, principal.subject)
        return self.app.save_changes(principal, settings)

    def anonymity_minimum(self, tenant_id: str) -> int:
        settings = self.app.find(SurveySettings, settings_id(tenant_id))
        return DEFAULT_ANONYMITY_MINIMUM if settings is None else settings.anonymity_minimum

    def _survey(self, principal: Principal, survey_id: UUID) -> Survey:
        survey = self.app.find(Survey, survey_id)
        if survey is None or survey.tenant_id != principal.tenant_id:
            raise NotFound(f"survey {survey_id} not found", field="survey_id")
        return survey
