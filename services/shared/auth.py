"""Who is calling: bearer-JWT verification and the per-request Principal.

Dev mode signs and verifies HS256 with a local secret; production verifies RS256 or ES256
against an identity provider's JWKS URL or local public keys, chosen by the token's `kid`
(services.shared.signing_keys). Time claims are strict: numeric `exp`, `iat` and `nbf`, a small
leeway, a maximum lifetime. Tenancy and roles come only from here.
"""

from __future__ import annotations

import contextvars
import math
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from services.shared.errors import Unauthenticated, Unavailable
from services.shared.signing_keys import (
    ASYMMETRIC_ALGORITHMS,
    JwksKeys,
    KeySource,
    KeyUnavailable,
    LocalPublicKeys,
    SharedSecret,
    UnknownKey,
    VerificationKey,
)

EMPLOYEE = "employee"
MANAGER = "manager"
HR_ADMIN = "hr_admin"
AUDITOR = "auditor"
INTEGRATION = "integration"
TENANT_ROLES: frozenset[str] = frozenset({EMPLOYEE, MANAGER, HR_ADMIN, AUDITOR, INTEGRATION})
PLATFORM_OPERATOR = "platform_operator"
"""Runs the platform (rebuilds, content hashes, dead letters) across tenants; reads no tenant's
data. Its tokens hold this role alone and name PLATFORM_TENANT instead of a tenant."""
PLATFORM_TENANT = "*"
ROLES: frozenset[str] = TENANT_ROLES | {PLATFORM_OPERATOR}

ISSUER = "northstar"
AUDIENCE = "northstar"
DEV_SECRET_ENV = "NORTHSTAR_JWT_DEV_SECRET"
DEFAULT_DEV_SECRET = "northstar-dev-secret"
AUTHORIZATION_FIELD = "authorization"
_BEARER_PREFIX = "bearer "
MAX_TOKEN_CHARACTERS = 8192  # larger than any IdP's token; refused before any parsing
MAX_IDENTIFIER_CHARACTERS = 200  # subject and tenant: they end up in stores and logs
VERIFIED_TOKENS_CACHED = 10_000
"""How many verified tokens an Authenticator remembers (least recently used dropped first)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a person (or integration account) acting within one tenant."""

    subject: str
    tenant_id: str
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)

    @property
    def is_platform_operator(self) -> bool:
        return PLATFORM_OPERATOR in self.roles


_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "northstar_principal", default=None
)


def current_principal() -> Principal:
    """The caller of the RPC being served; raises Unauthenticated outside an authenticated call."""
    principal = _current_principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller", field=AUTHORIZATION_FIELD)
    return principal


def set_current_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    """Makes `principal` the caller for the current context (the gRPC layer does this per RPC)."""
    return _current_principal.set(principal)


def reset_current_principal(token: contextvars.Token[Principal | None]) -> None:
    """Restores the caller that was current before `set_current_principal` returned `token`."""
    _current_principal.reset(token)


def mint_dev_token(
    secret: str,
    *,
    subject: str,
    tenant_id: str,
    roles: Iterable[str],
    ttl_seconds: int = 3600,
) -> str:
    """A dev-mode (HS256) token for `subject` in `tenant_id`, valid for `ttl_seconds` from now
    (negative: already expired)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "tenant": tenant_id,
        "roles": sorted(set(roles)),
        "iat": min(now, now + ttl_seconds),
        "nbf": min(now, now + ttl_seconds),
        "exp": now + ttl_seconds,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class TokenRules:
    """What a token must say besides its signature (ServiceSettings carries these)."""

    issuer: str = ISSUER
    audience: str = AUDIENCE
    leeway_seconds: float = 10.0
    """Clock skew tolerated on `exp`, `nbf` and `iat`."""
    max_lifetime_seconds: float = 86_400.0
    """Longest `exp - iat` accepted: a token that (nearly) never expires is refused."""
    require_nbf: bool = True
    """Entra ID and Keycloak send `nbf`; Auth0 and Okta do not (then set this off)."""
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"
    """Claim names: a literal name (e.g. "https://northstar.example/roles") or a dotted path
    into nested objects (e.g. Keycloak's "resource_access.northstar.roles")."""


class Authenticator:
    """Verifies bearer JWTs and turns their claims into a Principal.

    Build it with `Authenticator.dev(secret)` (HS256), `Authenticator.production({kid: pem})`
    (RS256/ES256 local public keys) or `Authenticator.jwks(url)` (an identity provider's key
    set). Every failure raises Unauthenticated(field="authorization") with the specific
    reason, or Unavailable when the key set cannot be fetched at all.

    A verified token is remembered (`VerifiedTokens`) until it expires, so a client that sends
    the same token with every call pays for its signature once. A failure is never remembered,
    and a remembered token is honoured only while its key source still hands out the very key
    that verified it: a retired or replaced key refuses the token at once.
    """

    def __init__(
        self,
        *,
        algorithms: frozenset[str],
        keys: KeySource,
        rules: TokenRules | None = None,
        cache_size: int = VERIFIED_TOKENS_CACHED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._algorithms = algorithms
        self._keys = keys
        self.rules = rules or TokenRules()
        self._clock = clock
        self.verified = VerifiedTokens(cache_size)

    @property
    def fetches_keys_remotely(self) -> bool:
        """True when verifying may block on the network (the caller runs it off the loop)."""
        return self._keys.fetches_remotely

    @classmethod
    def dev(cls, secret: str, rules: TokenRules | None = None) -> Authenticator:
        """Verifies HS256 tokens signed with the shared dev `secret`."""
        return cls(algorithms=frozenset({"HS256"}), keys=SharedSecret(secret), rules=rules)

    @classmethod
    def production(
        cls, public_keys_by_kid: Mapping[str, str | bytes], rules: TokenRules | None = None
    ) -> Authenticator:
        """Verifies RS256 (RSA keys) or ES256 (P-256 keys) tokens against PEM public keys,
        picked by the token header's `kid`. With a single key, tokens without `kid` are
        verified against it."""
        keys = LocalPublicKeys(public_keys_by_kid)
        return cls(algorithms=ASYMMETRIC_ALGORITHMS, keys=keys, rules=rules)

    @classmethod
    def jwks(cls, keys: JwksKeys | str, rules: TokenRules | None = None) -> Authenticator:
        """Verifies RS256/ES256 tokens against the key set an identity provider publishes."""
        source = keys if isinstance(keys, JwksKeys) else JwksKeys(keys)
        return cls(algorithms=ASYMMETRIC_ALGORITHMS, keys=source, rules=rules)

    def authenticate_metadata(
        self, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> Principal:
        """The Principal from gRPC invocation metadata ("authorization: Bearer <jwt>")."""
        for key, value in metadata or ():
            if key.lower() != AUTHORIZATION_FIELD:
                continue
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            if not text.lower().startswith(_BEARER_PREFIX):
                raise Unauthenticated(
                    "authorization metadata must be 'Bearer <token>'", field=AUTHORIZATION_FIELD
                )
            return self.verify(text[len(_BEARER_PREFIX) :].strip())
        raise Unauthenticated("missing bearer token", field=AUTHORIZATION_FIELD)

    def verify(self, token: str) -> Principal:
        """The Principal a token names, once its signature, algorithm and claims check out."""
        if not token:
            raise Unauthenticated("missing bearer token", field=AUTHORIZATION_FIELD)
        if len(token) > MAX_TOKEN_CHARACTERS:
            raise _unauthenticated(f"token is longer than {MAX_TOKEN_CHARACTERS} characters")
        now = self._clock()
        remembered = self.verified.get(token, now)
        if remembered is not None:
            # The same lookup a fresh verification makes: a retired key raises here as it would
            # there, and a key replaced under the same id verifies the token afresh (and fails).
            if self._key_for_header(remembered.kid, remembered.key.algorithm) == remembered.key:
                return remembered.principal
            self.verified.drop(token)
        kid, key = self._key_for(token)
        principal, valid_until = self._verify_with(token, key, now)
        self.verified.put(token, VerifiedToken(principal, kid, key, valid_until))
        return principal

    def _verify_with(self, token: str, key: VerificationKey, now: float) -> tuple[Principal, float]:
        """The token's Principal and the moment it stops being valid, or Unauthenticated."""
        rules = self.rules
        required = ["exp", "iat", "sub", "iss", "aud", *(["nbf"] if rules.require_nbf else [])]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[key.algorithm],
                    issuer=rules.issuer,
                    audience=rules.audience,
                    # Times are checked below: PyJWT accepts any value int() takes ("exp" as
                    # the string "9999999999") and fails on others with non-JWT errors.
                    options={
                        "require": required,
                        "verify_exp": False,
                        "verify_iat": False,
                        "verify_nbf": False,
                    },
                )
        except jwt.InvalidSignatureError as error:
            raise _unauthenticated("bad token signature") from error
        except jwt.InvalidAlgorithmError as error:
            raise _unauthenticated(f"token algorithm is not {key.algorithm}") from error
        except jwt.MissingRequiredClaimError as error:
            raise _unauthenticated(f"token lacks the '{error.claim}' claim") from error
        except jwt.InvalidIssuerError as error:
            raise _unauthenticated(f"token issuer is not '{rules.issuer}'") from error
        except jwt.InvalidAudienceError as error:
            raise _unauthenticated(f"token audience is not '{rules.audience}'") from error
        except jwt.InvalidTokenError as error:
            raise _unauthenticated(_malformed(error)) from error
        expires = _check_times(claims, rules, now)
        return _principal_from(claims, rules), expires + rules.leeway_seconds

    def _key_for(self, token: str) -> tuple[str | None, VerificationKey]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise _unauthenticated(_malformed(error)) from error
        kid = header.get("kid")
        return kid, self._key_for_header(kid, header.get("alg"))

    def _key_for_header(self, kid: Any, algorithm: Any) -> VerificationKey:
        # Checked before any key is chosen so an HS256 token can never be verified with an
        # RSA public key used as an HMAC secret (algorithm confusion).
        if algorithm not in self._algorithms:
            raise _unauthenticated(f"token algorithm {algorithm!r} is not {self._allowed()}")
        if kid is not None and not isinstance(kid, str):
            raise _unauthenticated(f"unknown signing key id {kid!r}")
        try:
            key = self._keys.key_for(kid, algorithm)
        except UnknownKey:
            raise _unauthenticated(f"unknown signing key id {kid!r}") from None
        except KeyUnavailable as error:
            raise Unavailable(str(error), field=AUTHORIZATION_FIELD) from error
        if key.algorithm != algorithm:
            raise _unauthenticated(f"token algorithm {algorithm!r} does not match key {kid!r}")
        return key

    def _allowed(self) -> str:
        return " or ".join(sorted(self._algorithms))


# PyJWT's decoding messages, by prefix, in words a caller can act on: its own text can carry a
# Python codec error ("'utf-8' codec can't decode byte 0xb7 ...").
_DECODING_FAULTS = (
    ("Not enough segments", "it is not three base64url parts separated by dots"),
    ("Invalid header", "its header is not base64url-encoded JSON"),
    ("Invalid payload", "its claims are not base64url-encoded JSON"),
    ("Invalid crypto padding", "its signature is not base64url"),
)


def _malformed(error: jwt.InvalidTokenError) -> str:
    if isinstance(error, jwt.DecodeError):
        text = str(error)
        for prefix, meaning in _DECODING_FAULTS:
            if text.startswith(prefix):
                return f"malformed token ({meaning})"
        return "malformed token (it is not a JWT)"
    return f"malformed token ({error})"


@dataclass(frozen=True)
class VerifiedToken:
    principal: Principal
    kid: str | None
    key: VerificationKey
    valid_until: float
    """`exp` plus the leeway: from then on a fresh verification would say "token expired"."""


class VerifiedTokens:
    """Tokens that verified, by their raw text, each until it expires; at most `size` of them,
    the least recently used dropped first. Safe to share between threads (verification may run
    off the event loop)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._tokens: OrderedDict[str, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, now: float) -> VerifiedToken | None:
        with self._lock:
            found = self._tokens.get(token)
            if found is None:
                return None
            if now > found.valid_until:
                del self._tokens[token]
                return None
            self._tokens.move_to_end(token)
            return found

    def put(self, token: str, verified: VerifiedToken) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._tokens[token] = verified
            self._tokens.move_to_end(token)
            while len(self._tokens) > self.size:
                self._tokens.popitem(last=False)

    def drop(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def __len__(self) -> int:
        return len(self._tokens)


def _unauthenticated(reason: str) -> Unauthenticated:
    return Unauthenticated(reason, field=AUTHORIZATION_FIELD)


def _check_times(claims: Mapping[str, Any], rules: TokenRules, now: float) -> float:
    """Refuses a token outside its time window; returns its `exp`."""
    leeway = rules.leeway_seconds
    expires = _numeric_date(claims, "exp")
    issued = _numeric_date(claims, "iat")
    not_before = _numeric_date(claims, "nbf") if "nbf" in claims else None
    if now > expires + leeway:
        raise _unauthenticated("token expired")
    if issued > now + leeway:
        raise _unauthenticated("token issued in the future ('iat')")
    if not_before is not None and not_before > now + leeway:
        raise _unauthenticated("token not valid yet")
    if expires - issued > rules.max_lifetime_seconds:
        raise _unauthenticated(
            f"token lifetime exceeds the maximum of {rules.max_lifetime_seconds:.0f} s"
        )
    return expires


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    # bool is an int in Python; JSON's true is no date. Python's json also reads Infinity.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _unauthenticated(f"token claim '{name}' is not a number of seconds")
    return float(value)


def claim_at(claims: Mapping[str, Any], name: str) -> Any:
    """The claim called `name`, else the value at its dotted path, else None."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _require_one_kind_of_identity(tenant: str, roles: frozenset[str]) -> None:
    """A token is a tenant's (tenant roles, a real tenant) or the platform's (the operator role
    alone, PLATFORM_TENANT): never both, so operating the platform never grants tenant reads."""
    if PLATFORM_OPERATOR in roles:
        if roles != {PLATFORM_OPERATOR}:
            raise _unauthenticated(f"the {PLATFORM_OPERATOR} role is not combined with other roles")
        if tenant != PLATFORM_TENANT:
            raise _unauthenticated(
                f"a {PLATFORM_OPERATOR} token names tenant {PLATFORM_TENANT!r}, not a tenant"
            )
    elif tenant == PLATFORM_TENANT:
        raise _unauthenticated(f"tenant {PLATFORM_TENANT!r} is for {PLATFORM_OPERATOR} tokens")


def _principal_from(claims: Mapping[str, Any], rules: TokenRules) -> Principal:
    subject = claims.get("sub")
    tenant = claim_at(claims, rules.tenant_claim)
    roles = claim_at(claims, rules.roles_claim)
    for name, value in (("sub", subject), (rules.tenant_claim, tenant)):
        if not isinstance(value, str) or not value:
            raise _unauthenticated(f"token lacks the '{name}' claim")
        if len(value) > MAX_IDENTIFIER_CHARACTERS or not value.isprintable():
            raise _unauthenticated(
                f"token claim '{name}' must be at most {MAX_IDENTIFIER_CHARACTERS} "
                "printable characters"
            )
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise _unauthenticated(f"token lacks the '{rules.roles_claim}' claim (a list of strings)")
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise _unauthenticated(f"token names unknown roles {unknown}")
    _require_one_kind_of_identity(str(tenant), frozenset(roles))
    return Principal(subject=str(subject), tenant_id=str(tenant), roles=frozenset(roles))
