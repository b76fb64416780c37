"""The worker end to end against the real broker: decisions, dead letters, and it keeps going."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess, make_producer, read_topics
from streams.demo import BAD_INPUTS
from streams.local_kafka import free_port
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


@pytest.fixture
def worker(kafka: BrokerInfo, tmp_path: Path) -> Iterator[WorkerProcess]:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        partitions=3,
        group_id=f"test-{run}",
        data_dir=tmp_path / "data",
        metrics_port=free_port(),
    ).with_topic_prefix(f"w-{run}.")
    ensure_topics(settings)
    process = WorkerProcess(settings, log_path=tmp_path / "worker.log").start()
    yield process
    process.stop()


def test_one_decision_per_valid_event_one_dead_letter_per_bad_input(
    worker: WorkerProcess,
) -> None:
    settings = worker.settings
    events, labels = synthetic_stream(n_entities=40, n_events=400, seed=7)
    before, after = events[:200], events[200:]
    producer = make_producer(settings)
    for item in before:
        producer.send(
            settings.events_topic, key=item["entity_id"].encode(), value=orjson.dumps(item)
        )
    for item in labels:
        producer.send(
            settings.labels_topic, key=item["entity_id"].encode(), value=orjson.dumps(item)
        )
    sent_bad = [
        producer.send(settings.events_topic, key=key, value=value).get(timeout=30)
        for key, value in BAD_INPUTS
    ]
    bad_label = producer.send(
        settings.labels_topic, key=b"acct-1", value=b'{"entity_id": "acct-1", "ts": 1, "label": 7}'
    ).get(30)
    producer.flush()
    for item in after:  # produced after the bad ones: the worker must still be consuming
        producer.send(
            settings.events_topic, key=item["entity_id"].encode(), value=orjson.dumps(item)
        )
    producer.flush()
    producer.close()

    n_bad = len(BAD_INPUTS) + 1
    records = read_topics(
        settings,
        [settings.decisions_topic, settings.dead_letter_topic],
        until=lambda r: (
            len(r[settings.decisions_topic]) >= len(events)
            and len(r[settings.dead_letter_topic]) >= n_bad
        ),
        timeout=120,
    )
    assert worker.alive, worker.log_tail()

    decisions = [orjson.loads(r.value) for r in records[settings.decisions_topic]]
    per_event = Counter(d["event_id"] for d in decisions)
    assert set(per_event) == {e["event_id"] for e in events}, worker.log_tail()
    assert max(per_event.values()) == 1, "each event_id exactly once"
    for r, d in zip(records[settings.decisions_topic], decisions, strict=True):
        assert r.key == d["entity_id"].encode()
        assert 0.0 <= d["score"] <= 1.0 and isinstance(d["action"], bool)

    letters = [orjson.loads(r.value) for r in records[settings.dead_letter_topic]]
    assert len(letters) == n_bad
    by_position = {(x["source_topic"], x["partition"], x["offset"]): x for x in letters}
    for (_key, value), meta in zip(BAD_INPUTS, sent_bad, strict=True):
        letter = by_position[(settings.events_topic, meta.partition, meta.offset)]
        assert letter["stage"] in {"decode", "validate"} and letter["error"]
        if value is None:
            assert letter["raw"] is None
        elif letter["raw_encoding"] == "utf-8":
            assert letter["raw"].encode() == value
        else:
            import base64

            assert base64.b64decode(letter["raw"]) == value
    label_letter = by_position[(settings.labels_topic, bad_label.partition, bad_label.offset)]
    assert label_letter["error"] == "label: expected 0, 1, false or true, got 7"

    metrics = scrape(settings.metrics_port, "/metrics")
    assert metrics[0] == 200
    text = metrics[1]
    assert f"vigil_events_total {float(len(events))}" in text
    assert 'vigil_dead_letters_total{stage="decode"}' in text
    assert "vigil_batch_size_count" in text
    assert scrape(settings.metrics_port, "/healthz")[0] == 200
    assert scrape(settings.metrics_port, "/readyz")[0] == 200


def scrape(port: int, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
