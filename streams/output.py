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
acknowledged it. A partition's last batch takes the records of later calls for that
partition until it is full or the producer builds it into a request: before, at 5,300
events/s (half the worker's throughput), each input batch made its own small batches,
acknowledgements fell a second and more behind the round trips, the commits with them,
and the fetch loop stopped to wait for them (its bounded replay).

The producer still owns delivery: retries, ``acks=all``, ordering per partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any, NamedTuple

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

    A partition's last batch takes the records of later calls for that partition until
    it is full or the producer builds it into a request (``append`` then refuses them,
    as it does for aiokafka's own ``send``): while it waits behind the batches before
    it, and while it is queued in the producer. Under load a round trip then carries
    what many input batches made instead of one input batch's records, so
    acknowledgements (and the commits that wait for them) keep up.

    Parameters
    ----------
    producer
        The :class:`aiokafka.AIOKafkaProducer` (Faust's, for the worker).
    """

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        # Per (topic, partition): its last batch, which later records join until it is
        # full or built, and after whose hand-over the next batch is handed over.
        self._last: dict[tuple[str, int], _Batch] = {}

    def send(self, topic: str, partition: int, records: Iterable[Record]) -> list[asyncio.Future]:
        """Produce ``records`` to ``topic``/``partition``; the futures of their batches.

        Returns at once. Each future is done when the broker acknowledged its batch
        (its result: the batch's first record's metadata) and fails if producing it
        failed. A batch, and so its future, may hold records of other calls too.
        """
        where = (topic, partition)
        delivered: list[asyncio.Future] = []
        batch = self._last.get(where)
        for key, value in records:
            if batch is None or batch.builder.append(key=key, value=value, timestamp=None) is None:
                # None yet, or full, or built: a new one (an empty one takes any record).
                batch = self._last[where] = self._start(batch, topic, partition)
                batch.builder.append(key=key, value=value, timestamp=None)
            if not delivered or delivered[-1] is not batch.delivered:
                delivered.append(batch.delivered)
        return delivered

    def _start(self, previous: _Batch | None, topic: str, partition: int) -> _Batch:
        """A new batch for ``topic``/``partition``, handed over after ``previous``."""
        builder = self.producer.create_batch()
        after = None if previous is None else previous.handed
        handed = asyncio.ensure_future(self._hand_over(after, builder, topic, partition))
        return _Batch(builder, handed, asyncio.ensure_future(_delivery(handed)))

    async def _hand_over(
        self, previous: asyncio.Future | None, builder: Any, topic: str, partition: int
    ) -> asyncio.Future:
        if previous is not None:
            # A failed batch is its own inputs' to replay (they stay unacknowledged); the
            # ones after it go on.
            with contextlib.suppress(Exception):
                await asyncio.shield(previous)
        # Still open: it takes records until the producer builds it (or it is full).
        return await self.producer.send_batch(builder, topic, partition=partition)


class _Batch(NamedTuple):
    """A partition's record batch: its builder, its hand-over (done when the producer took
    it) and its delivery (done when the broker acknowledged it)."""

    builder: Any
    handed: asyncio.Future
    delivered: asyncio.Future


async def _delivery(handed: asyncio.Future) -> Any:
    # Shielded: one caller cancelling its wait (a batch's acknowledgement, at shutdown)
    # must not cancel the hand-over, or the producer's future, that other calls' records
    # and the partition's later batches depend on.
    sent = await asyncio.shield(handed)
    return await asyncio.shield(sent)
