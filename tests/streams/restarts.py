"""What the restart tests (kill -9, SIGTERM) share: a run's settings, its input, its tally."""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import orjson

from streams.brokers import BrokerInfo
from streams.clients import make_producer
from streams.settings import Settings
from streams.topics import ensure_topics


def run_settings(kafka: BrokerInfo, tmp_path: Path, name: str) -> Settings:
    """Settings for one run: its own group and topic prefix, 2 partitions, batches of 100."""
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        partitions=2,
        group_id=run,
        data_dir=tmp_path / "data",
        metrics_port=0,
        batch_max=100,
    ).with_topic_prefix(f"{run}.")
    ensure_topics(settings)
    return settings


def produce_events(settings: Settings, events: list[dict]) -> None:
    """Produce ``events`` to the events topic, keyed by entity, and wait for the acks."""
    producer = make_producer(settings)
    for e in events:
        producer.send(settings.events_topic, key=e["entity_id"].encode(), value=orjson.dumps(e))
    producer.flush()
    producer.close()


def tally(decisions: list[dict]) -> tuple[Counter[str], int, int]:
    """Decisions per event id, how many came more than once, and how many of those differ."""
    per_event = Counter(d["event_id"] for d in decisions)
    first: dict[str, dict] = {}
    different = 0
    for d in decisions:
        different += d["event_id"] in first and first[d["event_id"]] != d
        first.setdefault(d["event_id"], d)
    return per_event, sum(n - 1 for n in per_event.values()), different
