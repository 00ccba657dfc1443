"""Argument types the commands share: dates, instants, goal references, page walking."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import typer

from northstar.goals.v1 import goals_pb2
from northstar_cli.client import Session

UUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAGE_SIZE = 500

M = TypeVar("M")


def iso_date(value: str | None) -> str | None:
    """A "YYYY-MM-DD" option value, checked (typer callback)."""
    if value is None or value == "":
        return value
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD") from None


def instant(value: str | None) -> str | None:
    """An instant as RFC 3339 UTC: a date means the end of that day (UTC), as it was that day."""
    if value is None or value == "":
        return value
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day, time(23, 59, 59), UTC).isoformat()
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date or time; write YYYY-MM-DD or 2026-03-01T12:00:00+00:00"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def confidence(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise typer.BadParameter(f"{value:g} is not between 0 and 1 (e.g. 0.7 for 70 %)")
    return value


def all_pages(fetch: Callable[[str], Any], items: Callable[[Any], list[M]]) -> Iterator[M]:
    """Every item over every page of a paged query (`fetch(page_token)` answers one page)."""
    token = ""
    while True:
        page = fetch(token)
        yield from items(page)
        token = page.next_page_token
        if not token:
            return


def list_goals(
    session: Session, request: goals_pb2.ListGoalsRequest | None = None
) -> list[goals_pb2.Goal]:
    base = request or goals_pb2.ListGoalsRequest()

    def fetch(token: str) -> goals_pb2.ListGoalsResponse:
        page_request = goals_pb2.ListGoalsRequest()
        page_request.CopyFrom(base)
        page_request.page_size, page_request.page_token = PAGE_SIZE, token
        return session.call("goals", session.goals().ListGoals, page_request)

    return list(all_pages(fetch, lambda page: list(page.goals)))


def resolve_goal(session: Session, reference: str) -> str:
    """A goal id from an id, a unique id prefix or a unique part of a title."""
    reference = reference.strip()
    if UUID_PATTERN.match(reference):
        return reference
    goals = list_goals(session)
    by_prefix = [goal for goal in goals if goal.id.startswith(reference.lower())]
    if len(by_prefix) == 1:
        return by_prefix[0].id
    needle = reference.casefold()
    by_title = [goal for goal in goals if needle in goal.title.casefold()]
    exact = [goal for goal in by_title if goal.title.casefold() == needle]
    matches = exact or by_title
    if len(matches) == 1:
        return matches[0].id
    if not matches and not by_prefix:
        raise typer.BadParameter(
            f"no goal you can see has the id or a title containing {reference!r}",
            param_hint="GOAL",
        )
    names = ", ".join(f"{goal.id[:8]} {goal.title!r}" for goal in (matches or by_prefix)[:5])
    raise typer.BadParameter(
        f"{reference!r} names several goals ({names}); give more of the id", param_hint="GOAL"
    )
