"""One service process: metrics endpoint, gRPC server, outbox relay and Kafka consumers,
started in order and stopped cleanly (SIGINT/SIGTERM), the same way for every service.

A service may run several replicas: each relay publishes only while its process holds the
relay's leader lock on the service's store, so exactly one replica publishes at a time."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Sequence

from faststream.kafka import KafkaBroker
from grpc_health.v1 import health_pb2

from services.shared.auth import Authenticator, TokenRules
from services.shared.grpc_server import RunningServer, ServicerRegistration, start_grpc_server
from services.shared.launcher import check_kafka
from services.shared.leadership import leadership_for
from services.shared.logs import configure_logging as configure_logging
from services.shared.logs import library_logger, rate_limit_kafka_client_logs
from services.shared.metrics import ServiceMetrics
from services.shared.relay import NotificationRelay
from services.shared.relay_thread import RelayThread
from services.shared.settings import ServiceSettings
from services.shared.signing_keys import JwksKeys

logger = logging.getLogger(__name__)
# The `event` field of the log line that says a service is up (make run waits for it).
SERVING_EVENT = "serving"
# Consumers that cannot reach Kafka at start try again after 1 s, doubling up to 10 s.
CONSUMER_RETRY_SECONDS = 1.0
CONSUMER_MAX_RETRY_SECONDS = 10.0


def authenticator_from(settings: ServiceSettings) -> Authenticator:
    rules = TokenRules(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
        require_nbf=settings.jwt_require_nbf,
        tenant_claim=settings.jwt_tenant_claim,
        roles_claim=settings.jwt_roles_claim,
    )
    if settings.auth_mode == "dev":
        return Authenticator.dev(settings.jwt_dev_secret, rules)
    if settings.jwt_jwks_url:
        keys = JwksKeys(
            settings.jwt_jwks_url,
            cache_seconds=settings.jwt_jwks_cache_seconds,
            refetch_interval_seconds=settings.jwt_jwks_refetch_interval_seconds,
            timeout_seconds=settings.jwt_jwks_timeout_seconds,
        )
        return Authenticator.jwks(keys, rules)
    keys_dir = settings.jwt_public_keys_dir
    if keys_dir is None or not keys_dir.is_dir():
        raise RuntimeError(
            "production auth needs NORTHSTAR_JWT_JWKS_URL or NORTHSTAR_JWT_PUBLIC_KEYS_DIR "
            "(<kid>.pem files)"
        )
    pems = {path.stem: path.read_text() for path in sorted(keys_dir.glob("*.pem"))}
    if not pems:
        raise RuntimeError(f"no <kid>.pem public keys in {keys_dir}")
    return Authenticator.production(pems, rules)


def relay_health_name(relay_name: str) -> str:
    """The gRPC health entry of a relay: NOT_SERVING while it is stalled with work pending.

    Its own entry, not the service's (readiness) or "" (liveness): a stalled relay loses
    nothing (commands are stored, the outbox catches up when the broker is back), so taking
    the pods out of the Service or restarting them would only add an outage of the API."""
    return f"northstar.relay/{relay_name}"


def kafka_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    """A FastStream broker for a service's consumers. FastStream logs two INFO lines per
    message by default; at our volumes that is noise and cost, so its per-message log is DEBUG
    (our consumer runtime logs retries, dead letters and outages itself). Its lines go through
    our JSON logs, not the coloured text handler it would install. FastStream takes a string as
    ONE address, so a `host:port,host:port` list is split here. FastStream would also create
    every missing subscribed topic itself, with one partition and one replica whatever the
    cluster's defaults: a topic created that way cannot survive the loss of its one broker, so
    topics are the deployment's to declare (or the broker's, where it auto-creates them)."""
    servers = [server.strip() for server in bootstrap_servers.split(",") if server.strip()]
    return KafkaBroker(
        servers,
        client_id=client_id,
        allow_auto_create_topics=False,
        log_level=logging.DEBUG,
        logger=library_logger(client_id),
    )


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
        self._consumer_starts: list[asyncio.Task[None]] = []
        self._relay_threads: list[RelayThread] = []

    @property
    def grpc_port(self) -> int:
        return self.grpc.port if self.grpc else 0

    async def start(
        self,
        servicers: Sequence[ServicerRegistration],
        service_full_names: Sequence[str],
        platform_methods: frozenset[str] = frozenset(),
    ) -> None:
        # Same interface as gRPC: loopback locally, all interfaces in a container.
        self.metrics_port = self.metrics.start_http(
            self.settings.metrics_port, host=self.settings.grpc_host
        )
        rate_limit_kafka_client_logs(self.settings.kafka_log_repeat_interval_seconds)
        for relay in self.relays:
            relay.stall_threshold_seconds = self.settings.relay_stall_threshold_seconds
            # The service's own store holds the relay's log and position, so its lock too.
            if relay.leadership is None:
                relay.leadership = leadership_for(
                    self.settings.store_url_for(self.name),
                    relay.name,
                    schema=str(relay.app.env.get("POSTGRES_SCHEMA") or ""),
                )
            # The relay runs on a thread and loop of its own, off the request path, and connects
            # to Kafka there, retrying: commands are taken (their events wait in the outbox) and
            # the stall is reported while the broker is down.
            relay_thread = RelayThread(relay)
            relay_thread.start(functools.partial(self._report_relay_health, relay.name))
            self._relay_threads.append(relay_thread)
        for broker in self.brokers:
            self._consumer_starts.append(asyncio.create_task(self._start_consumers(broker)))
        self.grpc = await start_grpc_server(
            service_name=self.name,
            servicers=servicers,
            service_full_names=service_full_names,
            host=self.settings.grpc_host,
            port=self.settings.grpc_port,
            metrics=self.metrics,
            authenticator=authenticator_from(self.settings),
            platform_methods=platform_methods,
        )
        for relay in self.relays:
            await self._report_relay_health(relay.name, relay.stalled)
        # One line a supervisor (make run) or a person can read the endpoints from.
        grpc_address = f"{self.settings.grpc_host}:{self.grpc.port}"
        metrics_url = f"http://{self.settings.grpc_host}:{self.metrics_port}/metrics"
        logger.info(
            "%s: serving gRPC on %s, metrics on %s",
            self.name,
            grpc_address,
            metrics_url,
            extra={
                "event": SERVING_EVENT,
                "grpc_address": grpc_address,
                "metrics_url": metrics_url,
            },
        )

    async def _start_consumers(self, broker: KafkaBroker) -> None:
        """Starts a broker's consumers, retrying with a growing backoff while Kafka does not
        answer, so that a service starts (and serves from the state its replicas already hold)
        during a broker outage; they consume from their committed offsets once it answers."""
        backoff = CONSUMER_RETRY_SECONDS
        failed = False
        while not self._stop.is_set():
            try:
                # A broker that does not answer is found by a plain connection first: a failed
                # FastStream start leaves an unclosed Kafka producer behind on every attempt.
                await asyncio.to_thread(check_kafka, self.settings)
                await broker.start()
            except Exception as error:
                # Whatever part of it started is stopped, so that the next attempt starts clean.
                with contextlib.suppress(Exception):
                    await stop_broker(broker)
                if not failed:
                    logger.warning(
                        "%s: cannot start Kafka consumers (%s: %s); retrying every %.0f s at most",
                        self.name,
                        type(error).__name__,
                        error,
                        CONSUMER_MAX_RETRY_SECONDS,
                    )
                failed = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, CONSUMER_MAX_RETRY_SECONDS)
                continue
            if failed:
                logger.info("%s: Kafka consumers started", self.name)
            return

    async def _report_relay_health(self, relay_name: str, stalled: bool) -> None:
        if self.grpc is None:  # not serving yet: start() reports the state once it serves
            return
        status = health_pb2.HealthCheckResponse
        await self.grpc.health.set(
            relay_health_name(relay_name), status.NOT_SERVING if stalled else status.SERVING
        )

    async def stop(self) -> None:
        self._stop.set()
        if self.grpc is not None:
            await self.grpc.stop(grace=2.0)
        # A start still under way ends first, so that no consumer starts after its stop.
        for start in self._consumer_starts:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await start
        for broker in self.brokers:
            await stop_broker(broker)
        for relay_thread in self._relay_threads:
            await relay_thread.stop()
        self.metrics.stop_http()

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        await stopping.wait()
        logger.info("%s: stopping", self.name)
        await self.stop()
