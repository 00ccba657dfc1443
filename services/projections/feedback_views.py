"""Queries of the feedback activity view: per person (or every member of a team) and period,
feedback given and received, requests answered, the last 1:1 and overdue 1:1s, the feedback
items themselves and the recognition feed, each through the same visibility rule as the
feedback service (services.shared.feedback_visibility)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from services.projections.feedback_activity import FeedbackTables
from services.shared.feedback_visibility import (
    HISTORY_READERS,
    PUBLIC,
    Access,
    FeedbackFacts,
    Viewer,
    access,
)
from services.shared.readmodel import ReadModelDatabase

ViewerFor = Callable[[str], Viewer]
"""The caller as a viewer of feedback to one recipient (knows whether they manage them)."""
Manages = Callable[[str], bool]
"""Whether the caller is in the person's management chain (1:1 facts are theirs to see)."""


@dataclass(frozen=True)
class ActivityItem:
    feedback_id: str
    giver_id: str
    recipient_id: str
    kind: str
    visibility: str
    goal_id: str
    values: list[str]
    text: str
    given_at: str
    retracted: bool
    access: Access


@dataclass(frozen=True)
class PersonActivity:
    person_id: str
    given: int
    received: int
    requests_answered: int
    last_one_on_one: str
    overdue_one_on_ones: int


@dataclass(frozen=True)
class Activity:
    people: list[PersonActivity]
    items: list[ActivityItem]
    recognition: list[ActivityItem]


def _in_period(moment: str, start: date | None, end: date | None) -> bool:
    day = date.fromisoformat(moment[:10])
    return (start is None or day >= start) and (end is None or day <= end)


def activity(
    db: ReadModelDatabase,
    tables: FeedbackTables,
    *,
    tenant_id: str,
    people: Sequence[str],
    start: date | None,
    end: date | None,
    viewer_for: ViewerFor,
    sees_one_on_ones_of: Manages,
) -> Activity:
    wanted = set(people)
    marks = ", ".join("?" for _ in people) or "''"
    with db.snapshot() as tx:
        rows = tx.execute(
            f"SELECT feedback_id, giver_id, recipient_id, kind, visibility, goal_id, values_json, "
            f"text, given_at, retracted FROM {tables.items} WHERE tenant_id = ? AND "
            f"(giver_id IN ({marks}) OR recipient_id IN ({marks})) ORDER BY given_at DESC, "
            "feedback_id",
            (tenant_id, *people, *people),
        )
        answers = tx.execute(
            f"SELECT reviewer_id, answered_at FROM {tables.answers} WHERE tenant_id = ? "
            f"AND reviewer_id IN ({marks})",
            (tenant_id, *people),
        )
        meetings = tx.execute(
            f"SELECT one_on_one_id, manager_id, report_id, last_held_on FROM {tables.one_on_ones}"
            f" WHERE tenant_id = ? AND (manager_id IN ({marks}) OR report_id IN ({marks}))",
            (tenant_id, *people, *people),
        )
        overdue = tx.execute(
            f"SELECT one_on_one_id, slot FROM {tables.overdue} WHERE tenant_id = ?", (tenant_id,)
        )
    items: list[ActivityItem] = []
    for row in rows:
        facts = FeedbackFacts(tenant_id, row[1], row[2], row[4], bool(row[9]))
        level = access(viewer_for(row[2]), facts)
        if level is Access.NONE or not _in_period(row[8], start, end):
            continue
        text = row[7] if level is Access.FULL and row[4] == PUBLIC else ""
        items.append(
            ActivityItem(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                json.loads(row[6]),
                text,
                row[8],
                bool(row[9]),
                level,
            )
        )
    overdue_by_meeting: dict[str, list[str]] = {}
    for one_on_one_id, slot in overdue:
        overdue_by_meeting.setdefault(one_on_one_id, []).append(slot)
    summaries = []
    for person in sorted(wanted):
        visible_meetings = (
            [m for m in meetings if person in (m[1], m[2])] if sees_one_on_ones_of(person) else []
        )
        summaries.append(
            PersonActivity(
                person_id=person,
                given=sum(1 for i in items if i.giver_id == person),
                received=sum(1 for i in items if i.recipient_id == person),
                requests_answered=sum(
                    1
                    for reviewer, at in answers
                    if reviewer == person and _in_period(at, start, end)
                ),
                last_one_on_one=max((m[3] for m in visible_meetings), default=""),
                overdue_one_on_ones=sum(
                    1
                    for m in visible_meetings
                    for slot in overdue_by_meeting.get(m[0], [])
                    if _in_period(slot, start, end)
                ),
            )
        )
    recognition = [
        i
        for i in items
        if i.kind == "praise"
        and i.visibility == PUBLIC
        and not i.retracted
        and i.recipient_id in wanted
    ]
    return Activity(summaries, items, recognition)


def sees_one_on_ones(viewer: Viewer, person_id: str, chain: Sequence[str]) -> bool:
    """A person's 1:1 facts (when, how often missed) are for them, their managers above them,
    and the roles that read the audit history."""
    return (
        viewer.subject == person_id
        or viewer.subject in chain
        or bool(viewer.roles & HISTORY_READERS)
    )
