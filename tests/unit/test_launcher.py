"""A service's command line as an operator meets it: --help lists the settings and starts
nothing; a missing Kafka or store is one JSON line saying which and where, and a failed exit."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.shared.launcher import (
    DependencyUnreachable,
    PortUnavailable,
    check_dependencies,
    check_kafka,
    check_ports,
    check_store,
    redacted,
    setting_variable,
)
from services.shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/__main__.py"))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_service(service: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", f"services.{service}", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_help_lists_every_setting_and_exits_without_starting(service: str, tmp_path: Path) -> None:
    # Kafka is absent on purpose: --help must not try to reach it.
    done = run_service(
        service,
        "--help",
        NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{closed_port()}",
        NORTHSTAR_DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: northstar-{service}")
    for field in ServiceSettings.model_fields:
        assert setting_variable(field) in done.stdout
    assert done.stderr == ""
    assert not list(tmp_path.iterdir()), "--help created a store"


@pytest.mark.parametrize(("service", "args"), [("goals", ("--check",)), ("projections", ())])
def test_kafka_absent_is_one_line_naming_kafka_and_its_address(
    service: str, args: tuple[str, ...], tmp_path: Path
) -> None:
    # --check requires Kafka; the projections cannot start without it (their read models
    # catch up first). Writing services start without it: see the next test.
    address = f"127.0.0.1:{closed_port()}"
    done = run_service(
        service, *args, NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS=address, NORTHSTAR_DATA_DIR=str(tmp_path)
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL"
    assert entry["service"] == service
    assert (
        f"cannot reach Kafka at {address} (NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS)" in (entry["message"])
    )
    assert "Traceback" not in lines[0]


def test_a_writing_service_starts_without_kafka_after_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    settings = ServiceSettings(kafka_bootstrap_servers=address, data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="northstar.launcher"):
        check_dependencies("goals", settings, kafka_required=False)
    (warning,) = caplog.records
    assert f"cannot reach Kafka at {address}" in warning.getMessage()
    with pytest.raises(DependencyUnreachable, match="is not host:port"):
        check_dependencies(
            "goals", ServiceSettings(kafka_bootstrap_servers="kafka"), kafka_required=False
        )


def test_an_invalid_setting_is_one_line_naming_the_variable() -> None:
    done = run_service("projections", NORTHSTAR_GRPC_PORT="fifty")
    assert done.returncode == 2
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    assert "NORTHSTAR_GRPC_PORT" in json.loads(lines[0])["message"]


def test_an_unreachable_postgresql_store_is_named_without_its_password() -> None:
    settings = ServiceSettings(
        store_url=f"postgresql://northstar:s3cret@127.0.0.1:{closed_port()}/northstar"
    )
    with pytest.raises(DependencyUnreachable) as unreachable:
        check_store("goals", settings)
    message = str(unreachable.value)
    assert "cannot reach the store at postgresql://northstar:***@127.0.0.1:" in message
    assert "NORTHSTAR_STORE_URL" in message
    assert "s3cret" not in message


def test_an_unwritable_sqlite_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = ServiceSettings(data_dir=blocker / "data")
    with pytest.raises(DependencyUnreachable, match="cannot write the store at sqlite:///"):
        check_store("goals", settings)


def test_kafka_counts_as_reachable_when_any_bootstrap_server_answers() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        check_kafka(
            ServiceSettings(kafka_bootstrap_servers=f"127.0.0.1:{closed_port()},127.0.0.1:{port}")
        )
    with pytest.raises(DependencyUnreachable, match="is not host:port"):
        check_kafka(ServiceSettings(kafka_bootstrap_servers="kafka"))


def test_redacted_hides_only_the_password() -> None:
    assert redacted("postgresql://u:pw@db:5432/n") == "postgresql://u:***@db:5432/n"
    assert redacted("sqlite:///tmp/goals.db") == "sqlite:///tmp/goals.db"


def test_a_taken_fixed_port_is_named_with_its_setting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortUnavailable) as unavailable:
            check_ports(ServiceSettings(grpc_host="127.0.0.1", metrics_port=port))
    assert str(unavailable.value).startswith(
        f"cannot listen on 127.0.0.1:{port} (NORTHSTAR_METRICS_PORT): "
    )
    check_ports(ServiceSettings(grpc_port=0, metrics_port=0))  # 0: any free port, nothing to check
