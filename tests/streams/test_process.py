"""From an input record to output records, without Kafka."""

from __future__ import annotations

import orjson

from engine.scorer import Scorer
from streams.process import InputRecord, MessageProcessor
from streams.settings import Settings


def record(
    topic: str,
    value: bytes | None,
    key: bytes | None = b"a",
    offset: int = 0,
    timestamp: float | None = 1000.0,
) -> InputRecord:
    return InputRecord(topic, 1, offset, timestamp, key, value)


def event(event_id: str = "e-1", entity_id: str = "a", ts: float = 10.0) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "entity_id": entity_id, "ts": ts, "features": {"x": 1.0}}
    )


def test_each_valid_event_gives_exactly_one_decision_keyed_by_entity() -> None:
    processor = MessageProcessor(Settings(), Scorer())
    outputs = processor.process(record("events", event()))
    assert len(outputs) == 1
    out = outputs[0]
    decision = orjson.loads(out.value)
    assert (out.topic, out.key) == ("decisions", b"a")
    assert decision["event_id"] == "e-1"
    assert set(decision) >= {
        "score",
        "action",
        "reason",
        "model_version",
        "entity_max_score",
        "rise",
        "top_features",
    }


def test_invalid_input_becomes_one_dead_letter_with_the_raw_bytes() -> None:
    processor = MessageProcessor(Settings(), Scorer())
    raw = b'{"event_id": "e-1", "entity_id": "a", "ts": 1, "features": {"x": "abc"}}'
    outputs = processor.process(record("events", raw, offset=17))
    assert [o.topic for o in outputs] == ["dead-letter"]
    letter = orjson.loads(outputs[0].value)
    assert letter["raw"].encode() == raw
    assert (letter["offset"], letter["partition"], letter["stage"]) == (17, 1, "validate")
    assert processor.counts["dead_letter.validate"] == 1


def test_labels_are_learned_and_produce_no_decision() -> None:
    scorer = Scorer()
    processor = MessageProcessor(Settings(), scorer)
    processor.process(record("events", event()))
    label = orjson.dumps({"entity_id": "a", "ts": 10.0, "label": 1})
    assert processor.process(record("labels", label)) == []
    after = orjson.loads(processor.process(record("events", event("e-2", ts=11.0)))[0].value)
    assert after["score"] > 0.5
    assert processor.counts["labels"] == 1


def test_a_scoring_failure_is_dead_lettered_at_the_score_stage() -> None:
    class Broken:
        def predict_proba_one(self, x: dict) -> dict:
            raise ArithmeticError("model failed")

    processor = MessageProcessor(Settings(), Scorer(model=Broken()))
    outputs = processor.process(record("events", event()))
    letter = orjson.loads(outputs[0].value)
    assert (outputs[0].topic, letter["stage"], letter["error"]) == (
        "dead-letter",
        "score",
        "model failed",
    )
