"""The contract's input rules: one test per kind of bad input, and the valid shapes."""

from __future__ import annotations

import base64

import orjson
import pytest

from engine.events import (
    MAX_FEATURES,
    DecodeError,
    ValidationError,
    dead_letter,
    decode_event,
    decode_label,
)


def event_bytes(**overrides: object) -> bytes:
    event = {
        "event_id": "e-1",
        "entity_id": "acct-1",
        "ts": 100.5,
        "features": {"amount": 12.5, "n_items": 3},
    }
    event.update(overrides)
    return orjson.dumps({k: v for k, v in event.items() if v is not _DROP})


_DROP = object()


def test_valid_event_keeps_numbers_and_turns_booleans_into_numbers() -> None:
    ev = decode_event(
        event_bytes(features={"a": 1, "b": 2.5, "flag": False, "gone": None}), key=b"acct-1"
    )
    assert (ev.event_id, ev.entity_id, ev.ts) == ("e-1", "acct-1", 100.5)
    assert ev.features == {"a": 1.0, "b": 2.5, "flag": 0.0}


def test_features_may_be_absent() -> None:
    assert decode_event(event_bytes(features=_DROP)).features == {}


def test_iso_time_with_zone_is_converted() -> None:
    assert decode_event(event_bytes(ts="2024-11-23T08:20:00+00:00")).ts == 1732350000.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"this is not JSON", "invalid JSON"),
        (b'{"event_id": "e-1",', "invalid JSON"),
        (b"\xff\xfe{}", "invalid UTF-8"),
        (b'{"event_id": "e-\xed\xa0\x80"}', "invalid UTF-8"),  # an encoded lone surrogate
        (b'{"a": "\\ud800"}', "invalid JSON"),  # an escaped lone surrogate
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"text"', "expected a JSON object, got a string"),
        (b"null", "expected a JSON object, got null"),
        (b"[" * 5000 + b"]" * 5000, "invalid JSON"),  # nesting too deep
        (b'{"ts": NaN}', "invalid JSON"),
        (b'{"ts": Infinity}', "invalid JSON"),
        (b'{"ts": 1e400}', "invalid JSON"),
        (b'{"ts": 1' + b"0" * 400 + b"}", "invalid JSON"),  # an integer beyond a double
        (b'{"ts": 1, "ts": 2}', 'duplicate key "ts"'),
        (b'{"features": {"x": 1, "y": 2, "x": 3}}', 'duplicate key "x"'),
        (b'{"note": "a: b", "ts": 1, "ts": 1}', 'duplicate key "ts"'),  # a colon in a string
        (None, "no value"),
    ],
)
def test_undecodable_input_fails_at_the_decode_stage(raw: bytes | None, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_event(raw)
    assert info.value.stage == "decode"


def test_oversized_input_fails_at_the_decode_stage() -> None:
    with pytest.raises(DecodeError, match="exceeds the limit of 100 bytes"):
        decode_event(event_bytes(pad="x" * 200), max_bytes=100)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"entity_id": _DROP}, "entity_id: missing"),
        ({"entity_id": ""}, "entity_id: must not be empty"),
        ({"entity_id": 42}, "entity_id: expected a string, got 42"),
        ({"event_id": _DROP}, "event_id: missing"),
        ({"event_id": None}, "event_id: expected a string, got null"),
        ({"features": {"amount": "abc"}}, 'features.amount: expected a finite number, got "abc"'),
        ({"features": {"amount": [1]}}, "features.amount: expected a finite number, got an array"),
        (
            {"features": {"amount": {"v": 1}}},
            "features.amount: expected a finite number, got an object",
        ),
        ({"features": [1, 2]}, "features: expected an object, got an array"),
        ({"features": {f"f{i}": 1 for i in range(MAX_FEATURES + 1)}}, "exceed the limit"),
        ({"ts": _DROP}, "ts: missing"),
        ({"ts": "yesterday"}, "ts: not an ISO-8601 time"),
        ({"ts": "2024-11-23T08:20:00"}, "ts: an ISO-8601 time needs a zone"),
        ({"ts": True}, "ts: expected seconds since the epoch, got true"),
        ({"ts": -5}, "ts: expected seconds since the epoch, got -5"),
        ({"ts": 1e30}, "ts: expected seconds since the epoch, got 1e\\+30"),
        ({"ts": [1]}, "ts: expected seconds since the epoch, got an array"),
    ],
)
def test_invalid_event_fails_at_the_validate_stage(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[")) as info:
        decode_event(event_bytes(**overrides))
    assert info.value.stage == "validate"


def test_a_key_that_is_not_the_entity_id_is_rejected() -> None:
    with pytest.raises(ValidationError, match="key: the message key must be the entity_id"):
        decode_event(event_bytes(), key=b"acct-2")


@pytest.mark.parametrize(("label", "expected"), [(0, 0), (1, 1), (True, 1), (False, 0)])
def test_valid_labels(label: object, expected: int) -> None:
    lb = decode_label(orjson.dumps({"entity_id": "a", "ts": 5.0, "label": label}), key=b"a")
    assert (lb.entity_id, lb.ts, lb.label, lb.reported_ts, lb.known_at) == (
        "a",
        5.0,
        expected,
        None,
        5.0,
    )


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ({"entity_id": "a", "ts": 5.0}, "label: missing"),
        ({"entity_id": "a", "ts": 5.0, "label": 2}, "label: expected 0, 1, false or true, got 2"),
        ({"entity_id": "a", "ts": 5.0, "label": "1"}, 'got "1"'),
        ({"entity_id": "a", "ts": 5.0, "label": 1, "reported_ts": 4.0}, "earlier than ts"),
        ({"ts": 5.0, "label": 1}, "entity_id: missing"),
    ],
)
def test_invalid_labels(label: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        decode_label(orjson.dumps(label))


def test_dead_letter_keeps_utf8_input_as_text() -> None:
    raw = b'{"event_id": "e-1", "features": {"x": "abc"}}'
    letter = dead_letter(
        source_topic="events",
        partition=2,
        offset=41,
        timestamp=1.5,
        key=b"k",
        raw=raw,
        error=ValidationError("entity_id: missing"),
    )
    assert letter == {
        "source_topic": "events",
        "partition": 2,
        "offset": 41,
        "timestamp": 1.5,
        "stage": "validate",
        "error_type": "ValidationError",
        "error": "entity_id: missing",
        "key": "k",
        "raw": raw.decode(),
        "raw_encoding": "utf-8",
        "raw_size": len(raw),
        "raw_truncated": False,
    }


def test_dead_letter_keeps_other_bytes_as_base64_and_cuts_oversized_input() -> None:
    raw = b"\xff" * 10
    letter = dead_letter(
        source_topic="events",
        partition=0,
        offset=0,
        timestamp=None,
        key=b"\xfe",
        raw=raw,
        error=DecodeError("x"),
        max_raw_bytes=4,
    )
    assert base64.b64decode(letter["raw"]) == raw[:4]
    assert (letter["raw_encoding"], letter["raw_size"], letter["raw_truncated"]) == (
        "base64",
        10,
        True,
    )
    assert (letter["key"], letter["key_encoding"]) == ("/g==", "base64")


def test_dead_letter_of_an_unexpected_error_is_at_the_score_stage() -> None:
    letter = dead_letter(
        source_topic="events",
        partition=0,
        offset=0,
        timestamp=None,
        key=None,
        raw=b"{}",
        error=ZeroDivisionError("boom"),
    )
    assert (letter["stage"], letter["error_type"], letter["error"]) == (
        "score",
        "ZeroDivisionError",
        "boom",
    )


def test_colons_inside_strings_are_not_taken_for_repeated_keys() -> None:
    raw = event_bytes(ts="2024-11-23T08:20:00+00:00", event_id="e:1:2")
    assert decode_event(raw).event_id == "e:1:2"
