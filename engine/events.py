"""The wire contract as values: decode and validate input, shape output.

Everything a producer writes or a consumer reads passes through this module, so that
the online worker and the offline replay accept and reject exactly the same input.
The rules are those of ``CONTRACT.md``; each rejected message raises an
:class:`InputError` whose ``stage`` (``decode`` or ``validate``) and message go into
the dead-letter record built by :func:`dead_letter`.

Examples
--------
>>> ev = decode_event(b'{"event_id": "e-1", "entity_id": "acct-42", "ts": 10.5,'
...                   b' "features": {"amount": 12.5, "vip": true, "age": null}}')
>>> ev.entity_id, ev.ts, ev.features
('acct-42', 10.5, {'amount': 12.5, 'vip': 1.0})
>>> decode_event(b'{"event_id": "e-1", "entity_id": "a", "ts": 1, "features": {"x": "abc"}}')
Traceback (most recent call last):
...
engine.events.ValidationError: features.x: expected a finite number, got "abc"
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson

__all__ = [
    "MAX_FEATURES",
    "MAX_MESSAGE_BYTES",
    "MAX_RAW_IN_DEAD_LETTER",
    "Alert",
    "AlertKind",
    "Decision",
    "DecodeError",
    "Event",
    "FeatureContribution",
    "InputError",
    "Label",
    "Severity",
    "Stage",
    "ValidationError",
    "dead_letter",
    "decode_event",
    "decode_json",
    "decode_label",
    "encode",
    "parse_event",
    "parse_label",
]

#: Messages larger than this many bytes are rejected at the ``decode`` stage.
MAX_MESSAGE_BYTES = 1_048_576
#: A dead-letter record keeps at most this many bytes of the original value
#: (and then says ``raw_truncated: true`` with the original ``raw_size``).
MAX_RAW_IN_DEAD_LETTER = 1_048_576
#: An event may carry at most this many features, so per-event memory is bounded.
MAX_FEATURES = 1024

#: Latest time accepted, in seconds since the epoch: 9999-12-31T23:59:59Z, ISO-8601's last.
MAX_TS = 253_402_300_799.0

Stage = Literal["decode", "validate", "score", "produce"]
AlertKind = Literal[
    "concept_drift", "data_drift", "prediction_drift", "label_drift", "frozen_predictions"
]
Severity = Literal["info", "warning", "critical"]


class InputError(ValueError):
    """A message that cannot be processed; ``stage`` says where it failed."""

    stage: Stage = "validate"


class DecodeError(InputError):
    """The bytes are not a UTF-8 JSON document of acceptable size."""

    stage: Stage = "decode"


class ValidationError(InputError):
    """The JSON document does not have the shape the contract requires."""

    stage: Stage = "validate"


class Event(NamedTuple):
    """One observation of one entity; ``features`` holds only present, finite values.

    A named tuple, as :class:`Decision`: one is made per input, at half a frozen
    dataclass's cost.
    """

    event_id: str
    entity_id: str
    ts: float
    features: dict[str, float]


@dataclass(frozen=True, slots=True)
class Label:
    """The entity is of class ``label`` as of ``ts``; known from ``reported_ts`` on."""

    entity_id: str
    ts: float
    label: int
    reported_ts: float | None = None

    @property
    def known_at(self) -> float:
        """When the label became known: ``reported_ts``, else ``ts``."""
        return self.ts if self.reported_ts is None else self.reported_ts


class FeatureContribution(NamedTuple):
    """How much one feature pushed a score (in log-odds).

    A named tuple, as :class:`Decision`: several are made per event, at half the cost of a
    frozen dataclass.
    """

    name: str
    value: float
    contribution: float


class Decision(NamedTuple):
    """Exactly one per valid event: the score, whether to act, and why.

    A named tuple (immutable, made per event at a third of a frozen dataclass's cost).
    """

    event_id: str
    entity_id: str
    ts: float
    score: float
    action: bool
    reason: str
    model_version: int
    entity_max_score: float | None = None
    rise: float | None = None
    top_features: tuple[FeatureContribution, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The decision as the JSON object ``CONTRACT.md`` describes."""
        # Unpacked at once: cheaper than ten attribute look-ups.
        event_id, entity_id, ts, score, action, reason, version, max_score, rise, top = self
        return {
            "event_id": event_id,
            "entity_id": entity_id,
            "ts": ts,
            "score": score,
            "action": action,
            "reason": reason,
            "model_version": version,
            "entity_max_score": max_score,
            "rise": rise,
            "top_features": [
                {"name": name, "value": value, "contribution": contribution}
                for name, value, contribution in top
            ],
        }


@dataclass(frozen=True, slots=True)
class Alert:
    """Something about the model or the data needs a person's attention (CONTRACT.md)."""

    kind: AlertKind
    ts: float
    severity: Severity
    detail: dict[str, Any]
    entity_id: str | None = None
    feature: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The alert as the JSON object ``CONTRACT.md`` describes."""
        return {
            "kind": self.kind,
            "ts": self.ts,
            "severity": self.severity,
            "entity_id": self.entity_id,
            "feature": self.feature,
            "detail": self.detail,
        }


def encode(obj: Any) -> bytes:
    """Serialize an output value (a dict, or anything with ``to_dict``) to JSON bytes.

    >>> encode({"a": 1})
    b'{"a":1}'
    """
    if type(obj) is Decision:  # the usual case, without looking for to_dict
        return orjson.dumps(obj.to_dict())
    if type(obj) is not dict and hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    return orjson.dumps(obj)


def decode_json(raw: bytes | None, *, max_bytes: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decode a message value into a JSON object, or raise :class:`DecodeError`.

    Rejects a missing value, more than ``max_bytes`` bytes, invalid UTF-8, malformed
    JSON (including ``NaN``/``Infinity`` literals, numbers that overflow a double, lone
    surrogates and nesting deeper than 1024), an object that repeats a key, and JSON that
    is not an object.

    >>> decode_json(b'[1, 2]')
    Traceback (most recent call last):
    ...
    engine.events.DecodeError: expected a JSON object, got an array
    """
    if raw is None:
        raise DecodeError("the message has no value (null)")
    if len(raw) > max_bytes:
        raise DecodeError(f"message of {len(raw)} bytes exceeds the limit of {max_bytes} bytes")
    data = raw if type(raw) is bytes else bytes(raw)
    return _json_object(_loads(data), data)


def _loads(data: bytes) -> Any:
    """``data`` decoded as JSON, or a :class:`DecodeError` that says what is wrong."""
    try:
        return orjson.loads(data)  # checks the UTF-8 itself, at no extra cost
    except orjson.JSONDecodeError:
        return _decode_text(data)  # as text, to say precisely what is wrong


def _json_object(obj: Any, data: bytes) -> dict[str, Any]:
    """``obj``, decoded from ``data``, if it is an object that repeats no key.

    Every key is followed by a colon, and in UTF-8 the byte of ":" stands for nothing
    else; so the text has at least as many colons as keys, and its keys at least as many
    as the decoded objects (fewer only if one repeats). When the top-level object alone
    has as many keys as the text has colons (a flat object without colons in strings), all
    are equal and the nested objects need not be counted.
    """
    if not isinstance(obj, dict):
        raise DecodeError(f"expected a JSON object, got {_json_type(obj)}")
    colons = data.count(b":")
    if colons != len(obj) and _count_keys(obj) != colons:
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

    >>> _reject_duplicate_keys('{"a": {"b": 1, "b": 2}}')
    Traceback (most recent call last):
    ...
    engine.events.DecodeError: duplicate key "b" in a JSON object
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
    entity_id, ts = _entity_and_ts(obj, key)
    features = _parse_features(obj.get("features", _MISSING))
    return Event(event_id, entity_id, ts, features)


def _entity_and_ts(obj: dict[str, Any], key: bytes | None) -> tuple[str, float]:
    """The ``entity_id`` (which ``key``, when given, must be) and ``ts`` of an event or a
    label. The usual values are taken as they are; others go to the checks that say what
    is wrong with them."""
    entity_id = obj.get("entity_id")
    if type(entity_id) is not str or not entity_id:
        entity_id = _require_str(obj, "entity_id")
    if key is not None:
        _check_key(key, entity_id)
    ts = obj.get("ts")
    if type(ts) is not float or not 0.0 <= ts <= MAX_TS:  # NaN and infinities fail the range
        ts = _parse_ts(obj, "ts")
    return entity_id, ts


def parse_label(obj: dict[str, Any], *, key: bytes | None = None) -> Label:
    """Validate a decoded ``labels`` object; ``key``, when given, must be the entity id.

    >>> parse_label({"entity_id": "a", "ts": "2024-11-23T09:00:00Z", "label": True})
    Label(entity_id='a', ts=1732352400.0, label=1, reported_ts=None)
    """
    entity_id, ts = _entity_and_ts(obj, key)
    value = obj.get("label", _MISSING)
    if type(value) is int and (value == 0 or value == 1):
        label = value
    elif value is _MISSING:
        raise ValidationError("label: missing")
    elif isinstance(value, bool):
        label = int(value)
    elif isinstance(value, int) and value in (0, 1):
        label = value
    else:
        raise ValidationError(f"label: expected 0, 1, false or true, got {_show(value)}")
    reported_ts = obj.get("reported_ts")
    if type(reported_ts) is not float or not 0.0 <= reported_ts <= MAX_TS:
        reported_ts = None if reported_ts is None else _parse_ts(obj, "reported_ts")
    if reported_ts is not None and reported_ts < ts:
        raise ValidationError(f"reported_ts: {reported_ts} is earlier than ts {ts}")
    return Label(entity_id, ts, label, reported_ts)


def decode_event(
    raw: bytes | None, *, key: bytes | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> Event:
    """Decode and validate one ``events`` message value.

    The usual event (bytes, four fields, finite numbers as features) is recognised and
    made by :func:`_usual_event` in a few cheap tests; any other input, valid or not, takes
    :func:`decode_json` and :func:`parse_event`'s checks, which say what is wrong.
    """
    if type(raw) is not bytes or len(raw) > max_bytes:
        return parse_event(decode_json(raw, max_bytes=max_bytes), key=key)
    obj = _loads(raw)
    if type(obj) is dict:
        event = _usual_event(obj, raw, key)
        if event is not None:
            return event
    return parse_event(_json_object(obj, raw), key=key)


def decode_label(
    raw: bytes | None, *, key: bytes | None = None, max_bytes: int = MAX_MESSAGE_BYTES
) -> Label:
    """Decode and validate one ``labels`` message value."""
    return parse_label(decode_json(raw, max_bytes=max_bytes), key=key)


def _usual_event(obj: dict[str, Any], data: bytes, key: bytes | None) -> Event | None:
    """The event that ``obj``, decoded by orjson from ``data``, is, if usual; else ``None``.

    Usual: the four fields only; non-empty string ids; a float time in range; at most
    :data:`MAX_FEATURES` features, each a number, boolean or null, of finite sum; ``key``
    ``None`` or the entity id's bytes. The result is then the one :func:`decode_json` and
    :func:`parse_event` would give, found without counting keys: those of the event and
    its features are all there are, and if they are as many as the colons in ``data``,
    none repeats (see :func:`_json_object`). Anything else gives ``None`` and takes the
    general path, which rejects it or accepts it the same way as before.
    """
    if len(obj) != 4:
        return None
    event_id = obj.get("event_id")
    entity_id = obj.get("entity_id")
    ts = obj.get("ts")
    features = obj.get("features")
    if not (
        type(event_id) is str
        and event_id
        and type(entity_id) is str
        and entity_id
        and type(ts) is float
        and 0.0 <= ts <= MAX_TS
        and type(features) is dict
        and len(features) <= MAX_FEATURES
        and data.count(b":") == 4 + len(features)
    ):
        return None
    values = _number_features(features)
    if values is None:
        return None
    if key is not None and (type(key) is not bytes or key != entity_id.encode()):
        return None
    return _new_tuple(Event, (event_id, entity_id, ts, values))  # Event(...), minus a call


def dead_letter(
    *,
    source_topic: str,
    partition: int | None,
    offset: int | None,
    timestamp: float | None,
    key: bytes | None,
    raw: bytes | None,
    error: BaseException,
    stage: Stage | None = None,
    max_raw_bytes: int = MAX_RAW_IN_DEAD_LETTER,
) -> dict[str, Any]:
    """Build the dead-letter record for a message that failed, keeping its bytes.

    The value is kept as text when it is valid UTF-8, else as base64; beyond
    ``max_raw_bytes`` it is cut, and the record says so (``raw_truncated``,
    ``raw_size``). The error message is the exception's text only: no traceback.

    >>> rec = dead_letter(source_topic="events", partition=0, offset=7, timestamp=1.0,
    ...                   key=b"a", raw=b"\\xff{", error=DecodeError("invalid UTF-8"))
    >>> rec["stage"], rec["error_type"], rec["raw"], rec["raw_encoding"]
    ('decode', 'DecodeError', '/3s=', 'base64')
    """
    if stage is None:
        stage = error.stage if isinstance(error, InputError) else "score"
    data = b"" if raw is None else bytes(raw)
    kept = data[:max_raw_bytes]
    raw_text, raw_encoding = _bytes_as_text(kept)
    key_text, key_encoding = _bytes_as_text(key) if key is not None else (None, None)
    record: dict[str, Any] = {
        "source_topic": source_topic,
        "partition": partition,
        "offset": offset,
        "timestamp": timestamp,
        "stage": stage,
        "error_type": type(error).__name__,
        "error": str(error)[:2000],
        "key": key_text,
        "raw": None if raw is None else raw_text,
        "raw_encoding": raw_encoding,
        "raw_size": len(data),
        "raw_truncated": len(data) > len(kept),
    }
    if key_encoding == "base64":
        record["key_encoding"] = "base64"
    return record


# --- helpers ---------------------------------------------------------------------------

_MISSING: Any = object()

#: ``tuple.__new__(Event, fields)`` is what ``Event(*fields)`` does, without the named
#: tuple's ``__new__``, a Python function (0.4 of the 5.8 µs of decoding an event).
_new_tuple = tuple.__new__


def _bytes_as_text(data: bytes) -> tuple[str, str]:
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


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


def _number_features(value: dict[str, Any]) -> dict[str, float] | None:
    """The features of ``value`` if all are floats, ints, booleans or nulls, of finite sum.

    ``None`` otherwise (then some value is bad, or is of a rarer type), and never an
    exception: the caller then checks feature by feature, which says what is wrong.
    """
    features = value.copy()
    try:
        for name, x in value.items():
            if type(x) is float:
                continue
            if type(x) is int:
                features[name] = x + 0.0  # float(x), without the call
            elif x is None:
                del features[name]
            elif type(x) is bool:
                features[name] = 1.0 if x else 0.0
            else:
                return None
        # A NaN or an infinity makes the sum one: then the slow path, which names it.
        total = sum(features.values())
    except OverflowError:  # an int beyond a double, which no JSON decoder here returns
        return None
    return features if math.isfinite(total) else None


def _parse_features(value: Any) -> dict[str, float]:
    if type(value) is dict and len(value) <= MAX_FEATURES:
        features = _number_features(value)
        if features is not None:
            return features
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
