"""Batched output: the records a batch makes for one partition, produced as whole batches.

Producing record by record costs a coroutine, a partitioner call and an accumulator step
per record (about as much as scoring the event, measured in issue #8). The worker's
decisions and state changes of one input batch all go to one partition (the input's:
same keys, same partition count), so they are appended to aiokafka's record-batch
builder and handed to the producer a batch at a time, each batch one future.

Handing a batch over must not hold up the next input batch. aiokafka takes a partition's
batch only once the one before it has left for the broker, and it keeps one request in
flight per broker: awaited in line, each hand-over waited for the previous batch's round
trip, and the worker sat idle about 40 % of the time at full load. So
:class:`BatchSender` hands batches over in the background, one partition's in the order
they were made, and returns at once a future per batch, done when the broker
acknowledged it.

The producer still owns delivery: retries, ``acks=all``, ordering per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

__all__ = ["BatchSender", "build_batches"]

Record = tuple[bytes | None, bytes | None]


def build_batches(producer: Any, records: Iterable[Record]) -> list[Any]:
    """``records`` (key, value) in as few of ``producer``'s record batches as they fit.

    ``producer`` is an :class:`aiokafka.AIOKafkaProducer`; the records keep their order.
    A record larger than a batch gets a batch of its own (the broker may refuse it).
    """
    batches = []
    batch, size = producer.create_batch(), 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            batches.append(batch)  # full: start another (an empty one takes any record)
            batch, size = producer.create_batch(), 0
            batch.append(key=key, value=value, timestamp=None)
        size += 1
    if size:
        batches.append(batch)
    return batches


class BatchSender:
    """Hands record batches to an aiokafka producer in order per partition, in the background.

    Parameters
    ----------
    producer
        The :class:`aiokafka.AIOKafkaProducer` (Faust's, for the worker).
    """

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        # Per (topic, partition): the hand-over of its last batch, done when the producer
        # took it. The next batch of that partition is handed over after it.
        self._handed: dict[tuple[str, int], asyncio.Future] = {}

    def send(self, topic: str, partition: int, records: Iterable[Record]) -> list[asyncio.Future]:
        """Produce ``records`` to ``topic``/``partition``; one future per record batch.

        Returns at once. Each future is done when the broker acknowledged its batch
        (its result: the batch's first record's metadata) and fails if producing it
        failed.
        """
        delivered = []
        for batch in build_batches(self.producer, records):
            previous = self._handed.get((topic, partition))
            handed = asyncio.ensure_future(self._hand_over(previous, batch, topic, partition))
            self._handed[(topic, partition)] = handed
            delivered.append(asyncio.ensure_future(_delivery(handed)))
        return delivered

    async def _hand_over(
        self, previous: asyncio.Future | None, batch: Any, topic: str, partition: int
    ) -> asyncio.Future:
        if previous is not None:
            # A failed batch is its own inputs' to replay (they stay unacknowledged); the
            # ones after it go on.
            with contextlib.suppress(Exception):
                await asyncio.shield(previous)
        return await self.producer.send_batch(batch, topic, partition=partition)


async def _delivery(handed: asyncio.Future) -> Any:
    return await (await handed)
