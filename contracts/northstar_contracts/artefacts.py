"""The committed artefacts of the published language, generated from the models.

- contracts/schemas/events/<type>.v<N>.json: JSON Schema of each event's data, every version
  ever published (old versions stay: the compatibility gate compares against them);
- contracts/schemas/envelope.v1.json and each inbound feed's record schemas
  (contracts/schemas/hris/*.json, contracts/schemas/kpi/*.json);
- contracts/asyncapi.json: an AsyncAPI 3.0 document of every topic (outbound, inbound feeds,
  dead-letter topics) with headers and payloads;
- docs/events.md: the event catalogue.

`python -m northstar_contracts.artefacts write` regenerates them; `check` lists stale files.
A test fails while the committed files differ from what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from northstar_contracts.catalogue import (
    DEAD_LETTER_HEADERS,
    DEAD_LETTER_SUFFIX,
    INBOUND_TOPICS,
    OUTBOUND_TOPICS,
    InboundTopic,
    all_events,
)
from northstar_contracts.envelope import CONTENT_TYPE, KAFKA_HEADERS, EventEnvelope
from northstar_contracts.registry import PERSONAL_DATA, RegisteredContract

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URL = "https://northstar.dev/schemas"
EVENT_SCHEMAS = Path("contracts/schemas/events")
ASYNCAPI_PATH = Path("contracts/asyncapi.json")
CATALOGUE_PATH = Path("docs/events.md")
CONTRACTS_VERSION = "1.0.0"


def render_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_schema_file(type_name: str, version: int) -> Path:
    return EVENT_SCHEMAS / f"{type_name}.v{version}.json"


def event_schema(contract: RegisteredContract) -> dict[str, Any]:
    """The JSON Schema of one event's `data`, self-contained (nested models under $defs)."""
    schema = contract.model.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_BASE_URL}/events/{contract.type_name}.v{contract.version}.json"
    schema["title"] = f"{contract.type_name} v{contract.version}"
    schema["x-topic"] = contract.topic
    schema["x-aggregate-type"] = contract.aggregate_type
    return schema


def envelope_schema() -> dict[str, Any]:
    schema = EventEnvelope.model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["$id"] = f"{SCHEMA_BASE_URL}/envelope.v1.json"
    return schema


def feed_schemas(feed: InboundTopic) -> dict[str, dict[str, Any]]:
    """An inbound feed's record schemas, each with its $id and dialect."""
    schemas = feed.schemas()
    for name, schema in schemas.items():
        schema["$id"] = f"{SCHEMA_BASE_URL}/{feed.schema_folder}/{name}"
        schema["$schema"] = SCHEMA_DIALECT
    return schemas


def asyncapi_document() -> dict[str, Any]:
    """AsyncAPI 3.0: one channel per topic and dead-letter topic, one operation per side."""
    events = all_events()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas["EventEnvelope"] = _component_schema(EventEnvelope.model_json_schema(), schemas)
    headers = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text} for name, text in KAFKA_HEADERS.items()
        },
        "required": list(KAFKA_HEADERS),
    }
    schemas["CloudEventsHeaders"] = headers
    schemas["DeadLetterHeaders"] = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": text}
            for name, text in DEAD_LETTER_HEADERS.items()
        },
        "required": list(DEAD_LETTER_HEADERS),
    }
    for topic in OUTBOUND_TOPICS:
        channel_id = _channel_id(topic.name)
        channel_messages: dict[str, Any] = {}
        for contract in events.on_topic(topic.name):
            message_id = contract.type_name.split(".", 1)[1]
            data_schema = f"{contract.type_name}.v{contract.version}"
            schemas[data_schema] = _component_schema(contract.model.model_json_schema(), schemas)
            messages[contract.type_name] = {
                "name": contract.type_name,
                "title": contract.type_name,
                "summary": contract.summary,
                "contentType": CONTENT_TYPE,
                "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/EventEnvelope"},
                        {
                            "type": "object",
                            "properties": {
                                "type": {"const": contract.type_name},
                                "schema_version": {"const": contract.version},
                                "aggregate_type": {"const": contract.aggregate_type},
                                "data": {"$ref": f"#/components/schemas/{data_schema}"},
                            },
                        },
                    ]
                },
                "correlationId": {"location": "$message.header#/ce_id"},
            }
            channel_messages[message_id] = {"$ref": f"#/components/messages/{contract.type_name}"}
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.description} Produced by the {topic.producer} service.",
            "messages": channel_messages,
        }
        operations[f"publish_{channel_id}"] = {
            "action": "send",
            "title": f"The {topic.producer} service publishes {topic.name}",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{message_id}"}
                for message_id in channel_messages
            ],
        }
        _dead_letter_channel(topic.name, channels, operations)
    for inbound in INBOUND_TOPICS:
        channel_id = _channel_id(inbound.name)
        prefix = inbound.schema_folder
        for name, record_schema in inbound.schemas().items():
            schemas[f"{prefix}.{name.removesuffix('.json')}"] = _component_schema(
                record_schema, schemas
            )
        message_ref = f"{prefix}.{inbound.message}"
        messages[message_ref] = {
            "name": message_ref,
            "title": inbound.title,
            "summary": inbound.summary,
            "contentType": CONTENT_TYPE,
            "payload": {
                "$ref": f"#/components/schemas/{prefix}."
                f"{inbound.message_schema.removesuffix('.json')}"
            },
        }
        channels[channel_id] = {
            "address": inbound.name,
            "title": inbound.name,
            "description": f"{inbound.description} Consumed by the {inbound.consumer} service.",
            "messages": {inbound.message: {"$ref": f"#/components/messages/{message_ref}"}},
        }
        operations[f"consume_{channel_id}"] = {
            "action": "receive",
            "title": f"The {inbound.consumer} service consumes {inbound.name}",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{inbound.message}"}],
        }
        _dead_letter_channel(inbound.name, channels, operations)
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A record given up by a consumer",
        "summary": "The original key and body, unchanged, with headers saying why and where.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": "The original record's body, byte for byte."},
    }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:northstar:events",
        "info": {
            "title": "Northstar events",
            "version": CONTRACTS_VERSION,
            "description": "Every topic Northstar publishes or consumes. Delivery is at least "
            "once and ordered per aggregate (the key); readers must ignore fields they do not "
            "know. Generated from the northstar_contracts package.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _channel_id(topic: str) -> str:
    return topic.replace(".", "_")


def _dead_letter_channel(topic: str, channels: dict[str, Any], operations: dict[str, Any]) -> None:
    channel_id = _channel_id(topic + DEAD_LETTER_SUFFIX)
    channels[channel_id] = {
        "address": topic + DEAD_LETTER_SUFFIX,
        "title": topic + DEAD_LETTER_SUFFIX,
        "description": f"Records of {topic} that a consumer gave up, for operators to inspect.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    operations[f"dead_letter_{channel_id}"] = {
        "action": "send",
        "title": f"Consumers of {topic} dead-letter what they cannot apply",
        "channel": {"$ref": f"#/channels/{channel_id}"},
        "messages": [{"$ref": f"#/channels/{channel_id}/messages/DeadLetter"}],
    }


def _component_schema(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its $defs hoisted into components (refs rewritten to point there)."""
    schema = json.loads(json.dumps(schema).replace('"#/$defs/', '"#/components/schemas/'))
    for name, definition in schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    # AsyncAPI schemas name the discriminating property only (OpenAPI's mapping is implied by
    # the alternatives' const values).
    if isinstance(schema.get("discriminator"), dict):
        schema["discriminator"] = schema["discriminator"]["propertyName"]
    return schema


def catalogue_markdown() -> str:
    events = all_events()
    lines = [
        "# Event catalogue",
        "",
        "Generated from the `northstar_contracts` package (`make contracts`); do not edit by",
        "hand. Every event travels in the envelope of "
        "[`contracts/schemas/envelope.v1.json`](../contracts/schemas/envelope.v1.json) with the "
        "CloudEvents headers listed in [`contracts/asyncapi.json`](../contracts/asyncapi.json). "
        "Fields marked *personal* hold personal data.",
        "",
        "Readers ignore fields they do not know; a field is never removed, renamed or retyped "
        "within a schema version (see [architecture](architecture.md#public-event-contracts)).",
        "",
    ]
    for topic in OUTBOUND_TOPICS:
        lines += [
            f"## `{topic.name}`",
            "",
            f"{topic.description} Produced by {topic.producer}.",
            "",
        ]
        lines += [
            "| type | version | aggregate | what happened | schema |",
            "|---|---|---|---|---|",
        ]
        for contract in events.on_topic(topic.name):
            schema_path = event_schema_file(contract.type_name, contract.version)
            lines.append(
                f"| `{contract.type_name}` | {contract.version} | {contract.aggregate_type} | "
                f"{contract.summary} | [schema](../{schema_path.as_posix()}) |"
            )
        lines.append("")
        for contract in events.on_topic(topic.name):
            lines += [f"### `{contract.type_name}` v{contract.version}", "", contract.summary, ""]
            lines += ["| field | type | required | description |", "|---|---|---|---|"]
            schema = contract.model.model_json_schema()
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                personal = " *(personal)*" if prop.get(PERSONAL_DATA) else ""
                description = str(prop.get("description", "")).replace("|", "\\|")
                lines.append(
                    f"| `{name}` | {_type_label(prop)} | {'yes' if name in required else 'no'} | "
                    f"{description}{personal} |"
                )
            lines.append("")
    for inbound in INBOUND_TOPICS:
        lines += [
            f"## `{inbound.name}` (inbound)",
            "",
            f"{inbound.description} Consumed by {inbound.consumer}; see "
            f"[{inbound.doc}]({inbound.doc}) and `contracts/schemas/{inbound.schema_folder}/`.",
            "",
        ]
    lines += [
        "## Dead-letter topics",
        "",
        f"Each topic above has a `{DEAD_LETTER_SUFFIX}` twin. A dead-lettered record keeps its "
        "key and body; these headers say why:",
        "",
        "| header | meaning |",
        "|---|---|",
        *(f"| `{name}` | {text} |" for name, text in DEAD_LETTER_HEADERS.items()),
        "",
    ]
    return "\n".join(lines)


def _type_label(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(_type_label(option) for option in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{value}`" for value in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    label = str(prop.get("type", "any"))
    if "format" in prop:
        label += f" ({prop['format']})"
    if label == "array" and "items" in prop:
        label = f"list of {_type_label(prop['items'])}"
    return label


def generated_files() -> dict[Path, str]:
    """Repository-relative path -> content of every generated artefact of current contracts."""
    files: dict[Path, str] = {
        Path("contracts/schemas/envelope.v1.json"): render_json(envelope_schema()),
        ASYNCAPI_PATH: render_json(asyncapi_document()),
        CATALOGUE_PATH: catalogue_markdown(),
    }
    for contract in all_events().contracts.values():
        files[event_schema_file(contract.type_name, contract.version)] = render_json(
            event_schema(contract)
        )
    for feed in INBOUND_TOPICS:
        for name, schema in feed_schemas(feed).items():
            files[Path("contracts/schemas") / feed.schema_folder / name] = render_json(schema)
    return files


def stale_files(root: Path) -> list[Path]:
    return [
        path
        for path, content in generated_files().items()
        if not (root / path).is_file() or (root / path).read_text() != content
    ]


def write_files(root: Path) -> list[Path]:
    written = []
    for path in stale_files(root):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(generated_files()[path])
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    root = Path(argv[1]) if len(argv) > 1 else Path.cwd()
    if command == "write":
        for path in write_files(root):
            print(f"wrote {path}")
        return 0
    if command == "check":
        stale = stale_files(root)
        for path in stale:
            print(f"stale: {path} (run `make contracts`)")
        return 1 if stale else 0
    print("usage: python -m northstar_contracts.artefacts [write|check] [repository root]")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
