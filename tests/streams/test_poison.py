"""A catalogue of poison messages through the real worker: one dead letter each, no crash,
the lag back to 0, and the valid events around them all decided (issue #9)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import orjson
import pytest

from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess, group_lag, make_producer, read_topics
from tests.streams.restarts import run_settings

pytestmark = pytest.mark.kafka

MAX_BYTES = 10_000


def _event(event_id: str, **extra: object) -> bytes:
    body = {"event_id": event_id, "entity_id": "acct-7", "ts": 1.0, "features": {"x": 1}}
    return orjson.dumps({**body, **extra})


#: (what it is, key, value, the dead letter's stage, a part of its error).
POISON: list[tuple[str, bytes | None, bytes | None, str, str]] = [
    ("invalid UTF-8", b"acct-7", b'{"event_id": "\xff\xfe"}', "decode", "invalid UTF-8"),
    ("truncated JSON", b"acct-7", _event("p-2")[:-7], "decode", "invalid JSON"),
    ("deep nesting", b"acct-7", b"[" * 3000 + b"]" * 3000, "decode", "invalid JSON"),
    ("an integer beyond a double", b"acct-7", b'{"ts": 1' + b"0" * 400 + b"}", "decode", ""),
    ("NaN", b"acct-7", _event("p-5")[:-1] + b', "y": NaN}', "decode", "invalid JSON"),
    ("Infinity", b"acct-7", b'{"event_id": "p-6", "ts": Infinity}', "decode", "invalid JSON"),
    ("1e400", b"acct-7", b'{"event_id": "p-7", "ts": 1e400}', "decode", "invalid JSON"),
    ("an escaped lone surrogate", b"acct-7", b'{"event_id": "\\ud800"}', "decode", ""),
    ("an encoded lone surrogate", b"acct-7", b'{"event_id": "\xed\xa0\x80"}', "decode", ""),
    ("a repeated key", b"acct-7", b'{"event_id": "p-10", "ts": 1, "ts": 2}', "decode", "key"),
    ("not an object", b"acct-7", b"[1, 2, 3]", "decode", "an array"),
    ("a null value", b"acct-7", None, "decode", "no value"),
    ("oversized", b"acct-7", _event("p-13", pad="x" * 2 * MAX_BYTES), "decode", "exceeds"),
    ("no key", None, _event("p-14"), "validate", "key: missing"),
    ("a key that is not the entity", b"acct-8", _event("p-15"), "validate", "key:"),
    ("a time past 9999", b"acct-7", _event("p-16", ts=1e30), "validate", "ts:"),
    ("a string feature", b"acct-7", _event("p-17", features={"x": "1"}), "validate", "x"),
]


def test_each_poison_message_gives_one_dead_letter_and_the_worker_goes_on(
    kafka: BrokerInfo, tmp_path: Path
) -> None:
    settings = run_settings(kafka, tmp_path, "poison")
    settings = dataclasses.replace(settings, max_message_bytes=MAX_BYTES)
    producer = make_producer(settings)
    good = [f"ok-{i}" for i in range(40)]
    sent = []
    for i, event_id in enumerate(good):
        producer.send(settings.events_topic, key=b"acct-7", value=_event(event_id, ts=float(i)))
        if i < len(POISON):
            _, key, value, _, _ = POISON[i]
            sent.append(producer.send(settings.events_topic, key=key, value=value).get(30))
    producer.flush()
    producer.close()

    with WorkerProcess(settings, log_path=tmp_path / "worker.log") as worker:
        records = read_topics(
            settings,
            [settings.decisions_topic, settings.dead_letter_topic],
            until=lambda r: (
                len(r[settings.decisions_topic]) >= len(good)
                and len(r[settings.dead_letter_topic]) >= len(POISON)
            ),
            timeout=120,
        )
        deadline = time.monotonic() + 60
        while any(group_lag(settings, [settings.events_topic]).values()):
            assert time.monotonic() < deadline, "the lag did not return to 0"
            time.sleep(0.5)
        assert worker.alive, worker.log_tail()

    decided = sorted(orjson.loads(r.value)["event_id"] for r in records[settings.decisions_topic])
    assert decided == sorted(good), "one decision per valid event, none for poison"
    letters = [orjson.loads(r.value) for r in records[settings.dead_letter_topic]]
    assert len(letters) == len(POISON), "one dead letter per poison message"
    by_offset = {(x["partition"], x["offset"]): x for x in letters}
    fields = {"source_topic", "partition", "offset", "timestamp", "stage", "error_type", "error"}
    for (what, key, value, stage, error), meta in zip(POISON, sent, strict=True):
        letter = by_offset[(meta.partition, meta.offset)]
        assert fields <= set(letter), what
        assert (letter["source_topic"], letter["stage"]) == (settings.events_topic, stage), what
        assert error in letter["error"], (what, letter["error"])
        assert letter["key"] == (None if key is None else key.decode()), what
        if value is not None and letter.get("raw_encoding") == "utf-8":
            assert letter["raw"].encode() == value, what
