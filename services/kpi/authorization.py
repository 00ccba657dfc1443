"""Who may do what with KPIs and surveys: the KPI service's one authorisation policy.

- Define a KPI: HR admins and integrations (any owner); managers (for themselves or people
  below them in the reporting lines).
- Change a KPI's target or thresholds, record or correct a measurement: the KPI's owner, the
  owner's managers, HR admins and integrations.
- Read a KPI: services.shared.kpi_visibility (the rule the projections apply too).
- Create a survey: HR admins and integrations.
- Answer a survey: people (employee, manager, HR admin) answer eNPS surveys for themselves;
  integrations record others' answers (customers' NPS, imported eNPS).
- Read survey results: the survey's owner, managers, HR admins, auditors and integrations.
- Set the tenant's anonymity minimum: HR admins.

Auditors read and never write. Someone the directory records as departed writes nothing,
whatever their token says. Another tenant's KPI or survey is simply not found (tenancy is
checked before this policy).
"""

from __future__ import annotations

from typing import Protocol

from services.kpi.domain import Kpi
from services.kpi.surveys import ENPS, Survey
from services.shared.auth import AUDITOR, EMPLOYEE, HR_ADMIN, INTEGRATION, MANAGER, Principal
from services.shared.directory_replica import ReplicaPerson
from services.shared.errors import NotFound, PermissionDenied
from services.shared.kpi_visibility import KpiAudience, can_view_kpi

ORGANISATION_WIDE = frozenset({HR_ADMIN, INTEGRATION})
KPI_DEFINERS = frozenset({HR_ADMIN, INTEGRATION, MANAGER})
PERSON_ROLES = frozenset({EMPLOYEE, MANAGER, HR_ADMIN})
SURVEY_CREATORS = ORGANISATION_WIDE
RESULT_READERS = frozenset({HR_ADMIN, AUDITOR, INTEGRATION, MANAGER})
SETTINGS_WRITERS = frozenset({HR_ADMIN})
WRITERS = frozenset({EMPLOYEE, MANAGER, HR_ADMIN, INTEGRATION})


class Directory(Protocol):
    """The slice of the local directory replica this policy and the use cases read."""

    def person(self, tenant_id: str, person_id: str) -> ReplicaPerson | None: ...

    def is_in_management_chain(self, tenant_id: str, manager_id: str, person_id: str) -> bool: ...


def audience(kpi: Kpi) -> KpiAudience:
    return KpiAudience(kpi.tenant_id, kpi.owner_id, kpi.visibility)


def require_writer(principal: Principal, org: Directory) -> None:
    if not principal.has_role(*WRITERS):
        raise PermissionDenied(f"role(s) {sorted(principal.roles)} only read")
    caller = org.person(principal.tenant_id, principal.subject)
    if caller is not None and caller.has_departed:
        raise PermissionDenied(f"{principal.subject} has left the organisation")


def require_can_define(principal: Principal, org: Directory, owner_id: str) -> None:
    require_writer(principal, org)
    if not principal.has_role(*KPI_DEFINERS):
        raise PermissionDenied("KPIs are defined by managers, HR admins and integrations")
    if principal.has_role(*ORGANISATION_WIDE) or owner_id == principal.subject:
        return
    if not org.is_in_management_chain(principal.tenant_id, principal.subject, owner_id):
        raise PermissionDenied(
            "managers define KPIs for themselves or for people below them", field="owner_id"
        )


def require_can_view(principal: Principal, org: Directory, kpi: Kpi, field: str) -> None:
    """A KPI the caller may not see answers exactly as a missing one would."""
    if not can_view_kpi(principal, audience(kpi), org.is_in_management_chain):
        raise NotFound(f"KPI {kpi.id} not found", field=field)


def require_can_change(principal: Principal, org: Directory, kpi: Kpi) -> None:
    require_writer(principal, org)
    if principal.has_role(*ORGANISATION_WIDE) or principal.subject == kpi.owner_id:
        return
    if org.is_in_management_chain(principal.tenant_id, principal.subject, kpi.owner_id):
        return
    raise PermissionDenied("only the owner, their managers, HR admins and integrations may")


def require_can_create_survey(principal: Principal, org: Directory) -> None:
    require_writer(principal, org)
    if not principal.has_role(*SURVEY_CREATORS):
        raise PermissionDenied("surveys are created by HR admins and integrations")


def require_can_answer(
    principal: Principal, org: Directory, survey: Survey, respondent_id: str
) -> None:
    require_writer(principal, org)
    if respondent_id != principal.subject:
        if not principal.has_role(INTEGRATION):
            raise PermissionDenied(
                "only integrations record answers of others", field="respondent_id"
            )
        return
    if survey.kind != ENPS or not principal.has_role(*PERSON_ROLES):
        raise PermissionDenied("people answer eNPS surveys for themselves only", field="survey_id")


def require_can_read_results(principal: Principal, survey: Survey) -> None:
    if principal.subject == survey.owner_id or principal.has_role(*RESULT_READERS):
        return
    raise PermissionDenied(
        "survey results are for the survey's owner, managers, HR admins, auditors and integrations"
    )


def require_can_change_settings(principal: Principal, org: Directory) -> None:
    require_writer(principal, org)
    if not principal.has_role(*SETTINGS_WRITERS):
        raise PermissionDenied("the anonymity minimum is set by HR admins")
