"""A registry's current version of an event type follows every registration, including one made
after the version was asked for (read models ask for every event they apply)."""

from __future__ import annotations

import pytest

from northstar_contracts.errors import UnknownContract
from northstar_contracts.registry import EVENTS, ContractRegistry, EventContract


def register(registry: ContractRegistry, version: int) -> None:
    @registry.register("demo.Thing", version=version, topic="demo.v1", aggregate_type="Thing")
    class Thing(EventContract):
        """A demo event."""


def test_the_current_version_follows_registrations_made_after_it_was_asked_for() -> None:
    registry = ContractRegistry()
    register(registry, 1)
    assert registry.current_version("demo.Thing") == 1

    register(registry, 2)

    assert registry.current_version("demo.Thing") == 2
    with pytest.raises(UnknownContract):
        registry.current_version("demo.Other")


def test_the_published_registry_answers_the_highest_registered_version() -> None:
    for type_name, _ in EVENTS.contracts:
        highest = max(v for name, v in EVENTS.contracts if name == type_name)
        assert EVENTS.current_version(type_name) == highest
