"""The same input through Kafka and through vigil replay gives the same decisions."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from engine.simulate import merge_by_time, synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess, make_producer, read_topics
from streams.process import build_scorer
from streams.replay import replay_files
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


def wait_until_consumed(settings: Settings, topic: str, timeout: float = 60.0) -> None:
    """Until the worker's group has committed the end offset of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap)
    tp = TopicPartition(topic, 0)
    end = consumer.end_offsets([tp])[tp]
    consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            offsets = admin.list_group_offsets(settings.group_id)  # {group: {tp: offset}}
            committed = offsets.get(settings.group_id, {}).get(tp)
            if committed is not None and committed.offset >= end:
                return
            time.sleep(0.2)
    finally:
        admin.close()
    raise AssertionError(f"the worker did not consume {topic} within {timeout} s")


def one_partition_settings(
    kafka: BrokerInfo, tmp_path: Path, name: str, **overrides: int
) -> Settings:
    """A worker of its own on topics of its own, with one partition: labels are learned in
    one order, online as offline."""
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    return Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        partitions=1,
        group_id=run,
        data_dir=tmp_path / "data",
        action_threshold=0.6,
        metrics_port=0,
        **overrides,
    ).with_topic_prefix(f"{run}.")


def replayed_decisions(
    settings: Settings, events: list[dict], labels: list[dict], tmp_path: Path
) -> list[dict]:
    """The decisions ``vigil replay`` gives for ``events`` and ``labels`` (the oracle)."""
    events_path, labels_path = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    events_path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    labels_path.write_bytes(b"".join(orjson.dumps(lb) + b"\n" for lb in labels))
    replay_files(
        events_path=events_path,
        labels_path=labels_path,
        out_dir=tmp_path / "out",
        scorer=build_scorer(settings),
        max_message_bytes=settings.max_message_bytes,
        progress=False,
    )
    out = (tmp_path / "out" / "decisions.jsonl").read_bytes()
    return [orjson.loads(line) for line in out.splitlines()]


def test_kafka_and_replay_make_the_same_decisions(kafka: BrokerInfo, tmp_path: Path) -> None:
    settings = one_partition_settings(kafka, tmp_path, "same")
    events, labels = synthetic_stream(n_entities=40, n_events=600, seed=13, label_rate=0.3)
    split = 300
    cut = events[split - 1]["ts"]
    phase1, phase2 = events[:split], events[split:]
    # Every label becomes known between the two phases, in the order replay would see them.
    labels = [{**lb, "reported_ts": cut + 0.5} for lb in labels if lb["ts"] <= cut]
    assert labels

    ensure_topics(settings)
    producer = make_producer(settings)

    def produce(topic: str, items: list[dict]) -> None:
        for item in items:
            producer.send(topic, key=item["entity_id"].encode(), value=orjson.dumps(item))
        producer.flush()

    def decisions_for(n: int) -> list[dict]:
        records = read_topics(
            settings,
            [settings.decisions_topic],
            until=lambda r: len(r[settings.decisions_topic]) >= n,
            timeout=90,
        )
        return [orjson.loads(r.value) for r in records[settings.decisions_topic]]

    with WorkerProcess(settings, log_path=tmp_path / "worker.log") as worker:
        produce(settings.events_topic, phase1)
        assert len(decisions_for(len(phase1))) == len(phase1), worker.log_tail()
        produce(settings.labels_topic, labels)
        wait_until_consumed(settings, settings.labels_topic)
        produce(settings.events_topic, phase2)
        online = decisions_for(len(events))
        assert worker.alive, worker.log_tail()
    producer.close()

    offline = replayed_decisions(settings, events, labels, tmp_path)

    by_id = {d["event_id"]: d for d in online}
    assert len(online) == len(events) == len(by_id)
    assert [by_id[d["event_id"]] for d in offline] == offline
    assert any(d["action"] for d in offline[split:]), "the labels must have taught the model"
    assert len({d["reason"] for d in offline}) >= 3


def test_a_backlog_of_events_and_labels_is_learned_in_time_order_as_replay_does(
    kafka: BrokerInfo, tmp_path: Path
) -> None:
    """All the input is there before the worker starts. Fetched in bulk, a topic would run
    ahead of the other (the labels, a few, in the first fetches; the events, many, in
    later ones), and labels applied before their events teach nothing; the worker hands
    each partition over only as far as the other topic's partition has reached in time,
    so it learns as replay does."""
    settings = one_partition_settings(kafka, tmp_path, "backlog", batch_max=200)
    events, labels = synthetic_stream(n_entities=40, n_events=2000, seed=17, label_rate=0.3)
    stream = merge_by_time(events, labels)
    ensure_topics(settings)
    producer = make_producer(settings)
    topics = {"event": settings.events_topic, "label": settings.labels_topic}
    start_ms = int(time.time() * 1000)
    for i, (kind, item) in enumerate(stream):  # Kafka timestamps in the stream's order
        key, value = item["entity_id"].encode(), orjson.dumps(item)
        producer.send(topics[kind], key=key, value=value, timestamp_ms=start_ms + i)
    producer.flush()
    producer.close()

    with WorkerProcess(settings, log_path=tmp_path / "worker.log") as worker:
        records = read_topics(
            settings,
            [settings.decisions_topic],
            until=lambda r: len(r[settings.decisions_topic]) >= len(events),
            timeout=120,
        )
        assert worker.alive, worker.log_tail()
    online = [orjson.loads(r.value) for r in records[settings.decisions_topic]]

    offline = replayed_decisions(settings, events, labels, tmp_path)

    by_id = {d["event_id"]: d for d in online}
    assert len(online) == len(events) == len(by_id)
    # An untaught model scores 0.5; here the labels teach it from the first minutes on.
    assert sum(d["score"] != 0.5 for d in offline) > 0.9 * len(offline)
    assert [by_id[d["event_id"]] for d in offline] == offline
