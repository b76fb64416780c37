"""Batched output: the records a batch makes for one partition, produced as whole batches.

Producing record by record costs a coroutine, a partitioner call and an accumulator step
per record (about as much as scoring the event, measured in issue #8). The worker's
decisions and state changes of one input batch all go to one partition (the input's:
same keys, same partition count), so they are appended to aiokafka's record-batch
builder and handed to the producer a batch at a time, each batch one future.

The producer still owns delivery: retries, ``acks=all``, ordering per partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["send_batches"]


async def send_batches(
    producer: Any, topic: str, partition: int, records: Iterable[tuple[bytes | None, bytes | None]]
) -> list[asyncio.Future]:
    """Produce ``records`` (key, value) to ``topic``/``partition`` in as few batches as fit.

    ``producer`` is an :class:`aiokafka.AIOKafkaProducer`. Returns one future per batch,
    done when the broker acknowledged it; the records keep their order.
    """
    futures: list[asyncio.Future] = []
    batch, size = producer.create_batch(), 0
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:
            if size:  # full: send it, start another
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch, size = producer.create_batch(), 0
            if batch.append(key=key, value=value, timestamp=None) is None:
                raise ValueError(f"a record of {len(value or b'')} bytes exceeds a batch")
        size += 1
    if size:
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
