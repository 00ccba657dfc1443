"""One service process: metrics endpoint, gRPC server, outbox relay and Kafka consumers,
started in order and stopped cleanly (SIGINT/SIGTERM), the same way for every service.

A service may run several replicas: each relay publishes only while its process holds the
relay's leader lock on the service's store, so exactly one replica publishes at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from services.shared.auth import Authenticator
from services.shared.grpc_server import RunningServer, ServicerRegistration, start_grpc_server
from services.shared.leadership import leadership_for
from services.shared.logs import configure_logging as configure_logging
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.settings import ServiceSettings

logger = logging.getLogger(__name__)


def authenticator_from(settings: ServiceSettings) -> Authenticator:
    if settings.auth_mode == "dev":
        return Authenticator.dev(settings.jwt_dev_secret)
    keys_dir = settings.jwt_public_keys_dir
    if keys_dir is None or not keys_dir.is_dir():
        raise RuntimeError("production auth needs NORTHSTAR_JWT_PUBLIC_KEYS_DIR (<kid>.pem files)")
    keys = {path.stem: path.read_text() for path in sorted(keys_dir.glob("*.pem"))}
    if not keys:
        raise RuntimeError(f"no <kid>.pem public keys in {keys_dir}")
    return Authenticator.production(keys)


def kafka_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    """A FastStream broker for a service's consumers. FastStream logs two INFO lines per
    message by default; at our volumes that is noise and cost, so its per-message log is DEBUG
    (our consumer runtime logs retries, dead letters and outages itself). FastStream takes a
    string as ONE address, so a `host:port,host:port` list is split here."""
    servers = [server.strip() for server in bootstrap_servers.split(",") if server.strip()]
    return KafkaBroker(servers, client_id=client_id, log_level=logging.DEBUG)


async def stop_broker(broker: KafkaBroker) -> None:
    """Stop a broker's consumers so that each leaves its group, even when FastStream's stop is
    interrupted: stopping cancels a consume task that may be mid-batch, and awaiting that task
    can re-raise its cancellation here, before FastStream reaches the Kafka consumer's own stop,
    which would leave the consumer in the group holding its partitions."""
    try:
        await broker.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # we are being cancelled ourselves
        logger.warning("stopping a Kafka consumer was interrupted; leaving its group directly")
        for subscriber in broker.subscribers:
            consumer = getattr(subscriber, "consumer", None)
            if consumer is not None:
                await consumer.stop()
                subscriber.consumer = None  # type: ignore[attr-defined]


class ServiceRuntime:
    def __init__(self, name: str, settings: ServiceSettings, metrics: ServiceMetrics) -> None:
        self.name = name
        self.settings = settings
        self.metrics = metrics
        self.relays: list[NotificationRelay] = []
        self.brokers: list[KafkaBroker] = []
        self.grpc: RunningServer | None = None
        self.metrics_port = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    @property
    def grpc_port(self) -> int:
        return self.grpc.port if self.grpc else 0

    async def start(
        self, servicers: Sequence[ServicerRegistration], service_full_names: Sequence[str]
    ) -> None:
        # Same interface as gRPC: loopback locally, all interfaces in a container.
        self.metrics_port = self.metrics.start_http(
            self.settings.metrics_port, host=self.settings.grpc_host
        )
        for relay in self.relays:
            # The service's own store holds the relay's log and position, so its lock too.
            if relay.leadership is None:
                relay.leadership = leadership_for(
                    self.settings.store_url_for(self.name),
                    relay.name,
                    schema=str(relay.app.env.get("POSTGRES_SCHEMA") or ""),
                )
            await relay.start()
            self._tasks.append(asyncio.create_task(relay.run(self._stop)))
        for broker in self.brokers:
            await broker.start()
        self.grpc = await start_grpc_server(
            service_name=self.name,
            servicers=servicers,
            service_full_names=service_full_names,
            host=self.settings.grpc_host,
            port=self.settings.grpc_port,
            metrics=self.metrics,
            authenticator=authenticator_from(self.settings),
        )
        # One line a supervisor (make run) or a person can read the endpoints from.
        print(
            f"{self.name}: grpc={self.settings.grpc_host}:{self.grpc.port} "
            f"metrics=http://127.0.0.1:{self.metrics_port}/metrics",
            flush=True,
        )

    async def stop(self) -> None:
        self._stop.set()
        if self.grpc is not None:
            await self.grpc.stop(grace=2.0)
        for broker in self.brokers:
            await stop_broker(broker)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for relay in self.relays:
            await relay.stop()
        self.metrics.stop_http()

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        logger.info("%s: stopping", self.name)
        await self.stop()
