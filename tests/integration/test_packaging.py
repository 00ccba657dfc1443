"""What an operator gets from a clean checkout: a wheel that carries its gRPC code, installed with
the runtime lockfile into a fresh virtualenv, whose `northstar-<service>` commands start every
service against the real Kafka. The running services are then checked as Prometheus and a log
pipeline would see them: every line they write is JSON, and every series the dashboard and the
alert rules read is one they export."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.test_observability import (
    DASHBOARD,
    PROMETHEUS_SERIES,
    alert_rules,
    dashboard_expressions,
    metric_names,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Every service with an entry point; writers first (as make run starts them), projections last.
SERVICES = sorted(
    (path.parent.name for path in (REPO / "services").glob("*/__main__.py")),
    key=lambda name: (name == "projections", name),
)
GRPC_NAMES = {
    "directory": "northstar.directory.v1.DirectoryService",
    "feedback": "northstar.feedback.v1.FeedbackService",
    "goals": "northstar.goals.v1.GoalService",
    "kpi": "northstar.kpi.v1.KpiService",
    "projections": "northstar.projections.v1.ProjectionService",
}
START_TIMEOUT_SECONDS = 120


def clean_checkout(target: Path) -> Path:
    """What `git clone` of this tree gives: tracked and new files, none that git ignores (so no
    .venv, .cache, build output or generated northstar/ code)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert not (target / "northstar").exists()
    return target


def run(command: list[str], cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the runtime lockfile and the wheel of a clean checkout; its bin/."""
    root = tmp_path_factory.mktemp("packaging")
    checkout = clean_checkout(root / "checkout")
    # Built like the images build it: the pinned build tools (requirements/build.lock, which the
    # development environment installs too), no build isolation, nothing generated beforehand.
    # The published language is a distribution of its own, which every service depends on.
    for project in ("./contracts", "."):
        run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
             "dist", project],
            cwd=checkout,
        )  # fmt: skip
    wheel = next((checkout / "dist").glob("northstar-*.whl"))
    contracts_wheel = next((checkout / "dist").glob("northstar_contracts-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        scripts = archive.read(entry_points).decode()
    for service in SERVICES:
        assert f"northstar/{service}/v1/{service}_pb2.py" in names
        assert f"northstar/{service}/v1/{service}_pb2_grpc.py" in names
        assert f"northstar-{service} = services.{service}.__main__:cli" in scripts
    # The clients come along with their templates: the web pages render from the wheel too.
    assert "northstar = northstar_cli.app:main" in scripts
    assert "webapp/templates/base.html" in names
    elsewhere = ("devstack/", "tests/", "northstar_contracts/")
    assert not any(name.startswith(elsewhere) for name in names)

    venv = root / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=root)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "install", "--require-hashes", "-r", "requirements/runtime.lock"], cwd=checkout)
    run([*pip, "install", "--no-deps", str(contracts_wheel), str(wheel)], cwd=checkout)
    run([*pip, "check"], cwd=checkout)
    return venv / "bin"


def test_the_runtime_has_no_build_or_test_tools(installed: Path) -> None:
    modules = "('grpc_tools', 'testcontainers', 'pytest', 'devstack')"
    probe = f"import importlib.util as u; print([m for m in {modules} if u.find_spec(m)])"
    found = run([str(installed / "python"), "-c", probe], cwd=installed)
    assert found.strip() == "[]"


@pytest.mark.parametrize("service", SERVICES)
def test_help_lists_every_setting_and_starts_nothing(installed: Path, service: str) -> None:
    from services.shared.launcher import setting_variable
    from services.shared.settings import ServiceSettings

    shown = run([str(installed / f"northstar-{service}"), "--help"], cwd=installed, timeout=60)
    for name in ServiceSettings.model_fields:
        assert setting_variable(name) in shown
    assert "serving" not in shown


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[str]
    lines: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    seen: list[tuple[str, str]] = field(default_factory=list)
    serving: dict[str, object] = field(default_factory=dict)

    def read(self, stream_name: str) -> None:
        stream = self.process.stdout if stream_name == "stdout" else self.process.stderr
        assert stream is not None
        for line in stream:
            self.lines.put((stream_name, line.rstrip("\n")))

    def wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                stream, line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.process.poll() is None, f"{self.name} exited: {self.seen}"
                continue
            self.seen.append((stream, line))
            entry = json.loads(line)
            if entry.get("event") == "serving":
                self.serving = entry
                return
        raise AssertionError(
            f"{self.name} did not serve within {START_TIMEOUT_SECONDS}s: {self.seen}"
        )

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=60)
        time.sleep(0.2)  # the reader threads drain the pipes
        while not self.lines.empty():
            self.seen.append(self.lines.get_nowait())
        return code


def start(installed: Path, service: str, env: dict[str, str], cwd: Path) -> ServiceProcess:
    process = subprocess.Popen(
        [str(installed / f"northstar-{service}")],
        cwd=cwd,  # not the repository: only the installed wheel is importable
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = ServiceProcess(service, process)
    for stream_name in ("stdout", "stderr"):
        threading.Thread(target=running.read, args=(stream_name,), daemon=True).start()
    return running


def exported_series(metrics_text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{suffix}" for suffix in ("bucket", "sum", "count")}
    return names


def test_every_service_starts_from_its_entry_point_logs_json_and_exports_what_dashboards_read(
    installed: Path, kafka_bootstrap_servers: str, tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NORTHSTAR_DATA_DIR": str(tmp_path / "data"),
        "NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap_servers,
        "NORTHSTAR_TOPIC_NAMESPACE": f"pkg{uuid.uuid4().hex[:10]}",
    }
    running: list[ServiceProcess] = []
    try:
        for service in SERVICES:
            process = start(installed, service, env, cwd=tmp_path)
            running.append(process)
            process.wait_serving()
        exported: set[str] = set()
        for process in running:
            address = str(process.serving["grpc_address"])
            health = [
                str(installed / "northstar-healthcheck"),
                "--address",
                address,
                "--service",
                GRPC_NAMES[process.name],
            ]
            assert "SERVING" in run(health, cwd=tmp_path, timeout=30)
            with urllib.request.urlopen(str(process.serving["metrics_url"]), timeout=10) as answer:
                text = answer.read().decode()
            series = exported_series(text)
            assert {"process_cpu_seconds_total", "python_info"} <= series, process.name
            exported |= series
    finally:
        codes = {process.name: process.stop() for process in reversed(running)}
    assert codes == dict.fromkeys(SERVICES, 0)

    readers = [*dashboard_expressions(json.loads(DASHBOARD.read_text()))]
    readers += [rule["expr"] for rule in alert_rules()]
    for expression in readers:
        missing = metric_names(expression) - exported - PROMETHEUS_SERIES
        assert not missing, f"{expression} reads {missing}, which no running service exports"

    for process in running:
        assert process.seen, process.name
        for stream, line in process.seen:
            entry = json.loads(line)  # every line, on either stream, is one JSON object
            assert entry["service"] == process.name, (stream, line)
            assert {"time", "level", "logger", "message"} <= entry.keys()
        loggers = {json.loads(line)["logger"] for _, line in process.seen}
        assert any(name.startswith(("faststream", "aiokafka")) for name in loggers) or (
            process.name == "projections"
        ), loggers


@pytest.mark.parametrize(
    ("command", "setting", "value", "named"),
    [
        # The projections need Kafka to start (writing services start without it).
        (
            "northstar-projections",
            "NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS",
            "127.0.0.1:1",
            "cannot reach Kafka at 127.0.0.1:1",
        ),
        (
            "northstar-goals",
            "NORTHSTAR_STORE_URL",
            "postgresql://northstar:secret@127.0.0.1:1/northstar",
            "cannot reach the store at postgresql://northstar:***@127.0.0.1:1/northstar",
        ),
    ],
)
def test_an_unreachable_dependency_is_one_line_naming_it_and_a_failed_exit(
    installed: Path, tmp_path: Path, command: str, setting: str, value: str, named: str
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "NORTHSTAR_DATA_DIR": str(tmp_path),
        setting: value,
    }
    done = subprocess.run(
        [str(installed / command)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL"
    assert named in entry["message"]
    assert setting in entry["message"]
    assert "secret" not in lines[0]
    assert "Traceback" not in lines[0]
