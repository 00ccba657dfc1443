"""Production verification against an identity provider's key set, served over real HTTP on
127.0.0.1: rotation, bounded refetching, outages, RS256 and ES256."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from services.shared.auth import Authenticator, TokenRules
from services.shared.errors import Unauthenticated, Unavailable
from services.shared.signing_keys import JwksKeys

ISSUER = "https://idp.example/realms/acme"
AUDIENCE = "northstar-api"
RULES = TokenRules(issuer=ISSUER, audience=AUDIENCE)


@dataclass
class KeySetServer:
    """Serves `keys` as a JWKS document at /jwks, counting fetches; `down` answers 503."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0
    down: bool = False
    url: str = ""


@pytest.fixture
def key_set() -> Iterator[KeySetServer]:
    state = KeySetServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            if state.down:
                self.send_error(503)
                return
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/jwks"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(kid: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        public: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        public = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return public | {"kid": kid, "use": "sig"}


def token(kid: str, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, **extra: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "p1",
        "tenant": "acme",
        "roles": ["employee"],
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    } | extra
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


def authenticator(url: str, *, refetch_interval_seconds: float = 0.0) -> Authenticator:
    keys = JwksKeys(url, refetch_interval_seconds=refetch_interval_seconds, timeout_seconds=2)
    return Authenticator.jwks(keys, RULES)


def reason(authenticator: Authenticator, jwt_text: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        authenticator.verify(jwt_text)
    return raised.value.reason


def test_rs256_and_es256_tokens_verify_against_the_published_keys(key_set: KeySetServer) -> None:
    rsa_private, ec_private = rsa_key(), ec_key()
    key_set.keys = [jwk("rsa-1", rsa_private), jwk("ec-1", ec_private)]
    verifier = authenticator(key_set.url)

    assert verifier.verify(token("rsa-1", rsa_private)).subject == "p1"
    assert verifier.verify(token("ec-1", ec_private)).subject == "p1"
    assert reason(verifier, token("ec-1", rsa_private)) == (
        "token algorithm 'RS256' does not match key 'ec-1'"
    )
    assert key_set.fetches == 1  # the set is cached between tokens


def test_a_rotated_key_is_fetched_and_a_removed_key_refused(key_set: KeySetServer) -> None:
    old, new = rsa_key(), ec_key()
    key_set.keys = [jwk("old", old)]
    verifier = authenticator(key_set.url)
    assert verifier.verify(token("old", old)).subject == "p1"

    # The provider rotates: it publishes the new key beside the old one ...
    key_set.keys = [jwk("old", old), jwk("new", new)]
    assert verifier.verify(token("new", new)).subject == "p1"
    assert key_set.fetches == 2  # the unknown kid refetched the set once

    # ... then retires the old key; once the set is refetched, its tokens are refused.
    key_set.keys = [jwk("new", new)]
    assert reason(verifier, token("gone", old)) == "unknown signing key id 'gone'"
    assert reason(verifier, token("old", old)) == "unknown signing key id 'old'"
    assert verifier.verify(token("new", new)).subject == "p1"


def test_unknown_kids_refetch_at_most_once_per_interval(key_set: KeySetServer) -> None:
    key = rsa_key()
    key_set.keys = [jwk("k1", key)]
    verifier = authenticator(key_set.url, refetch_interval_seconds=3600)
    assert verifier.verify(token("k1", key))

    for attempt in range(20):
        assert reason(verifier, token(f"forged-{attempt}", key)).startswith("unknown signing key")

    assert key_set.fetches == 1  # made-up kids do not make us hammer the provider


def test_a_key_set_never_fetched_is_unavailable_until_the_provider_answers(
    key_set: KeySetServer,
) -> None:
    key = rsa_key()
    key_set.keys, key_set.down = [jwk("k1", key)], True
    verifier = authenticator(key_set.url)

    with pytest.raises(Unavailable) as raised:
        verifier.verify(token("k1", key))
    assert raised.value.field == "authorization"

    key_set.down = False
    assert verifier.verify(token("k1", key)).subject == "p1"


def test_the_last_good_key_set_stays_in_use_while_the_provider_is_down(
    key_set: KeySetServer,
) -> None:
    key = rsa_key()
    key_set.keys = [jwk("k1", key)]
    clock = [0.0]
    keys = JwksKeys(
        key_set.url, cache_seconds=60, refetch_interval_seconds=0, clock=lambda: clock[0]
    )
    verifier = Authenticator.jwks(keys, RULES)
    assert verifier.verify(token("k1", key))

    key_set.down, clock[0] = True, 120.0  # the cache is stale and the refresh fails

    assert verifier.verify(token("k1", key)).subject == "p1"
    assert key_set.fetches == 2


def test_key_set_tokens_obey_the_same_claim_rules(key_set: KeySetServer) -> None:
    key = ec_key()
    key_set.keys = [jwk("k1", key)]
    verifier = authenticator(key_set.url)

    assert reason(verifier, token("k1", key, iss="https://evil.example")) == (
        f"token issuer is not '{ISSUER}'"
    )
    assert reason(verifier, token("k1", key, aud="other-api")) == (
        f"token audience is not '{AUDIENCE}'"
    )
    assert reason(verifier, token("k1", key, exp="9999999999")) == (
        "token claim 'exp' is not a number of seconds"
    )
    hs256 = jwt.encode({"sub": "p1"}, "secret-long-enough-for-hs256-signing", algorithm="HS256")
    assert reason(verifier, hs256) == "token algorithm 'HS256' is not ES256 or RS256"
