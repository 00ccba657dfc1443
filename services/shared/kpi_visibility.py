"""Who may see a KPI: the one rule the KPI service and the projections (scoreboard, audit
history) both apply, so a KPI hidden in one is hidden in the other.

- Another tenant's KPI is never visible (it answers exactly like a missing one).
- A KPI with visibility "tenant" is seen by everyone in its tenant.
- A "restricted" KPI is seen by its owner, every manager above the owner in the reporting
  lines, HR admins, auditors and integration accounts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.shared.auth import AUDITOR, HR_ADMIN, INTEGRATION, Principal

TENANT_WIDE, RESTRICTED = "tenant", "restricted"
SEE_EVERY_KPI = frozenset({HR_ADMIN, AUDITOR, INTEGRATION})

Manages = Callable[[str, str, str], bool]
"""(tenant id, manager id, person id) -> whether the manager is above the person."""


@dataclass(frozen=True)
class KpiAudience:
    """What the rule needs to know about a KPI."""

    tenant_id: str
    owner_id: str
    visibility: str


def can_view_kpi(principal: Principal, kpi: KpiAudience, manages: Manages) -> bool:
    if principal.tenant_id != kpi.tenant_id:
        return False
    if kpi.visibility == TENANT_WIDE:
        return True
    if principal.subject == kpi.owner_id or principal.has_role(*SEE_EVERY_KPI):
        return True
    return manages(principal.tenant_id, principal.subject, kpi.owner_id)
