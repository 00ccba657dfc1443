"""Bearer-JWT verification (HS256 dev mode, RS256/ES256 production keys) and the token CLI.

Key sets served over HTTP are in test_auth_jwks.py."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.shared import cli
from services.shared.auth import (
    DEFAULT_DEV_SECRET,
    DEV_SECRET_ENV,
    Authenticator,
    Principal,
    TokenRules,
    current_principal,
    mint_dev_token,
    reset_current_principal,
    set_current_principal,
)
from services.shared.errors import Unauthenticated

SECRET = "unit-test-secret-long-enough-for-hs256"


def rsa_key_pair() -> tuple[bytes, bytes]:
    """(private PEM, public PEM) of a fresh 2048-bit RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


PRIVATE_A, PUBLIC_A = rsa_key_pair()
PRIVATE_B, PUBLIC_B = rsa_key_pair()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "northstar",
        "aud": "northstar",
        "sub": "p1",
        "tenant": "acme",
        "roles": ["manager"],
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return {key: value for key, value in (base | overrides).items() if value is not None}


def rs256(private_pem: bytes, kid: str | None = "a", **overrides: Any) -> str:
    headers = {"kid": kid} if kid is not None else None
    return jwt.encode(claims(**overrides), private_pem, algorithm="RS256", headers=headers)


def hs256(secret: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")


def rejection(authenticator: Authenticator, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        authenticator.verify(token)
    assert raised.value.field == "authorization"
    return raised.value.reason


def test_dev_token_round_trips_to_a_principal() -> None:
    token = mint_dev_token(SECRET, subject="p1", tenant_id="acme", roles=["manager", "employee"])

    principal = Authenticator.dev(SECRET).verify(token)

    assert principal == Principal("p1", "acme", frozenset({"manager", "employee"}))


def test_principal_has_role_when_it_holds_any_of_the_named_roles() -> None:
    principal = Principal("p1", "acme", frozenset({"manager"}))

    assert principal.has_role("manager")
    assert principal.has_role("hr_admin", "manager")
    assert not principal.has_role("auditor")


def test_expired_token_is_rejected_as_expired() -> None:
    token = mint_dev_token(
        SECRET, subject="p1", tenant_id="acme", roles=["employee"], ttl_seconds=-300
    )

    assert rejection(Authenticator.dev(SECRET), token) == "token expired"


def test_token_signed_with_another_secret_has_a_bad_signature() -> None:
    token = hs256("some-other-secret-that-is-long-enough")

    assert rejection(Authenticator.dev(SECRET), token) == "bad token signature"


@pytest.mark.parametrize(
    ("claim", "reason"),
    [
        ("exp", "token lacks the 'exp' claim"),
        ("iat", "token lacks the 'iat' claim"),
        ("nbf", "token lacks the 'nbf' claim"),
        ("sub", "token lacks the 'sub' claim"),
        ("tenant", "token lacks the 'tenant' claim"),
        ("roles", "token lacks the 'roles' claim (a list of strings)"),
    ],
)
def test_token_without_a_required_claim_names_the_claim(claim: str, reason: str) -> None:
    token = jwt.encode(claims(**{claim: None}), SECRET, algorithm="HS256")

    assert rejection(Authenticator.dev(SECRET), token) == reason


def test_roles_must_be_a_list_of_known_roles() -> None:
    authenticator = Authenticator.dev(SECRET)

    assert "roles" in rejection(authenticator, hs256(roles="manager"))
    assert rejection(authenticator, hs256(roles=["manager", "root"])) == (
        "token names unknown roles ['root']"
    )


def test_issuer_and_audience_must_be_northstar() -> None:
    authenticator = Authenticator.dev(SECRET)

    assert rejection(authenticator, hs256(iss="elsewhere")) == "token issuer is not 'northstar'"
    assert rejection(authenticator, hs256(aud="elsewhere")) == "token audience is not 'northstar'"


def test_dev_authenticator_refuses_rs256_tokens_as_wrong_algorithm() -> None:
    reason = rejection(Authenticator.dev(SECRET), rs256(PRIVATE_A))

    assert reason == "token algorithm 'RS256' is not HS256"


def test_unsigned_token_is_refused_as_wrong_algorithm() -> None:
    token = jwt.encode(claims(), "", algorithm="none")

    assert rejection(Authenticator.dev(SECRET), token) == "token algorithm 'none' is not HS256"


def test_production_refuses_hs256_even_when_signed_with_its_public_key() -> None:
    # The classic algorithm-confusion forgery: HMAC keyed with the (public) RSA PEM.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT","kid":"a"}').decode()
    payload = jwt.utils.base64url_encode(json.dumps(claims()).encode()).decode()
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(PUBLIC_A, signing_input, hashlib.sha256).digest()
    forged = f"{header}.{payload}.{jwt.utils.base64url_encode(signature).decode()}"

    reason = rejection(Authenticator.production({"a": PUBLIC_A}), forged)

    assert reason == "token algorithm 'HS256' is not ES256 or RS256"


def test_production_verifies_rs256_with_the_key_named_by_kid() -> None:
    authenticator = Authenticator.production({"a": PUBLIC_A, "b": PUBLIC_B})

    assert authenticator.verify(rs256(PRIVATE_A, kid="a")).subject == "p1"
    assert authenticator.verify(rs256(PRIVATE_B, kid="b", sub="p2")).subject == "p2"


def test_production_rejects_a_token_signed_by_a_key_other_than_its_kid() -> None:
    authenticator = Authenticator.production({"a": PUBLIC_A, "b": PUBLIC_B})

    assert rejection(authenticator, rs256(PRIVATE_B, kid="a")) == "bad token signature"


def test_production_rejects_unknown_or_absent_kid_when_several_keys_are_configured() -> None:
    authenticator = Authenticator.production({"a": PUBLIC_A, "b": PUBLIC_B})

    assert rejection(authenticator, rs256(PRIVATE_A, kid="z")) == "unknown signing key id 'z'"
    assert rejection(authenticator, rs256(PRIVATE_A, kid=None)) == "unknown signing key id None"
    long_kid = rejection(authenticator, rs256(PRIVATE_A, kid="z" * 5000))
    assert len(long_kid) <= 300
    assert long_kid.startswith("unknown signing key id 'zzz")
    assert "(4,765 characters omitted)" in long_kid


def test_production_with_a_single_key_accepts_tokens_without_kid() -> None:
    principal = Authenticator.production({"a": PUBLIC_A}).verify(rs256(PRIVATE_A, kid=None))

    assert principal.tenant_id == "acme"


def test_garbage_is_a_malformed_token() -> None:
    assert rejection(Authenticator.dev(SECRET), "not-a-jwt").startswith("malformed token")
    assert rejection(Authenticator.dev(SECRET), "") == "missing bearer token"


@pytest.mark.parametrize(
    ("token", "meaning"),
    [
        ("not-a-jwt", "it is not three base64url parts separated by dots"),
        ("abc.def.ghi", "its header is not base64url-encoded JSON"),
        ("e30.abc.d", "its signature is not base64url"),
        ("eyJhbGciOiJIUzI1NiJ9.%%%.sig", "its claims are not base64url-encoded JSON"),
    ],
)
def test_a_malformed_token_is_explained_without_python_internals(token: str, meaning: str) -> None:
    refused = rejection(Authenticator.dev(SECRET), token)
    assert refused == f"malformed token ({meaning})"
    assert "codec" not in refused


def test_metadata_needs_a_bearer_authorization_entry() -> None:
    authenticator = Authenticator.dev(SECRET)
    token = hs256()

    principal = authenticator.authenticate_metadata(
        [("x-other", "1"), ("authorization", f"Bearer {token}")]
    )
    assert principal.subject == "p1"
    with pytest.raises(Unauthenticated, match="missing bearer token"):
        authenticator.authenticate_metadata([("x-other", "1")])
    with pytest.raises(Unauthenticated, match="must be 'Bearer <token>'"):
        authenticator.authenticate_metadata([("authorization", token)])


def test_current_principal_is_the_one_set_for_the_context() -> None:
    with pytest.raises(Unauthenticated, match="no authenticated caller"):
        current_principal()
    principal = Principal("p1", "acme", frozenset({"auditor"}))

    token = set_current_principal(principal)
    try:
        assert current_principal() is principal
    finally:
        reset_current_principal(token)

    with pytest.raises(Unauthenticated):
        current_principal()


def test_cli_mints_a_token_with_the_given_identity(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["mint-token", "--subject", "p9", "--tenant", "acme", "--role", "manager"]

    assert cli.main([*argv, "--role", "employee", "--secret", SECRET]) == 0

    principal = Authenticator.dev(SECRET).verify(capsys.readouterr().out.strip())
    assert principal == Principal("p9", "acme", frozenset({"manager", "employee"}))


def test_cli_signs_with_the_environment_secret_else_the_dev_default(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["mint-token", "--subject", "p1", "--tenant", "acme", "--role", "auditor"]
    monkeypatch.delenv(DEV_SECRET_ENV, raising=False)
    cli.main(argv)
    assert Authenticator.dev(DEFAULT_DEV_SECRET).verify(capsys.readouterr().out.strip())

    monkeypatch.setenv(DEV_SECRET_ENV, SECRET)
    cli.main(argv)
    assert Authenticator.dev(SECRET).verify(capsys.readouterr().out.strip())


def test_cli_token_carries_issued_at_not_before_and_expiry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["mint-token", "--subject", "p1", "--tenant", "acme", "--role", "employee"]
    cli.main([*argv, "--secret", SECRET, "--ttl-seconds", "600"])

    token = capsys.readouterr().out.strip()
    minted = jwt.decode(token, options={"verify_signature": False})
    assert minted["exp"] - minted["iat"] == 600
    assert minted["nbf"] == minted["iat"]
    assert Authenticator.dev(SECRET).verify(token).subject == "p1"


# ---- time claims are numbers, bounded in lifetime -------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "9999999999"),  # PyJWT alone accepts any string int() can read
        ("exp", True),
        ("iat", str(int(time.time()))),
        ("nbf", [0]),
        ("exp", {"seconds": 1}),
    ],
)
def test_time_claims_must_be_numbers(claim: str, value: Any) -> None:
    reason = rejection(Authenticator.dev(SECRET), hs256(**{claim: value}))

    assert reason == f"token claim '{claim}' is not a number of seconds"


def test_infinite_expiry_is_not_a_number_of_seconds() -> None:
    # Python's json reads `Infinity`, which no JWT library writes: craft the token by hand.
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    body = json.dumps(claims(exp=0)).replace('"exp": 0', '"exp": Infinity')
    payload = jwt.utils.base64url_encode(body.encode()).decode()
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    token = f"{header}.{payload}.{jwt.utils.base64url_encode(signature.digest()).decode()}"

    assert rejection(Authenticator.dev(SECRET), token) == (
        "token claim 'exp' is not a number of seconds"
    )


def test_a_token_that_never_expires_exceeds_the_maximum_lifetime() -> None:
    now = int(time.time())

    reason = rejection(Authenticator.dev(SECRET), hs256(exp=10**30))

    assert reason == "token lifetime exceeds the maximum of 86400 s"
    assert Authenticator.dev(SECRET).verify(hs256(iat=now, exp=now + 86_400))


def test_the_maximum_lifetime_is_configurable() -> None:
    now = int(time.time())
    strict = Authenticator.dev(SECRET, TokenRules(max_lifetime_seconds=600))

    assert strict.verify(hs256(iat=now, exp=now + 600))
    assert rejection(strict, hs256(iat=now, exp=now + 601)) == (
        "token lifetime exceeds the maximum of 600 s"
    )


def test_clock_skew_within_the_leeway_is_tolerated_beyond_it_refused() -> None:
    now = int(time.time())
    authenticator = Authenticator.dev(SECRET, TokenRules(leeway_seconds=10))

    assert authenticator.verify(hs256(iat=now - 300, exp=now - 5))
    assert rejection(authenticator, hs256(iat=now - 300, exp=now - 60)) == "token expired"
    assert authenticator.verify(hs256(nbf=now + 5, iat=now + 5))
    assert rejection(authenticator, hs256(nbf=now + 60)) == "token not valid yet"
    assert rejection(authenticator, hs256(iat=now + 60, nbf=now)) == (
        "token issued in the future ('iat')"
    )


def test_nbf_may_be_optional_for_providers_that_never_send_it() -> None:
    relaxed = Authenticator.dev(SECRET, TokenRules(require_nbf=False))

    assert relaxed.verify(hs256(nbf=None)).subject == "p1"
    assert "is not a number" in rejection(relaxed, hs256(nbf="0"))


# ---- issuer, audience and claim names are configured ----------------------------------------


def test_configured_issuer_and_audience_are_required() -> None:
    rules = TokenRules(issuer="https://idp.example/realms/acme", audience="northstar-api")
    authenticator = Authenticator.dev(SECRET, rules)

    good = hs256(iss="https://idp.example/realms/acme", aud=["account", "northstar-api"])
    assert authenticator.verify(good).subject == "p1"
    assert rejection(authenticator, hs256(aud="northstar-api")) == (
        "token issuer is not 'https://idp.example/realms/acme'"
    )
    assert rejection(authenticator, hs256(iss="https://idp.example/realms/acme")) == (
        "token audience is not 'northstar-api'"
    )


def test_tenant_and_roles_claims_may_be_named_or_nested() -> None:
    rules = TokenRules(
        tenant_claim="https://northstar.example/tenant",
        roles_claim="resource_access.northstar.roles",
    )
    authenticator = Authenticator.dev(SECRET, rules)
    token = hs256(
        tenant=None,
        roles=None,
        **{"https://northstar.example/tenant": "globex"},
        resource_access={"northstar": {"roles": ["auditor"]}, "account": {"roles": ["x"]}},
    )

    assert authenticator.verify(token) == Principal("p1", "globex", frozenset({"auditor"}))
    assert rejection(authenticator, hs256()) == (
        "token lacks the 'https://northstar.example/tenant' claim"
    )


def test_oversized_or_unprintable_identities_are_refused() -> None:
    authenticator = Authenticator.dev(SECRET)

    assert "at most 200 printable" in rejection(authenticator, hs256(sub="p" * 201))
    assert "at most 200 printable" in rejection(authenticator, hs256(tenant="ac\x00me"))
    assert "longer than 8192" in rejection(authenticator, "x" * 9000)


# ---- ES256 as well as RS256 -----------------------------------------------------------------


def ec_key_pair() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_production_verifies_es256_and_rs256_each_with_its_own_key() -> None:
    ec_private, ec_public = ec_key_pair()
    authenticator = Authenticator.production({"rsa": PUBLIC_A, "ec": ec_public})
    es256 = jwt.encode(claims(), ec_private, algorithm="ES256", headers={"kid": "ec"})

    assert authenticator.verify(es256).subject == "p1"
    assert authenticator.verify(rs256(PRIVATE_A, kid="rsa")).subject == "p1"
    # The same ES256 token naming the RSA key: the key decides the algorithm, not the header.
    mislabelled = jwt.encode(claims(), ec_private, algorithm="ES256", headers={"kid": "rsa"})
    assert (
        rejection(authenticator, mislabelled) == "token algorithm 'ES256' does not match key 'rsa'"
    )
