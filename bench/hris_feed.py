"""How long an HRIS feed takes to converge in every service's directory replica, and proof that
replaying it changes nothing: `python -m bench.hris_feed [--people 10000 --teams 500]`.

Runs the directory service (HRIS consumer, relay) and the replicas the goals, feedback and kpi
services keep, on real Kafka (KAFKA_BOOTSTRAP_SERVERS, else one started for the run) and a
throw-away SQLite folder (or --store-url postgresql://...).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from faststream.kafka import KafkaBroker

from devstack.infra import kafka_endpoint
from northstar_contracts.hris import hris_inbound_topic
from services.directory.__main__ import DirectoryService, start_directory_service
from services.directory.sample_feed import SampleFeed, generate_feed, publish_records
from services.shared.consumer import EventConsumer
from services.shared.directory_replica import DirectoryReplica
from services.shared.metrics import ServiceMetrics
from services.shared.readmodel import ReadModelDatabase
from services.shared.settings import ServiceSettings

TENANT = "bench"
REPLICA_SERVICES = ("goals", "feedback", "kpi")


def converged(replica: DirectoryReplica, feed: SampleFeed) -> bool:
    """Counts first (cheap), then every person's manager, team and status."""
    if replica.count_people(TENANT) != len(feed.managers):
        return False
    if replica.count_teams(TENANT) != len(feed.team_parents):
        return False
    rows = replica.db.read(
        "SELECT person_id, manager_id, team_id, employment_status FROM replica_people "
        "WHERE tenant_id = ?",
        (TENANT,),
    )
    return all(
        (manager, team, status == "departed")
        == (feed.managers[person], feed.teams_of[person], person in feed.departed)
        for person, manager, team, status in rows
    )


async def wait_for(condition: Callable[[], bool], *, limit_seconds: float, what: str) -> float:
    """Seconds until `condition` held (polled every 50 ms); fails after `limit_seconds`."""
    started = time.perf_counter()
    while not await asyncio.to_thread(condition):
        if time.perf_counter() - started > limit_seconds:
            raise TimeoutError(f"{what} not reached within {limit_seconds:g}s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


async def run(bootstrap: str, folder: Path, store_url: str, people: int, teams: int) -> None:
    settings = ServiceSettings(
        data_dir=folder,
        store_url=store_url,
        kafka_bootstrap_servers=bootstrap,
        topic_namespace=f"bench{uuid.uuid4().hex[:8]}",
    )
    feed = generate_feed(TENANT, people=people, teams=teams, departures=people // 50)
    service: DirectoryService = await start_directory_service(settings)
    broker = KafkaBroker(bootstrap)
    replicas = [service.replica]
    for name in REPLICA_SERVICES:
        url = store_url or f"sqlite:///{folder / f'{name}-replica.db'}"
        replica = DirectoryReplica(ReadModelDatabase(url, schema=f"{name}_replica"))
        EventConsumer(
            broker=broker,
            name=f"{name}-directory-replica",
            topics=[settings.topic_for("directory")],
            group_id=f"{settings.topic_namespace}-{name}",
            apply=replica.apply,
            metrics=ServiceMetrics(name),
        )
        replicas.append(replica)
    await broker.start()
    quiet_message_logs()
    topic = hris_inbound_topic(settings.topic_namespace)
    limit = max(120.0, people / 20)
    try:
        others = ", ".join(REPLICA_SERVICES)
        print(f"feed: {len(feed.records)} records ({people} people, {teams} teams, "
              f"{len(feed.departed)} departures); replicas: directory + {others}")  # fmt: skip
        started = time.perf_counter()
        await publish_records(bootstrap, topic, feed.records)
        published = time.perf_counter() - started
        stored = await wait_for(
            lambda: (service.app.recorder.max_notification_id() or 0) >= len(feed.records),
            limit_seconds=limit,
            what="directory applying the feed",
        )
        for replica in replicas:
            await wait_for(
                functools.partial(converged, replica, feed), limit_seconds=limit, what="replica"
            )
        total = time.perf_counter() - started
        print(f"published to Kafka in {published:.2f}s")
        print(f"directory applied the feed after {published + stored:.2f}s")
        print(f"every replica converged after {total:.2f}s "
              f"({len(feed.records) / total:.0f} records/s end to end)")  # fmt: skip

        events_before = service.app.recorder.max_notification_id() or 0
        marker = {"tenant_id": TENANT, "record_type": "team_upsert", "external_id": "marker",
                  "name": "Replay marker", "effective_at": "2030-01-01T00:00:00+00:00"}  # fmt: skip
        started = time.perf_counter()
        await publish_records(bootstrap, topic, [*feed.records, *feed.records, marker])
        await wait_for(
            lambda: (service.app.recorder.max_notification_id() or 0) > events_before,
            limit_seconds=limit * 2,
            what="the replays applied",
        )
        replayed = time.perf_counter() - started
        new_events = (service.app.recorder.max_notification_id() or 0) - events_before - 1
        print(f"replayed the feed twice in {replayed:.2f}s: {new_events} new events (expected 0)")
        if new_events:
            raise SystemExit("replaying the feed changed the directory")
    finally:
        await broker.stop()
        await service.stop()
        for replica in replicas[1:]:
            replica.db.close()


def quiet_message_logs() -> None:
    """FastStream logs a line per message at INFO (set when a broker starts): drowns figures."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("faststream"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--store-url", default="", help="default: SQLite files in a temp folder")
    options = parser.parse_args()
    with kafka_endpoint() as kafka, tempfile.TemporaryDirectory() as folder:
        bootstrap = kafka.bootstrap_servers
        asyncio.run(run(bootstrap, Path(folder), options.store_url, options.people, options.teams))


if __name__ == "__main__":
    main()
