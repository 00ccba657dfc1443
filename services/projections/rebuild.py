"""Running read-model versions, and rebuilding one without taking the service down (blue/green).

Each version consumes with a Kafka consumer group of its own, so a new version reads its topics
from offset 0 into its own tables while the live version keeps consuming and serving. Once the
new version has caught up with the end offsets seen at a switch attempt (it keeps consuming
throughout), the live pointer and the views move to it in one transaction, and the old version's
consumer stops and its metric series are removed (the live version's are what dashboards and
the autoscaler read). Its tables stay until the next rebuild starts, so a query that picked the
old version just before the switch still completes.

On start, a live version whose store is behind its consumer group (a lost or restored store)
is replayed before `start` returns, so the service reports SERVING only once it has caught up
(services/projections/healing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from faststream.kafka import KafkaBroker
from prometheus_client import Gauge

from services.projections.content_hash import ContentDigest, content_hash
from services.projections.healing import behind_partitions, heal_before_serving
from services.projections.kafka_progress import (
    OffsetProbe,
    PartitionOffsets,
    applied_share,
    caught_up,
)
from services.projections.live_metrics import LiveMetrics
from services.projections.versions import (
    BUILDING,
    LIVE,
    RETIRED,
    VersionedProjection,
    VersionRecord,
    VersionTable,
    add_first_live_version,
    add_version,
    adopt_unversioned_tables,
    drop_version,
    ensure_versions_table,
    load_versions,
    point_views,
    switch_live,
    version_name,
)
from services.shared.canonical import utc_now
from services.shared.consumer import EventConsumer, RetryPolicy
from services.shared.errors import FailedPrecondition, InvalidArgument, NotFound
from services.shared.metrics import PREFIX, ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.runtime import kafka_broker, stop_broker
from services.shared.sequencing import SequencedLedger

logger = logging.getLogger(__name__)

SWITCH_POLL_SECONDS = 0.05
SWITCH_ATTEMPTS = 3
"""Switch once nothing new arrived while catching up, or after this many attempts at most."""
FOLLOW_SECONDS = 2.0
"""How often a process looks for a switch another process (sharing the store) has made."""
WATCH_SECONDS = 1.0
"""How often holds are checked against their time bound and the live metrics refreshed."""


@dataclass(frozen=True)
class ReadModelKind:
    """A read model: its topics, how to build one version, and that version's tables."""

    name: str
    topics: tuple[str, ...]
    build: Callable[[str], VersionedProjection]
    tables: Callable[[str], list[VersionTable]]


@dataclass
class VersionRunner:
    record: VersionRecord
    projection: VersionedProjection
    broker: KafkaBroker
    group_id: str
    consumer: EventConsumer


@dataclass(frozen=True)
class RebuildStatus:
    read_model: str
    live_version: str
    switched_at: str
    building_version: str = ""
    started_at: str = ""
    partitions: list[PartitionOffsets] = field(default_factory=list)

    @property
    def progress(self) -> float:
        return applied_share(self.partitions) if self.building_version else 1.0


@dataclass
class _State:
    kind: ReadModelKind
    live: VersionRunner
    building: VersionRunner | None = None
    switching: asyncio.Task[None] | None = None
    starting: asyncio.Lock = field(default_factory=asyncio.Lock)
    changing_live: asyncio.Lock = field(default_factory=asyncio.Lock)


class ReadModels:
    """Every read model's live version (and rebuild, if one runs) in one service process."""

    def __init__(
        self,
        db: ReadModelDatabase,
        kinds: Sequence[ReadModelKind],
        *,
        bootstrap_servers: str,
        group_id: str,
        metrics: ServiceMetrics,
        retry: RetryPolicy | None = None,
        bare_group_version: str = "",
    ) -> None:
        """`bare_group_version` consumes with `group_id` itself, every other version with
        `<group_id>.<version>`: the version that existed before versions did keeps its committed
        offsets and the group an autoscaler watches."""
        self.db = db
        self.kinds = {kind.name: kind for kind in kinds}
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.metrics = metrics
        self.retry = retry
        self.bare_group_version = bare_group_version
        self._following: asyncio.Task[None] | None = None
        self._watching: asyncio.Task[None] | None = None
        self.live_metrics = LiveMetrics(metrics)
        # Stops of retired versions' consumers: they must finish even if whoever started them
        # is cancelled (a shutdown mid-switch), or the old consumer stays in its group.
        self._retiring: set[asyncio.Task[None]] = set()
        self.probe = OffsetProbe(bootstrap_servers)
        self._states: dict[str, _State] = {}
        self.rebuild_progress = Gauge(
            PREFIX + "rebuild_progress_ratio",
            "Applied share of the messages a running rebuild replays (1 when none runs).",
            ["read_model"],
            registry=metrics.registry,
        )

    # ---- lifecycle ----

    async def start(self) -> None:
        """Starts every read model's live version (and an unfinished rebuild); returns once
        every live version whose store was behind its consumer group has caught up."""
        await asyncio.to_thread(ensure_versions_table, self.db)
        healing = []
        for kind in self.kinds.values():
            versions = await asyncio.to_thread(load_versions, self.db, kind.name)
            if not versions:
                first = version_name(kind.name, 1)
                await asyncio.to_thread(adopt_unversioned_tables, self.db, kind.tables(first))
                await asyncio.to_thread(self._add_first_version, kind.name)
                versions = await asyncio.to_thread(load_versions, self.db, kind.name)
            live = next(v for v in versions if v.state == LIVE)
            group_id = self._group_of(live.name)
            behind = await behind_partitions(self.db, self.probe, live.name, group_id, kind.topics)
            self._states[kind.name] = _State(kind, await self._run(kind, live))
            self.live_metrics.set_live(kind.name, live.name, group_id)
            self.live_metrics.catch_up.labels(read_model=kind.name).set(0.0 if behind else 1.0)
            self.rebuild_progress.labels(read_model=kind.name).set(1.0)
            if behind:
                healing.append(
                    heal_before_serving(
                        self.db,
                        self.probe,
                        self.live_metrics,
                        read_model=kind.name,
                        version=live.name,
                        topics=kind.topics,
                        behind=behind,
                    )
                )
            for record in versions:
                if record.state == BUILDING:  # a rebuild the last process left unfinished
                    await self._start_building(self._states[kind.name], record)
        await asyncio.to_thread(self._point_views)
        self._following = asyncio.create_task(self._follow_switches())
        self._watching = asyncio.create_task(self._watch())
        await asyncio.gather(*healing)

    async def stop(self) -> None:
        for task in (self._following, self._watching):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for state in self._states.values():
            if state.switching is not None:
                state.switching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await state.switching
            for runner in (state.building, state.live):
                if runner is not None:
                    await stop_broker(runner.broker)
        if self._retiring:
            await asyncio.gather(*self._retiring, return_exceptions=True)
        await self.probe.stop()

    async def _retire(self, state: _State, retired: VersionRunner) -> None:
        live = state.live
        self.live_metrics.set_live(state.kind.name, live.record.name, live.group_id)
        stopping = asyncio.create_task(stop_broker(retired.broker))
        self._retiring.add(stopping)
        stopping.add_done_callback(self._retiring.discard)
        await asyncio.shield(stopping)
        # After the stop: a batch the old consumer was finishing must not re-create a series.
        self.live_metrics.forget_version(retired.record.name)

    # ---- what queries read ----

    def live_name(self, read_model: str) -> str:
        return self._states[read_model].live.record.name

    def live_projection(self, read_model: str) -> VersionedProjection:
        return self._states[read_model].live.projection

    def live_names(self) -> list[str]:
        return [state.live.record.name for state in self._states.values()]

    def live_ledger(self, read_model: str) -> SequencedLedger:
        """The sequenced ledger (parked events, retries, skips) of a read model's live version."""
        return self._states[self.kind(read_model).name].live.projection.ledger

    # ---- rebuilds ----

    def kind(self, read_model: str) -> ReadModelKind:
        if not read_model:
            raise InvalidArgument("is required", field="read_model")
        kind = self.kinds.get(read_model)
        if kind is None:
            known = ", ".join(sorted(self.kinds))
            raise NotFound(f"no read model {read_model!r} (known: {known})", field="read_model")
        return kind

    async def start_rebuild(self, read_model: str) -> RebuildStatus:
        state = self._states[self.kind(read_model).name]
        # The lock is held while a rebuild starts: a second call then is refused, not doubled.
        if state.building is not None or state.starting.locked():
            raise FailedPrecondition(
                f"a new version of {read_model} is being built already", field="read_model"
            )
        async with state.starting:
            record = await asyncio.to_thread(self._replace_retired, state.kind)
            await self._start_building(state, record)
        return await self.status(read_model)

    async def status(self, read_model: str) -> RebuildStatus:
        state = self._states[self.kind(read_model).name]
        live = state.live.record
        building = state.building
        if building is None:
            return RebuildStatus(read_model, live.name, live.switched_at)
        partitions = await self.probe.progress(building.group_id, state.kind.topics)
        status = RebuildStatus(
            read_model,
            live.name,
            live.switched_at,
            building.record.name,
            building.record.started_at,
            partitions,
        )
        self.rebuild_progress.labels(read_model=read_model).set(status.progress)
        return status

    async def content_hash(self, read_model: str, version: str) -> ContentDigest:
        kind = self.kind(read_model)
        name = version or self.live_name(read_model)
        versions = await asyncio.to_thread(load_versions, self.db, read_model)
        if not any(v.name == name and v.state in (LIVE, BUILDING, RETIRED) for v in versions):
            raise NotFound(f"{read_model} has no version {name!r} with tables", field="version")
        return await asyncio.to_thread(content_hash, self.db, name, kind.tables(name))

    async def _start_building(self, state: _State, record: VersionRecord) -> None:
        state.building = await self._run(state.kind, record)
        state.switching = asyncio.create_task(self._switch_when_caught_up(state))

    async def _switch_when_caught_up(self, state: _State) -> None:
        building = state.building
        assert building is not None
        attempts = 0
        while True:
            try:
                ends = await self.probe.end_offsets(state.kind.topics)
                while True:
                    if caught_up(await self.probe.committed(building.group_id, ends), ends):
                        break
                    await asyncio.sleep(SWITCH_POLL_SECONDS)
                attempts += 1
                if attempts >= SWITCH_ATTEMPTS or ends == await self.probe.end_offsets(
                    state.kind.topics
                ):
                    break
            except Exception:  # Kafka unreachable for a moment: the rebuild waits, not fails
                logger.exception("%s: checking the rebuild's progress failed", building.record.name)
                await asyncio.sleep(1.0)
        await self._switch(state, building)

    async def _switch(self, state: _State, building: VersionRunner) -> None:
        switched_at = utc_now().isoformat()
        retired = state.live
        record = building.record

        def write() -> None:
            with self.db.transaction() as tx:
                switch_live(tx, record.read_model, record.number, switched_at)
                point_views(tx, self.db.engine, self._live_tables({record.read_model: record.name}))

        async with state.changing_live:
            if state.building is not building:
                return  # another process switched first, and this one has followed
            # The store first: until it has committed, queries keep reading the old version.
            await asyncio.to_thread(write)
            building.record = VersionRecord(
                record.read_model, record.number, LIVE, record.started_at, switched_at
            )
            state.live, state.building, state.switching = building, None, None
        self.rebuild_progress.labels(read_model=state.kind.name).set(1.0)
        logger.info("%s: switched from %s", building.record.name, retired.record.name)
        await self._retire(state, retired)

    async def _follow_switches(self) -> None:
        """Processes sharing one store (several pods) follow a switch any of them made."""
        while True:
            await asyncio.sleep(FOLLOW_SECONDS)
            for state in list(self._states.values()):
                try:
                    await self._follow(state)
                except Exception:  # the store unreachable for a moment: try again later
                    logger.exception("%s: following the live version failed", state.kind.name)

    async def _follow(self, state: _State) -> None:
        versions = await asyncio.to_thread(load_versions, self.db, state.kind.name)
        live = next((v for v in versions if v.state == LIVE), None)
        async with state.changing_live:
            if live is None or live.name == state.live.record.name:
                return
            retired, building = state.live, state.building
            if building is not None and building.record.name == live.name:
                if state.switching is not None:
                    state.switching.cancel()
                building.record = live
                state.live, state.building, state.switching = building, None, None
            else:
                state.live = await self._run(state.kind, live)
        logger.info("%s: following the switch to %s", state.kind.name, live.name)
        self.rebuild_progress.labels(read_model=state.kind.name).set(1.0)
        await self._retire(state, retired)

    def _group_of(self, version: str) -> str:
        return self.group_id if version == self.bare_group_version else f"{self.group_id}.{version}"

    async def _run(self, kind: ReadModelKind, record: VersionRecord) -> VersionRunner:
        projection = await asyncio.to_thread(kind.build, record.name)
        broker = kafka_broker(self.bootstrap_servers, client_id=f"northstar-{record.name}")
        group_id = self._group_of(record.name)
        consumer = EventConsumer(
            broker=broker,
            name=record.name,
            topics=kind.topics,
            group_id=group_id,
            apply=projection.apply,
            metrics=self.metrics,
            retry=self.retry,
            ledger=projection.ledger,
        )
        await broker.start()
        return VersionRunner(record, projection, broker, group_id, consumer)

    async def _watch(self) -> None:
        """Holds past their time bound are parked (also when no event arrives), and the live
        versions' waiting events and group lag are exported."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            for state in list(self._states.values()):
                try:
                    await self._watch_one(state)
                except Exception:  # the store or Kafka unreachable for a moment
                    logger.exception("%s: watching the read model failed", state.kind.name)

    async def _watch_one(self, state: _State) -> None:
        for runner in (state.live, state.building):
            if runner is not None:
                await asyncio.to_thread(runner.projection.ledger.sweep)
        live = state.live
        counts = await asyncio.to_thread(live.projection.ledger.counts)
        self.live_metrics.set_waiting(state.kind.name, counts)
        ends = await self.probe.end_offsets(state.kind.topics)
        committed = await self.probe.committed(live.group_id, ends)
        self.live_metrics.set_lag(state.kind.name, ends, committed)

    def _live_tables(self, switching: Mapping[str, str] | None = None) -> dict[str, list[str]]:
        """Each view's tables: the live versions', or for `switching` read models the named
        version's."""
        views: dict[str, list[str]] = {}
        for name, state in self._states.items():
            live = (switching or {}).get(name, state.live.record.name)
            for table in state.kind.tables(live):
                views.setdefault(table.logical, []).append(table.physical)
        return views

    def _add_first_version(self, read_model: str) -> None:
        with self.db.transaction() as tx:
            add_first_live_version(tx, read_model, utc_now().isoformat())

    def _add_version(self, read_model: str, number: int, state: str) -> VersionRecord:
        with self.db.transaction() as tx:
            return add_version(tx, read_model, number, state, utc_now().isoformat())

    def _replace_retired(self, kind: ReadModelKind) -> VersionRecord:
        """Drop retired versions (nobody reads them) and record the next version as building."""
        versions = load_versions(self.db, kind.name)
        with self.db.transaction() as tx:
            for record in versions:
                if record.state == RETIRED:
                    drop_version(tx, record, kind.tables(record.name))
            number = max(v.number for v in versions) + 1
            return add_version(tx, kind.name, number, BUILDING, utc_now().isoformat())

    def _point_views(self) -> None:
        with self.db.transaction() as tx:
            point_views(tx, self.db.engine, self._live_tables())
