"""Saves wake the relay without loading the loop it runs on: a burst of saves schedules one
wake-up, and a save after the wake-up was delivered schedules the next one."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from services.shared.relay import NotificationRelay
from tests.integration.test_relay import TallyApp, tally_envelope


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_burst_of_saves_schedules_one_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    relay = NotificationRelay(
        name="tallies-relay",
        app=TallyApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}),
        topic="tallies",
        # Nothing listens: the relay keeps retrying its connection, which is all this needs.
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        to_envelope=tally_envelope,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0)  # the relay takes its loop
    loop = asyncio.get_running_loop()
    scheduled: list[Any] = []
    schedule = loop.call_soon_threadsafe

    def counted(callback: Any, *args: Any) -> asyncio.Handle:
        if getattr(callback, "__self__", None) is relay:  # not the loop's other callbacks
            scheduled.append(callback)
        return schedule(callback, *args)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    try:
        for _ in range(1000):  # a thousand saves before the relay's loop gets a turn
            relay.wake()
        assert len(scheduled) == 1
        await asyncio.sleep(0)  # the wake-up is delivered
        relay.wake()
        assert len(scheduled) == 2
    finally:
        stop.set()
        await running
