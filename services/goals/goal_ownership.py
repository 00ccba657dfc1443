"""The Goal's commands on what it says and who owns and sees it."""

from __future__ import annotations

from datetime import date

from services.goals.goal_state import GoalState
from services.goals.goal_values import (
    require_actor,
    require_team,
)
from services.goals.metrics import (
    require_choice,
    require_text,
)
from services.goals.rules import (
    MAX_TEXT_LENGTH,
    MAX_TITLE_LENGTH,
    VISIBILITIES,
)
from services.shared.errors import FailedPrecondition, InvalidArgument


class OwnershipCommands(GoalState):
    """Title, description, owner and team, reassignment after a departure, visibility."""

    # ---- what the goal says and who owns it ----

    def rename(self, title: str, by: str) -> None:
        self._require_open("renamed")
        title = require_text(title, "title", max_length=MAX_TITLE_LENGTH).strip()
        by = require_actor(by)
        if title != self.title:
            self._renamed(title=title, by=by)

    def describe(self, description: str, by: str) -> None:
        self._require_open("described")
        description = require_text(
            description, "description", max_length=MAX_TEXT_LENGTH, allow_blank=True
        )
        by = require_actor(by)
        if description != self.description:
            self._described(description=description, by=by)

    def reassign(self, owner_id: str, team_id: str, by: str) -> None:
        """Give the goal a new owner (and team); this answers a reassignment flag."""
        self._require_open("reassigned")
        owner_id = require_text(owner_id, "owner_id", max_length=MAX_TITLE_LENGTH)
        team_id = require_team(team_id, self.level)
        by = require_actor(by)
        if (owner_id, team_id) != (self.owner_id, self.team_id):
            self._reassigned(owner_id=owner_id, team_id=team_id, by=by)

    def flag_for_reassignment(
        self, departed_person_id: str, manager_id: str, leave_date: date, by: str
    ) -> bool:
        """Mark an open goal whose owner has left as needing a new owner; True if recorded.

        Idempotent: flagging again for the same departure records nothing, so a redelivered
        departure event changes nothing.
        """
        self._require_open("flagged for reassignment")
        departed_person_id = require_text(
            departed_person_id, "departed_person_id", max_length=MAX_TITLE_LENGTH
        )
        if departed_person_id != self.owner_id:
            raise FailedPrecondition(
                f"the goal is owned by {self.owner_id}, not {departed_person_id}", field="owner_id"
            )
        manager_id = require_text(
            manager_id, "manager_id", max_length=MAX_TITLE_LENGTH, allow_blank=True
        )
        if not isinstance(leave_date, date):
            raise InvalidArgument("must be a date", field="leave_date")
        by = require_actor(by)
        flag = self.reassignment
        if flag is not None and flag.departed_person_id == departed_person_id:
            return False
        self._flagged_for_reassignment(
            departed_person_id=departed_person_id,
            manager_id=manager_id,
            leave_date=leave_date,
            by=by,
        )
        return True

    def change_visibility(self, visibility: str, by: str) -> None:
        visibility = require_choice(visibility, VISIBILITIES, "visibility")
        by = require_actor(by)
        if visibility != self.visibility:
            self._visibility_changed(visibility=visibility, by=by)
