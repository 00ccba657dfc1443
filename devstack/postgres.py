"""A throw-away local PostgreSQL server (initdb into a temporary folder) for tests and local runs.

PostgreSQL refuses to run as root, so when we are root it runs as the `postgres` user.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import psycopg

from devstack.kafka import die_with_parent, free_loopback_port, log_tail

DEBIAN_BIN_DIRS_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_ACCOUNT = "postgres"
SUPERUSER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL's programs are missing or the server did not start; the message says why."""


@dataclass(frozen=True)
class PostgresPrograms:
    initdb: Path
    pg_ctl: Path
    postgres: Path


def find_postgres_programs() -> PostgresPrograms:
    """initdb, pg_ctl and postgres from one installation: PATH first, else Debian's newest."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += sorted(
        (Path(folder) for folder in glob.glob(DEBIAN_BIN_DIRS_GLOB)),
        key=_major_version_of_folder,
        reverse=True,
    )
    for folder in candidates:
        programs = PostgresPrograms(
            initdb=folder / "initdb", pg_ctl=folder / "pg_ctl", postgres=folder / "postgres"
        )
        if all(path.is_file() for path in (programs.initdb, programs.pg_ctl, programs.postgres)):
            return programs
    raise PostgresUnavailableError(
        "PostgreSQL's initdb/pg_ctl/postgres were not found on PATH nor in "
        f"{DEBIAN_BIN_DIRS_GLOB} (install Debian's `postgresql` package)"
    )


def _major_version_of_folder(folder: Path) -> int:
    # /usr/lib/postgresql/15/bin -> 15
    return int(folder.parent.name) if folder.parent.name.isdigit() else 0


_running_servers: set[LocalPostgres] = set()


@atexit.register
def _stop_running_servers() -> None:
    for server in list(_running_servers):
        server.stop()


class LocalPostgres:
    """A PostgreSQL server on 127.0.0.1 with trust authentication, data in a temporary folder.

    `start()` runs initdb, starts the server on a free port (unix socket in the same folder),
    waits until it accepts connections and creates `dbname`; `stop()` shuts it down fast and
    removes the folder.
    """

    host = "127.0.0.1"
    user = SUPERUSER

    def __init__(
        self, *, dbname: str = "northstar", start_timeout: float = 60.0, stop_timeout: float = 30.0
    ) -> None:
        self.dbname = dbname
        self.port = 0
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._base_dir: Path | None = None
        self._programs: PostgresPrograms | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def dsn(self) -> str:
        """libpq URL of the created database."""
        return self.dsn_for(self.dbname)

    def dsn_for(self, dbname: str) -> str:
        if self._process is None:
            raise PostgresUnavailableError("LocalPostgres is not running; call start() first")
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def log_path(self) -> Path:
        if self._base_dir is None:
            raise PostgresUnavailableError("LocalPostgres has no folder yet; call start() first")
        return self._base_dir / "postgres.log"

    def server_version(self) -> str:
        """The running server's version, e.g. "15.18"."""
        with psycopg.connect(self.dsn) as connection:
            row = connection.execute("SHOW server_version").fetchone()
        assert row is not None
        return str(row[0]).split()[0]

    def start(self) -> Self:
        if self._process is not None:
            return self
        self._programs = find_postgres_programs()
        account = _server_account()
        self._base_dir = Path(tempfile.mkdtemp(prefix="northstar-pg-"))
        _running_servers.add(self)
        try:
            if account is not None:
                os.chown(self._base_dir, account.pw_uid, account.pw_gid)
            self._initdb()
            self.port = free_loopback_port()
            self._launch()
            self._wait_until_ready()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """`pg_ctl stop -m fast`, then SIGKILL if it hangs; removes the folder; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            assert self._programs is not None
            assert self._base_dir is not None
            subprocess.run(
                [str(self._programs.pg_ctl), "stop", "-m", "fast", "-D", str(self._data_dir)],
                capture_output=True,
                check=False,
                **self._as_server_account(),
            )
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._base_dir is not None:
            shutil.rmtree(self._base_dir, ignore_errors=True)
            self._base_dir = None
        _running_servers.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def _data_dir(self) -> Path:
        assert self._base_dir is not None
        return self._base_dir / "data"

    def _as_server_account(self) -> dict[str, Any]:
        """subprocess options that run a program as the `postgres` account when we are root."""
        options: dict[str, Any] = {"cwd": self._base_dir, "stdin": subprocess.DEVNULL}
        if _server_account() is not None:
            options.update(user=SERVER_ACCOUNT, group=SERVER_ACCOUNT, extra_groups=[])
        return options

    def _initdb(self) -> None:
        assert self._programs is not None
        command = [
            str(self._programs.initdb),
            "-D",
            str(self._data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, **self._as_server_account()
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresUnavailableError(f"initdb failed: {' '.join(command)}\n{output}")

    def _launch(self) -> None:
        assert self._programs is not None
        assert self._base_dir is not None
        # Opened by us (perhaps root) before the server drops to the postgres account.
        self._log_file = self.log_path.open("ab")
        command = [
            str(self._programs.postgres),
            "-D",
            str(self._data_dir),
            "-p",
            str(self.port),
            "-k",
            str(self._base_dir),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            "max_connections=200",
            # Throw-away data: durability costs time and buys nothing here.
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
        self._process = subprocess.Popen(
            command,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
            **self._as_server_account(),
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        last_error = "no attempt yet"
        while True:
            assert self._process is not None
            exit_code = self._process.poll()
            if exit_code is not None:
                raise PostgresUnavailableError(
                    f"PostgreSQL exited with code {exit_code} while starting; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                with psycopg.connect(self.dsn_for("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError as error:
                last_error = str(error).strip()
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(
                    f"PostgreSQL did not accept connections on {self.host}:{self.port} within "
                    f"{self._start_timeout:.0f} s ({last_error}); last lines of "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.1)

    def _create_database(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.dbname):
            raise PostgresUnavailableError(
                f"database name {self.dbname!r} is not a plain identifier"
            )
        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {self.dbname}")


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise PostgresUnavailableError(
            f"running as root, and PostgreSQL refuses root: the `{SERVER_ACCOUNT}` account is "
            "missing (Debian's `postgresql` package creates it)"
        ) from None
