"""BatchSender against the real broker: order per partition, one future per batch."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.brokers import BrokerInfo
from streams.output import BatchSender, build_batches


async def _send_and_read(bootstrap: str, topic: str, calls: list[list[bytes]]) -> tuple:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    # Small batches, so that one call makes several and they queue behind each other.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=2_000)
    await producer.start()
    try:
        sender = BatchSender(producer)
        futures = []
        for values in calls:  # each returns at once: nothing here waits for the broker
            futures.append(sender.send(topic, 1, [(b"k", v) for v in values]))
        before_any_ack = [f.done() for call in futures for f in call]
        metadata = await asyncio.gather(*(f for call in futures for f in call))
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 1)])
        read: list[bytes] = []
        total = sum(map(len, calls))
        while len(read) < total:
            batch = await consumer.getmany(timeout_ms=5_000)
            assert batch, "records missing"
            read += [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    return futures, before_any_ack, metadata, read


def test_batches_of_many_calls_arrive_in_order_each_future_done_when_acknowledged(
    kafka: BrokerInfo,
) -> None:
    topic = f"output-{uuid.uuid4().hex[:8]}"
    calls = [[f"{c}-{i}".encode() * 20 for i in range(60)] for c in range(5)]
    futures, before_any_ack, metadata, read = asyncio.run(
        _send_and_read(kafka.bootstrap_servers, topic, calls)
    )
    assert read == [v for values in calls for v in values]  # in order, each once
    assert all(len(call) > 1 for call in futures)  # several batches per call
    assert all(len(set(map(id, call))) == len(call) for call in futures)
    assert not any(before_any_ack)
    # Each future: its batch's first record. A call's last batch may also take the next
    # call's first records (it had not left yet): then the two calls share that future.
    first_offset = {id(f): m.offset for f, m in zip(_flat(futures), metadata, strict=True)}
    offsets = list(first_offset.values())
    assert offsets == sorted(offsets) and offsets[0] == 0 and len(set(offsets)) == len(offsets)
    assert all(m.partition == 1 for m in metadata)


def _flat(futures: list[list[asyncio.Future]]) -> list[asyncio.Future]:
    return [f for call in futures for f in call]


def test_calls_made_while_a_partitions_batch_waits_join_it(kafka: BrokerInfo) -> None:
    """Fifty one-record calls in one go: one batch, one round trip, instead of fifty."""
    topic = f"output-{uuid.uuid4().hex[:8]}"
    calls = [[f"r-{i}".encode()] for i in range(50)]
    futures, before_any_ack, metadata, read = asyncio.run(
        _send_and_read(kafka.bootstrap_servers, topic, calls)
    )
    assert read == [v for values in calls for v in values]
    assert not any(before_any_ack)
    assert len({id(f) for f in _flat(futures)}) == 1
    assert {m.offset for m in metadata} == {0}


def test_records_fill_batches_and_one_larger_than_a_batch_gets_its_own() -> None:
    async def sizes(records: list[tuple[bytes, bytes]]) -> list[int]:
        producer = AIOKafkaProducer(max_batch_size=200)  # not started: builders only
        try:
            return [batch.record_count() for batch in build_batches(producer, records)]
        finally:
            await producer.stop()

    assert asyncio.run(sizes([(b"k", b"x" * 60)] * 6)) == [2, 2, 2]
    assert asyncio.run(sizes([])) == []
    assert asyncio.run(sizes([(b"k", b"x"), (b"k", b"x" * 400), (b"k", b"x")])) == [1, 1, 1]


def test_a_batch_handed_to_the_producer_takes_records_until_it_is_sent(kafka: BrokerInfo) -> None:
    """The second of two full calls' batches, queued in the producer behind the first (one
    request in flight per broker), still takes the next call's record."""
    topic = f"output-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[bool, list[int], list[bytes], list[bytes]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka.bootstrap_servers, acks="all", max_batch_size=2_000
        )
        await producer.start()
        handed: list[object] = []
        send_batch = producer.send_batch

        async def counting_send_batch(batch: object, topic: str, *, partition: int) -> object:
            handed.append(batch)
            return await send_batch(batch, topic, partition=partition)

        producer.send_batch = counting_send_batch  # type: ignore[method-assign]
        first = [f"a-{i}".encode() * 20 for i in range(30)]  # two batches, the second open
        try:
            sender = BatchSender(producer)
            before = sender.send(topic, 1, [(b"k", v) for v in first])
            for _ in range(1000):  # until the second batch is the producer's too
                if len(handed) == len(before):
                    break
                await asyncio.sleep(0)
            after = sender.send(topic, 1, [(b"k", b"late")])
            joined = after == [before[-1]]
            metadata = await asyncio.gather(*before, *after)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 1)])
            read: list[bytes] = []
            while len(read) < len(first) + 1:
                batch = await consumer.getmany(timeout_ms=5_000)
                assert batch, "records missing"
                read += [r.value for records in batch.values() for r in records]
        finally:
            await consumer.stop()
        return joined, [m.offset for m in metadata], read, first

    joined, offsets, read, first = asyncio.run(scenario())
    assert joined  # the late record rode in the second batch, after it was handed over
    assert len(set(offsets[:-1])) == 2 and offsets[-1] == offsets[-2]
    assert read == [*first, b"late"]
