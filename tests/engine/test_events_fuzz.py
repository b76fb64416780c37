"""Fuzzing decode and validate: every input is either valid or an InputError, never a crash.

CI runs a few hundred examples per test; the long run is
``VIGIL_FUZZ_EXAMPLES=10000 .venv/bin/pytest tests/engine/test_events_fuzz.py``.
"""

from __future__ import annotations

import json
import os

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.events import Event, InputError, Label, dead_letter, decode_event, decode_label

EXAMPLES = int(os.environ.get("VIGIL_FUZZ_EXAMPLES", "300"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.text(max_size=10) | json_values,
        "entity_id": st.text(max_size=10) | json_values,
        "ts": st.floats() | st.integers() | st.text(max_size=30) | json_values,
        "features": st.dictionaries(st.text(max_size=8), json_values, max_size=5) | json_values,
        "label": st.integers(-2, 3) | json_values,
        "reported_ts": st.floats() | json_values,
    },
)


def check(decode, raw: bytes, key: bytes | None) -> None:
    try:
        value = decode(raw, key=key)
    except InputError as exc:
        letter = dead_letter(
            source_topic="t", partition=0, offset=0, timestamp=None, key=key, raw=raw, error=exc
        )
        assert letter["stage"] in {"decode", "validate"} and letter["error"]
        orjson.dumps(letter)  # the dead letter itself always serializes
    else:
        assert isinstance(value, Event | Label)


@settings(max_examples=EXAMPLES)
@given(st.binary(max_size=300), st.none() | st.binary(max_size=12))
def test_arbitrary_bytes_are_valid_or_dead_lettered(raw: bytes, key: bytes | None) -> None:
    check(decode_event, raw, key)
    check(decode_label, raw, key)


@settings(max_examples=EXAMPLES)
@given(event_like, st.none() | st.text(max_size=10).map(str.encode))
def test_json_objects_of_every_shape_are_valid_or_dead_lettered(obj: dict, key) -> None:
    raw = json.dumps(obj).encode()  # the stdlib writes huge integers, NaN and Infinity too
    check(decode_event, raw, key)
    check(decode_label, raw, key)
