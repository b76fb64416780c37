"""What the restart tests share: a run's settings, its input, waiting, and the verifier."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from threading import Thread

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from engine.events import parse_event
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess, group_lag, make_producer, read_topics
from streams.process import build_scorer
from streams.settings import Settings
from streams.topics import ensure_topics


def run_settings(kafka: BrokerInfo, tmp_path: Path, name: str, *, partitions: int = 2) -> Settings:
    """Settings for one run: its own group and topic prefix, batches of 100."""
    run = f"{name}-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        partitions=partitions,
        group_id=run,
        data_dir=tmp_path / "data",
        metrics_port=0,
        batch_max=100,
    ).with_topic_prefix(f"{run}.")
    ensure_topics(settings)
    return settings


def produce_events(settings: Settings, events: list[dict], *, rate: float | None = None) -> None:
    """Produce ``events`` to the events topic, keyed by entity, and wait for the acks.

    With ``rate``, at most that many events per second (so that a test can change the
    group while the stream is still coming).
    """
    producer = make_producer(settings)
    began = time.monotonic()
    for i, e in enumerate(events):
        if rate is not None and i % 50 == 0:
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
        producer.send(settings.events_topic, key=e["entity_id"].encode(), value=orjson.dumps(e))
    producer.flush()
    producer.close()


def produce_in_background(settings: Settings, events: list[dict], rate: float) -> Thread:
    """:func:`produce_events` at ``rate`` in a thread, started; join it to wait for the end."""
    thread = Thread(target=produce_events, args=(settings, events), kwargs={"rate": rate})
    thread.start()
    return thread


def group_members(settings: Settings) -> int:
    """How many members the worker group has now."""
    admin = KafkaAdminClient(**settings.kafka_options(), client_id="vigil-members")
    try:
        group = admin.describe_groups([settings.group_id])[settings.group_id]
        return len(group.get("members") or [])
    finally:
        admin.close()


def tally(decisions: list[dict]) -> tuple[Counter[str], int, int]:
    """Decisions per event id, how many came more than once, and how many of those differ."""
    per_event = Counter(d["event_id"] for d in decisions)
    first: dict[str, dict] = {}
    different = 0
    for d in decisions:
        different += d["event_id"] in first and first[d["event_id"]] != d
        first.setdefault(d["event_id"], d)
    return per_event, sum(n - 1 for n in per_event.values()), different


def decided(settings: Settings) -> int:
    """How many decisions the decisions topic holds now (the sum of its log-end offsets)."""
    consumer = KafkaConsumer(**settings.kafka_options(), client_id="vigil-count")
    try:
        partitions = consumer.partitions_for_topic(settings.decisions_topic) or set()
        tps = [TopicPartition(settings.decisions_topic, p) for p in partitions]
        return sum(consumer.end_offsets(tps).values()) if tps else 0
    finally:
        consumer.close()


def wait_for_decisions(
    settings: Settings, at_least: int, workers: list[WorkerProcess], timeout: float = 120
) -> None:
    """Wait until ``at_least`` decisions are out, every worker alive meanwhile."""
    deadline = time.monotonic() + timeout
    while decided(settings) < at_least:
        for worker in workers:
            assert worker.alive, worker.log_tail()
        assert time.monotonic() < deadline, f"fewer than {at_least} decisions in {timeout} s"


def read_when_done(
    settings: Settings, events: list[dict], workers: list[WorkerProcess], timeout: float
) -> list[dict]:
    """The decisions, once every event has one and the group committed up to the log end."""
    missing = {e["event_id"] for e in events}
    seen = 0

    def all_decided(records: dict) -> bool:
        nonlocal seen
        new = records[settings.decisions_topic][seen:]
        seen += len(new)
        missing.difference_update(orjson.loads(x.value)["event_id"] for x in new)
        return not missing

    records = read_topics(settings, [settings.decisions_topic], until=all_decided, timeout=timeout)
    deadline = time.monotonic() + 60
    while any(lag := group_lag(settings, [settings.events_topic]).values()):
        assert time.monotonic() < deadline, f"offsets not committed to the end: {lag}"
        time.sleep(0.5)
    for worker in workers:
        assert worker.alive, worker.log_tail()
    return [orjson.loads(r.value) for r in records[settings.decisions_topic]]


@dataclass(frozen=True)
class Outcome:
    """What the verifier reports of a run: the issue's table, one row."""

    events: int
    lost: int
    duplicates: int
    differing_duplicates: int
    dead_letters: int
    #: Entities whose last changelog state differs from the offline replay's (the oracle).
    mismatched: list[str]
    #: Where the lost events are in the events topic: (partition, first, last) offset runs.
    lost_offsets: list[tuple[int, int, int]] = field(default_factory=list)

    def line(self, name: str) -> str:
        where = f" (partition, offsets: {self.lost_offsets})" if self.lost_offsets else ""
        return (
            f"\n{name}: {self.events} events: lost {self.lost}{where}, duplicates "
            f"{self.duplicates}, differing duplicates {self.differing_duplicates}, dead letters "
            f"{self.dead_letters}, states differing from the oracle {len(self.mismatched)}"
        )


def offset_runs(settings: Settings, event_ids: set[str]) -> list[tuple[int, int, int]]:
    """Where ``event_ids`` are in the events topic: (partition, first, last) runs of offsets."""
    found: dict[str, tuple[int, int]] = {}  # the first record of each (a retry may repeat it)
    seen = 0

    def all_found(records: dict) -> bool:
        nonlocal seen
        new = records[settings.events_topic][seen:]
        seen += len(new)
        for r in new:
            event_id = orjson.loads(r.value)["event_id"]
            if event_id in event_ids:
                found.setdefault(event_id, (r.partition, r.offset))
        return len(found) >= len(event_ids)

    read_topics(settings, [settings.events_topic], until=all_found, timeout=60)
    runs: list[tuple[int, int, int]] = []
    for partition, offset in sorted(found.values()):
        if runs and runs[-1][0] == partition and runs[-1][2] == offset - 1:
            runs[-1] = (partition, runs[-1][1], offset)
        else:
            runs.append((partition, offset, offset))
    return runs


def last_values(settings: Settings, topic: str, *, timeout: float) -> dict[bytes, bytes]:
    """The last value of each key of ``topic`` up to its end as of now (a table's content)."""
    consumer = KafkaConsumer(
        **settings.kafka_options(),
        enable_auto_commit=False,
        client_id="vigil-verifier",
        max_partition_fetch_bytes=16 << 20,
        fetch_max_bytes=64 << 20,
        max_poll_records=20_000,
    )
    values: dict[bytes, bytes] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"{topic}: not read to its end in {timeout} s"
            for items in consumer.poll(timeout_ms=500).values():
                for record in items:
                    values[record.key] = record.value
    finally:
        consumer.close()
    return values


def verify(settings: Settings, events: list[dict], decisions: list[dict]) -> Outcome:
    """Tally ``decisions`` and compare every entity's changelog state with the oracle's."""
    per_event, duplicates, different = tally(decisions)
    letters = read_topics(settings, [settings.dead_letter_topic], until=lambda r: False, timeout=2)
    changelog = f"{settings.group_id}-entity-state-changelog"
    online = {
        key.decode(): orjson.loads(value)
        for key, value in last_values(settings, changelog, timeout=120 + len(events) / 100).items()
    }
    oracle = build_scorer(settings)
    for e in events:
        oracle.process_event(parse_event(e))

    def comparable(snapshot: dict) -> dict:
        return {k: v for k, v in snapshot.items() if k not in {"applied", "decisions"}}

    mismatched = sorted(
        set(online) ^ set(oracle.states)
        | {
            k
            for k in set(online) & set(oracle.states)
            if comparable(online[k]) != comparable(oracle.states[k].snapshot())
        }
    )
    lost = {e["event_id"] for e in events} - set(per_event)
    return Outcome(
        events=len(events),
        lost=len(lost),
        duplicates=duplicates,
        differing_duplicates=different,
        dead_letters=len(letters[settings.dead_letter_topic]),
        mismatched=mismatched,
        lost_offsets=offset_runs(settings, lost) if lost else [],
    )
