"""`make run`: Apache Kafka and every service on one machine, SQLite stores under one folder.

Kafka keeps its data (and its ports) under <data>/kafka and every service its SQLite file under
<data>, so a restart continues where the last run stopped. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
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

from devstack.demo_load import load_demo
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


def start_web(
    data_dir: Path, base_port: int, web_port: int, lines: queue.Queue[str]
) -> RunningService:
    """The web pages (webapp/): a client of the services' gRPC APIs, like the console command."""
    log_path = data_dir / "logs" / "web.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "webapp",
            "--port",
            str(web_port),
            "--grpc-base-port",
            str(base_port),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    threading.Thread(
        target=_forward_output, args=("web", process, log_path, lines), daemon=True
    ).start()
    return RunningService("web", process, web_port, 0)


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
        recent.setdefault(name, deque(maxlen=5)).append(text)
        if is_serving_line(text) or text.startswith(f"{name}: http="):
            pending.discard(name)


def _drain(lines: queue.Queue[str], recent: dict[str, deque[str]]) -> None:
    while True:
        try:
            name, _, text = lines.get_nowait().partition("|")
        except queue.Empty:
            return
        recent.setdefault(name, deque(maxlen=5)).append(text)


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
    parser.add_argument(
        "--web-port", type=int, default=8080, help="port of the web pages (0: no web pages)"
    )
    parser.add_argument(
        "--no-demo",
        action="store_true",
        help="do not load the demo organisation on first start (make run DEMO=0)",
    )
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
        if args.web_port:
            services.append(start_web(data_dir, args.base_port, args.web_port, lines))
        try:
            wait_until_serving(services, lines)
            if not args.no_demo:
                print("demo: loading the demo organisation (first start only) ...", flush=True)
                print(f"demo: {load_demo_safely(args.base_port, data_dir)}", flush=True)
            print_endpoints(services, data_dir, args.base_port)
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


def load_demo_safely(base_port: int, data_dir: Path) -> str:
    """The demo's outcome in words; a failure is reported and the system keeps running."""
    try:
        return asyncio.run(load_demo("127.0.0.1", base_port, data_dir))
    except Exception as error:  # the services stay useful without the demo
        return f"could not load the demo organisation: {type(error).__name__}: {error}"


def print_endpoints(services: list[RunningService], data_dir: Path, base_port: int) -> None:
    print("\nNorthstar is running (Ctrl-C stops it):", flush=True)
    for service in services:
        if service.name == "web":
            continue
        print(
            f"  {service.name:<12} grpc 127.0.0.1:{service.grpc_port}   "
            f"metrics http://127.0.0.1:{service.metrics_port}/metrics"
        )
    print(f"  data        {data_dir} (SQLite stores, Kafka log, service logs)")
    for service in services:
        if service.name == "web":
            print(
                f"\n  Open http://127.0.0.1:{service.grpc_port}/ in a browser (log in as anyone)."
            )
    port = "" if base_port == 50051 else f" --base-port {base_port}"
    print(
        "  In a terminal: .venv/bin/northstar login --dev --as lena.fischer --tenant acme "
        f"--role manager{port}\n                  .venv/bin/northstar tree\n",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
