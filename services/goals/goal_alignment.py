"""The Goal's alignment commands: its primary parent and weighted contributes-to links."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from services.goals.goal_state import GoalState
from services.goals.goal_values import (
    require_actor,
    require_reason,
)
from services.goals.metrics import (
    require_finite,
    require_text,
)
from services.goals.rules import (
    MAX_TEXT_LENGTH,
    AlignmentCycle,
    AlignmentTarget,
    ParentLookup,
    check_alignment_target,
    would_create_cycle,
)
from services.shared.errors import InvalidArgument, NotFound


class AlignmentCommands(GoalState):
    """Links a goal into the alignment tree, refusing cycles and cross-tenant links."""

    # ---- alignment ----

    def align(
        self,
        parent_goal_id: UUID,
        reason: str,
        by: str,
        *,
        parent: AlignmentTarget | None = None,
        parent_of: ParentLookup | None = None,
    ) -> None:
        """Make `parent_goal_id` the primary parent; a realignment needs a reason.

        `parent` (the parent's tenant and lifecycle) and `parent_of` (links of other goals)
        come from the application; when given, cross-tenant links, closed parents and cycles
        are refused here.
        """
        self._require_open("aligned")
        if not isinstance(parent_goal_id, UUID):
            raise InvalidArgument("must be a goal id", field="parent_goal_id")
        if self.level == "strategy":
            raise InvalidArgument(
                "a strategic objective is a root of alignment and has no parent",
                field="parent_goal_id",
            )
        if self.parent_goal_id is not None:
            reason = require_reason(reason)
        else:
            reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = require_actor(by)
        if parent_goal_id == self.parent_goal_id:
            return
        if parent_goal_id in self.contributions:
            raise InvalidArgument(
                "this goal already contributes to that goal; remove the link first",
                field="parent_goal_id",
            )
        self._check_link(parent_goal_id, parent, parent_of, "parent_goal_id")
        self._aligned(
            parent_goal_id=parent_goal_id,
            previous_parent_goal_id=self.parent_goal_id,
            reason=reason,
            by=by,
        )

    def set_contributions(
        self,
        contributions: Mapping[UUID, float],
        reason: str,
        by: str,
        *,
        targets: Mapping[UUID, AlignmentTarget] | None = None,
        parent_of: ParentLookup | None = None,
    ) -> None:
        """Replace the weighted contributes-to links (an empty mapping removes them all).

        Each weight is a positive finite number: this goal's weight among the target's
        children. Replacing existing links needs a reason.
        """
        self._require_open("realigned")
        links: list[dict[str, Any]] = []
        for goal_id, weight in contributions.items():
            if not isinstance(goal_id, UUID):
                raise InvalidArgument("must be goal ids", field="contributions")
            if require_finite(weight, "contributions.weight") <= 0:
                raise InvalidArgument("a weight must be positive", field="contributions.weight")
            if goal_id == self.parent_goal_id:
                raise InvalidArgument(
                    "the primary parent cannot also be a contributes-to link",
                    field="contributions",
                )
            links.append({"goal_id": goal_id, "weight": float(weight)})
        if self._contributions:
            reason = require_reason(reason)
        else:
            reason = require_text(reason, "reason", max_length=MAX_TEXT_LENGTH, allow_blank=True)
        by = require_actor(by)
        if links == self._contributions:
            return
        for link in links:
            target = None if targets is None else targets.get(link["goal_id"])
            if targets is not None and target is None:
                raise NotFound(f"goal {link['goal_id']} not found", field="contributions")
            self._check_link(link["goal_id"], target, parent_of, "contributions")
        self._contributions_set(contributions=links, reason=reason, by=by)

    def _check_link(
        self,
        goal_id: UUID,
        target: AlignmentTarget | None,
        parent_of: ParentLookup | None,
        field: str,
    ) -> None:
        if goal_id == self.id or (
            parent_of is not None and would_create_cycle(self.id, goal_id, parent_of)
        ):
            raise AlignmentCycle(f"linking to goal {goal_id} would create a cycle", field=field)
        if target is not None:
            if target.goal_id != goal_id:
                raise InvalidArgument("describes a different goal", field=field)
            check_alignment_target(self.tenant_id, target, field)
