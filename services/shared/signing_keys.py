"""Where token verification keys come from: a shared dev secret, local PEM public keys, or an
identity provider's JWKS URL (Keycloak, Entra ID, Okta, Auth0 all publish one).

Every source answers `key_for(kid, algorithm)` with a key bound to one algorithm, so a token can
only be verified with the algorithm its key was made for (no HS256-with-a-public-key forgery).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256"})


class KeyUnavailable(Exception):
    """No key can be had right now (the key set could not be fetched): retry later."""


class UnknownKey(Exception):
    """No key of this id (or none for this algorithm) is configured or published."""


@dataclass(frozen=True)
class VerificationKey:
    algorithm: str
    key: Any  # an HMAC secret, or a `cryptography` public key object


class KeySource(Protocol):
    fetches_remotely: bool
    """True when `key_for` may block on the network (callers move it off the event loop)."""

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey: ...


class SharedSecret:
    """Dev mode: one HS256 secret verifies every token, whatever its `kid`."""

    fetches_remotely = False

    def __init__(self, secret: str) -> None:
        self._key = VerificationKey("HS256", secret)

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey:
        return self._key


class LocalPublicKeys:
    """PEM public keys by `kid`; RSA keys verify RS256, P-256 keys ES256. With a single key,
    tokens without `kid` are verified against it."""

    fetches_remotely = False

    def __init__(self, pem_by_kid: Mapping[str, str | bytes]) -> None:
        if not pem_by_kid:
            raise ValueError("production auth needs at least one public key")
        self._keys = {kid: _from_pem(kid, pem) for kid, pem in pem_by_kid.items()}

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        if kid is None or kid not in self._keys:
            raise UnknownKey(kid)
        return self._keys[kid]


def _from_pem(kid: str, pem: str | bytes) -> VerificationKey:
    key = load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if isinstance(key, rsa.RSAPublicKey):
        return VerificationKey("RS256", key)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return VerificationKey("ES256", key)
    raise ValueError(f"public key {kid!r} is neither RSA nor EC P-256")


class JwksKeys:
    """The signing keys an identity provider publishes at a JWKS URL.

    PyJWT's PyJWKClient fetches and parses the set; the cache policy is ours, because an
    identity provider that is briefly down must not lock every caller out, and tokens with
    made-up `kid`s must not make us hammer it:
    - the set is fetched at most once per `refetch_interval_seconds`, counting failed
      attempts, however many tokens name unknown keys (a rotation is picked up on the first
      unknown `kid` after that interval);
    - it is refreshed after `cache_seconds`; when a refresh fails the last good set stays in
      use, and only a service that never fetched one answers "unavailable".
    """

    fetches_remotely = True

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float = 300.0,
        refetch_interval_seconds: float = 30.0,
        timeout_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = jwt.PyJWKClient(
            url, cache_jwk_set=False, timeout=timeout_seconds, cooldown_duration=0
        )
        self.url = url
        self._cache_seconds = cache_seconds
        self._refetch_interval_seconds = refetch_interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None

    def key_for(self, kid: str | None, algorithm: str) -> VerificationKey:
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at >= self._cache_seconds:
                self._refetch(now)
            if kid is not None and kid not in (self._keys or {}):
                self._refetch(now)  # perhaps rotated: bounded by the refetch interval
            if self._keys is None:
                raise KeyUnavailable(f"the signing keys at {self.url} could not be fetched")
            found = self._keys.get(kid) if kid is not None else _only(self._keys)
        if found is None:
            raise UnknownKey(kid)
        return VerificationKey(str(found.algorithm_name), found)

    def _refetch(self, now: float) -> None:
        if (
            self._last_attempt is not None
            and now - self._last_attempt < self._refetch_interval_seconds
        ):
            return
        self._last_attempt = now
        try:
            keys = self._client.get_signing_keys(refresh=True)
        except (jwt.PyJWTError, ValueError, OSError) as error:  # ValueError: not JSON
            logger.warning("could not fetch the signing keys at %s: %s", self.url, error)
            return
        self._keys = {str(key.key_id): key for key in keys}
        self._fetched_at = now


def _only(keys: Mapping[str, jwt.PyJWK]) -> jwt.PyJWK | None:
    return next(iter(keys.values())) if len(keys) == 1 else None
