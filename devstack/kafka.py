"""Apache Kafka from its own jars (resolved by deploy/kafka/pom.xml) as a local KRaft node.

Used by `make run` (persistent data folder) and by the tests (a throw-away folder each time).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import ctypes
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

REPO_ROOT = Path(__file__).resolve().parent.parent
POM_PATH = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LOG4J_CONFIG_PATH = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
DEFAULT_CACHE_DIR = REPO_ROOT / ".cache" / "kafka"
MINIMUM_JAVA_MAJOR = 17
KAFKA_JAR_PATTERN = re.compile(r"^kafka_2\.13-(?P<version>[0-9][^/]*)\.jar$")
REPORTED_VERSION_PATTERN = re.compile(r"Kafka version: (?P<version>\S+)")
LOG_TAIL_LINES = 40


class KafkaUnavailableError(RuntimeError):
    """Kafka's jars could not be fetched or the broker did not start; the message says why."""


# --- the jars ---------------------------------------------------------------------------------


def pom_kafka_version() -> str:
    """The Kafka version deploy/kafka/pom.xml asks for (its `kafka.version` property)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ElementTree.parse(POM_PATH).find("m:properties/m:kafka.version", namespace)
    if element is None or not element.text:
        raise KafkaUnavailableError(f"{POM_PATH} has no <kafka.version> property")
    return element.text.strip()


def ensure_kafka_jars(cache_dir: Path = DEFAULT_CACHE_DIR) -> Path:
    """Return the folder holding Kafka's runtime jars, running Maven only when it is stale.

    The folder is current when its stamp names the pom's hash and every jar it lists exists.
    A file lock keeps two processes (say `make run` and a test run) from fetching at once.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    jars_dir = cache_dir / "jars"
    stamp_path = cache_dir / "jars.stamp.json"
    pom_sha256 = hashlib.sha256(POM_PATH.read_bytes()).hexdigest()
    with _exclusive_lock(cache_dir / ".lock"):
        if _jars_are_current(jars_dir, stamp_path, pom_sha256):
            return jars_dir
        staging_dir = cache_dir / f"jars.staging-{os.getpid()}"
        shutil.rmtree(staging_dir, ignore_errors=True)
        _copy_dependencies_with_maven(staging_dir)
        jar_names = sorted(path.name for path in staging_dir.glob("*.jar"))
        if not any(KAFKA_JAR_PATTERN.match(name) for name in jar_names):
            raise KafkaUnavailableError(f"Maven ran but left no kafka_2.13 jar in {staging_dir}")
        shutil.rmtree(jars_dir, ignore_errors=True)
        staging_dir.rename(jars_dir)
        stamp_path.write_text(json.dumps({"pom_sha256": pom_sha256, "jars": jar_names}))
    return jars_dir


def kafka_version(jars_dir: Path | None = None) -> str:
    """The Kafka version of the jars (read from the kafka_2.13 jar's name)."""
    folder = jars_dir if jars_dir is not None else ensure_kafka_jars()
    for path in folder.glob("kafka_2.13-*.jar"):
        match = KAFKA_JAR_PATTERN.match(path.name)
        if match:
            return match.group("version")
    raise KafkaUnavailableError(f"no kafka_2.13 jar in {folder}")


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _jars_are_current(jars_dir: Path, stamp_path: Path, pom_sha256: str) -> bool:
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("pom_sha256") != pom_sha256:
        return False
    jar_names = stamp.get("jars")
    return (
        isinstance(jar_names, list)
        and bool(jar_names)
        and all((jars_dir / str(name)).is_file() for name in jar_names)
    )


def _copy_dependencies_with_maven(output_dir: Path) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailableError(
            "Maven (mvn) is not on PATH; it is needed to fetch Kafka's jars"
        )
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise KafkaUnavailableError(f"fetching Kafka's jars failed: {' '.join(command)}\n{output}")


# --- processes --------------------------------------------------------------------------------


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """True when a server could listen on 127.0.0.1:`port` now. Checked with SO_REUSEADDR, as
    servers (Kafka's JVM among them) bind: a plain bind() also refuses a port that only has
    connections in TIME_WAIT, which a crashed broker leaves behind for about a minute."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def die_with_parent() -> None:
    """Run in the child before exec: Linux sends it SIGTERM if the parent dies.

    A test run killed mid-way then leaves no broker or database behind. (The signal follows
    the thread that started the child, so start servers from a long-lived thread.)
    """
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


def log_tail(log_path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return f"(no log at {log_path})"
    return "\n".join(text.splitlines()[-lines:])


def find_java() -> str:
    """The `java` to run Kafka with ($JAVA_HOME first, then PATH); it must be Java 17+."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise KafkaUnavailableError(f"no `java` found; Kafka needs Java {MINIMUM_JAVA_MAJOR}+")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(?:1\.)?(\d+)', banner)
    if match is None or int(match.group(1)) < MINIMUM_JAVA_MAJOR:
        raise KafkaUnavailableError(
            f"{java} is not Java {MINIMUM_JAVA_MAJOR}+ (Kafka 4 needs it): {banner.strip()}"
        )
    return java


def _random_cluster_id() -> str:
    # Kafka's own format (base64url of a UUID, no padding); a leading "-" would read as an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


# --- the broker -------------------------------------------------------------------------------

_running_brokers: set[LocalKafka] = set()

# A cluster's nodes share a small, busy machine (three JVMs on two cores in the tests): with
# Kafka's default of 30 s a follower starved of CPU leaves the in-sync replicas, and until it
# catches up a partition left with one in-sync replica refuses writes (min.insync.replicas 2)
# and has no other replica that may lead it. A crashed node is fenced after the session
# timeout whatever this says, and its partitions move then.
_CLUSTER_REPLICA_LAG = {"replica.lag.time.max.ms": "120000"}


@atexit.register
def _stop_running_brokers() -> None:
    for broker in list(_running_brokers):
        broker.stop()


@dataclasses.dataclass(frozen=True)
class KraftQuorum:
    """A static KRaft controller quorum shared by the nodes of a local cluster."""

    cluster_id: str
    voters: tuple[tuple[int, int], ...]  # (node id, controller port)

    def voters_config(self) -> str:
        return ",".join(f"{node}@127.0.0.1:{port}" for node, port in self.voters)


class LocalKafka:
    """One Apache Kafka node (broker and KRaft controller) on loopback, run from the jars.

    Without `data_dir` the node keeps its data in a temporary folder removed on stop (tests).
    With `data_dir` the storage is formatted once and reused, so topics and offsets survive
    restarts (`make run`).

    Ports never move silently, because clients keep the address they were given: an explicit
    `port` is used or start() fails naming it, and a restart (start() after `kill()`, or a
    persistent node's next run) takes the previous run's ports or fails naming them. With
    `quorum` the node is one of a cluster's nodes (see LocalKafkaCluster).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        port: int | None = None,
        jars_dir: Path | None = None,
        heap: str = "512m",
        start_timeout: float = 90.0,
        stop_timeout: float = 30.0,
        node_id: int = 1,
        quorum: KraftQuorum | None = None,
        replication: int = 1,
    ) -> None:
        self._node_id = node_id
        self._quorum = quorum
        self._replication = replication
        self._persistent_dir = data_dir
        self._requested_port = port
        self._jars_dir = jars_dir
        self._heap = heap
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._data_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._port: int | None = None
        self._previous_ports: dict[str, int] = {}  # of this object's last run

    @property
    def node_id(self) -> int:
        return self._node_id

    @property
    def bootstrap_servers(self) -> str:
        if self._port is None or self._process is None:
            raise KafkaUnavailableError("LocalKafka is not running; call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        if self._data_dir is None:
            raise KafkaUnavailableError("LocalKafka has no data folder yet; call start() first")
        return self._data_dir / "broker.log"

    def reported_version(self) -> str:
        """The version the running broker announced in its log ("Kafka version: ...")."""
        matches = REPORTED_VERSION_PATTERN.findall(self.log_path.read_text(errors="replace"))
        if not matches:
            raise KafkaUnavailableError(
                f"the broker has not reported its version in {self.log_path}"
            )
        return str(matches[-1])

    def start(self) -> Self:
        if self._process is not None:
            return self
        try:
            self.launch()
            self.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_until_ready(self) -> None:
        assert self._port is not None
        self._wait_until_ready(self._port)

    def launch(self) -> None:
        """Starts the node's process without waiting for it to serve (a cluster's nodes must all
        be launched before any of them can form the quorum)."""
        jars_dir = self._jars_dir if self._jars_dir is not None else ensure_kafka_jars()
        java = find_java()
        if self._persistent_dir is not None:
            self._data_dir = self._persistent_dir.resolve()
            self._data_dir.mkdir(parents=True, exist_ok=True)
        elif self._data_dir is None:  # else: restarting after kill(), on the same data
            self._data_dir = Path(tempfile.mkdtemp(prefix="northstar-kafka-"))
        _running_brokers.add(self)
        port, controller_port = self._choose_ports()
        properties_path = self._write_server_properties(port, controller_port)
        self._format_storage_once(java, jars_dir, properties_path)
        self._launch(java, jars_dir, properties_path)
        self._port = port

    def stop(self) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it takes too long; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self._stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._persistent_dir is None and self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
            self._previous_ports = {}  # its data is gone: the next start is a new node
        self._port = None
        _running_brokers.discard(self)

    def kill(self) -> None:
        """Crash-stops the broker (SIGKILL, no clean shutdown), keeping its data and ports:
        start() then restarts it on the same address, as after a real crash."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._port = None

    def wait(self) -> int:
        """Block until the broker process exits by itself; return its exit code."""
        if self._process is None:
            raise KafkaUnavailableError("LocalKafka is not running")
        return self._process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _choose_ports(self) -> tuple[int, int]:
        assert self._data_dir is not None
        ports_path = self._data_dir / "ports.json"
        # The controller's address is written into the KRaft voter set at format time, and
        # clients reconnect to the address they were given: so a restart keeps both ports.
        previous = dict(self._previous_ports)
        if not previous and self._persistent_dir is not None and ports_path.is_file():
            previous = json.loads(ports_path.read_text())
        port = self._requested_port or previous.get("broker", 0)
        if port:
            why = "asked for" if self._requested_port else "kept from the previous run"
            _require_free(port, f"Kafka's broker port {port} ({why})")
        else:
            port = free_loopback_port()
        controller_port = previous.get("controller", 0)
        if self._quorum is not None:  # the voter set names it
            controller_port = dict(self._quorum.voters)[self._node_id]
        elif controller_port and controller_port != port:
            _require_free(controller_port, f"Kafka's controller port {controller_port} (kept)")
        else:
            controller_port = free_loopback_port()
            while controller_port == port:
                controller_port = free_loopback_port()
        self._previous_ports = {"broker": port, "controller": controller_port}
        if self._persistent_dir is not None:
            ports_path.write_text(json.dumps(self._previous_ports))
        return port, controller_port

    def _write_server_properties(self, port: int, controller_port: int) -> Path:
        assert self._data_dir is not None
        replicas = str(self._replication)
        settings = {
            "process.roles": "broker,controller",
            "node.id": str(self._node_id),
            **(
                {"controller.quorum.voters": self._quorum.voters_config()}
                if self._quorum is not None
                else {"controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}"}
            ),
            "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._data_dir / "kraft"),
            "num.partitions": "3",
            "auto.create.topics.enable": "true",
            # The event log is the record of what happened: never delete it.
            "log.retention.ms": "-1",
            # One node: every internal topic has one replica, and groups need not wait. A
            # cluster replicates every topic `replication` times, with a write quorum of 2.
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "default.replication.factor": replicas,
            "min.insync.replicas": "2" if self._replication >= 3 else "1",
            **(_CLUSTER_REPLICA_LAG if self._quorum is not None else {}),
        }
        properties_path = self._data_dir / "server.properties"
        properties_path.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        return properties_path

    def _format_storage_once(self, java: str, jars_dir: Path, properties_path: Path) -> None:
        assert self._data_dir is not None
        if (self._data_dir / "kraft" / "meta.properties").is_file():
            return
        command = [
            java,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG_PATH}",
            "-cp",
            f"{jars_dir}/*",
            "kafka.tools.StorageTool",
            "format",
            *(["--standalone"] if self._quorum is None else []),
            "-t",
            _random_cluster_id() if self._quorum is None else self._quorum.cluster_id,
            "-c",
            str(properties_path),
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise KafkaUnavailableError(
                f"formatting KRaft storage failed: {' '.join(command)}\n{output}"
            )

    def _launch(self, java: str, jars_dir: Path, properties_path: Path) -> None:
        self._log_file = self.log_path.open("ab")
        self._log_file.write(f"--- starting with {properties_path}\n".encode())
        self._log_file.flush()
        command = [
            java,
            f"-Xmx{self._heap}",
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG_PATH}",
            "-cp",
            f"{jars_dir}/*",
            "kafka.Kafka",
            str(properties_path),
        ]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C meant for the caller does not cut the broker's shutdown.
            start_new_session=True,
            preexec_fn=die_with_parent,
        )

    def _wait_until_ready(self, port: int) -> None:
        """Poll until the broker answers a metadata request listing itself, within the limit."""
        deadline = time.monotonic() + self._start_timeout
        while True:
            assert self._process is not None
            exit_code = self._process.poll()
            if exit_code is not None:
                raise KafkaUnavailableError(
                    f"the Kafka broker exited with code {exit_code} while starting; "
                    f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if _accepts_connections(port) and broker_lists_itself(f"127.0.0.1:{port}"):
                return
            if time.monotonic() > deadline:
                raise KafkaUnavailableError(
                    f"the Kafka broker did not answer on 127.0.0.1:{port} within "
                    f"{self._start_timeout:.0f} s; last lines of {self.log_path}:\n"
                    f"{log_tail(self.log_path)}"
                )
            time.sleep(0.2)


def _require_free(port: int, what: str) -> None:
    if not port_is_free(port):
        raise KafkaUnavailableError(
            f"{what} is in use on 127.0.0.1 by another process; stop it (or choose another "
            "port, or remove ports.json from the data folder): the broker does not move "
            "silently, because its clients keep the address they were given"
        )


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def broker_lists_itself(bootstrap_servers: str) -> bool:
    """True when a metadata request to `bootstrap_servers` returns at least one live broker."""

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
        try:
            await client.bootstrap()
            return bool(client.cluster.brokers())
        except (TimeoutError, KafkaError, OSError):
            return False
        finally:
            await client.close()

    # Its own thread and event loop: the caller may be inside a running loop already.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, probe()).result()


class LocalKafkaCluster:
    """Several Kafka nodes from the same jars, each broker and voter of one static KRaft quorum,
    every topic replicated `replication` times with min.insync.replicas 2 (3 nodes: a write
    survives the loss of one). For fault tests: `nodes[i].kill()` crashes one."""

    def __init__(self, size: int = 3, *, heap: str = "384m", replication: int = 3) -> None:
        quorum = KraftQuorum(
            _random_cluster_id(),
            tuple((node, free_loopback_port()) for node in range(1, size + 1)),
        )
        self.nodes = [
            LocalKafka(heap=heap, node_id=node, quorum=quorum, replication=replication)
            for node in range(1, size + 1)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes if node._process)

    def start(self) -> Self:
        try:
            for node in self.nodes:
                node.launch()
            for node in self.nodes:
                node.wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --- command line -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.kafka", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="fetch Kafka's jars with Maven (only when stale)")
    run = commands.add_parser("run", help="run a broker in the foreground until Ctrl-C")
    run.add_argument("--data-dir", type=Path, required=True, help="persistent data folder")
    run.add_argument("--port", type=int, default=None, help="broker port (default: any free)")
    arguments = parser.parse_args(argv)

    jars_dir = ensure_kafka_jars()
    if arguments.command == "fetch":
        print(f"Apache Kafka {kafka_version(jars_dir)} jars ready in {jars_dir}")
        return 0

    # SIGTERM (e.g. from a process manager) shuts the broker down as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    broker = LocalKafka(arguments.data_dir, port=arguments.port, jars_dir=jars_dir)
    try:
        with broker:
            print(
                f"Apache Kafka {kafka_version(jars_dir)} at {broker.bootstrap_servers} "
                f"(data in {arguments.data_dir}, log in {broker.log_path}); Ctrl-C stops it",
                flush=True,
            )
            exit_code = broker.wait()
            print(f"the broker exited with code {exit_code}:\n{log_tail(broker.log_path)}")
            return 1
    except KeyboardInterrupt:
        print("Apache Kafka stopped")
        return 0
    except KafkaUnavailableError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
