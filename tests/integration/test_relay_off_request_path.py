"""The relay runs off the request path: while a publishing pass is held up, commands are still
answered, and once it goes on everything stored meanwhile is published."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from northstar.directory.v1 import directory_pb2, directory_pb2_grpc
from services.directory.__main__ import start_directory_service
from tests.integration.conftest import FAST_RETRY, bearer, system_settings
from tests.waiting import eventually

pytestmark = [pytest.mark.kafka]

HR = bearer("hr-1", ["hr_admin"])


async def test_commands_are_answered_while_the_relay_is_held_up_in_a_pass(
    tmp_path: Path, kafka_bootstrap_servers: str
) -> None:
    settings = system_settings(f"sqlite:///{tmp_path}/store.db", tmp_path, kafka_bootstrap_servers)
    directory = await start_directory_service(settings, retry=FAST_RETRY)
    relay = directory.relay
    mapped, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []
    to_envelope = relay.to_envelope

    def held(event: Any, notification: Any) -> Any:
        # Blocks whatever loop the relay runs on until the test has its answers.
        if not mapped.is_set():
            mapped.set()
            released_in_time.append(release.wait(timeout=20))
        return to_envelope(event, notification)

    relay.to_envelope = held
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{directory.runtime.grpc_port}")
    stub = directory_pb2_grpc.DirectoryServiceStub(channel)
    try:
        await stub.UpsertTeam(
            directory_pb2.UpsertTeamRequest(team_id="ops", name="Ops"), metadata=HR
        )
        await eventually(mapped.is_set, what="the relay's pass reaching the first event")
        for n in range(5):
            await stub.UpsertPerson(
                directory_pb2.UpsertPersonRequest(
                    person_id=f"held-{n}",
                    email=f"held{n}@acme.example",
                    name=f"Held {n}",
                    team_id="ops",
                    request_id=str(uuid.uuid4()),
                ),
                metadata=HR,
                timeout=10,
            )
        release.set()
        await eventually(lambda: relay.lag() == 0, what="everything published after the pass")
        assert released_in_time == [True], "the commands waited for the relay's pass"
    finally:
        release.set()
        await channel.close(None)
        await directory.stop()
