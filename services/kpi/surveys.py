"""Survey and SurveySettings aggregates: NPS / eNPS answers per period, and a tenant's
anonymity minimum.

A survey stores each respondent under a pseudonymous key (derived from the survey and the
person, so keys of two surveys cannot be linked) with their latest answer per period: a second
answer in the same period replaces the first. These events never leave the KPI service
(services.kpi.publishing keeps them private); results are computed on request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from northstar_contracts.errors import ContractViolation
from northstar_contracts.kpi_periods import require_cadence
from services.kpi.domain import MAX_ID_LENGTH, MAX_NAME_LENGTH, require_choice, require_text
from services.kpi.nps import DEFAULT_ANONYMITY_MINIMUM, require_anonymity_minimum, require_score
from services.shared.errors import FailedPrecondition, InvalidArgument

NPS, ENPS = "nps", "enps"
SURVEY_KINDS = (NPS, ENPS)
MAX_GROUP_LENGTH = 128
_RESPONDENT_NAMESPACE = uuid5(NAMESPACE_URL, "https://northstar.dev/kpi/survey-respondents")
_SETTINGS_NAMESPACE = uuid5(NAMESPACE_URL, "https://northstar.dev/kpi/survey-settings")


def respondent_key(survey_id: UUID, respondent_id: str) -> str:
    return str(uuid5(_RESPONDENT_NAMESPACE, f"{survey_id}:{respondent_id}"))


def settings_id(tenant_id: str) -> UUID:
    return uuid5(_SETTINGS_NAMESPACE, tenant_id)


class Survey(Aggregate):
    """An NPS (customers) or eNPS (employees) survey of one tenant, answered per period."""

    class Event(Aggregate.Event):
        pass

    class Created(Event, Aggregate.Created):
        tenant_id: str
        name: str
        kind: str
        cadence: str
        owner_id: str
        by: str

    class ResponseRecorded(Event):
        period: str
        respondent_key: str
        score: int
        group: str

    @classmethod
    def create(
        cls, *, tenant_id: str, name: str, kind: str, cadence: str, owner_id: str, by: str
    ) -> Survey:
        try:
            cadence = require_cadence(cadence)
        except ContractViolation as error:
            raise InvalidArgument(error.reason, field=error.field) from None
        return cls(
            tenant_id=tenant_id,
            name=require_text(name, "name", max_length=MAX_NAME_LENGTH),
            kind=require_choice(kind, SURVEY_KINDS, "kind"),
            cadence=cadence,
            owner_id=require_text(owner_id, "owner_id", max_length=MAX_ID_LENGTH),
            by=by,
        )

    @event(Created)
    def __init__(
        self, tenant_id: str, name: str, kind: str, cadence: str, owner_id: str, by: str
    ) -> None:
        self.tenant_id = tenant_id
        self.name = name
        self.kind = kind
        self.cadence = cadence
        self.owner_id = owner_id
        self.created_by = by
        # period -> respondent key -> {"score", "group"}: the latest answer only.
        self._answers: dict[str, dict[str, dict[str, Any]]] = {}

    def record_response(self, period: str, respondent: str, score: int, group: str) -> bool:
        """Records the answer; False when it repeats the respondent's latest one exactly."""
        score = require_score(score)
        group = require_text(group, "group", max_length=MAX_GROUP_LENGTH, allow_blank=True)
        latest = self._answers.get(period, {}).get(respondent)
        if latest == {"score": score, "group": group}:
            return False
        self._response_recorded(period=period, respondent_key=respondent, score=score, group=group)
        return True

    def answers(self, period: str) -> Iterator[tuple[int, str]]:
        """(score, group) of each respondent's latest answer in the period; no respondents."""
        for answer in self._answers.get(period, {}).values():
            yield int(answer["score"]), str(answer["group"])

    @event(ResponseRecorded)
    def _response_recorded(self, period: str, respondent_key: str, score: int, group: str) -> None:
        self._answers.setdefault(period, {})[respondent_key] = {"score": score, "group": group}


class SurveySettings(Aggregate):
    """A tenant's survey settings: the smallest group whose results may be shown."""

    class Event(Aggregate.Event):
        pass

    class Created(Event, Aggregate.Created):
        tenant_id: str
        by: str

    class AnonymityMinimumChanged(Event):
        minimum: int
        previous_minimum: int
        by: str

    @staticmethod
    def create_id(tenant_id: str, by: str) -> UUID:
        return settings_id(tenant_id)

    @event(Created)
    def __init__(self, tenant_id: str, by: str) -> None:
        self.tenant_id = tenant_id
        self.anonymity_minimum = DEFAULT_ANONYMITY_MINIMUM

    def change_anonymity_minimum(self, minimum: int, by: str) -> None:
        minimum = require_anonymity_minimum(minimum)
        if minimum == self.anonymity_minimum:
            raise FailedPrecondition(f"the minimum is {minimum} already", field="anonymity_minimum")
        self._minimum_changed(minimum=minimum, previous_minimum=self.anonymity_minimum, by=by)

    @event(AnonymityMinimumChanged)
    def _minimum_changed(self, minimum: int, previous_minimum: int, by: str) -> None:
        self.anonymity_minimum = minimum
