"""Waiting for a condition with a deadline: tests poll for an outcome, they never just sleep."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(
    condition: Callable[[], bool],
    *,
    within_seconds: float = 30.0,
    what: str = "condition",
    detail: Callable[[], str] | None = None,
) -> None:
    """Polls `condition` until it holds; fails naming `what` (and, with `detail`, what the
    state was when time ran out)."""
    deadline = time.monotonic() + within_seconds
    delay = 0.005
    while not condition():
        if time.monotonic() > deadline:
            seen = f": {detail()}" if detail is not None else ""
            raise AssertionError(f"{what} did not hold within {within_seconds:g}s{seen}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
