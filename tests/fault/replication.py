"""What a Kafka cluster's partitions look like (leader, replicas, in-sync replicas), for fault
tests that kill a broker: a broker may only be killed to prove "one of three may die" while
every partition still has another in-sync replica to lead it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: no leader
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    error_code: int

    @property
    def fully_in_sync(self) -> bool:
        return self.error_code == 0 and self.leader >= 0 and set(self.isr) == set(self.replicas)

    def __str__(self) -> str:
        return (
            f"{self.topic}[{self.partition}] leader={self.leader} "
            f"replicas={list(self.replicas)} isr={list(self.isr)} error={self.error_code}"
        )


async def create_topics(
    bootstrap_servers: str, names: Iterable[str], *, partitions: int, replication: int
) -> None:
    """Creates the topics as a deployment does (deploy/: declared up front, replicated), so no
    client creates them first with its own defaults. FastStream does when a subscriber starts:
    one partition, one replica, whatever the cluster's defaults; on a cluster that single
    replica's broker is then the only one that can ever serve the topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30000)
    await admin.start()
    try:
        response = await admin.create_topics(
            [
                NewTopic(name, num_partitions=partitions, replication_factor=replication)
                for name in names
            ]
        )
    finally:
        await admin.close()
    failed = [e for e in response.to_object()["topic_errors"] if e["error_code"]]
    assert not failed, f"creating the topics failed: {failed}"


async def partition_states(bootstrap_servers: str) -> list[PartitionState]:
    """Every partition of every topic (internal ones included), from the brokers' metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await admin.start()
    try:
        topics = await admin.describe_topics()
    finally:
        await admin.close()
    states = (
        PartitionState(
            topic=str(topic["topic"]),
            partition=int(partition["partition"]),
            leader=int(partition["leader"]),
            replicas=tuple(int(n) for n in partition["replicas"]),
            isr=tuple(int(n) for n in partition["isr"]),
            error_code=int(partition["error_code"]),
        )
        for topic in topics
        for partition in topic["partitions"]
    )
    return sorted(states, key=lambda state: (state.topic, state.partition))


def describe(states: Iterable[PartitionState]) -> str:
    return "; ".join(map(str, states)) or "(no partitions)"


async def wait_until_fully_in_sync(
    bootstrap_servers: str, topics: Iterable[str], *, within_seconds: float
) -> list[PartitionState]:
    """Until each of `topics` exists with all the replicas of every partition in sync; returns
    their partitions, or fails naming the partitions it waited for (and the topics missing).
    Only these topics: a cluster on loopback ports may also hold topics of strangers (clients
    of an earlier broker on the same port)."""
    wanted = set(topics)
    deadline = time.monotonic() + within_seconds
    last_problem = "no metadata answer yet"
    while True:
        try:
            states = [s for s in await partition_states(bootstrap_servers) if s.topic in wanted]
        except (KafkaError, OSError, TimeoutError) as error:
            last_problem = f"metadata request failed: {error!r}"
        else:
            missing = wanted - {s.topic for s in states}
            short = [s for s in states if not s.fully_in_sync]
            if not missing and not short:
                return states
            last_problem = (
                f"topics missing: {sorted(missing) or 'none'}; "
                f"partitions not fully in sync: {describe(short) if short else 'none'}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the test's partitions were not all fully in sync within "
                f"{within_seconds:g}s: {last_problem}"
            )
        await asyncio.sleep(0.5)


def leaderless_without(states: Iterable[PartitionState], node_id: int) -> list[PartitionState]:
    """The partitions that no in-sync replica could lead once `node_id` is gone (unclean
    leader election is off: only an in-sync replica may become leader)."""
    return [s for s in states if not set(s.isr) - {node_id}]
