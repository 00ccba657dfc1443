"""Platform-operator tokens: the role alone, for no tenant; never mixed with a tenant's identity."""

from __future__ import annotations

import re

import pytest

from services.shared import cli
from services.shared.auth import (
    DEFAULT_DEV_SECRET,
    PLATFORM_OPERATOR,
    PLATFORM_TENANT,
    Authenticator,
    mint_dev_token,
)
from services.shared.errors import Unauthenticated

SECRET = "unit-test-secret-long-enough-for-hs256"
VERIFY = Authenticator.dev(SECRET)


def test_an_operator_token_is_a_platform_principal_of_no_tenant() -> None:
    token = mint_dev_token(
        SECRET, subject="ops-1", tenant_id=PLATFORM_TENANT, roles=[PLATFORM_OPERATOR]
    )
    principal = VERIFY.verify(token)
    assert principal.is_platform_operator
    assert principal.tenant_id == PLATFORM_TENANT


@pytest.mark.parametrize(
    ("tenant", "roles", "reason"),
    [
        (PLATFORM_TENANT, [PLATFORM_OPERATOR, "hr_admin"], "not combined with other roles"),
        ("acme", [PLATFORM_OPERATOR], "names tenant '*', not a tenant"),
        (PLATFORM_TENANT, ["hr_admin"], "tenant '*' is for platform_operator tokens"),
    ],
)
def test_a_token_is_either_a_tenants_or_the_platforms(
    tenant: str, roles: list[str], reason: str
) -> None:
    token = mint_dev_token(SECRET, subject="ops-1", tenant_id=tenant, roles=roles)
    with pytest.raises(Unauthenticated, match=re.escape(reason)):
        VERIFY.verify(token)


def test_tenant_tokens_are_not_platform_operators() -> None:
    principal = VERIFY.verify(
        mint_dev_token(SECRET, subject="hr-1", tenant_id="acme", roles=["hr_admin", "auditor"])
    )
    assert not principal.is_platform_operator


def test_the_cli_mints_an_operator_token_without_a_tenant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["mint-token", "--subject", "ops-1", "--role", PLATFORM_OPERATOR]) == 0
    token = capsys.readouterr().out.strip()
    principal = Authenticator.dev(DEFAULT_DEV_SECRET).verify(token)
    assert (principal.subject, principal.tenant_id) == ("ops-1", PLATFORM_TENANT)
    assert principal.roles == {PLATFORM_OPERATOR}


@pytest.mark.parametrize(
    "arguments",
    [
        ["--role", PLATFORM_OPERATOR, "--role", "auditor"],
        ["--role", PLATFORM_OPERATOR, "--tenant", "acme"],
        ["--role", "auditor"],
    ],
)
def test_the_cli_refuses_mixed_or_tenantless_identities(arguments: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["mint-token", "--subject", "ops-1", *arguments])
