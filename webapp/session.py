"""Dev login sessions and CSRF protection for the web pages.

The session cookie holds who the visitor is (person, tenant, roles), signed with HMAC so it
cannot be forged; the bearer token is minted per request on the server and never leaves it
(never in a URL, a page or a cookie). Every state-changing request (log in, log out) is a POST
that must carry the CSRF token of the visitor's `ns_csrf` cookie (double submit); both cookies
are SameSite=Strict and HttpOnly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from aiohttp import web

SESSION_COOKIE = "ns_session"
CSRF_COOKIE = "ns_csrf"
CSRF_FIELD = "csrf"
MAX_AGE_SECONDS = 8 * 3600


@dataclass(frozen=True)
class Visitor:
    subject: str
    tenant: str
    roles: tuple[str, ...]


class Sessions:
    def __init__(self, signing_key: bytes) -> None:
        self._key = signing_key

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def visitor(self, request: web.Request) -> Visitor | None:
        cookie = request.cookies.get(SESSION_COOKIE, "")
        encoded, _, signature = cookie.partition(".")
        if not encoded or not signature:
            return None
        try:
            payload = base64.urlsafe_b64decode(encoded.encode())
        except ValueError:
            return None
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            raw = json.loads(payload)
            return Visitor(str(raw["sub"]), str(raw["tenant"]), tuple(map(str, raw["roles"])))
        except (ValueError, KeyError, TypeError):
            return None

    def log_in(self, response: web.StreamResponse, visitor: Visitor) -> None:
        payload = json.dumps(
            {"sub": visitor.subject, "tenant": visitor.tenant, "roles": list(visitor.roles)}
        ).encode()
        value = base64.urlsafe_b64encode(payload).decode() + "." + self._sign(payload)
        _set_cookie(response, SESSION_COOKIE, value)

    @staticmethod
    def log_out(response: web.StreamResponse) -> None:
        response.del_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: web.Request) -> str:
    """The visitor's CSRF token (an existing cookie's, or a new one `remember_csrf` stores)."""
    existing = request.cookies.get(CSRF_COOKIE, "")
    if len(existing) == 43:
        return existing
    token: str = request.get("new_csrf") or secrets.token_urlsafe(32)
    request["new_csrf"] = token
    return token


def remember_csrf(request: web.Request, response: web.StreamResponse) -> None:
    if "new_csrf" in request:
        _set_cookie(response, CSRF_COOKIE, request["new_csrf"])


def csrf_ok(request: web.Request, submitted: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and bool(submitted) and hmac.compare_digest(cookie, submitted)


def _set_cookie(response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name, value, path="/", httponly=True, samesite="Strict", max_age=MAX_AGE_SECONDS
    )
