"""The published language's committed artefacts are what the models generate, document every
event type the services publish, and the AsyncAPI document is valid AsyncAPI 3.0."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from northstar_contracts.artefacts import (
    ASYNCAPI_PATH,
    CATALOGUE_PATH,
    event_schema_file,
    generated_files,
    stale_files,
)
from northstar_contracts.catalogue import all_events
from services.directory.domain import Person, Team
from services.directory.publishing import public_type_name as directory_type_name
from services.feedback.domain import Feedback, FeedbackSettings
from services.feedback.one_on_ones import OneOnOne
from services.feedback.publishing import type_name_of as feedback_type_name
from services.feedback.requests import FeedbackRequest
from services.feedback.templates import QuestionTemplate
from services.goals.goal import Goal
from services.goals.publishing import public_type_name as goal_type_name
from services.kpi.domain import Kpi
from services.kpi.publishing import public_type_name as kpi_type_name

ROOT = Path(__file__).resolve().parents[2]
ASYNCAPI_SPEC = ROOT / ".cache/asyncapi/package/schemas/3.0.0-without-$id.json"


def event_classes(aggregate: type, creation_event: str) -> list[type]:
    """The event classes an aggregate records. eventsourcing also gives an aggregate whose
    creation event has another name (Person.Registered) a `Created` class it never stores."""
    base = aggregate.Event  # type: ignore[attr-defined]
    return [
        value
        for name, value in vars(aggregate).items()
        if isinstance(value, type)
        and issubclass(value, base)
        and value is not base
        and (name != "Created" or creation_event == "Created")
    ]


def published_type_names() -> set[str]:
    """Every public type the services publish, enumerated from the aggregates' own classes."""
    names = {goal_type_name(event_class) for event_class in event_classes(Goal, "Created")}
    for aggregate in (Person, Team):
        names |= {directory_type_name(c) for c in event_classes(aggregate, "Registered")}
    feedback_aggregates: tuple[tuple[type, str], ...] = (
        (Feedback, "Given"),
        (FeedbackRequest, "Created"),
        (OneOnOne, "Scheduled"),
        (FeedbackSettings, "Created"),
        (QuestionTemplate, "Defined"),
    )
    for feedback_aggregate, creation in feedback_aggregates:
        names |= {feedback_type_name(c) for c in event_classes(feedback_aggregate, creation)}
    names |= {kpi_type_name(c) for c in event_classes(Kpi, "Defined")}
    return names


def test_committed_artefacts_are_what_the_models_generate() -> None:
    assert stale_files(ROOT) == [], "run `make contracts` and commit the result"


def test_every_published_event_type_has_a_schema_an_asyncapi_entry_and_a_catalogue_row() -> None:
    events = all_events()
    asyncapi = json.loads((ROOT / ASYNCAPI_PATH).read_text())
    catalogue = (ROOT / CATALOGUE_PATH).read_text()
    published = published_type_names()
    assert len(published) == 23 + 11 + 19 + 7
    for type_name in sorted(published):
        version = events.current_version(type_name)
        assert (ROOT / event_schema_file(type_name, version)).is_file(), type_name
        assert type_name in asyncapi["components"]["messages"], type_name
        assert f"`{type_name}`" in catalogue, type_name
    assert published == {c.type_name for c in events.current_contracts()}


def asyncapi_validator() -> Any:
    if not ASYNCAPI_SPEC.is_file():
        pytest.fail(f"{ASYNCAPI_SPEC} is missing: `make setup` fetches the AsyncAPI specs")
    spec = json.loads(ASYNCAPI_SPEC.read_text())
    return jsonschema.validators.validator_for(spec)(spec)


def test_the_asyncapi_document_is_valid_asyncapi_3() -> None:
    document = json.loads((ROOT / ASYNCAPI_PATH).read_text())
    errors = [error.message for error in asyncapi_validator().iter_errors(document)]
    assert errors == []
    assert document["asyncapi"] == "3.0.0"


def test_the_asyncapi_validation_catches_a_broken_document() -> None:
    document = json.loads(generated_files()[ASYNCAPI_PATH])
    del document["info"]["version"]
    document["channels"]["northstar_goals_v1"]["address"] = 42
    assert len(list(asyncapi_validator().iter_errors(document))) >= 2


def test_every_message_reference_resolves_and_topics_have_dead_letter_twins() -> None:
    document = json.loads((ROOT / ASYNCAPI_PATH).read_text())

    def resolve(reference: str) -> Any:
        node: Any = document
        for part in reference.removeprefix("#/").split("/"):
            node = node[part]
        return node

    references = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                references.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert references
    for reference in references:
        resolve(reference)
    addresses = {channel["address"] for channel in document["channels"].values()}
    for address in list(addresses):
        if not address.endswith(".dlq"):
            assert f"{address}.dlq" in addresses


def test_personal_data_is_marked_in_the_schemas() -> None:
    schema = json.loads((ROOT / event_schema_file("directory.PersonRegistered", 1)).read_text())
    marked = {name for name, prop in schema["properties"].items() if prop.get("x-personal-data")}
    assert marked == {"name", "email", "title"}
