"""Who is calling: bearer-JWT verification and the per-request Principal.

Dev mode signs and verifies HS256 with a local secret; production verifies RS256 against
configured public keys chosen by the token's `kid`. Tenancy and roles come only from here.
"""

from __future__ import annotations

import contextvars
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from services.shared.errors import Unauthenticated

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
_ANY_KID = ""  # a key registered under this id verifies tokens whatever their `kid`


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
    """A dev-mode (HS256) token for `subject` in `tenant_id`, valid for `ttl_seconds`."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "tenant": tenant_id,
        "roles": sorted(set(roles)),
        "iat": now,
        "exp": now + ttl_seconds,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


class Authenticator:
    """Verifies bearer JWTs and turns their claims into a Principal.

    Build it with `Authenticator.dev(secret)` (HS256) or
    `Authenticator.production({kid: public_key_pem, ...})` (RS256). Every failure raises
    Unauthenticated(field="authorization") with the specific reason.
    """

    def __init__(
        self,
        *,
        algorithm: str,
        keys: Mapping[str, str | bytes],
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        leeway_seconds: float = 0,
    ) -> None:
        if not keys:
            raise ValueError("an Authenticator needs at least one verification key")
        self._algorithm = algorithm
        self._keys = dict(keys)
        self._issuer = issuer
        self._audience = audience
        self._leeway_seconds = leeway_seconds

    @classmethod
    def dev(cls, secret: str, **checks: Any) -> Authenticator:
        """Verifies HS256 tokens signed with the shared dev `secret`."""
        return cls(algorithm="HS256", keys={_ANY_KID: secret}, **checks)

    @classmethod
    def production(
        cls, public_keys_by_kid: Mapping[str, str | bytes], **checks: Any
    ) -> Authenticator:
        """Verifies RS256 tokens against PEM public keys, picked by the token header's `kid`.

        With a single key, tokens without a `kid` are verified against it.
        """
        return cls(algorithm="RS256", keys=public_keys_by_kid, **checks)

    def authenticate_metadata(
        self, metadata: Iterable[tuple[str, str | bytes]] | None
    ) -> Principal:
        """The Principal from gRPC invocation metadata ("authorization: Bearer <jwt>")."""
        for key, value in metadata or ():
            if key.lower() != AUTHORIZATION_FIELD:
                continue
            text = value.decode() if isinstance(value, bytes) else value
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
        key = self._key_for(token)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[self._algorithm],
                    issuer=self._issuer,
                    audience=self._audience,
                    leeway=self._leeway_seconds,
                    options={"require": ["exp", "sub", "iss", "aud"]},
                )
        except jwt.ExpiredSignatureError as error:
            raise _unauthenticated("token expired") from error
        except jwt.InvalidSignatureError as error:
            raise _unauthenticated("bad token signature") from error
        except jwt.InvalidAlgorithmError as error:
            raise _unauthenticated(f"token algorithm is not {self._algorithm}") from error
        except jwt.MissingRequiredClaimError as error:
            raise _unauthenticated(f"token lacks the '{error.claim}' claim") from error
        except jwt.InvalidIssuerError as error:
            raise _unauthenticated(f"token issuer is not '{self._issuer}'") from error
        except jwt.InvalidAudienceError as error:
            raise _unauthenticated(f"token audience is not '{self._audience}'") from error
        except jwt.ImmatureSignatureError as error:
            raise _unauthenticated("token not valid yet") from error
        except jwt.InvalidTokenError as error:
            raise _unauthenticated(f"malformed token ({error})") from error
        return _principal_from(claims)

    def _key_for(self, token: str) -> str | bytes:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise _unauthenticated(f"malformed token ({error})") from error
        # Checked before any key is chosen so an HS256 token can never be verified with an
        # RSA public key used as an HMAC secret (algorithm confusion).
        if header.get("alg") != self._algorithm:
            raise _unauthenticated(
                f"token algorithm {header.get('alg')!r} is not {self._algorithm}"
            )
        if _ANY_KID in self._keys:
            return self._keys[_ANY_KID]
        if len(self._keys) == 1 and "kid" not in header:
            return next(iter(self._keys.values()))
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise _unauthenticated(f"unknown signing key id {kid!r}")
        return self._keys[kid]


def _unauthenticated(reason: str) -> Unauthenticated:
    return Unauthenticated(reason, field=AUTHORIZATION_FIELD)


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


def _principal_from(claims: Mapping[str, Any]) -> Principal:
    subject = claims.get("sub")
    tenant = claims.get("tenant")
    roles = claims.get("roles")
    if not isinstance(subject, str) or not subject:
        raise _unauthenticated("token lacks the 'sub' claim")
    if not isinstance(tenant, str) or not tenant:
        raise _unauthenticated("token lacks the 'tenant' claim")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise _unauthenticated("token lacks the 'roles' claim (a list of strings)")
    unknown = sorted(set(roles) - ROLES)
    if unknown:
        raise _unauthenticated(f"token names unknown roles {unknown}")
    _require_one_kind_of_identity(tenant, frozenset(roles))
    return Principal(subject=subject, tenant_id=tenant, roles=frozenset(roles))
