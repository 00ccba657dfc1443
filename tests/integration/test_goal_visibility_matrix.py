"""One visibility rule, two services: for each caller and each visibility, the goals service and
every projections read path (tree, summary orphans, path, contributors, history, point in time)
show the goal exactly when the rule says so, and answer NOT_FOUND for it otherwise.

The organisation (tenant "initech", its own so no other test's goals show up):

    director-1 (manager)
      manager-1 (manager)            team mgmt
        owner-1 (employee)           team eng   -- owns one public, one team, one private goal
        teammate-1 (employee)        team eng
    manager-2 (manager)              team sales
      outsider-1 (employee)          team sales
    hr-1 (hr_admin), auditor-1 (auditor), hris-sync (integration): not in a team
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from northstar.directory.v1 import directory_pb2
from northstar.goals.v1 import goals_pb2
from northstar.projections.v1 import projections_pb2
from tests.integration.conftest import (
    RunningSystem,
    bearer,
    started_system,
    system_settings,
)
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

TENANT = "initech"
Metadata = tuple[tuple[str, str], ...]
OK, NOT_FOUND, DENIED = (
    grpc.StatusCode.OK,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
)
ALL = ("public", "team", "private")
VISIBILITY_ENUMS = {
    "public": goals_pb2.GOAL_VISIBILITY_PUBLIC,
    "team": goals_pb2.GOAL_VISIBILITY_TEAM,
    "private": goals_pb2.GOAL_VISIBILITY_PRIVATE,
}

# caller -> (token, the visibilities of owner-1's goals they see, may they read goal history?)
MATRIX: dict[str, tuple[Metadata, tuple[str, ...], bool]] = {
    "employee in the team": (bearer("teammate-1", ["employee"], TENANT), ("public", "team"), False),
    "employee outside the team": (bearer("outsider-1", ["employee"], TENANT), ("public",), False),
    "owner": (bearer("owner-1", ["employee"], TENANT), ALL, True),
    "manager in the chain": (bearer("manager-1", ["manager"], TENANT), ALL, True),
    "skip-level manager": (bearer("director-1", ["manager"], TENANT), ALL, True),
    "manager outside the chain": (bearer("manager-2", ["manager"], TENANT), ("public",), True),
    "hr admin": (bearer("hr-1", ["hr_admin"], TENANT), ALL, True),
    "auditor": (bearer("auditor-1", ["auditor"], TENANT), ALL, True),
    "integration": (bearer("hris-sync", ["integration"], TENANT), ALL, True),
}
CELLS = [(caller, visibility) for caller in MATRIX for visibility in ALL]

TEAMS = (("mgmt", ""), ("eng", "mgmt"), ("sales", ""))
PEOPLE = (  # (person, team, manager), managers first
    ("hr-1", "", ""),
    ("director-1", "", ""),
    ("manager-1", "mgmt", "director-1"),
    ("owner-1", "eng", "manager-1"),
    ("teammate-1", "eng", "manager-1"),
    ("manager-2", "sales", ""),
    ("outsider-1", "sales", "manager-2"),
)
HR = bearer("hr-1", ["hr_admin"], TENANT)


@dataclass(frozen=True)
class World:
    system: RunningSystem
    goal_ids: dict[str, str]  # visibility -> owner-1's goal
    tokens: list[str]  # position tokens of every goal's creation


async def seed(system: RunningSystem) -> None:
    for team_id, parent in TEAMS:
        await system.directory_stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team_id=team_id, name=team_id, parent_team_id=parent),
            metadata=HR,
        )
    for person_id, team_id, manager_id in PEOPLE:
        await system.directory_stub.UpsertPerson(
            directory_pb2.UpsertPersonRequest(
                person_id=person_id,
                name=person_id,
                email=f"{person_id}@initech.example",
                team_id=team_id,
                manager_id=manager_id,
            ),
            metadata=HR,
        )

    def replicated() -> bool:
        people = [r.person(TENANT, "outsider-1") for r in (goals_replica, projections_replica)]
        return all(p is not None and p.manager_id == "manager-2" for p in people)

    goals_replica, projections_replica = system.goals.replica, system.projections.replica
    await eventually(replicated, within_seconds=60, what="both replicas holding the org")


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap_servers: str
) -> AsyncIterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("visibility")
    settings = system_settings(
        f"sqlite:///{tmp_path / 'store.db'}", tmp_path, kafka_bootstrap_servers
    )
    async with started_system(settings) as system:
        await seed(system)
        owner = MATRIX["owner"][0]
        goal_ids, tokens = {}, []
        for visibility in ALL:
            created = await system.goals_stub.CreateGoal(
                goals_pb2.CreateGoalRequest(
                    title=f"A {visibility} goal of owner-1",
                    owner_id="owner-1",
                    team_id="eng",
                    start_date="2026-01-01",
                    due_date="2026-12-31",
                    visibility=VISIBILITY_ENUMS[visibility],
                    activate=True,
                ),
                metadata=owner,
            )
            goal_ids[visibility] = created.goal.id
            tokens.append(created.position_token)
        yield World(system, goal_ids, tokens)


async def code_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return OK


async def observe(world: World, caller: Metadata, goal_id: str) -> dict[str, object]:
    """What each read path tells `caller` about the goal: a status, or whether it is listed."""
    goals, projections = world.system.goals_stub, world.system.projections_stub
    tokens = world.tokens
    listed = await goals.ListGoals(goals_pb2.ListGoalsRequest(owner_id="owner-1"), metadata=caller)
    tree = await projections.GetAlignmentTree(
        projections_pb2.GetAlignmentTreeRequest(consistency_tokens=tokens), metadata=caller
    )
    summary = await projections.GetAlignmentSummary(
        projections_pb2.GetAlignmentSummaryRequest(consistency_tokens=tokens), metadata=caller
    )
    return {
        "goals GetGoal": await code_of(
            goals.GetGoal(goals_pb2.GetGoalRequest(goal_id=goal_id), metadata=caller)
        ),
        "goals GetGoal at version 1": await code_of(
            goals.GetGoal(goals_pb2.GetGoalRequest(goal_id=goal_id, version=1), metadata=caller)
        ),
        "goals ListGoals lists it": goal_id in {g.id for g in listed.goals},
        "projections tree lists it": goal_id in {n.goal_id for n in tree.nodes},
        "projections orphans list it": goal_id in {n.goal_id for n in summary.orphan_goals},
        "projections GetGoalPath": await code_of(
            projections.GetGoalPath(
                projections_pb2.GetGoalPathRequest(goal_id=goal_id, consistency_tokens=tokens),
                metadata=caller,
            )
        ),
        "projections ListContributors": await code_of(
            projections.ListContributors(
                projections_pb2.ListContributorsRequest(goal_id=goal_id, consistency_tokens=tokens),
                metadata=caller,
            )
        ),
        "projections GetGoalHistory": await code_of(
            projections.GetGoalHistory(
                projections_pb2.GetGoalHistoryRequest(goal_id=goal_id, consistency_tokens=tokens),
                metadata=caller,
            )
        ),
        "projections GetAuditHistory": await code_of(
            projections.GetAuditHistory(
                projections_pb2.GetAuditHistoryRequest(
                    aggregate_id=goal_id, consistency_tokens=tokens
                ),
                metadata=caller,
            )
        ),
        "projections GetGoalAsOf": await code_of(
            projections.GetGoalAsOf(
                projections_pb2.GetGoalAsOfRequest(goal_id=goal_id, version=1), metadata=caller
            )
        ),
    }


def expected(sees: bool, reads_history: bool) -> dict[str, object]:
    direct = OK if sees else NOT_FOUND
    # A goal's past is for auditors, HR admins, integrations, managers and the owner; a goal
    # the caller cannot see has no past for them either.
    history = (OK if reads_history else DENIED) if sees else NOT_FOUND
    return {
        "goals GetGoal": direct,
        "goals GetGoal at version 1": direct,
        "goals ListGoals lists it": sees,
        "projections tree lists it": sees,
        "projections orphans list it": sees,
        "projections GetGoalPath": direct,
        "projections ListContributors": direct,
        "projections GetGoalHistory": history,
        "projections GetAuditHistory": history,
        "projections GetGoalAsOf": history,
    }


@pytest.mark.parametrize(("caller", "visibility"), CELLS)
async def test_goals_and_projections_show_a_goal_to_exactly_the_same_callers(
    world: World, caller: str, visibility: str
) -> None:
    token, seen, reads_history = MATRIX[caller]
    observed = await observe(world, token, world.goal_ids[visibility])
    assert observed == expected(visibility in seen, reads_history)
