"""The fast decoding and encoding against the previous, plain one (``events_reference``).

Every input, valid or not, must give the same result: an equal value (compared by
``repr``, so that ``1`` and ``1.0`` or ``0.0`` and ``-0.0`` differ), or an exception of
the same type with the same message, which the dead-letter record keeps. The inputs are
near-valid messages written key by key (so keys can repeat, and strings can hold colons),
then often damaged byte by byte.

CI runs a few hundred examples per test; the long run is
``VIGIL_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/engine/test_events_reference.py``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import events
from engine.events import MAX_TS, Decision, FeatureContribution

from . import events_reference as reference

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "300"))


class Pairs(list[tuple[str, Any]]):
    """A JSON object to be written pair by pair, so that a key may appear twice."""


def render(value: Any, *, spaced: bool = False) -> str:
    """``value`` as JSON text; ``NaN``, ``Infinity`` and huge integers are written too."""
    if isinstance(value, Pairs):
        colon, comma = (": ", ", ") if spaced else (":", ",")
        items = (json.dumps(k) + colon + render(v, spaced=spaced) for k, v in value)
        return "{" + comma.join(items) + "}"
    return json.dumps(value, separators=(", ", ": ") if spaced else (",", ":"))


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """What ``function`` returns, by ``repr``, or the type and message of what it raises."""
    try:
        return ("value", repr(function(*args, **kwargs)))
    except Exception as exc:
        return ("error", type(exc), str(exc))


def same_outcome(name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
    """Run ``name`` from the engine and from the reference; assert they agree."""
    got = outcome(getattr(events, name), *args, **kwargs)
    expected = outcome(getattr(reference, name), *args, **kwargs)
    assert got == expected, (name, args, kwargs)
    return got


# --- strategies ------------------------------------------------------------------------


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> Any:
    """``usual`` three times in four, else ``other``."""
    return st.integers(0, 3).flatmap(lambda n: other if n == 0 else usual)


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(st.tuples(st.text(max_size=4), children), max_size=3).map(Pairs)
    ),
    max_leaves=8,
)
texts = st.text(st.characters(codec="utf-8") | st.sampled_from(':,{}"\\'), max_size=10)
ids = mostly(
    st.sampled_from(["e-1", "acct-42", "a:b", "é"]) | texts.filter(bool),
    st.just("") | json_values,
)
limits = st.sampled_from([0.0, -0.0, MAX_TS, MAX_TS + 1, MAX_TS + 0.5, 2**53, 10**19, 10**20])
times = mostly(
    st.floats(0, 2e9) | st.integers(0, 2 * 10**9) | limits,
    st.floats()
    | st.integers()
    | st.sampled_from([True, None, -1])
    | st.sampled_from(["2024-11-23T08:20:00+00:00", "2024-11-23T08:20:00", "yesterday"])
    | json_values,
)
feature_values = mostly(
    st.floats(-1e6, 1e6) | st.integers(-(10**6), 10**6),
    st.floats()
    | st.integers()
    | st.sampled_from([1e308, -1e308, 10**19, -(10**19), 2**64 - 1, 2**64, -0.0])
    | st.booleans()
    | st.none()
    | json_values,
)
feature_names = st.sampled_from(["amount", "n_items", "x", "y:z"]) | texts
feature_objects = mostly(
    st.lists(st.tuples(feature_names, feature_values), max_size=6, unique_by=lambda p: p[0]),
    st.lists(st.tuples(feature_names, feature_values), max_size=6),
).map(Pairs)
label_values = mostly(st.integers(0, 1) | st.booleans(), st.integers() | json_values)


@st.composite
def messages(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> tuple[bytes, Any]:
    """A message with the given fields, then changed at random; and the entity id."""
    pairs = Pairs((name, draw(values)) for name, values in fields.items())
    if pairs and draw(st.integers(0, 3)) == 0:  # a field left out, or written twice
        index = draw(st.integers(0, len(pairs) - 1))
        if draw(st.booleans()):
            del pairs[index]
        else:
            pairs.insert(draw(st.integers(0, len(pairs))), (pairs[index][0], draw(json_values)))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(st.sampled_from(["extra", "note"]) | texts), draw(json_values)))
    data = render(pairs, spaced=draw(st.booleans())).encode()
    if draw(st.integers(0, 4)) == 0:  # a byte inserted, replaced or deleted
        at = draw(st.integers(0, len(data)))
        byte = bytes([draw(st.integers(0, 255))])
        data = data[:at] + draw(st.sampled_from([byte, b""])) + data[at + draw(st.integers(0, 1)) :]
    entity_id = dict(pairs).get("entity_id")
    return data, entity_id


event_fields = {"event_id": ids, "entity_id": ids, "ts": times, "features": feature_objects}
label_fields = {"entity_id": ids, "ts": times, "label": label_values, "reported_ts": times}


@st.composite
def keys(draw: st.DrawFn, entity_id: Any) -> Any:
    """The message key: none, the entity id (as bytes or not), or other bytes."""
    match = entity_id.encode("utf-8", "replace") if isinstance(entity_id, str) else b"a"
    return draw(
        mostly(
            st.sampled_from([None, match]),
            st.sampled_from([bytearray(match), memoryview(match), b"other", "text"]),
        )
    )


@st.composite
def calls(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> tuple[Any, dict[str, Any]]:
    """Arguments for ``decode_event`` or ``decode_label``: a raw value and keywords."""
    data, entity_id = draw(messages(fields))
    raw = draw(mostly(st.just(data), st.sampled_from([bytearray(data), memoryview(data), None])))
    kwargs: dict[str, Any] = {"key": draw(keys(entity_id))}
    if draw(st.integers(0, 4)) == 0:
        kwargs["max_bytes"] = draw(st.integers(0, len(data) + 2))
    return raw, kwargs


# --- decoding --------------------------------------------------------------------------


@settings(max_examples=EXAMPLES)
@given(calls(event_fields))
def test_decode_event_is_the_reference(call: tuple[Any, dict[str, Any]]) -> None:
    raw, kwargs = call
    same_outcome("decode_event", raw, **kwargs)
    same_outcome("decode_json", raw, max_bytes=kwargs.get("max_bytes", 1 << 20))


@settings(max_examples=EXAMPLES)
@given(calls(label_fields))
def test_decode_label_is_the_reference(call: tuple[Any, dict[str, Any]]) -> None:
    raw, kwargs = call
    same_outcome("decode_label", raw, **kwargs)


python_values = (
    feature_values
    | st.sampled_from([float("nan"), float("inf"), -float("inf"), 10**400, -(10**400)])
    | st.dictionaries(st.text(max_size=3), feature_values, max_size=3)
)


@settings(max_examples=EXAMPLES)
@given(
    st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), python_values, max_size=4),
    st.dictionaries(
        st.sampled_from(["event_id", "entity_id", "ts", "features", "label", "reported_ts"]),
        ids | times | python_values,
        max_size=2,
    ),
    st.none() | st.sampled_from([b"a", b"acct-42"]),
)
def test_parse_is_the_reference_for_any_dict(features: dict, changes: dict, key: Any) -> None:
    """``parse_*`` also take objects that no JSON decoder makes: NaN, huge integers."""
    event = {"event_id": "e-1", "entity_id": "a", "ts": 1.0, "features": features}
    same_outcome("parse_event", {**event, **changes}, key=key)
    label = {"entity_id": "a", "ts": 1.0, "label": 1, "reported_ts": 2.0}
    same_outcome("parse_label", {**label, **changes}, key=key)


def test_seeded_messages_cover_both_valid_and_invalid_input() -> None:
    """Usual events and labels, each then broken in one of many ways, one after another.

    The hypothesis tests above draw few valid events; this one draws mostly the shape the
    fast paths are for, and checks that both sides of them were reached.
    """
    rng = random.Random(20261201)
    seen: dict[str, int] = {"value": 0, "error": 0}
    for _ in range(3000):
        features = {
            "amount": round(rng.uniform(0, 500), 2),
            "n_items": rng.randint(0, 9),
            "country_risk": rng.random(),
        }
        if rng.random() < 0.2:
            features[rng.choice(["amount", "vip", "age"])] = rng.choice(
                [None, True, False, "abc", [1], {"v": 1}, 10**19, 10**20, -0.0, 0]
            )
        entity = rng.choice(["acct-42", "a", "acct-é", "a:b"])
        event = {
            "event_id": rng.choice(["e-000000001", "e:1", "", 7]),
            "entity_id": entity,
            "ts": rng.choice([1732320002.528, 17323200, 0.0, -1.0, MAX_TS, "2024-11-23T08:20Z"]),
            "features": features,
        }
        label = {"entity_id": entity, "ts": event["ts"], "label": rng.choice([0, 1, True, 2])}
        if rng.random() < 0.5:
            label["reported_ts"] = rng.choice([None, 1732335502.476, 1.0, "x", MAX_TS + 1])
        for obj in (event, label):
            text = json.dumps(obj, separators=(",", ":")).encode()
            if rng.random() < 0.3:
                text = _damage(rng, text)
            key = rng.choice([None, entity.encode(), b"other"])
            for name in ("decode_event", "decode_label"):
                seen[same_outcome(name, text, key=key)[0]] += 1
    assert seen["value"] > 1000 and seen["error"] > 1000, seen


def _damage(rng: random.Random, text: bytes) -> bytes:
    """``text`` with one of: a key repeated, a colon in a string, a byte changed or lost."""
    kind = rng.randrange(4)
    if kind == 0:  # the first key of the features (or the message) written twice
        at = text.rfind(b"{")
        end = text.index(b",", at) if b"," in text[at:] else len(text) - 1
        return text[: end + 1] + text[at + 1 : end] + b"," + text[end + 1 :]
    if kind == 1:
        return text.replace(b'"e-', b'"e:', 1).replace(b'"acct-', b'"acct:', 1)
    at = rng.randrange(len(text))
    if kind == 2:
        return text[:at] + bytes([rng.randrange(256)]) + text[at + 1 :]
    return text[:at] + text[at + 1 :]


def test_the_usual_event_takes_the_fast_path() -> None:
    """The shape of nearly every event on the wire is made by the fast path, as before."""
    raw = (
        b'{"event_id":"e-000000005","entity_id":"acct-606","ts":1732320031.383,"features":'
        b'{"amount":4.67,"n_items":0,"country_risk":0.118,"vip":true,"age":null}}'
    )
    event = events._usual_event(orjson.loads(raw), raw, b"acct-606")
    assert event is not None
    assert repr(event) == repr(reference.decode_event(raw, key=b"acct-606"))


# --- encoding --------------------------------------------------------------------------

floats_or_none = st.none() | st.floats()
contributions = st.builds(FeatureContribution, st.text(max_size=6), st.floats(), st.floats())
decisions = st.builds(
    Decision,
    st.text(max_size=10),
    st.text(max_size=10),
    st.floats(),
    st.floats(),
    st.booleans(),
    st.sampled_from(["below_threshold", "cooldown", "first_seen"]),
    st.integers(0, 10**6),
    floats_or_none,
    floats_or_none,
    st.lists(contributions, max_size=4).map(tuple),
)


@settings(max_examples=EXAMPLES)
@given(decisions)
def test_decisions_encode_to_the_same_bytes(decision: Decision) -> None:
    expected = orjson.dumps(reference.decision_to_dict(decision))
    assert orjson.dumps(decision.to_dict()) == expected
    assert events.encode(decision) == expected
    assert events.encode(decision.to_dict()) == expected
    assert reference.encode(decision) == expected
