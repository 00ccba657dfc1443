"""The directory's policy as a matrix: every role against every action, and the tenant wall."""

from __future__ import annotations

import pytest

from services.directory.authorization import Action, authorize, is_allowed
from services.shared.auth import ROLES, Principal
from services.shared.errors import PermissionDenied

# Written out independently of the policy table, so a change to either shows up here.
EXPECTED: dict[Action, set[str]] = {
    Action.UPSERT_PERSON: {"hr_admin", "integration"},
    Action.RECORD_DEPARTURE: {"hr_admin", "integration"},
    Action.UPSERT_TEAM: {"hr_admin", "integration"},
    Action.READ_PERSON: {"employee", "manager", "hr_admin", "auditor", "integration"},
    Action.READ_MANAGER_CHAIN: {"employee", "manager", "hr_admin", "auditor", "integration"},
    Action.READ_TEAM: {"employee", "manager", "hr_admin", "auditor", "integration"},
    Action.LIST_TEAM_MEMBERS: {"employee", "manager", "hr_admin", "auditor", "integration"},
}
MATRIX = [(role, action) for role in sorted(ROLES) for action in Action]


def test_the_expected_matrix_covers_every_action() -> None:
    assert set(EXPECTED) == set(Action)


@pytest.mark.parametrize(("role", "action"), MATRIX)
def test_role_may_perform_action_only_where_the_matrix_says(role: str, action: Action) -> None:
    principal = Principal(subject="p1", tenant_id="acme", roles=frozenset({role}))
    if role in EXPECTED[action]:
        authorize(principal, action, "acme")
        assert is_allowed(principal, action, "acme")
    else:
        with pytest.raises(PermissionDenied):
            authorize(principal, action, "acme")
        assert not is_allowed(principal, action, "acme")


@pytest.mark.parametrize("action", list(Action))
def test_no_role_acts_in_another_tenant(action: Action) -> None:
    everything = Principal(subject="p1", tenant_id="acme", roles=frozenset(ROLES))
    with pytest.raises(PermissionDenied) as refused:
        authorize(everything, action, "globex")
    assert refused.value.field == "tenant_id"


def test_a_principal_without_roles_may_do_nothing() -> None:
    nobody = Principal(subject="p1", tenant_id="acme", roles=frozenset())
    assert not any(is_allowed(nobody, action, "acme") for action in Action)
