"""How commands answer: rich text for people, or with `--json` the gRPC answer as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.text import Text

from northstar_cli.client import CallFailed, Session, session
from northstar_cli.config import NotLoggedIn, load_config
from northstar_cli.errors import EXIT_FAILURE, explain

JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print the service's answer as JSON (machine-readable)."),
]


def console() -> Console:
    # Not a terminal (a pipe, a file): wide lines instead of wrapping at 80 columns.
    width = None if sys.stdout.isatty() else 160
    return Console(width=width, highlight=False)


def error_console() -> Console:
    return Console(stderr=True, highlight=False)


def as_json(message: Message | Mapping[str, Any] | Sequence[Any]) -> Any:
    if isinstance(message, Message):
        return MessageToDict(
            message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        )
    if isinstance(message, Mapping):
        return {key: as_json(value) for key, value in message.items()}
    return [as_json(item) for item in message]


def emit(answer: Message | Mapping[str, Any], json_output: bool, show: Callable[[], None]) -> None:
    """Prints `answer` as JSON, or calls `show` to render it for people."""
    if json_output:
        sys.stdout.write(json.dumps(as_json(answer), indent=2, sort_keys=True) + "\n")
    else:
        show()


def fail(message: str, json_output: bool, code: int = EXIT_FAILURE) -> typer.Exit:
    """Prints `message` on stderr (as JSON with --json) and returns the Exit to raise."""
    if json_output:
        sys.stderr.write(json.dumps({"error": {"message": message}}) + "\n")
    else:
        error_console().print(Text.assemble(("Error: ", "bold red"), message))
    return typer.Exit(code)


@contextmanager
def connected(json_output: bool) -> Iterator[Session]:
    """A session as the configured person; failed calls become plain-words errors and exits."""
    try:
        with session(load_config()) as opened:
            yield opened
    except NotLoggedIn:
        raise fail(
            "not logged in: run `northstar login --dev --as <person> --tenant <tenant> "
            "--role <role>` first",
            json_output,
        ) from None
    except CallFailed as failed:
        explained = explain(failed.error, failed.service, failed.address)
        if json_output:
            sys.stderr.write(json.dumps(explained.to_json()) + "\n")
        else:
            error_console().print(Text.assemble(("Error: ", "bold red"), explained.sentence()))
        raise typer.Exit(explained.exit_code) from None
