"""How far a consumer group has got: its committed offsets against the partitions' end offsets.

Consumers commit after each applied message, so a group's committed offset is the next offset
its read model has still to apply: the group has caught up with a set of end offsets once every
committed offset has reached them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True)
class PartitionOffsets:
    topic: str
    partition: int
    applied: int
    end: int


def caught_up(applied: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]) -> bool:
    return all(applied.get(tp, 0) >= end for tp, end in ends.items())


def applied_share(partitions: Iterable[PartitionOffsets]) -> float:
    listed = list(partitions)
    total = sum(p.end for p in listed)
    done = sum(min(p.applied, p.end) for p in listed)
    return 1.0 if total == 0 else done / total


class OffsetProbe:
    """A group-less consumer (end offsets) and an admin client (a group's committed offsets)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers, client_id="northstar-projections-probe"
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            client_id="northstar-projections-probe",
            enable_auto_commit=False,
        )
        self._started = False
        # Progress reports and switch attempts may start the probe at the same moment.
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        async with self._starting:
            if not self._started:
                await self._admin.start()
                await self._consumer.start()
                self._started = True

    async def stop(self) -> None:
        if self._started:
            self._started = False
            await self._consumer.stop()
            await self._admin.close()

    async def end_offsets(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        """End offset of every partition of the topics that exist (a missing topic has none)."""
        await self.start()
        described = await self._admin.describe_topics(list(topics))
        partitions = [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if topic["error_code"] == 0
            for partition in topic["partitions"]
        ]
        if not partitions:
            return {}
        ends = await self._consumer.end_offsets(partitions)
        return {tp: int(offset) for tp, offset in ends.items()}

    async def committed(
        self, group_id: str, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The group's committed offset per partition (0 where it has committed nothing)."""
        await self.start()
        wanted = list(partitions)
        if not wanted:
            return {}
        offsets = await self._admin.list_consumer_group_offsets(group_id, partitions=wanted)
        found = {tp: max(int(meta.offset), 0) for tp, meta in offsets.items()}
        return {tp: found.get(tp, 0) for tp in wanted}

    async def progress(self, group_id: str, topics: Iterable[str]) -> list[PartitionOffsets]:
        ends = await self.end_offsets(topics)
        applied = await self.committed(group_id, ends)
        return [
            PartitionOffsets(tp.topic, tp.partition, applied[tp], end)
            for tp, end in sorted(ends.items(), key=lambda item: (item[0].topic, item[0].partition))
        ]
