"""One `make run` with the demo organisation, shared by the people-facing tests (console command,
web pages, demo): started the way a person starts it, in a fresh data folder on free ports."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# From a fresh data folder to "Northstar is running" with the demo loaded and read models caught
# up: the README promises the tour within five minutes of `make run` (setup included).
START_DEADLINE_SECONDS = 240.0


@dataclass
class DemoSystem:
    process: subprocess.Popen[str]
    base_port: int
    web_port: int
    data_dir: Path
    output: list[str]
    started_in_seconds: float

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def address(self, offset: int) -> str:
        return f"127.0.0.1:{self.base_port + offset}"

    @property
    def kafka_bootstrap_servers(self) -> str:
        """From make run's "kafka: Apache Kafka <version> at <servers>" line."""
        for line in self.output:
            if line.startswith("kafka: ") and " at " in line:
                return line.rsplit(" at ", 1)[1].strip()
        raise AssertionError("make run printed no Kafka address")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def free_ports() -> tuple[int, int]:
    """A base port whose gRPC (base..base+4) and metrics (base+100..) ports are free, and a
    free web port."""
    # Below the ephemeral range (32768+), where outgoing connections take their local ports.
    for base in range(24000, 32600, 223):
        ports = [*range(base, base + 5), *range(base + 100, base + 105), base + 50]
        if all(_is_free(port) for port in ports):
            return base, base + 50
    raise RuntimeError("no free block of ports")


def announce(config: pytest.Config, line: str) -> None:
    """Writes past output capture, so the line shows in the run's log even without -s."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(scope="session")
def demo_system(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[DemoSystem]:
    data_dir = tmp_path_factory.mktemp("make-run-demo")
    base_port, web_port = free_ports()
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.run",
            "--data-dir",
            str(data_dir),
            "--base-port",
            str(base_port),
            "--web-port",
            str(web_port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        if "Northstar is running" in line or time.monotonic() - started > START_DEADLINE_SECONDS:
            break
    if "Northstar is running" not in "".join(output):
        process.kill()
        raise AssertionError("make run did not come up:\n" + "".join(output[-60:]))
    for line in process.stdout:  # the endpoints and the tour hint follow
        output.append(line)
        if "northstar tree" in line:
            break
    elapsed = time.monotonic() - started
    announce(pytestconfig, f"make run with the demo organisation: up in {elapsed:.0f}s")
    system = DemoSystem(process, base_port, web_port, data_dir, output, elapsed)
    # Keep reading, so a full pipe never blocks the supervisor.
    threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True).start()
    try:
        yield system
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
