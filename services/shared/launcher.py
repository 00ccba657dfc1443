"""The command line of every service process: `northstar-<service>` (the same as
`python -m services.<service>`).

`--help` lists every setting (environment variable, default, meaning) and starts nothing.
Before starting, the process checks that its ports are free and that its store answers: an
operator who forgot one reads a single log line naming which one and where, and the process
exits non-zero, without a traceback. Kafka unreachable is one warning line, and the service
starts anyway (its relay and consumers connect when the broker answers), unless it cannot work
without it (the projections, whose read models catch up before they serve). `--check` requires
all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
from collections.abc import Callable, Coroutine, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import ValidationError

from services.shared.logs import configure_logging
from services.shared.settings import ServiceSettings

logger = logging.getLogger("northstar.launcher")

KAFKA_CONNECT_TIMEOUT_SECONDS = 5.0
STORE_CONNECT_TIMEOUT_SECONDS = 5
EXIT_UNREACHABLE = 1
EXIT_BAD_SETTINGS = 2

Serve = Callable[[ServiceSettings], Coroutine[Any, Any, None]]


class CannotStart(Exception):
    """A check before starting failed; the message is the one line an operator reads."""


class DependencyUnreachable(CannotStart):
    """Kafka or the store does not answer; the message says which one, where, and why."""


class PortUnavailable(CannotStart):
    """A fixed gRPC or metrics port cannot be listened on (another process has it)."""


def setting_variable(field: str) -> str:
    prefix = str(ServiceSettings.model_config.get("env_prefix", ""))
    return f"{prefix}{field.upper()}"


def settings_help() -> str:
    lines = ["settings (environment variables):"]
    for name, field in ServiceSettings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "empty" if default in ("", None) else str(default)
        lines.append(f"  {setting_variable(name)}  (default: {shown})")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)


def build_parser(service: str, summary: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"northstar-{service}",
        description=summary.strip(),
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the settings and that Kafka and the store answer, then exit (0: all good)",
    )
    return parser


def _version() -> str:
    try:
        return metadata.version("northstar")
    except metadata.PackageNotFoundError:
        return "unknown"


def redacted(url: str) -> str:
    """A store URL fit for a log line: the password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def bootstrap_addresses(bootstrap_servers: str) -> list[tuple[str, int]]:
    addresses = []
    for entry in bootstrap_servers.split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdecimal():
            raise DependencyUnreachable(
                f"Kafka address {entry.strip()!r} in {setting_variable('kafka_bootstrap_servers')}"
                " is not host:port"
            )
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def check_kafka(settings: ServiceSettings) -> None:
    """At least one bootstrap server accepts a connection (the client finds the rest)."""
    reasons = []
    for host, port in bootstrap_addresses(settings.kafka_bootstrap_servers):
        try:
            with socket.create_connection((host, port), timeout=KAFKA_CONNECT_TIMEOUT_SECONDS):
                return
        except OSError as error:
            reasons.append(f"{host}:{port}: {error.strerror or error}")
    raise DependencyUnreachable(
        f"cannot reach Kafka at {settings.kafka_bootstrap_servers} "
        f"({setting_variable('kafka_bootstrap_servers')}): {'; '.join(reasons)}"
    )


def check_store(service: str, settings: ServiceSettings) -> None:
    url = settings.store_url_for(service)
    where = f"the store at {redacted(url)} ({setting_variable('store_url')})"
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        folder = Path(unquote(urlsplit(url).path)).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".{service}.write-check"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise DependencyUnreachable(
                f"cannot write {where}: {error.strerror or error}"
            ) from None
    elif scheme in {"postgresql", "postgres"}:
        import psycopg

        try:
            psycopg.connect(url, connect_timeout=STORE_CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.Error as error:
            reason = " ".join(str(error).split())
            raise DependencyUnreachable(f"cannot reach {where}: {reason}") from None
    else:
        raise DependencyUnreachable(f"{where} is neither sqlite:// nor postgresql://")


def check_ports(settings: ServiceSettings) -> None:
    """The fixed ports are free (0 picks a free one at start). SO_REUSEADDR, as the servers
    bind: a port a stopped process left in TIME_WAIT is free, not taken."""
    for field in ("grpc_port", "metrics_port"):
        port = int(getattr(settings, field))
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in settings.grpc_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.grpc_host, port))
            except OSError as error:
                raise PortUnavailable(
                    f"cannot listen on {settings.grpc_host}:{port} ({setting_variable(field)}): "
                    f"{error.strerror or error}"
                ) from None


def check_dependencies(
    service: str, settings: ServiceSettings, *, kafka_required: bool = True
) -> None:
    """Raises CannotStart for a taken port, an unreachable store, and an unreachable Kafka when
    `kafka_required`; otherwise an unreachable Kafka is a warning (a malformed address is not)."""
    check_ports(settings)
    check_store(service, settings)
    try:
        check_kafka(settings)
    except DependencyUnreachable as error:
        bootstrap_addresses(settings.kafka_bootstrap_servers)  # a malformed address is fatal
        if kafka_required:
            raise
        logger.warning(
            "%s: %s; starting anyway: commands are stored and published when Kafka answers",
            service,
            error,
        )


def _unreachable_during_start(error: BaseException, settings: ServiceSettings) -> str | None:
    """What a failure during start means for an operator, when it is a dependency going away
    between the check and the start (the check passed)."""
    from aiokafka.errors import KafkaConnectionError, KafkaError

    if isinstance(error, KafkaConnectionError | KafkaError):
        return (
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers} "
            f"({setting_variable('kafka_bootstrap_servers')}): {error}"
        )
    import psycopg
    from eventsourcing.persistence import OperationalError

    if isinstance(error, psycopg.OperationalError | OperationalError):
        return f"cannot reach the store ({setting_variable('store_url')}): {error}"
    return None


def run_service(
    service: str,
    summary: str,
    serve: Serve,
    argv: Sequence[str] | None = None,
    *,
    needs_kafka_to_start: bool = False,
) -> int:
    """Parses the command line, checks the settings and dependencies, serves until signalled;
    returns the process's exit status. Only a service that `needs_kafka_to_start` refuses to
    start without Kafka; `--check` always requires it."""
    args = build_parser(service, summary).parse_args(argv)
    configure_logging(service=service)
    try:
        settings = ServiceSettings()
    except ValidationError as error:
        problems = "; ".join(
            f"{setting_variable(str(issue['loc'][0]))}: {issue['msg']}" for issue in error.errors()
        )
        logger.critical("%s: invalid settings: %s", service, problems)
        return EXIT_BAD_SETTINGS
    try:
        check_dependencies(service, settings, kafka_required=needs_kafka_to_start or args.check)
    except CannotStart as error:
        logger.critical("%s: %s", service, error)
        return EXIT_UNREACHABLE
    if args.check:
        logger.info("%s: settings valid, Kafka and the store answer", service)
        return 0
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        return 0
    except Exception as error:
        meaning = _unreachable_during_start(error, settings)
        if meaning is None:
            logger.critical("%s: stopped by an unexpected error", service, exc_info=True)
        else:
            logger.critical("%s: %s", service, meaning)
        return EXIT_UNREACHABLE
    return 0
