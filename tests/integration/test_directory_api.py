"""The directory's gRPC API with real tokens on both stores: role x action, authentication
failures, tenant isolation, and reporting-line moves seen at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest

from northstar.directory.v1 import directory_pb2 as pb
from northstar.directory.v1 import directory_pb2_grpc
from services.directory.__main__ import DirectoryService, start_directory_service
from services.shared.auth import DEFAULT_DEV_SECRET, TENANT_ROLES, mint_dev_token
from services.shared.grpc_server import error_details, error_reason
from tests.integration.conftest import FAST_RETRY, system_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

Metadata = tuple[tuple[str, str], ...]
Stub = Any  # the generated async stub (its .pyi types the sync one)


def token_for(subject: str, roles: list[str], tenant_id: str = "acme", **options: Any) -> Metadata:
    secret = options.pop("secret", DEFAULT_DEV_SECRET)
    token = mint_dev_token(secret, subject=subject, tenant_id=tenant_id, roles=roles, **options)
    return (("authorization", f"Bearer {token}"),)


HR = token_for("hr-1", ["hr_admin"])


@pytest.fixture
async def directory(
    store_url: str, tmp_path: Path, kafka_bootstrap_servers: str
) -> AsyncIterator[tuple[DirectoryService, Stub]]:
    settings = system_settings(store_url, tmp_path, kafka_bootstrap_servers)
    service = await start_directory_service(settings, retry=FAST_RETRY)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.runtime.grpc_port}")
    try:
        yield service, directory_pb2_grpc.DirectoryServiceStub(channel)
    finally:
        await channel.close(None)
        await service.stop()


async def seed(stub: Stub) -> None:
    """eng > platform; cto leads eng, lead reports to cto, ann to lead (both in platform)."""
    await stub.UpsertTeam(pb.UpsertTeamRequest(team_id="eng", name="Engineering"), metadata=HR)
    await stub.UpsertTeam(
        pb.UpsertTeamRequest(team_id="platform", name="Platform", parent_team_id="eng"),
        metadata=HR,
    )
    for person_id, manager_id, team_id in (
        ("cto", "", "eng"),
        ("lead", "cto", "platform"),
        ("ann", "lead", "platform"),
    ):
        await stub.UpsertPerson(
            pb.UpsertPersonRequest(
                person_id=person_id,
                name=person_id.title(),
                email=f"{person_id}@acme.example",
                team_id=team_id,
                manager_id=manager_id,
            ),
            metadata=HR,
        )


def calls(stub: Stub, role: str) -> dict[str, Callable[[Metadata], Awaitable[Any]]]:
    """One valid call per RPC; each role writes its own ids, so no call depends on another."""
    person = pb.UpsertPersonRequest(
        person_id=f"new-{role}", name="New", email="new@acme.example", manager_id="cto"
    )
    return {
        "UpsertPerson": lambda md: stub.UpsertPerson(person, metadata=md),
        "RecordDeparture": lambda md: stub.RecordDeparture(
            pb.RecordDepartureRequest(person_id="ann", leave_date="2026-03-31"), metadata=md
        ),
        "UpsertTeam": lambda md: stub.UpsertTeam(
            pb.UpsertTeamRequest(team_id=f"team-{role}", name="T"), metadata=md
        ),
        "GetPerson": lambda md: stub.GetPerson(pb.GetPersonRequest(person_id="lead"), metadata=md),
        "GetTeam": lambda md: stub.GetTeam(pb.GetTeamRequest(team_id="eng"), metadata=md),
        "GetManagerChain": lambda md: stub.GetManagerChain(
            pb.GetManagerChainRequest(person_id="lead"), metadata=md
        ),
        "ListTeamMembers": lambda md: stub.ListTeamMembers(
            pb.ListTeamMembersRequest(team_id="eng"), metadata=md
        ),
    }


WRITES = {"UpsertPerson", "RecordDeparture", "UpsertTeam"}
WRITERS = {"hr_admin", "integration"}


async def status_of(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_every_role_may_call_exactly_the_rpcs_its_role_allows(
    directory: tuple[DirectoryService, Stub],
) -> None:
    _, stub = directory
    await seed(stub)
    observed: dict[tuple[str, str], grpc.StatusCode] = {}
    expected: dict[tuple[str, str], grpc.StatusCode] = {}
    for role in sorted(TENANT_ROLES):  # the platform operator: test_platform_operations.py
        metadata = token_for(f"user-{role}", [role])
        for rpc, call in calls(stub, role).items():
            observed[role, rpc] = await status_of(call(metadata))
            allowed = rpc not in WRITES or role in WRITERS
            expected[role, rpc] = (
                grpc.StatusCode.OK if allowed else grpc.StatusCode.PERMISSION_DENIED
            )
    assert observed == expected


def tampered(metadata: Metadata) -> Metadata:
    """The employee's token with its claims rewritten to hr_admin, keeping the old signature."""
    token = metadata[0][1].removeprefix("Bearer ")
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "roles": ["hr_admin"]}, "x" * 32, algorithm="HS256")
    return (("authorization", f"Bearer {header}.{forged.split('.')[1]}.{signature}"),)


@pytest.mark.parametrize(
    ("case", "metadata"),
    [
        ("missing", ()),
        ("expired", token_for("hr-1", ["hr_admin"], ttl_seconds=-300)),
        ("tampered", tampered(token_for("emp-1", ["employee"]))),
        ("wrongly signed", token_for("hr-1", ["hr_admin"], secret="not-the-dev-secret" * 2)),
        ("not a bearer", (("authorization", "Basic aHI6aHI="),)),
    ],
)
async def test_calls_without_a_valid_token_are_unauthenticated(
    directory: tuple[DirectoryService, Stub], case: str, metadata: Metadata
) -> None:
    _, stub = directory
    for rpc, call in calls(stub, "x").items():
        assert await status_of(call(metadata)) == grpc.StatusCode.UNAUTHENTICATED, (case, rpc)


async def test_no_query_sees_and_no_command_reaches_another_tenants_directory(
    directory: tuple[DirectoryService, Stub],
) -> None:
    _, stub = directory
    await seed(stub)
    globex = token_for("hr-9", ["hr_admin"], tenant_id="globex")
    for rpc, call in calls(stub, "globex").items():
        if rpc in {"GetPerson", "GetTeam", "GetManagerChain", "ListTeamMembers"}:
            assert await status_of(call(globex)) == grpc.StatusCode.NOT_FOUND, rpc
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.UpsertPerson(
            pb.UpsertPersonRequest(
                person_id="spy", name="Spy", email="spy@globex.example", manager_id="cto"
            ),
            metadata=globex,
        )
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(refused.value) == "UNKNOWN_MANAGER"
    # The same id in another tenant is another person.
    await stub.UpsertPerson(
        pb.UpsertPersonRequest(person_id="ann", name="Ann of Globex", email="ann@globex.example"),
        metadata=globex,
    )
    ann = await stub.GetPerson(pb.GetPersonRequest(person_id="ann"), metadata=HR)
    assert (ann.name, ann.manager_id) == ("Ann", "lead")


async def test_a_move_shows_in_the_manager_chain_at_once_and_in_team_lists_soon_after(
    directory: tuple[DirectoryService, Stub],
) -> None:
    service, stub = directory
    await seed(stub)
    employee = token_for("ann", ["employee"])
    chain = await stub.GetManagerChain(
        pb.GetManagerChainRequest(person_id="ann"), metadata=employee
    )
    assert list(chain.manager_ids) == ["lead", "cto"]
    moved = await stub.UpsertPerson(
        pb.UpsertPersonRequest(
            person_id="ann", name="Ann", email="ann@acme.example", team_id="eng", manager_id="cto"
        ),
        metadata=HR,
    )
    assert moved.changed
    assert moved.version == 3
    chain = await stub.GetManagerChain(
        pb.GetManagerChainRequest(person_id="ann"), metadata=employee
    )
    assert list(chain.manager_ids) == ["cto"]
    await eventually(
        lambda: (
            not service.replica.is_in_management_chain("acme", "lead", "ann")
            and service.replica.team_members("acme", "eng") == ["ann", "cto"]
        ),
        what="the replica following the move",
    )
    members = await stub.ListTeamMembers(
        pb.ListTeamMembersRequest(team_id="eng", include_subteams=True), metadata=employee
    )
    assert [person.person_id for person in members.people] == ["ann", "cto", "lead"]


async def test_bad_input_and_loops_are_refused_with_the_field_at_fault(
    directory: tuple[DirectoryService, Stub],
) -> None:
    _, stub = directory
    await seed(stub)
    with pytest.raises(grpc.aio.AioRpcError) as bad_date:
        await stub.UpsertPerson(
            pb.UpsertPersonRequest(
                person_id="zed", name="Zed", email="zed@acme.example", start_date="01/02/2026"
            ),
            metadata=HR,
        )
    assert bad_date.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "start_date" in error_details(bad_date.value)
    with pytest.raises(grpc.aio.AioRpcError) as loop:
        await stub.UpsertPerson(
            pb.UpsertPersonRequest(
                person_id="cto", name="Cto", email="cto@acme.example", manager_id="ann"
            ),
            metadata=HR,
        )
    assert loop.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(loop.value) == "MANAGER_CYCLE"
    again = await stub.RecordDeparture(
        pb.RecordDepartureRequest(person_id="ann", leave_date="2026-03-31"), metadata=HR
    )
    repeated = await stub.RecordDeparture(
        pb.RecordDepartureRequest(person_id="ann", leave_date="2026-03-31"), metadata=HR
    )
    assert (again.changed, repeated.changed) == (True, False)
    assert repeated.person.employment_status == pb.EMPLOYMENT_STATUS_DEPARTED
