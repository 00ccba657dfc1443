"""The goals domain's vocabulary: levels, lifecycle states and legal transitions, alignment
links (no cycles, no other tenant, no closed target), and the named errors that refuse them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from services.shared.errors import FailedPrecondition, NotFound

LEVELS = ("strategy", "company", "team", "personal")
VISIBILITIES = ("public", "team", "private")
DRAFT, ACTIVE, COMPLETED, CANCELLED, ARCHIVED = (
    "draft",
    "active",
    "completed",
    "cancelled",
    "archived",
)
LIFECYCLES = (DRAFT, ACTIVE, COMPLETED, CANCELLED, ARCHIVED)
# Which lifecycle states each transition may start from; "reopened" is the transition back to
# active, not a resting state of its own.
LEGAL_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "activate": (DRAFT,),
    "complete": (ACTIVE,),
    "cancel": (DRAFT, ACTIVE),
    "archive": (COMPLETED, CANCELLED),
    "reopen": (COMPLETED, CANCELLED),
}
OPEN_LIFECYCLES = (DRAFT, ACTIVE)
CLOSED_LIFECYCLES = (CANCELLED, ARCHIVED)
MAX_TITLE_LENGTH = 200
MAX_TEXT_LENGTH = 4000

ParentLookup = Callable[[UUID], Iterable[UUID]]


class GoalNotActive(FailedPrecondition):
    """The command needs an active (or still open) goal."""

    def __init__(self, reason: str, *, field: str = "status") -> None:
        super().__init__(reason, field=field)


class IllegalTransition(FailedPrecondition):
    """The lifecycle does not allow this transition from the current state."""

    def __init__(self, reason: str, *, field: str = "status") -> None:
        super().__init__(reason, field=field)


class AlignmentCycle(FailedPrecondition):
    """The link would make a goal (indirectly) contribute to itself."""

    def __init__(self, reason: str, *, field: str = "parent_goal_id") -> None:
        super().__init__(reason, field=field)


class AlignmentTargetClosed(FailedPrecondition):
    """Goals cannot be aligned under, or contribute to, a cancelled or archived goal."""


@dataclass(frozen=True)
class AlignmentTarget:
    """What the application knows about a goal that another goal wants to link to."""

    goal_id: UUID
    tenant_id: str
    lifecycle: str


def would_create_cycle(goal_id: UUID, new_parent_id: UUID, parent_of: ParentLookup) -> bool:
    """True when linking `goal_id` up to `new_parent_id` closes a loop.

    `parent_of(g)` returns g's primary parent and its contributes-to targets: a loop through
    contribution links is refused as well as one through primary parents.
    """
    seen: set[UUID] = set()
    pending = [new_parent_id]
    while pending:
        current = pending.pop()
        if current == goal_id:
            return True
        if current not in seen:
            seen.add(current)
            pending.extend(parent_of(current))
    return False


def check_alignment_target(tenant_id: str, target: AlignmentTarget, field: str) -> None:
    """Links stay within a tenant and never point at a cancelled or archived goal."""
    if target.tenant_id != tenant_id:
        # Another tenant's goal must look exactly like a missing one.
        raise NotFound(f"goal {target.goal_id} not found", field=field)
    if target.lifecycle in CLOSED_LIFECYCLES:
        raise AlignmentTargetClosed(f"goal {target.goal_id} is {target.lifecycle}", field=field)
