"""Model versions on a compacted Kafka topic: checkpoints, the current version, rollback.

Records on ``VIGIL_MODELS_TOPIC`` (one partition, ``cleanup.policy=compact``), keyed by
the worker group so that several deployments can share the topic:

- ``<group>/v00000017``: a checkpoint, ``{"model_version": 17, "model": <snapshot>,
  "ts": ..., "n_learned": ...}``; compaction keeps every version (each has its own key);
- ``<group>/current``: ``{"model_version": 17, "rollback": false}``, the version the
  group's workers should use; compaction keeps the latest.

A worker loads the current version at start, checkpoints its model every
``VIGIL_CHECKPOINT_SECONDS`` when it has learned since, and follows the topic so that
``vigil model rollback VERSION`` makes it load an older version while it runs.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.settings import Settings

__all__ = [
    "CheckpointFollower",
    "current_key",
    "publish",
    "read_checkpoints",
    "rollback",
    "version_key",
]


def version_key(settings: Settings, version: int) -> bytes:
    return f"{settings.group_id}/v{version:08d}".encode()


def current_key(settings: Settings) -> bytes:
    return f"{settings.group_id}/current".encode()


def publish(producer: KafkaProducer, settings: Settings, checkpoint: dict[str, Any]) -> None:
    """Send a checkpoint and make it current; wait until the broker has both."""
    version = int(checkpoint["model_version"])
    record = {**checkpoint, "ts": time.time(), "n_learned": checkpoint["model"].get("n_learned")}
    producer.send(
        settings.models_topic, key=version_key(settings, version), value=orjson.dumps(record)
    )
    producer.send(
        settings.models_topic,
        key=current_key(settings),
        value=orjson.dumps({"model_version": version, "rollback": False}),
    )
    producer.flush()


def rollback(producer: KafkaProducer, settings: Settings, version: int) -> None:
    """Make ``version`` current; running workers load it."""
    producer.send(
        settings.models_topic,
        key=current_key(settings),
        value=orjson.dumps({"model_version": version, "rollback": True}),
    )
    producer.flush()


def read_checkpoints(
    settings: Settings, *, timeout: float = 30.0
) -> tuple[dict[int, dict[str, Any]], int | None]:
    """Every checkpoint of the group on the topic, and the current version (or ``None``)."""
    consumer = KafkaConsumer(
        **settings.kafka_options(), enable_auto_commit=False, client_id="vigil-models"
    )
    versions: dict[int, dict[str, Any]] = {}
    current: int | None = None
    try:
        tp = TopicPartition(settings.models_topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        deadline = time.monotonic() + timeout
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    current = _apply(settings, record.key, record.value, versions, current)
    finally:
        consumer.close()
    return versions, current


def _apply(
    settings: Settings,
    key: bytes | None,
    value: bytes | None,
    versions: dict[int, dict[str, Any]],
    current: int | None,
) -> int | None:
    if key is None or value is None or not key.startswith(f"{settings.group_id}/".encode()):
        return current
    data = orjson.loads(value)
    if key == current_key(settings):
        return int(data["model_version"])
    versions[int(data["model_version"])] = data
    return current


class CheckpointFollower:
    """Follows the models topic in a thread; :meth:`rollbacks` says what to load."""

    def __init__(self, settings: Settings, *, keep: int = 50) -> None:
        self.settings = settings
        self.keep = keep
        self.versions: dict[int, dict[str, Any]] = {}
        self._rollbacks: queue.Queue[int] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vigil-models", daemon=True)

    def start(self) -> CheckpointFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def rollbacks(self) -> list[int]:
        """The versions made current by a rollback since the last call."""
        found = []
        while not self._rollbacks.empty():
            found.append(self._rollbacks.get_nowait())
        return found

    def _run(self) -> None:
        consumer = KafkaConsumer(
            **self.settings.kafka_options(),
            enable_auto_commit=False,
            client_id="vigil-models-follower",
        )
        try:
            tp = TopicPartition(self.settings.models_topic, 0)
            consumer.assign([tp])
            consumer.seek_to_end(tp)  # what was there at start has been read already
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        self._take(record.key, record.value)
        finally:
            consumer.close()

    def _take(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        if key == current_key(self.settings):
            data = orjson.loads(value)
            if data.get("rollback"):
                self._rollbacks.put(int(data["model_version"]))
        elif key.startswith(f"{self.settings.group_id}/v".encode()):
            data = orjson.loads(value)
            self.versions[int(data["model_version"])] = data
            while len(self.versions) > self.keep:
                del self.versions[min(self.versions)]
