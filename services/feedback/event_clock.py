"""The time feedback events are recorded at: the application's injectable clock, never the wall
clock. eventsourcing stamps each new event with its class's `create_timestamp()`; the feedback
aggregates' events take it from here, and the application runs every use case inside
`recording_on(its clock)` (see `records_on_clock`), so given at, answered at, meetings,
reminders and overdue slots all carry the injected time. An event created outside a use case
is a programming error and says so, rather than quietly reading the wall clock."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from eventsourcing.domain import Aggregate

Clock = Callable[[], datetime]
ClassT = TypeVar("ClassT", bound=type)

_clock: contextvars.ContextVar[Clock | None] = contextvars.ContextVar(
    "northstar_feedback_clock", default=None
)


@contextmanager
def recording_on(clock: Clock) -> Iterator[None]:
    token = _clock.set(clock)
    try:
        yield
    finally:
        _clock.reset(token)


def event_time() -> datetime:
    clock = _clock.get()
    if clock is None:
        raise RuntimeError("feedback events are recorded inside a use case, on its clock")
    return clock()


class ClockedEvent(Aggregate.Event):
    """Base of every feedback aggregate's events: stamped by the injected clock."""

    @staticmethod
    def create_timestamp() -> datetime:
        return event_time()


def records_on_clock(cls: ClassT) -> ClassT:
    """Runs each public method the class defines inside `recording_on(self.clock)`."""
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        setattr(cls, name, _on_clock(method))
    return cls


def _on_clock(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def on_clock(self: Any, *args: Any, **kwargs: Any) -> Any:
        with recording_on(self.clock):
            return method(self, *args, **kwargs)

    return on_clock
