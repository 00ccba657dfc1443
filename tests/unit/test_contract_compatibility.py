"""The compatibility gate: a published contract only grows within its version; anything else is
a new version with a tested upcaster. Run against every committed schema, and shown working on
a deliberately breaking and a deliberately additive change of a fixture contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from northstar_contracts import catalogue  # noqa: F401 (loads every event module)
from northstar_contracts.artefacts import EVENT_SCHEMAS
from northstar_contracts.compatibility import breaking_changes, gate
from northstar_contracts.errors import UnknownContract
from northstar_contracts.registry import EVENTS, ContractRegistry, EventContract

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "contracts"


def committed_schemas() -> dict[tuple[str, int], dict[str, Any]]:
    schemas = {}
    for path in sorted((ROOT / EVENT_SCHEMAS).glob("*.v*.json")):
        type_name, version = path.name.removesuffix(".json").rsplit(".v", 1)
        schemas[(type_name, int(version))] = json.loads(path.read_text())
    return schemas


def test_every_registered_contract_is_compatible_with_its_committed_schema() -> None:
    published = committed_schemas()
    assert set(published) == set(EVENTS.contracts), "run `make contracts` to publish schemas"
    assert gate(EVENTS, published) == []


# ---- the fixture contract "tests.Sample": v1 as published, and candidate changes ----------


class SampleV1(EventContract):
    """The contract as published in fixtures/contracts/tests.Sample.v1.json."""

    title: str = Field(max_length=200, description="What it is.")
    weight: float = Field(gt=0, description="How much it counts.")
    kind: Literal["a", "b"] = Field(description="Which kind.")
    owner_id: str | None = Field(description="Who owns it, if anyone.")


def published_sample() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((FIXTURES / "tests.Sample.v1.json").read_text())
    return schema


def test_the_published_fixture_is_the_v1_model() -> None:
    assert breaking_changes(published_sample(), SampleV1.model_json_schema()) == []
    assert published_sample() == SampleV1.model_json_schema()


class AdditiveSample(EventContract):
    title: str = Field(max_length=200, description="What it is (reworded).")
    weight: float = Field(gt=0, description="How much it counts.")
    kind: Literal["a", "b", "c"] = Field(description="Which kind, now with c.")
    owner_id: str | None = Field(description="Who owns it, if anyone.")
    tags: list[str] = Field(default_factory=list, description="New and optional.")


def test_an_additive_change_passes_the_gate() -> None:
    assert breaking_changes(published_sample(), AdditiveSample.model_json_schema()) == []


class RemovedField(EventContract):
    title: str = Field(max_length=200)
    weight: float = Field(gt=0)
    kind: Literal["a", "b"]


class RenamedField(EventContract):
    name: str = Field(max_length=200)
    weight: float = Field(gt=0)
    kind: Literal["a", "b"]
    owner_id: str | None


class RetypedField(EventContract):
    title: str = Field(max_length=200)
    weight: int = Field(gt=0)
    kind: Literal["a", "b"]
    owner_id: str | None


class NewRequiredField(EventContract):
    title: str = Field(max_length=200)
    weight: float = Field(gt=0)
    kind: Literal["a", "b"]
    owner_id: str | None
    team_id: str


class NarrowedChoice(EventContract):
    title: str = Field(max_length=200)
    weight: float = Field(gt=0)
    kind: Literal["a"]
    owner_id: str | None


class TightenedConstraint(EventContract):
    title: str = Field(max_length=100)
    weight: float = Field(gt=0)
    kind: Literal["a", "b"]
    owner_id: str | None


class NoLongerNullable(EventContract):
    title: str = Field(max_length=200)
    weight: float = Field(gt=0)
    kind: Literal["a", "b"]
    owner_id: str


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        (RemovedField, "owner_id: removed"),
        (RenamedField, "title: removed"),
        (RetypedField, "weight: type changed from number to integer"),
        (NewRequiredField, "team_id: newly required"),
        (NarrowedChoice, "kind: values removed from the choice: ['b']"),
        (TightenedConstraint, "title: maxLength changed from 200 to 100"),
        (NoLongerNullable, "owner_id: fewer alternatives"),
    ],
)
def test_a_breaking_change_fails_the_gate(candidate: type[EventContract], expected: str) -> None:
    problems = breaking_changes(published_sample(), candidate.model_json_schema())
    assert any(problem.startswith(expected) for problem in problems), problems


def sample_registry(v1: type[EventContract]) -> ContractRegistry:
    registry = ContractRegistry()
    registry.register("tests.Sample", version=1, topic="tests", aggregate_type="Sample")(v1)
    return registry


def test_a_breaking_change_in_place_fails_the_gate_over_a_registry() -> None:
    problems = gate(sample_registry(RenamedField), {("tests.Sample", 1): published_sample()})
    assert problems
    assert "publish it as v2 with an upcaster instead" in problems[0]


class SampleV2(EventContract):
    """v2 renames title to name: a breaking change, so a new version."""

    name: str = Field(max_length=200, description="What it is.")
    weight: float = Field(gt=0, description="How much it counts.")
    kind: Literal["a", "b"] = Field(description="Which kind.")
    owner_id: str | None = Field(description="Who owns it, if anyone.")


def title_to_name(data: dict[str, Any]) -> dict[str, Any]:
    renamed = {key: value for key, value in data.items() if key != "title"}
    return {**renamed, "name": data["title"]}


V1_EXAMPLE = {"title": "Roadmap", "weight": 2.0, "kind": "a", "owner_id": None}
V2_EXAMPLE = {"name": "Roadmap", "weight": 2.0, "kind": "a", "owner_id": None}


def test_a_new_version_with_a_tested_upcaster_passes_and_readers_upcast() -> None:
    registry = sample_registry(SampleV1)
    registry.register("tests.Sample", version=2, topic="tests", aggregate_type="Sample")(SampleV2)
    registry.register_upcaster("tests.Sample", 1, title_to_name, ((V1_EXAMPLE, V2_EXAMPLE),))
    assert gate(registry, {("tests.Sample", 1): published_sample()}) == []
    assert registry.read_data("tests.Sample", 1, V1_EXAMPLE) == SampleV2(**V2_EXAMPLE)
    assert registry.outbound_data("tests.Sample", V2_EXAMPLE) == (2, V2_EXAMPLE)


def test_a_new_version_without_an_upcaster_fails_the_gate() -> None:
    registry = sample_registry(SampleV1)
    registry.register("tests.Sample", version=2, topic="tests", aggregate_type="Sample")(SampleV2)
    assert gate(registry, {("tests.Sample", 1): published_sample()}) == [
        "tests.Sample v1 -> v2: no upcaster is registered"
    ]


def test_an_upcaster_whose_example_does_not_hold_fails_the_gate() -> None:
    registry = sample_registry(SampleV1)
    registry.register("tests.Sample", version=2, topic="tests", aggregate_type="Sample")(SampleV2)
    registry.register_upcaster(
        "tests.Sample", 1, lambda data: {**data, "name": "?"}, ((V1_EXAMPLE, V2_EXAMPLE),)
    )
    problems = gate(registry, {("tests.Sample", 1): published_sample()})
    assert len(problems) == 1
    assert "does not fit its model" in problems[0] or "does not upcast" in problems[0]


def test_a_published_version_whose_model_is_gone_fails_the_gate() -> None:
    assert gate(ContractRegistry(), {("tests.Sample", 1): published_sample()}) == [
        "tests.Sample v1: published, but no model is registered for it any more"
    ]


def test_readers_refuse_versions_newer_than_they_know() -> None:
    with pytest.raises(UnknownContract):
        sample_registry(SampleV1).read_data("tests.Sample", 2, V2_EXAMPLE)
