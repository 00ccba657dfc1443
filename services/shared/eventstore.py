"""Event store wiring shared by every writing service (eventsourcing 9.5).

One SQLite file per service by default, PostgreSQL (one schema per service) by setting. Each
stored event also carries its command metadata (tenant, actor, correlation and causation ids),
stamped from the command context, so the relay can build the public envelope from the
notification log alone.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlparse

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    ApplicationRecorder,
    JSONTranscoder,
    Mapper,
    Recording,
    StoredEvent,
    Transcoding,
)
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import get_topic

from services.shared.idempotency import DEFAULT_RETENTION, REQUEST_RECORD_KWARG, RequestLog
from services.shared.request_recorders import (
    InMemoryRequestRecorder,
    PostgresRequestRecorder,
    SQLiteRequestRecorder,
)
from services.shared.sqlite_pool import NorthstarSQLiteFactory

METADATA_KEY = "_meta"
logger = logging.getLogger(__name__)
FORGET_EVERY_SECONDS = 3600.0


@dataclass(frozen=True)
class CommandContext:
    """Who asked for the change, for whom, and as part of what."""

    tenant_id: str
    actor_id: str
    correlation_id: str = ""
    causation_id: str = ""

    @classmethod
    def new(cls, tenant_id: str, actor_id: str, correlation_id: str = "") -> CommandContext:
        return cls(tenant_id, actor_id, correlation_id or str(uuid.uuid4()))


_current_command: contextvars.ContextVar[CommandContext | None] = contextvars.ContextVar(
    "northstar_command_context", default=None
)


def current_command_context() -> CommandContext | None:
    """The command being handled in this task or thread, if any (for logs)."""
    return _current_command.get()


@contextmanager
def command_context(context: CommandContext) -> Iterator[CommandContext]:
    """Every event saved inside this block is stamped with `context`."""
    token = _current_command.set(context)
    try:
        yield context
    finally:
        _current_command.reset(token)


def stamp_command_context(events: Iterable[object], context: CommandContext) -> None:
    """Gives events the command they came from, for a save made after the command (several
    commands stored in one transaction): the mapper keeps the metadata an event carries."""
    for event in events:
        if METADATA_KEY not in vars(event):
            # Domain events are frozen; the attribute is what a stored event loads back with.
            object.__setattr__(event, METADATA_KEY, asdict(context))


def event_metadata(event: object) -> dict[str, str]:
    """The command metadata stored with an event (empty for events stored without one)."""
    return cast(dict[str, str], getattr(event, METADATA_KEY, None) or {})


class DateAsISO(Transcoding):
    """Dates (due dates, periods) are stored as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class CommandMetadataMapper(Mapper[uuid.UUID]):
    """A mapper that stores the current command context with each event it writes."""

    def to_stored_event(self, domain_event: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        originator_version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        if METADATA_KEY not in event_state:
            context = _current_command.get()
            if context is not None:
                event_state[METADATA_KEY] = asdict(context)
        stored_state = self.transcoder.encode(event_state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
        )


class NorthstarApplication(Application[uuid.UUID]):
    """Base of every service's application: our mapper, transcodings and a recorder that keeps
    request records (services.shared.idempotency) in the transaction of each save's events."""

    # How long a request id is remembered; the service's wiring sets it from its settings.
    request_retention = DEFAULT_RETENTION
    _requests_forgotten_at = 0.0

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[uuid.UUID]]:
        recordings = super().save(*objs, **kwargs)
        if REQUEST_RECORD_KWARG in kwargs:
            self._forget_expired_requests()
        return recordings

    def _forget_expired_requests(self) -> None:
        """Expired request records go, at most once an hour and never failing the save that
        triggered it (an expired record is also replaced whenever its id comes again)."""
        now = time.time()
        if now - self._requests_forgotten_at < FORGET_EVERY_SECONDS:
            return
        self._requests_forgotten_at = now
        try:
            self.request_log.forget_requests(now - self.request_retention.total_seconds())
        except Exception:
            logger.exception("forgetting expired request records failed; the next save retries")

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def _take_snapshots(self, processing_event: ProcessingEvent[uuid.UUID]) -> None:
        # Runs after the events are stored: a failed snapshot costs the next load a few more
        # events, so it must never turn a stored command into an error.
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            logger.exception("a snapshot after a save failed; loads replay the events instead")

    def construct_recorder(self) -> ApplicationRecorder:
        # The in-memory factory takes no recorder topic (SQLite and PostgreSQL get theirs from
        # persistence_env).
        if isinstance(self.factory, POPOFactory):
            return InMemoryRequestRecorder()
        return self.factory.application_recorder()

    @property
    def request_log(self) -> RequestLog:
        recorder = self.recorder
        if not isinstance(
            recorder, SQLiteRequestRecorder | PostgresRequestRecorder | InMemoryRequestRecorder
        ):
            raise TypeError(f"{type(recorder).__name__} keeps no request records")
        return recorder


def persistence_env(service_name: str, store_url: str) -> dict[str, str]:
    """eventsourcing settings for a store URL.

    `sqlite:///path/to/goals.db` -> one SQLite file; `postgresql://user:pw@host:port/db` -> that
    database, with the service's own schema (created if missing).
    """
    parsed = urlparse(store_url)
    env: dict[str, str] = {
        "MAPPER_TOPIC": get_topic(CommandMetadataMapper),
        "CREATE_TABLE": "true",
        "ORIGINATOR_ID_TYPE": "uuid",
    }
    if parsed.scheme == "sqlite":
        path = Path(unquote(parsed.path))
        path.parent.mkdir(parents=True, exist_ok=True)
        env.update(
            {
                "PERSISTENCE_MODULE": get_topic(NorthstarSQLiteFactory),
                "SQLITE_DBNAME": str(path),
                "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteRequestRecorder),
            }
        )
    elif parsed.scheme in {"postgresql", "postgres"}:
        schema = service_name.replace("-", "_")
        _ensure_postgres_schema(store_url, schema)
        env.update(
            {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parsed.path.lstrip("/"),
                "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parsed.port or 5432),
                "POSTGRES_USER": unquote(parsed.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parsed.password or ""),
                "POSTGRES_SCHEMA": schema,
                "APPLICATION_RECORDER_TOPIC": get_topic(PostgresRequestRecorder),
            }
        )
    else:
        raise ValueError(f"unsupported store URL scheme {parsed.scheme!r} (sqlite or postgresql)")
    return env


def _ensure_postgres_schema(store_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(store_url, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def describe_store(env: Mapping[str, str]) -> str:
    if "SQLITE_DBNAME" in env:
        return f"SQLite file {env['SQLITE_DBNAME']}"
    return (
        f"PostgreSQL {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
        f" schema {env['POSTGRES_SCHEMA']}"
    )
