"""Read-side views of goals inside the goals service: progress rolled up from aligned goals,
expected progress, status and the SMART assessment, all computed by the domain's own rules;
pages of the goals a caller may see, and SMART summaries per team."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import cast
from uuid import UUID

from northstar_contracts.progress import rollup_progress
from services.goals.application import GoalsApplication
from services.goals.goal import Goal
from services.goals.index import GoalIndex, IndexedGoal
from services.goals.rules import ACTIVE, COMPLETED, DRAFT
from services.goals.smart import (
    SmartAssessment,
    SmartSummary,
    assess_smart,
    summarise_smart_by_team,
)
from services.shared.canonical import canonical_json
from services.shared.errors import InvalidArgument, NotFound
from services.shared.validation import reject_control_characters


@dataclass(frozen=True)
class GoalView:
    goal: Goal
    progress: float
    expected_progress: float
    status: str
    smart: SmartAssessment


def descendants_graph(
    app: GoalsApplication, index: GoalIndex, root: Goal, moment: datetime | None = None
) -> tuple[dict[UUID, Goal], dict[UUID, list[tuple[UUID, float]]]]:
    """Every goal below `root` (primary children and contributors) and the child lists: now,
    or with `moment` as each goal was linked and stood at that moment."""
    goals: dict[UUID, Goal] = {root.id: root}
    children_of: dict[UUID, list[tuple[UUID, float]]] = {}
    pending = [root.id]
    while pending:
        goal_id = pending.pop()
        children = _children(app, index, root.tenant_id, goal_id, moment)
        if children:
            children_of[goal_id] = [(child.id, weight) for child, weight in children]
        for child, _weight in children:
            if child.id not in goals:
                goals[child.id] = child
                pending.append(child.id)
    # A child the tenant cannot see (or that vanished) contributes nothing.
    children_of = {
        goal_id: [(c, w) for c, w in children if c in goals]
        for goal_id, children in children_of.items()
    }
    return goals, children_of


def _children(
    app: GoalsApplication, index: GoalIndex, tenant_id: str, goal_id: UUID, moment: datetime | None
) -> list[tuple[Goal, float]]:
    if moment is None:
        found = []
        for child_id, weight in index.children_of(goal_id):
            child: object = app.repository.get(child_id)
            if isinstance(child, Goal) and child.tenant_id == tenant_id:
                found.append((child, weight))
        return found
    then = []
    for child_id in index.children_ever(goal_id):
        try:
            past = app.get_goal(tenant_id, child_id, as_of=moment)
        except NotFound:  # did not exist then (or is another tenant's)
            continue
        link = 1.0 if past.parent_goal_id == goal_id else past.contributions.get(goal_id)
        if link:
            then.append((past, float(link)))
    return then


def rolled_up_progress(
    app: GoalsApplication, index: GoalIndex, goal: Goal, moment: datetime | None = None
) -> float:
    """The goal's progress with its aligned goals: now from the index's rows (one query), with
    `moment` from each goal as it stood then (loaded from the event store)."""
    if not goal.driven_by_children:
        return goal.progress()  # its own measure: what is below it does not count
    if moment is None:
        return indexed_roll_up(index, goal)
    goals, children_of = descendants_graph(app, index, goal, moment)
    own = {goal_id: g.own_progress() for goal_id, g in goals.items()}
    progress = rollup_progress(
        [goal.id],
        {goal_id: value for goal_id, value in own.items() if value is not None},
        children_of,
        measured_by_own={goal_id for goal_id, g in goals.items() if not g.driven_by_children},
    )
    return progress[goal.id]


def indexed_roll_up(index: GoalIndex, goal: Goal) -> float:
    """The roll-up over the index's rows of the goals below `goal` (the goal itself as in hand,
    which its just-saved row equals); the maths are northstar_contracts.progress's."""
    children_of: dict[str, list[tuple[str, float]]] = {}
    own: dict[str, float] = {}
    for parent_id, child_id, weight, child_own, child_driven in index.roll_up_links(
        goal.tenant_id, goal.id
    ):
        children_of.setdefault(parent_id, []).append((child_id, weight))
        if not child_driven:
            own[child_id] = child_own or 0.0
    root = str(goal.id)
    # The goal is driven by its children: the walk starts from its links whatever its row says.
    own.pop(root, None)
    # The roll-up only hashes and orders the ids: their text (as the index holds them) serves
    # as well as UUIDs, and orders the same way.
    progress = rollup_progress(
        [cast(UUID, root)],
        cast(Mapping[UUID, float], own),
        cast(Mapping[UUID, Sequence[tuple[UUID, float]]], children_of),
        measured_by_own=cast(Collection[UUID], own.keys()),
    )
    return progress[cast(UUID, root)]


def goal_view(
    app: GoalsApplication,
    index: GoalIndex,
    goal: Goal,
    today: date,
    moment: datetime | None = None,
) -> GoalView:
    """The goal's view; with `moment` (a past version or time) its roll-up uses its aligned
    goals as they stood at that moment, not as they are today."""
    progress = rolled_up_progress(app, index, goal, moment)
    return GoalView(
        goal=goal,
        progress=progress,
        expected_progress=goal.expected_progress(today),
        status=goal.status(today, progress=progress),
        smart=assess_smart(goal, index.ancestor_levels(goal)),
    )


# ---- lists and summaries over the index, keeping only what the caller may see ----

SCAN_BATCH = 200
SUMMARISED_LIFECYCLES = (DRAFT, ACTIVE, COMPLETED)


@dataclass(frozen=True)
class GoalFilter:
    owner_id: str = ""
    team_id: str = ""
    period_start: date | None = None
    period_end: date | None = None

    def __post_init__(self) -> None:
        # The ids reach the index's SQL as parameters: PostgreSQL refuses NUL in text, which
        # would surface as an internal error instead of the caller's mistake.
        reject_control_characters(self.owner_id, "owner_id")
        reject_control_characters(self.team_id, "team_id")
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise InvalidArgument("must not be after period_end", field="period_start")

    def fingerprint(self) -> str:
        text = canonical_json(
            [self.owner_id, self.team_id, str(self.period_start), str(self.period_end)]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_page_token(after_goal_id: str, goal_filter: GoalFilter) -> str:
    text = canonical_json({"after": after_goal_id, "filter": goal_filter.fingerprint()})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


MAX_PAGE_TOKEN_LENGTH = 200
"""A token we issue is about 110 characters; anything much longer was not issued by us."""
_PAGE_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_PAGE_TOKEN_LENGTH}}}")
_GOAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
_MALFORMED_PAGE_TOKEN = "is not a well-formed page token; pass next_page_token on unchanged"


def decode_page_token(token: str, goal_filter: GoalFilter) -> str:
    """The goal id a page starts after; a malformed token, or one of other filters, is refused.

    Tokens are not signed: a hand-made token that names the request's own filters is accepted,
    and it can only move the start of the scan, whose every goal still passes the caller's
    visibility check, so it shows nothing the caller could not list anyway. Every part is
    checked against the exact shape we issue (length, alphabet, JSON object of two strings),
    so no hand-made token reaches a parser that could fail in another way.
    """
    if not token:
        return ""
    if not _PAGE_TOKEN.fullmatch(token):
        raise InvalidArgument(_MALFORMED_PAGE_TOKEN, field="page_token")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InvalidArgument(_MALFORMED_PAGE_TOKEN, field="page_token") from None
    after = data.get("after") if isinstance(data, dict) else None
    fingerprint = data.get("filter") if isinstance(data, dict) else None
    if not (
        isinstance(after, str)
        and isinstance(fingerprint, str)
        and _GOAL_ID.fullmatch(after)
        and _FINGERPRINT.fullmatch(fingerprint)
    ):
        raise InvalidArgument(_MALFORMED_PAGE_TOKEN, field="page_token")
    if fingerprint != goal_filter.fingerprint():
        raise InvalidArgument(
            "was issued for other filters; repeat the first request's filters", field="page_token"
        )
    return after


def visible_goals_page(
    app: GoalsApplication,
    index: GoalIndex,
    tenant_id: str,
    goal_filter: GoalFilter,
    may_view: Callable[[Goal], bool],
    *,
    after_goal_id: str,
    page_size: int,
) -> tuple[list[Goal], str]:
    """Up to `page_size` goals the caller may see, in id order, and the id to continue after
    ('' when no goal is left)."""
    page: list[Goal] = []
    after = after_goal_id
    while True:
        rows = _rows(index, tenant_id, goal_filter, after, SCAN_BATCH)
        for row in rows:
            if len(page) == page_size:
                return page, after
            goal = app.get_goal(tenant_id, row.goal_id)
            after = str(row.goal_id)
            if may_view(goal):
                page.append(goal)
        if len(rows) < SCAN_BATCH:
            return page, ""


def smart_summaries(
    app: GoalsApplication,
    index: GoalIndex,
    tenant_id: str,
    goal_filter: GoalFilter,
    may_view: Callable[[Goal], bool],
) -> dict[str, SmartSummary]:
    """Per team, how many of its live goals (draft, active, completed) hold each letter."""
    assessed: list[tuple[str, SmartAssessment]] = []
    after = ""
    while True:
        rows = _rows(index, tenant_id, goal_filter, after, SCAN_BATCH, SUMMARISED_LIFECYCLES)
        for row in rows:
            goal = app.get_goal(tenant_id, row.goal_id)
            if may_view(goal):
                assessed.append((goal.team_id, assess_smart(goal, index.ancestor_levels(goal))))
        if len(rows) < SCAN_BATCH:
            return summarise_smart_by_team(assessed)
        after = str(rows[-1].goal_id)


def _rows(
    index: GoalIndex,
    tenant_id: str,
    goal_filter: GoalFilter,
    after: str,
    limit: int,
    lifecycles: tuple[str, ...] = (),
) -> list[IndexedGoal]:
    return index.list_goals(
        tenant_id,
        owner_id=goal_filter.owner_id,
        team_id=goal_filter.team_id,
        period_start=goal_filter.period_start,
        period_end=goal_filter.period_end,
        lifecycles=lifecycles,
        after_goal_id=after,
        limit=limit,
    )
