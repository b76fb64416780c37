"""The decoding and encoding of ``engine.events`` before its fast paths, kept as the reference.

Copied unchanged from commit 6437606 (doctest examples dropped): the property tests in
``test_events_reference.py`` check that the engine's faster functions accept, return and
reject exactly as these do, with the same exception types and messages.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import orjson

from engine.events import (
    MAX_FEATURES,
    MAX_MESSAGE_BYTES,
    MAX_TS,
    Decision,
    DecodeError,
    Event,
    Label,
    ValidationError,
)

_MISSING: Any = object()
_NUMBERS = frozenset({float, int})


def decision_to_dict(self: Decision) -> dict[str, Any]:
    """The decision as the JSON object ``CONTRACT.md`` describes."""
    return {
        "event_id": self.event_id,
        "entity_id": self.entity_id,
        "ts": self.ts,
        "score": self.score,
        "action": self.action,
        "reason": self.reason,
        "model_version": self.model_version,
        "entity_max_score": self.entity_max_score,
        "rise": self.rise,
        "top_features": [
            {"name": name, "value": value, "contribution": contribution}
            for name, value, contribution in self.top_features
        ],
    }


def decode_json(raw: bytes | None, *, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decode a message value into a JSON object, or raise :class:`DecodeError`.

    Rejects a missing value, more than ``max_bytes`` bytes, invalid UTF-8, malformed
    JSON (including ``NaN``/``Infinity`` literals, numbers that overflow a double, lone
    surrogates and nesting deeper than 1024), an object that repeats a key, and JSON that
    is not an object.
    """
    if raw is None:
        raise DecodeError("the message has no value (null)")
    if len(raw) > max_bytes:
        raise DecodeError(f"message of {len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    data = raw if type(raw) is bytes else bytes(raw)
    try:
        obj = orjson.loads(data)  # checks the UTF-8 itself, at no extra cost
    except orjson.JSONDecodeError:
        obj = _decode_text(data)  # as text, to say precisely what is wrong
    if not isinstance(obj, dict):
        raise DecodeError(f"expected a JSON object, got {_json_type(obj)}")
    # In UTF-8 the byte of ":" stands for nothing else.
    if _count_keys(obj) != data.count(b":"):
        _reject_duplicate_keys(data.decode("utf-8"))
    return obj


def _decode_text(data: bytes) -> Any:
    """``data`` decoded as UTF-8 text, then as JSON; a :class:`DecodeError` says which failed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"invalid JSON: {exc}") from None


def _count_keys(value: Any) -> int:
    """The keys of every object in a decoded JSON value."""
    count = 0
    pending = [value]
    while pending:
        item = pending.pop()
        if type(item) is dict:
            count += len(item)
            item = item.values()
        for child in item:
            if type(child) in _CONTAINERS:
                pending.append(child)
    return count


_CONTAINERS = frozenset({dict, list})


def _reject_duplicate_keys(text: str) -> None:
    """Raise :class:`DecodeError` if an object in ``text`` (valid JSON) repeats a key.

    The decoder keeps the last of repeated keys, so ``{"ts": 1, "ts": 2}`` would silently
    mean ``{"ts": 2}``: ambiguous input. Every key is followed by a colon, so when the
    decoded objects have as many keys as the text has colons, no key can repeat; only
    otherwise (colons inside strings, such as ISO times) is the text decoded again here,
    key by key.
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise DecodeError(f"duplicate key {_show(key)} in a JSON object")
            seen.add(key)
        return {}

    try:
        json.loads(text, object_pairs_hook=pairs)
    except RecursionError:
        raise DecodeError("invalid JSON: nested too deep") from None


def parse_event(obj: dict[str, Any], *, key: bytes | None = None) -> Event:
    """Validate a decoded ``events`` object; ``key``, when given, must be the entity id."""
    event_id = obj.get("event_id")
    if type(event_id) is not str or not event_id:  # else the checks below, which say why
        event_id = _require_str(obj, "event_id")
    entity_id = obj.get("entity_id")
    if type(entity_id) is not str or not entity_id:
        entity_id = _require_str(obj, "entity_id")
    if key is not None:
        _check_key(key, entity_id)
    ts = obj.get("ts")
    if type(ts) is not float or not 0.0 <= ts <= MAX_TS:  # NaN and infinities fail the range
        ts = _parse_ts(obj, "ts")
    features = _parse_features(obj.get("features", _MISSING))
    return Event(event_id=event_id, entity_id=entity_id, ts=ts, features=features)


def parse_label(obj: dict[str, Any], *, key: bytes | None = None) -> Label:
    """Validate a decoded ``labels`` object; ``key``, when given, must be the entity id."""
    entity_id = _require_str(obj, "entity_id")
    _check_key(key, entity_id)
    ts = _parse_ts(obj, "ts")
    value = obj.get("label", _MISSING)
    if value is _MISSING:
        raise ValidationError("label: missing")
    if isinstance(value, bool):
        label = int(value)
    elif isinstance(value, int) and value in (0, 1):
        label = value
    else:
        raise ValidationError(f"label: expected 0, 1, false or true, got {_show(value)}")
    reported_ts = _parse_ts(obj, "reported_ts") if obj.get("reported_ts") is not None else None
    if reported_ts is not None and reported_ts < ts:
        raise ValidationError(f"reported_ts: {reported_ts} is earlier than ts {ts}")
    return Label(entity_id=entity_id, ts=ts, label=label, reported_ts=reported_ts)


def decode_event(
    raw: bytes | None, *, key: bytes | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> Event:
    """Decode and validate one ``events`` message value."""
    return parse_event(decode_json(raw, max_bytes=max_bytes), key=key)


def decode_label(
    raw: bytes | None, *, key: bytes | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> Label:
    """Decode and validate one ``labels`` message value."""
    return parse_label(decode_json(raw, max_bytes=max_bytes), key=key)


def encode(obj: Any) -> bytes:
    """Serialize an output value (a dict, or anything with ``to_dict``) to JSON bytes."""
    if type(obj) is not dict and hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    return orjson.dumps(obj)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _show(value: Any) -> str:
    if isinstance(value, dict | list):
        return _json_type(value)
    text = orjson.dumps(value).decode()
    return text if len(text) <= 60 else text[:57] + "..."


def _require_str(obj: dict[str, Any], name: str) -> str:
    value = obj.get(name, _MISSING)
    if value is _MISSING:
        raise ValidationError(f"{name}: missing")
    if not isinstance(value, str):
        raise ValidationError(f"{name}: expected a string, got {_show(value)}")
    if not value:
        raise ValidationError(f"{name}: must not be empty")
    return value


def _check_key(key: bytes | None, entity_id: str) -> None:
    if key is None:
        return
    if bytes(key) != entity_id.encode("utf-8"):
        raise ValidationError(
            f"key: the message key must be the entity_id {entity_id!r} as UTF-8, got {key!r}"
        )


def _parse_ts(obj: dict[str, Any], name: str) -> float:
    value = obj.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise ValidationError(f"{name}: missing")
    if isinstance(value, bool):
        raise ValidationError(f"{name}: expected seconds since the epoch, got {_show(value)}")
    if isinstance(value, int | float):
        ts = float(value)
        if not math.isfinite(ts) or ts < 0 or ts > MAX_TS:
            raise ValidationError(f"{name}: expected seconds since the epoch, got {_show(value)}")
        return ts
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{name}: not an ISO-8601 time: {_show(value)}") from None
        if moment.tzinfo is None:
            raise ValidationError(f"{name}: an ISO-8601 time needs a zone, got {_show(value)}")
        return moment.timestamp()
    raise ValidationError(f"{name}: expected seconds since the epoch, got {_json_type(value)}")


def _parse_features(value: Any) -> dict[str, float]:
    if type(value) is dict and 0 < len(value) <= MAX_FEATURES:
        # The usual case, checked in C: only finite floats and ints (which become floats).
        values = value.values()
        kinds = set(map(type, values))
        if kinds <= _NUMBERS and all(map(math.isfinite, values)):
            return (
                dict(value)
                if int not in kinds
                else dict(zip(value, map(float, values), strict=True))
            )
    if value is _MISSING or value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"features: expected an object, got {_json_type(value)}")
    if len(value) > MAX_FEATURES:
        raise ValidationError(f"features: {len(value)} features exceed the limit of {MAX_FEATURES}")
    features: dict[str, float] = {}
    for name, x in value.items():
        if x is None:
            continue
        if isinstance(x, bool):
            features[name] = 1.0 if x else 0.0
        elif isinstance(x, int | float) and math.isfinite(x):
            features[name] = float(x)
        else:
            raise ValidationError(f"features.{name}: expected a finite number, got {_show(x)}")
    return features
