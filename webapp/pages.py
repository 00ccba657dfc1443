"""The pages: dev login, alignment tree, a goal, the KPI scoreboard. GET only reads; the two
POSTs (log in, log out) carry a CSRF token."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from northstar_cli import tree as alignment
from services.shared.auth import ROLES
from webapp import feedback_page, history
from webapp.backend import Backend, suggested_role
from webapp.render import render
from webapp.session import CSRF_FIELD, Sessions, Visitor, csrf_ok, csrf_token

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NOTE_READERS = {"hr_admin", "auditor"}

BACKEND = web.AppKey("backend", Backend)
SESSIONS = web.AppKey("sessions", Sessions)


def visitor_of(request: web.Request) -> Visitor:
    visitor = request.app[SESSIONS].visitor(request)
    if visitor is None:
        raise web.HTTPSeeOther("/login")
    return visitor


async def login_page(request: web.Request) -> web.StreamResponse:
    backend = request.app[BACKEND]
    people = await backend.people()
    choices = [(person, suggested_role(person)) for person in people]
    return render(
        request,
        "login.html",
        people=choices,
        roles=sorted(ROLES),
        tenant=backend.tenant,
        visitor=request.app[SESSIONS].visitor(request),
        csrf=csrf_token(request),
    )


async def log_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not csrf_ok(request, str(form.get(CSRF_FIELD, ""))):
        raise web.HTTPForbidden(text="The form expired; reload the login page and try again.")
    subject = str(form.get("person", "")).strip()
    role = str(form.get("role", ""))
    tenant = str(form.get("tenant", "")).strip() or request.app[BACKEND].tenant
    if not subject or len(subject) > 128 or role not in ROLES:
        raise web.HTTPBadRequest(text="Pick a person and one of the roles.")
    response = web.HTTPSeeOther("/alignment")
    request.app[SESSIONS].log_in(response, Visitor(subject, tenant, (role,)))
    raise response


async def log_out(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    if not csrf_ok(request, str(form.get(CSRF_FIELD, ""))):
        raise web.HTTPForbidden(text="The form expired; reload the page and try again.")
    response = web.HTTPSeeOther("/login")
    Sessions.log_out(response)
    raise response


def _date_filter(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    return value if DATE.match(value) else ""


async def alignment_page(request: web.Request) -> web.StreamResponse:
    visitor, backend = visitor_of(request), request.app[BACKEND]
    team = request.query.get("team", "")[:128]
    period_from, period_to = _date_filter(request, "from"), _date_filter(request, "to")
    filters = {"team_id": team, "period_start": period_from, "period_end": period_to}
    tree, summary, everything = await asyncio.gather(
        backend.alignment_tree(
            projections_pb2.GetAlignmentTreeRequest(
                team_id=team, period_start=period_from, period_end=period_to
            ),
            visitor,
        ),
        backend.call(
            "projections",
            backend.projections.GetAlignmentSummary,
            projections_pb2.GetAlignmentSummaryRequest(page_size=500, **filters),
            visitor,
        ),
        backend.alignment_tree(projections_pb2.GetAlignmentTreeRequest(), visitor),
    )
    orphan_ids = [node.goal_id for node in summary.value.orphan_goals] if summary.value else []
    roots = alignment.nest(tree.value.nodes, orphan_ids) if tree.value else []
    teams = sorted(
        {n.team_id for n in everything.value.nodes if n.team_id} if everything.value else set()
    )
    return render(
        request,
        "alignment.html",
        visitor=visitor,
        roots=roots,
        tree=tree.value,
        summary=summary.value,
        error=tree.error or summary.error,
        teams=teams,
        team=team,
        period_from=period_from,
        period_to=period_to,
        csrf=csrf_token(request),
    )


def as_of_instant(value: str) -> str:
    """The page's "as of" field (a datetime-local value, read as UTC) as RFC 3339. A value that
    is no date and time is passed on as typed, so the service refuses it naming `as_of` and the
    page says so, rather than quietly showing the goal as it is now."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return parsed.replace(tzinfo=parsed.tzinfo or UTC).astimezone(UTC).isoformat()


async def goal_page(request: web.Request) -> web.StreamResponse:
    visitor, backend = visitor_of(request), request.app[BACKEND]
    goal_id = request.match_info["goal_id"]
    if not UUID.match(goal_id):
        raise web.HTTPNotFound(text="No such goal.")
    at_field = request.query.get("at", "")[:32]
    at = as_of_instant(at_field) if at_field else ""
    stub = backend.projections
    goal, path, contributors, trail, verified = await asyncio.gather(
        backend.call(
            "goals", backend.goals.GetGoal, goals_pb2.GetGoalRequest(goal_id=goal_id), visitor
        ),
        backend.call(
            "projections",
            stub.GetGoalPath,
            projections_pb2.GetGoalPathRequest(goal_id=goal_id),
            visitor,
        ),
        backend.call(
            "projections",
            stub.ListContributors,
            projections_pb2.ListContributorsRequest(goal_id=goal_id, page_size=500),
            visitor,
        ),
        backend.call(
            "projections",
            stub.GetGoalHistory,
            projections_pb2.GetGoalHistoryRequest(goal_id=goal_id, page_size=500),
            visitor,
        ),
        backend.call(
            "projections",
            stub.VerifyHistory,
            projections_pb2.VerifyHistoryRequest(aggregate_id=goal_id),
            visitor,
        ),
    )
    if goal.value is None and goal.error is not None and goal.error.code == "NOT_FOUND":
        return render(
            request,
            "missing.html",
            visitor=visitor,
            error=goal.error,
            csrf=csrf_token(request),
            status=404,
        )
    as_of = None
    if at:
        as_of = await backend.call(
            "projections",
            stub.GetGoalAsOf,
            projections_pb2.GetGoalAsOfRequest(goal_id=goal_id, as_of=at),
            visitor,
        )
    entries = list(trail.value.entries) if trail.value else []
    notes = await _notes(backend, visitor, goal_id) if set(visitor.roles) & NOTE_READERS else None
    as_of_state = json.loads(as_of.value.state_json) if as_of and as_of.value else None
    return render(
        request,
        "goal.html",
        visitor=visitor,
        goal=goal.value,
        goal_error=goal.error,
        path=path.value,
        contributors=contributors.value,
        contributors_error=contributors.error,
        entries=entries,
        trail_error=trail.error,
        points=history.check_ins(entries),
        notes=notes,
        verified=verified.value,
        verify_error=verified.error,
        at_field=at_field,
        at=at,
        as_of=as_of.value if as_of else None,
        as_of_error=as_of.error if as_of else None,
        as_of_state=as_of_state,
        as_of_progress=history.own_progress(as_of_state) if as_of_state else None,
        entry_words=history.entry_words,
        csrf=csrf_token(request),
    )


async def _notes(backend: Backend, visitor: Visitor, goal_id: str) -> dict[int, str]:
    """Check-in notes by version: only the audit export carries them (HR admins, auditors)."""
    exported = await backend.export_text(
        projections_pb2.ExportHistoryRequest(
            aggregate_id=goal_id, format=projections_pb2.EXPORT_FORMAT_JSONL
        ),
        visitor,
    )
    notes: dict[int, str] = {}
    for line in (exported.value or "").splitlines():
        entry: dict[str, Any] = json.loads(line)
        note = (entry.get("data") or {}).get("note")
        if note:
            notes[int(entry["version"])] = str(note)
    return notes


async def kpi_page(request: web.Request) -> web.StreamResponse:
    visitor, backend = visitor_of(request), request.app[BACKEND]
    board = await backend.call(
        "projections",
        backend.projections.ListKpiScoreboard,
        projections_pb2.ListKpiScoreboardRequest(page_size=100),
        visitor,
    )
    return render(
        request,
        "kpis.html",
        visitor=visitor,
        kpis=list(board.value.kpis) if board.value else [],
        error=board.error,
        csrf=csrf_token(request),
    )


async def person_feedback_page(request: web.Request) -> web.StreamResponse:
    visitor = visitor_of(request)
    return await feedback_page.feedback_page(request, request.app[BACKEND], visitor)


async def my_feedback(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(f"/people/{visitor_of(request).subject}/feedback")


async def home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/alignment")
