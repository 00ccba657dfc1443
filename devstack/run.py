"""`make run`: Apache Kafka and every service on one machine, SQLite stores under one folder.

Kafka keeps its data (and its ports) under <data>/kafka and every service its SQLite file under
<data>, so a restart continues where the last run stopped. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from devstack.kafka import LocalKafka, ensure_kafka_jars, kafka_version
from services.shared.runtime import SERVING_EVENT

REPO = Path(__file__).resolve().parent.parent
# gRPC port = base + offset, metrics port = base + 100 + offset: stable ports for clients.
SERVICE_PORTS = {"directory": 0, "goals": 1, "feedback": 2, "kpi": 3, "projections": 4}
START_TIMEOUT_SECONDS = 60.0


@dataclass
class RunningService:
    name: str
    process: subprocess.Popen[str]
    grpc_port: int
    metrics_port: int


def available_services() -> list[str]:
    """Services that exist in this checkout, in start order (writers before projections)."""
    return [name for name in SERVICE_PORTS if (REPO / "services" / name / "__main__.py").exists()]


def start_service(
    name: str, data_dir: Path, bootstrap: str, base_port: int, lines: queue.Queue[str]
) -> RunningService:
    offset = SERVICE_PORTS[name]
    grpc_port, metrics_port = base_port + offset, base_port + 100 + offset
    env = {
        **os.environ,
        "NORTHSTAR_DATA_DIR": str(data_dir),
        "NORTHSTAR_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "NORTHSTAR_GRPC_PORT": str(grpc_port),
        "NORTHSTAR_METRICS_PORT": str(metrics_port),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = data_dir / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(
        target=_forward_output, args=(name, process, log_path, lines), daemon=True
    ).start()
    return RunningService(name, process, grpc_port, metrics_port)


def _forward_output(
    name: str, process: subprocess.Popen[str], log_path: Path, lines: queue.Queue[str]
) -> None:
    assert process.stdout is not None
    with log_path.open("a") as log:
        for line in process.stdout:
            log.write(line)
            log.flush()
            lines.put(f"{name}|{line.rstrip()}")


def wait_until_serving(services: list[RunningService], lines: queue.Queue[str]) -> None:
    pending = {service.name for service in services}
    recent: dict[str, deque[str]] = {service.name: deque(maxlen=5) for service in services}
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while pending:
        for service in services:
            if service.process.poll() is not None:
                time.sleep(0.2)  # its last lines are still on their way through the queue
                _drain(lines, recent)
                last = "\n  ".join(recent[service.name]) or "(nothing)"
                raise RuntimeError(
                    f"{service.name} exited with {service.process.returncode}; its last lines "
                    f"(the whole log is under the data folder):\n  {last}"
                )
        try:
            name, _, text = lines.get(timeout=0.5).partition("|")
        except queue.Empty:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"not serving after {START_TIMEOUT_SECONDS:g}s: {pending}"
                ) from None
            continue
        recent[name].append(text)
        if is_serving_line(text):
            pending.discard(name)


def _drain(lines: queue.Queue[str], recent: dict[str, deque[str]]) -> None:
    while True:
        try:
            name, _, text = lines.get_nowait().partition("|")
        except queue.Empty:
            return
        recent[name].append(text)


def is_serving_line(text: str) -> bool:
    """The JSON log line a service writes once it serves (services/shared/runtime.py)."""
    try:
        entry = json.loads(text)
    except ValueError:
        return False
    return isinstance(entry, dict) and entry.get("event") == SERVING_EVENT


def stop_services(services: list[RunningService]) -> None:
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    for service in services:
        try:
            service.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data")
    parser.add_argument("--base-port", type=int, default=50051)
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_kafka_jars()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    lines: queue.Queue[str] = queue.Queue()
    with LocalKafka(data_dir / "kafka") as kafka:
        print(f"kafka: Apache Kafka {kafka_version()} at {kafka.bootstrap_servers}", flush=True)
        services = [
            start_service(name, data_dir, kafka.bootstrap_servers, args.base_port, lines)
            for name in available_services()
        ]
        try:
            wait_until_serving(services, lines)
            print_endpoints(services, data_dir)
            while not stopping.is_set():
                if any(service.process.poll() is not None for service in services):
                    print("a service stopped unexpectedly; shutting down", flush=True)
                    return 1
                stopping.wait(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            print("stopping services and Kafka ...", flush=True)
            stop_services(services)
    return 0


def print_endpoints(services: list[RunningService], data_dir: Path) -> None:
    print("\nNorthstar is running (Ctrl-C stops it):", flush=True)
    for service in services:
        print(
            f"  {service.name:<12} grpc 127.0.0.1:{service.grpc_port}   "
            f"metrics http://127.0.0.1:{service.metrics_port}/metrics"
        )
    print(f"  data        {data_dir} (SQLite stores, Kafka log, service logs)")
    print(
        "  a dev token: .venv/bin/python -m services.shared.cli mint-token "
        "--subject me --tenant acme --role hr_admin\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
