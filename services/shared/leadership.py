"""Leader locks for outbox relays: of all the replicas of a writing service, exactly one
publishes its notification log; the others stand by and take over when the leader goes.

PostgreSQL: a session-level advisory lock held on a connection of its own (the server releases
it when that session ends, however the process died). SQLite: an exclusive `flock` on a file
beside the database file (the OS releases it when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlparse

from prometheus_client import CollectorRegistry, Gauge

from services.shared.metrics import PREFIX, ServiceMetrics

if TYPE_CHECKING:
    from psycopg import Connection


class RelayLeadership(Protocol):
    """The right to publish one relay's notification log, held by one process at a time."""

    def try_acquire(self) -> bool:
        """Takes the lock if nobody holds it; True when this process now leads. Never blocks."""

    def still_leader(self) -> bool:
        """True while the lock is certainly ours; False once it may have passed to another."""

    def release(self) -> None:
        """Gives the lock up (idempotent), so a standby can take over at once."""


def advisory_lock_key(schema: str, relay_name: str) -> int:
    """A stable signed 64-bit key (what pg_try_advisory_lock(bigint) takes) per store and relay."""
    digest = hashlib.blake2b(f"{schema}/{relay_name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# A dropped network path must not leave a leader that believes it still holds the lock: these
# bound how long a liveness check can hang before it fails (libpq connection parameters).
_LIVENESS_PARAMETERS: dict[str, Any] = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# And the server must not keep a vanished leader's session (and lock) for the OS default of two
# hours: it probes the lock's session too, and ends it ~15 s after its host stopped answering.
_SERVER_SIDE_LIVENESS = (
    "SELECT set_config('tcp_keepalives_idle', '5', false),"
    " set_config('tcp_keepalives_interval', '2', false),"
    " set_config('tcp_keepalives_count', '3', false),"
    " set_config('tcp_user_timeout', '10000', false)"
)


class PostgresLeadership:
    """`pg_try_advisory_lock` on a dedicated autocommit connection, held while the session lives.

    Advisory locks are per database; the key covers the schema (the store) and the relay name.
    Session locks need a real session: point the store URL at PostgreSQL or a session-mode
    pooler, never a transaction-mode one.
    """

    def __init__(self, store_url: str, relay_name: str, *, schema: str = "") -> None:
        self.store_url = store_url
        self.relay_name = relay_name
        self.key = advisory_lock_key(schema, relay_name)
        self._connection: Connection[Any] | None = None

    def try_acquire(self) -> bool:
        import psycopg

        if self._connection is not None:
            return self.still_leader()
        connection = psycopg.connect(
            self.store_url,
            autocommit=True,
            application_name=f"northstar-{self.relay_name}-leader",
            **_LIVENESS_PARAMETERS,
        )
        try:
            connection.execute(_SERVER_SIDE_LIVENESS)
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error:
            connection.close()
            raise
        if row is None or not row[0]:
            connection.close()
            return False
        self._connection = connection
        return True

    def still_leader(self) -> bool:
        import psycopg

        connection = self._connection
        if connection is None or connection.closed:
            self._forget()
            return False
        try:
            # The lock lives exactly as long as this session; asking the server proves both.
            row = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid()"
            ).fetchone()
        except psycopg.Error:
            self._forget()
            return False
        if row is None or row[0] == 0:
            self._forget()
            return False
        return True

    def release(self) -> None:
        # Closing the session releases the lock server-side; no unlock round-trip needed.
        self._forget()

    def backend_pid(self) -> int | None:
        """The server process of the lock's session while held (operators can look it up)."""
        connection = self._connection
        return None if connection is None else int(connection.info.backend_pid)

    def _forget(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


class FileLeadership:
    """An exclusive `flock` on `<database file>.<relay>.lock`, for processes on one host."""

    def __init__(self, database_path: Path, relay_name: str) -> None:
        self.path = database_path.with_name(f"{database_path.name}.{relay_name}.lock")
        self._descriptor: int | None = None

    def try_acquire(self) -> bool:
        if self._descriptor is not None:
            return self.still_leader()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return False
        except BaseException:
            os.close(descriptor)
            raise
        self._descriptor = descriptor
        if not self._holds_the_file_at_path():
            # The file was replaced between open and lock; the lock on the old one is worthless.
            self.release()
            return False
        return True

    def still_leader(self) -> bool:
        if self._descriptor is None:
            return False
        if not self._holds_the_file_at_path():
            self.release()
            return False
        return True

    def release(self) -> None:
        descriptor, self._descriptor = self._descriptor, None
        if descriptor is not None:
            os.close(descriptor)  # closing the only descriptor drops the flock

    def _holds_the_file_at_path(self) -> bool:
        """A lock file deleted or replaced under us would let another process lock a new one."""
        if self._descriptor is None:
            return False
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return False
        held = os.fstat(self._descriptor)
        return (at_path.st_dev, at_path.st_ino) == (held.st_dev, held.st_ino)


def leadership_for(store_url: str, relay_name: str, *, schema: str = "") -> RelayLeadership:
    """The leader lock of `relay_name` on the store at `store_url` (sqlite:/// or postgresql://).

    `schema` is the PostgreSQL schema of the store, so that two stores in one database (one per
    service) never share a key.
    """
    parsed = urlparse(store_url)
    if parsed.scheme == "sqlite":
        # resolve(): one lock file however the path is spelled (sqlite:////abs gives //abs).
        return FileLeadership(Path(unquote(parsed.path)).resolve(), relay_name)
    if parsed.scheme in {"postgresql", "postgres"}:
        return PostgresLeadership(store_url, relay_name, schema=schema)
    raise ValueError(f"unsupported store URL scheme {parsed.scheme!r} (sqlite or postgresql)")


_leader_gauges: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def relay_leader_gauge(metrics: ServiceMetrics) -> Gauge:
    """`northstar_relay_leader{relay}`: 1 while this process leads the relay, 0 on standby."""
    gauge = _leader_gauges.get(metrics.registry)
    if gauge is None:
        gauge = Gauge(
            PREFIX + "relay_leader",
            "1 while this process holds the relay's leader lock and publishes, 0 on standby.",
            ["relay"],
            registry=metrics.registry,
        )
        _leader_gauges[metrics.registry] = gauge
    return gauge
