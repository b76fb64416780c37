"""``vigil simulate``: write the seed scenario as JSONL files, or produce it to Kafka.

Files: ``events.jsonl`` and ``labels.jsonl`` in the contract's shapes (ready for
``vigil replay``), ``truth.jsonl`` (the hidden class of each event) and ``flips.jsonl``
(each hidden class change) kept apart, and ``scenario.json``. To Kafka: events and
labels interleaved in the order they become known, at a target rate.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import orjson

from engine.simulate import Scenario, merge_by_time, simulate
from streams.settings import Settings

__all__ = ["produce_scenario", "write_scenario"]


def write_scenario(scenario: Scenario, out_dir: Path) -> dict[str, int]:
    """Write the scenario's files into ``out_dir``; return how many records of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "scenario.json").write_bytes(
        orjson.dumps(asdict(scenario), option=orjson.OPT_INDENT_2)
    )
    counts = {"events": 0, "labels": 0, "truth": 0, "flips": 0}
    with contextlib.ExitStack() as stack:
        files = {
            name: stack.enter_context(open(out_dir / f"{name}.jsonl", "wb")) for name in counts
        }
        for step in simulate(scenario):
            for name in counts:
                records = getattr(step, name)
                files[name].write(b"".join(orjson.dumps(r) + b"\n" for r in records))
                counts[name] += len(records)
    return counts


def produce_scenario(
    scenario: Scenario,
    *,
    settings: Settings,
    rate: float | None = None,
    on_progress: Callable[[int, float], None] | None = None,
) -> dict[str, int]:
    """Produce the scenario's events and labels to Kafka, at ``rate`` records/s if given.

    Labels are produced when they become known in simulated time (their
    ``reported_ts``), so a label never reaches Kafka before the events it follows.
    """
    from streams.clients import make_producer

    producer = make_producer(settings)
    events_topic, labels_topic = settings.events_topic, settings.labels_topic
    counts = {"events": 0, "labels": 0}
    waiting: list[dict] = []  # labels not yet known
    began = time.monotonic()
    sent = 0
    try:
        for step in simulate(scenario):
            waiting.extend(step.labels)
            horizon = step.events[-1]["ts"] if step.events else None
            due = [lb for lb in waiting if horizon is None or lb["reported_ts"] <= horizon]
            waiting = [
                lb for lb in waiting if not (horizon is None or lb["reported_ts"] <= horizon)
            ]
            for kind, item in merge_by_time(step.events, due):
                topic = events_topic if kind == "event" else labels_topic
                producer.send(topic, key=item["entity_id"].encode(), value=orjson.dumps(item))
                counts["events" if kind == "event" else "labels"] += 1
                sent += 1
                if rate:
                    ahead = sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
                if on_progress is not None and sent % 1000 == 0:
                    on_progress(sent, time.monotonic() - began)
        for item in sorted(waiting, key=lambda lb: lb["reported_ts"]):
            producer.send(labels_topic, key=item["entity_id"].encode(), value=orjson.dumps(item))
            counts["labels"] += 1
        producer.flush()
    finally:
        producer.close()
    return counts
