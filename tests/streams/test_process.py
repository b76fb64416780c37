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
    processor.process(record("events", event(), offset=0))
    label = orjson.dumps({"entity_id": "a", "ts": 10.0, "label": 1})
    assert processor.process(record("labels", label)) == []
    after = orjson.loads(
        processor.process(record("events", event("e-2", ts=11.0), offset=1))[0].value
    )
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


def test_a_batch_keeps_input_order_and_dead_letters_only_the_bad_ones() -> None:
    processor = MessageProcessor(Settings(), Scorer())
    label = orjson.dumps({"entity_id": "a", "ts": 10.0, "label": 1})
    batch = [
        record("events", event("e-1"), offset=0),
        record("events", b"{", offset=1),
        record("events", event("e-2", ts=11.0), offset=2),
        record("labels", label, offset=0),
        record("events", event("e-3", ts=12.0), offset=3),
    ]
    outputs = processor.process_batch(batch)
    kinds = [
        (o.topic, orjson.loads(o.value).get("event_id") or orjson.loads(o.value).get("offset"))
        for o in outputs
    ]
    assert kinds == [
        ("dead-letter", 1),
        ("decisions", "e-1"),
        ("decisions", "e-2"),
        ("decisions", "e-3"),
    ]
    assert processor.counts["labels"] == 1


class FailsOnSeven:
    """A model that cannot score ``x == 7`` and learns nothing."""

    def predict_proba_one(self, x: dict) -> dict:
        if x.get("x") == 7.0:
            raise FloatingPointError("cannot score 7")
        return {False: 0.5, True: 0.5}

    def learn_one(self, x: dict, y: bool) -> None:
        pass


def test_a_model_failure_in_a_batch_dead_letters_only_the_failing_event() -> None:
    scorer = Scorer(model=FailsOnSeven())
    processor = MessageProcessor(Settings(), scorer)
    batch = [
        record(
            "events",
            orjson.dumps(
                {
                    "event_id": f"e-{i}",
                    "entity_id": "a",
                    "ts": float(i),
                    "features": {"x": float(i)},
                }
            ),
            offset=i,
        )
        for i in range(10)
    ]
    outputs = processor.process_batch(batch)
    topics = [o.topic for o in outputs]
    assert topics.count("decisions") == 9 and topics.count("dead-letter") == 1
    letter = orjson.loads(next(o.value for o in outputs if o.topic == "dead-letter"))
    assert (letter["offset"], letter["stage"], letter["error"]) == (7, "score", "cannot score 7")
    assert scorer.states["a"].n_events == 9, "nothing applied twice, the failing one not at all"


def test_an_input_without_a_key_is_dead_lettered_at_the_validate_stage() -> None:
    processor = MessageProcessor(Settings(), Scorer())
    (out,) = processor.process(record("events", event(), key=None))
    letter = orjson.loads(out.value)
    assert (out.topic, letter["stage"]) == ("dead-letter", "validate")
    assert letter["error"] == "key: missing; the message key must be the entity_id as UTF-8"
    label = b'{"entity_id": "a", "ts": 1, "label": 1}'
    (out,) = processor.process(record("labels", label, key=None))
    assert out.topic == "dead-letter"


def test_a_label_that_fails_to_teach_is_dead_lettered_and_the_batch_goes_on() -> None:
    from tests.engine.helpers import ScoreFromFeature

    class FailsToLearnFromA(ScoreFromFeature):
        def learn_one(self, x: dict, y: bool) -> None:
            if x.get("x") == 1.0:
                raise FloatingPointError("cannot learn")

    scorer = Scorer(model=FailsToLearnFromA())
    processor = MessageProcessor(Settings(), scorer)
    label = orjson.dumps({"entity_id": "a", "ts": 10.0, "label": 1})
    batch = [
        record("events", event("e-1"), offset=0),
        record("labels", label, offset=0),
        record("events", event("e-2", ts=11.0), offset=1),
        record("labels", orjson.dumps({"entity_id": "b", "ts": 1.0, "label": 0}), b"b", 1),
        record("events", event("e-3", ts=12.0), offset=2),
    ]
    outputs = processor.process_batch(batch)
    assert [(o.topic, orjson.loads(o.value).get("event_id")) for o in outputs] == [
        ("decisions", "e-1"),
        ("dead-letter", None),
        ("decisions", "e-2"),
        ("decisions", "e-3"),
    ]
    letter = orjson.loads(outputs[1].value)
    assert (letter["source_topic"], letter["offset"], letter["stage"], letter["error"]) == (
        "labels",
        0,
        "score",
        "cannot learn",
    )
    assert processor.counts["labels"] == 1 and processor.counts["events"] == 3
    assert scorer.states["a"].n_events == 3, "each event applied once"


def test_a_model_failure_among_labels_dead_letters_only_the_failing_event() -> None:
    scorer = Scorer(model=FailsOnSeven())
    processor = MessageProcessor(Settings(), scorer)
    batch = []
    for i in range(10):
        value = {"event_id": f"e-{i}", "entity_id": "a", "ts": float(i), "features": {"x": i}}
        batch.append(record("events", orjson.dumps(value), offset=i))
        if i % 4 == 1:
            label = orjson.dumps({"entity_id": "a", "ts": float(i), "label": 1})
            batch.append(record("labels", label, offset=i))
    outputs = processor.process_batch(batch)
    decided = [orjson.loads(o.value)["event_id"] for o in outputs if o.topic == "decisions"]
    assert decided == [f"e-{i}" for i in range(10) if i != 7]
    letters = [orjson.loads(o.value) for o in outputs if o.topic == "dead-letter"]
    assert [(x["offset"], x["stage"], x["error"]) for x in letters] == [
        (7, "score", "cannot score 7")
    ]
    assert scorer.states["a"].n_events == 9 and processor.counts["labels"] == 3
