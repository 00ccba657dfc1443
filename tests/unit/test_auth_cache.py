"""Verified tokens are remembered until they expire: never a failure, never past a key rotation."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.shared.auth import Authenticator, TokenRules
from services.shared.errors import Unauthenticated
from services.shared.signing_keys import ASYMMETRIC_ALGORITHMS, UnknownKey, VerificationKey

SECRET = "unit-test-secret-long-enough-for-hs256"
LEEWAY = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class RotatingKeys:
    """A key source whose keys an operator replaces or retires while the service runs."""

    fetches_remotely = False

    def __init__(self, keys: dict[str, VerificationKey]) -> None:
        self.keys = keys

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey:
        if kid not in self.keys:
            raise UnknownKey(kid)
        return self.keys[kid]


def claims(now: float, ttl_seconds: int = 60, subject: str = "p1") -> dict[str, Any]:
    issued = int(now)
    return {
        "iss": "northstar",
        "aud": "northstar",
        "sub": subject,
        "tenant": "acme",
        "roles": ["employee"],
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }


def dev_authenticator(clock: Clock, cache_size: int = 100) -> Authenticator:
    return Authenticator(
        algorithms=frozenset({"HS256"}),
        keys=RotatingKeys({"dev": VerificationKey("HS256", SECRET)}),
        rules=TokenRules(leeway_seconds=LEEWAY),
        cache_size=cache_size,
        clock=clock,
    )


def hs256(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": "dev"})


def reason(authenticator: Authenticator, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        authenticator.verify(token)
    return raised.value.reason


def test_a_verified_token_is_remembered_and_answers_the_same_principal() -> None:
    clock = Clock()
    verifier = dev_authenticator(clock)
    token = hs256(claims(clock.now))

    first = verifier.verify(token)

    assert len(verifier.verified) == 1
    assert verifier.verify(token) is first


def test_a_remembered_token_is_refused_once_it_expires() -> None:
    clock = Clock()
    verifier = dev_authenticator(clock)
    token = hs256(claims(clock.now, ttl_seconds=60))
    verifier.verify(token)

    clock.now += 60 + LEEWAY - 1  # still inside the leeway: remembered, still valid
    assert verifier.verify(token).subject == "p1"
    clock.now += 2
    assert reason(verifier, token) == "token expired"
    assert len(verifier.verified) == 0


def test_a_failure_is_never_remembered() -> None:
    clock = Clock()
    verifier = dev_authenticator(clock)
    forged = hs256(claims(clock.now), secret="another-secret-of-sufficient-length")
    not_yet = hs256(claims(clock.now + 3600))

    assert reason(verifier, forged) == "bad token signature"
    assert reason(verifier, not_yet) == "token issued in the future ('iat')"
    assert len(verifier.verified) == 0
    clock.now += 3600  # the same text, now inside its window, verifies from scratch
    assert verifier.verify(not_yet).subject == "p1"


def test_the_cache_is_bounded_dropping_the_least_recently_used() -> None:
    clock = Clock()
    verifier = dev_authenticator(clock, cache_size=2)
    tokens = [hs256(claims(clock.now, subject=f"p{n}")) for n in range(3)]
    for token in tokens:
        verifier.verify(token)

    assert len(verifier.verified) == 2
    assert verifier.verified.get(tokens[0], clock.now) is None


def test_a_retired_or_replaced_key_refuses_tokens_it_verified_before() -> None:
    clock = Clock()
    old, new = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in "ab")
    keys = RotatingKeys({"k1": VerificationKey("RS256", old.public_key())})
    verifier = Authenticator(algorithms=ASYMMETRIC_ALGORITHMS, keys=keys, clock=clock)
    signed_by_old = jwt.encode(claims(clock.now), old, algorithm="RS256", headers={"kid": "k1"})
    assert verifier.verify(signed_by_old).subject == "p1"

    # The key id now names another key: the remembered token is checked afresh, and fails.
    keys.keys = {"k1": VerificationKey("RS256", new.public_key())}
    assert reason(verifier, signed_by_old) == "bad token signature"

    # Back to the old key, remembered again, then the key is retired altogether.
    keys.keys = {"k1": VerificationKey("RS256", old.public_key())}
    assert verifier.verify(signed_by_old).subject == "p1"
    keys.keys = {}
    assert reason(verifier, signed_by_old) == "unknown signing key id 'k1'"
