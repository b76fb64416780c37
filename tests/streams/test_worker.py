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
    # Every batch had a timestamped input: as many ages as batches, in seconds (the
    # inputs were sent during this test, within its timeout).
    values = {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines())
        if name
        in (
            "vigil_input_age_seconds_count",
            "vigil_input_age_seconds_sum",
            "vigil_batch_size_count",
        )
    }
    assert values["vigil_input_age_seconds_count"] == values["vigil_batch_size_count"] >= 1
    assert 0.0 < values["vigil_input_age_seconds_sum"] < 120.0 * values["vigil_batch_size_count"]
    assert scrape(settings.metrics_port, "/healthz")[0] == 200
    assert scrape(settings.metrics_port, "/readyz")[0] == 200


def test_states_forget_the_decisions_of_committed_inputs(worker: WorkerProcess) -> None:
    """A state remembers decisions to give them again to inputs replayed after a crash;
    once their offsets are committed no replay can ask, and the next write drops them."""
    import time

    from streams.clients import group_lag
    from tests.streams.restarts import last_values

    settings = worker.settings
    entity = "acct-many"
    producer = make_producer(settings)

    def send(first: int, n: int) -> list[int]:
        sent = [
            producer.send(
                settings.events_topic,
                key=entity.encode(),
                value=orjson.dumps(
                    {
                        "event_id": f"m-{i}",
                        "entity_id": entity,
                        "ts": 1_700_000_000.0 + i,
                        "features": {"amount": float(i)},
                    }
                ),
            ).get(timeout=30)
            for i in range(first, first + n)
        ]
        return [meta.offset for meta in sent]

    def decided(n: int) -> None:
        records = read_topics(
            settings,
            [settings.decisions_topic],
            until=lambda r: len(r[settings.decisions_topic]) >= n,
            timeout=120,
        )
        assert len(records[settings.decisions_topic]) >= n, worker.log_tail()

    send(0, 40)
    decided(40)
    deadline = time.monotonic() + 60
    while any(group_lag(settings, [settings.events_topic]).values()):  # wait for the commit
        assert time.monotonic() < deadline and worker.alive, worker.log_tail()
        time.sleep(0.5)
    later = send(40, 3)
    decided(43)
    changelog = f"{settings.group_id}-entity-state-changelog"
    state = orjson.loads(last_values(settings, changelog, timeout=30)[entity.encode()])
    assert state["applied"]["events"] == later[-1]
    # Without forgetting: the last Memory.max_decisions (32) of the 43.
    assert [position for position, _ in state["decisions"]] == later


def scrape(port: int, path: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
