"""``vigil tail``: follow decisions, alerts or dead letters, pretty-printed, by entity.

Examples
--------
>>> line = format_record("decisions", {"event_id": "e-1", "entity_id": "acct-1", "ts": 0.0,
...     "score": 0.91, "action": True, "reason": "rise_over_entity_max", "rise": 0.3,
...     "entity_max_score": 0.61, "model_version": 2, "top_features": [
...     {"name": "amount", "value": 120.0, "contribution": 1.2}]})
>>> head, tail = line.split("  (")
>>> head
'1970-01-01T00:00:00Z  acct-1  e-1  score 0.910  ACT  rise_over_entity_max'
>>> tail
'max 0.610, rise +0.300; amount +1.20)  v2'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from streams.settings import Settings

__all__ = ["follow", "format_record", "matches", "tail"]


def follow(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = False,
    timeout: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each JSON record of ``topic`` as it arrives (no consumer group, nothing committed).

    Stops after ``timeout`` seconds without a new record, if given.
    """
    consumer = KafkaConsumer(
        **settings.kafka_options(),
        enable_auto_commit=False,
        client_id="vigil-tail",
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        if from_beginning:
            consumer.seek_to_beginning(*tps)
        else:
            consumer.seek_to_end(*tps)
        quiet_since = time.monotonic()
        while timeout is None or time.monotonic() - quiet_since < timeout:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    quiet_since = time.monotonic()
                    try:
                        yield orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        yield {"unreadable": record.value.decode("utf-8", "replace")}
    finally:
        consumer.close()


def format_record(kind: str, record: dict[str, Any]) -> str:
    """One line per record, for a terminal."""
    when = _when(record["ts"] if "ts" in record else record.get("timestamp"))
    if kind == "decisions":
        features = "; ".join(
            f"{f['name']} {f['contribution']:+.2f}" for f in record.get("top_features", [])
        )
        context = ""
        if record.get("entity_max_score") is not None:
            context = f"max {record['entity_max_score']:.3f}, rise {record['rise']:+.3f}; "
        return (
            f"{when}  {record['entity_id']}  {record['event_id']}  score "
            f"{record['score']:.3f}  {'ACT' if record['action'] else '---'}  "
            f"{record['reason']}  ({context}{features})  v{record['model_version']}"
        )
    if kind == "alerts":
        about = record.get("entity_id") or record.get("feature") or ""
        return (
            f"{when}  {record['kind']}  {record['severity']}  {about}  "
            f"{orjson.dumps(record.get('detail')).decode()}"
        )
    return (
        f"{when}  {record.get('source_topic')}[{record.get('partition')}]@"
        f"{record.get('offset')}  {record.get('stage')}  {record.get('error')}"
    )


def matches(record: dict[str, Any], entity: str | None) -> bool:
    return entity is None or record.get("entity_id") == entity or record.get("key") == entity


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tail(
    settings: Settings,
    topic: str,
    kind: str,
    *,
    entity: str | None,
    from_beginning: bool,
    limit: int | None,
    timeout: float | None,
    write: Callable[[str], None] = print,
) -> int:
    """Print matching records; return how many were printed."""
    shown = 0
    for record in follow(settings, topic, from_beginning=from_beginning, timeout=timeout):
        if matches(record, entity):
            write(format_record(kind, record))
            shown += 1
            if limit is not None and shown >= limit:
                break
    return shown
