"""The web application: routes, security headers, and the gRPC backend's lifetime."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from webapp import pages
from webapp.backend import Backend
from webapp.session import Sessions

STATIC = Path(__file__).parent / "static"
# Pages load only their own stylesheet and script; no inline script, no frames, no referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exception:
        exception.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def create_app(
    *, grpc_host: str, grpc_base_port: int, dev_secret: str, tenant: str, signing_key: bytes = b""
) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[pages.SESSIONS] = Sessions(signing_key or secrets.token_bytes(32))

    async def backend_lifetime(app: web.Application) -> AsyncIterator[None]:
        app[pages.BACKEND] = Backend(grpc_host, grpc_base_port, dev_secret, tenant)
        yield
        await app[pages.BACKEND].close()

    app.cleanup_ctx.append(backend_lifetime)
    app.router.add_get("/", pages.home)
    app.router.add_get("/login", pages.login_page)
    app.router.add_post("/login", pages.log_in)
    app.router.add_post("/logout", pages.log_out)
    app.router.add_get("/alignment", pages.alignment_page)
    app.router.add_get("/goals/{goal_id}", pages.goal_page)
    app.router.add_get("/kpis", pages.kpi_page)
    app.router.add_get("/feedback", pages.my_feedback)
    app.router.add_get("/people/{person_id}/feedback", pages.person_feedback_page)
    app.router.add_static("/static", STATIC)
    return app
