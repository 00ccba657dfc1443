"""An outbox relay on a thread and event loop of its own, off the request path.

The service's event loop serves gRPC; the relay's reading of the notification log, building of
envelopes, producing to Kafka and recording of positions happen on the relay's own loop (and
its own worker threads for store reads), so a request never waits behind a publishing pass.
Saves wake the relay through `NotificationRelay.wake`, which is thread-safe and coalesced.
What the relay reports to the service (its stall, for gRPC health) is handed back to the
service's loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable

from services.shared.relay import NotificationRelay

logger = logging.getLogger(__name__)

StallReport = Callable[[bool], Awaitable[None]]


class RelayThread:
    def __init__(self, relay: NotificationRelay) -> None:
        self.relay = relay
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()

    def start(self, report_stall: StallReport | None = None) -> None:
        """Runs the relay on its own thread; `report_stall` (a coroutine function of the
        caller's loop) is told of stalls on that loop."""
        service_loop = asyncio.get_running_loop()
        if report_stall is not None:
            self.relay.on_stall_change = _on_loop(service_loop, report_stall)
        self._thread = threading.Thread(
            target=self._run, name=f"northstar-{self.relay.name}", daemon=True
        )
        self._thread.start()
        self._started.wait()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._started.set()
        try:
            await self.relay.run(self._stop)
        except Exception:
            logger.exception("relay %s stopped by an unexpected error", self.relay.name)
        finally:
            # The producer belongs to this loop: it is closed here, before the loop ends.
            await self.relay.stop()

    async def stop(self) -> None:
        """Stops the relay (it finishes the batch it is publishing) and waits for its thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join)
        self._thread = None


def _on_loop(loop: asyncio.AbstractEventLoop, report: StallReport) -> StallReport:
    """`report`, called from another loop, run on `loop` (and awaited there)."""

    async def reported(stalled: bool) -> None:
        future: concurrent.futures.Future[None] = asyncio.run_coroutine_threadsafe(
            _awaited(report, stalled), loop
        )
        await asyncio.wrap_future(future)

    return reported


async def _awaited(report: StallReport, stalled: bool) -> None:
    await report(stalled)
