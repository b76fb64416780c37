"""Model versions through the real broker: checkpoints, decisions that carry them, a
rollback a running worker obeys, and a restart that restores the current version."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.checkpoints import read_checkpoints
from streams.cli import main
from streams.clients import WorkerProcess, make_producer, read_topics
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


def wait_for(condition, timeout: float = 60.0, message: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out: {message}")


def test_checkpoints_rollback_and_restore(
    kafka: BrokerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        partitions=1,
        group_id=f"ckpt-{run}",
        data_dir=tmp_path / "data",
        metrics_port=0,
        checkpoint_seconds=1.0,
    ).with_topic_prefix(f"ckpt-{run}.")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    ensure_topics(settings)
    events, labels = synthetic_stream(n_entities=20, n_events=400, seed=5, label_rate=0.3)
    producer = make_producer(settings)
    sent: list[str] = []

    def send_events(items: list[dict], tag: str) -> None:
        for e in items:
            e = {**e, "event_id": f"{tag}-{e['event_id']}"}
            sent.append(e["event_id"])
            producer.send(settings.events_topic, key=e["entity_id"].encode(), value=orjson.dumps(e))
        producer.flush()

    def send_labels(items: list[dict]) -> None:
        for lb in items:
            producer.send(
                settings.labels_topic, key=lb["entity_id"].encode(), value=orjson.dumps(lb)
            )
        producer.flush()

    def versions_of(tag: str) -> set[int]:
        records = read_topics(
            settings, [settings.decisions_topic], until=lambda r: False, timeout=2
        )
        decisions = [orjson.loads(r.value) for r in records[settings.decisions_topic]]
        return {d["model_version"] for d in decisions if d["event_id"].startswith(tag)}

    with WorkerProcess(settings, log_path=tmp_path / "worker-1.log") as worker:
        send_events(events[:200], "a")
        send_labels([lb for lb in labels if lb["ts"] <= events[199]["ts"]][:30])
        wait_for(lambda: (read_checkpoints(settings)[1] or 0) >= 1, message="checkpoint 1")
        send_labels([lb for lb in labels if lb["ts"] <= events[199]["ts"]][30:])
        wait_for(lambda: (read_checkpoints(settings)[1] or 0) >= 2, message="checkpoint 2")
        send_events(events[200:220], "b")
        assert wait_for(
            lambda: versions_of("b") and min(versions_of("b")) >= 2,
            message="decisions carry version 2",
        )

        capsys.readouterr()
        assert main(["model", "ls"]) == 0
        listing = capsys.readouterr().out
        assert "<- current" in listing and len(listing.splitlines()) >= 3

        assert main(["model", "rollback", "1"]) == 0
        time.sleep(3 * settings.checkpoint_seconds)
        send_events(events[220:240], "c")
        assert wait_for(lambda: versions_of("c") == {1}, message="rolled back to version 1")
        assert worker.alive, worker.log_tail()
        assert main(["model", "rollback", "999"]) == 2

    _, current = read_checkpoints(settings)
    with WorkerProcess(settings, log_path=tmp_path / "worker-2.log"):
        send_events(events[240:260], "d")
        assert wait_for(
            lambda: versions_of("d") == {current},
            message=f"a restarted worker restores version {current}",
        )
    producer.close()
