"""Synchronous Kafka clients (kafka-python) for the tools: produce, read back, run a worker.

The worker itself uses Faust and aiokafka; these serve the CLI, the demo, the tests'
verifiers and the benchmarks, which want plain blocking calls.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from streams.local_kafka import die_with_parent
from streams.settings import Settings

__all__ = ["WorkerProcess", "group_lag", "make_producer", "read_to_end", "read_topics"]


def make_producer(settings: Settings) -> KafkaProducer:
    """A producer that waits for every replica (``acks=all``); keys and values are bytes."""
    return KafkaProducer(
        **settings.kafka_options(),
        acks="all",
        linger_ms=5,
        client_id="vigil-producer",
    )


def read_topics(
    settings: Settings,
    topics: Iterable[str],
    *,
    until: Callable[[dict[str, list[ConsumerRecord]]], bool],
    timeout: float = 60.0,
) -> dict[str, list[ConsumerRecord]]:
    """Read ``topics`` from the beginning, without a consumer group, until ``until(records)``.

    Returns every record read per topic; stops at ``timeout`` seconds even if ``until``
    never held (the caller then sees what did arrive and can say what is missing).
    """
    topics = list(topics)
    consumer = KafkaConsumer(
        **settings.kafka_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="vigil-reader",
    )
    records: dict[str, list[ConsumerRecord]] = {t: [] for t in topics}
    try:
        partitions = []
        for topic in topics:
            for p in sorted(_partitions_for(consumer, topic, timeout)):
                partitions.append(TopicPartition(topic, p))
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            batch = consumer.poll(timeout_ms=200)
            for tp, items in batch.items():
                records[tp.topic].extend(items)
    finally:
        consumer.close()
    return records


def read_to_end(settings: Settings, topic: str, *, timeout: float = 120.0) -> list[ConsumerRecord]:
    """Every record of ``topic`` up to its end as of now, partition by partition in order."""
    consumer = KafkaConsumer(
        **settings.kafka_options(),
        enable_auto_commit=False,
        isolation_level="read_committed",
        client_id="vigil-reader",
    )
    records: list[ConsumerRecord] = []
    try:
        partitions = [
            TopicPartition(topic, p) for p in sorted(_partitions_for(consumer, topic, timeout))
        ]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end within {timeout} s")
            for items in consumer.poll(timeout_ms=500).values():
                records.extend(items)
    finally:
        consumer.close()
    return records


def group_lag(settings: Settings, topics: Iterable[str]) -> dict[TopicPartition, int]:
    """Per partition of ``topics``: log-end offset minus the worker group's committed offset.

    All zeros means every input the group has seen is processed and committed. A partition
    without a committed offset counts its whole log.
    """
    admin = KafkaAdminClient(**settings.kafka_options(), client_id="vigil-lag")
    consumer = KafkaConsumer(**settings.kafka_options(), client_id="vigil-lag")
    try:
        committed = admin.list_group_offsets(settings.group_id).get(settings.group_id, {})
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(_partitions_for(consumer, topic, 30.0))
        ]
        ends = consumer.end_offsets(partitions)
        return {
            tp: ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in partitions
        }
    finally:
        consumer.close()
        admin.close()


def _partitions_for(consumer: KafkaConsumer, topic: str, timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        found = consumer.partitions_for_topic(topic)
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} does not exist")
        time.sleep(0.2)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """SIGTERM ``process``, SIGKILL it after ``timeout`` seconds; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class WorkerProcess:
    """``vigil worker`` in a child process, with ``settings`` passed through its environment.

    The child dies with its parent (on Linux), so a crashed test or demo leaves no worker.
    """

    def __init__(self, settings: Settings, *, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.settings.to_env()}
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "streams.cli", "worker"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )
        return self

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a graceful Faust shutdown), then SIGKILL after ``timeout`` seconds."""
        if self._process is None:
            return None
        return terminate(self._process, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
