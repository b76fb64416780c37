"""Per-entity temporal memory: a small, bounded, picklable value object.

An :class:`EntityState` keeps what the policy and the label rule need about one entity,
and nothing that grows without bound:

- the max of its scores within the memory window, kept as a monotone queue of
  ``(ts, score)`` pairs (each newer pair has a lower score), at most
  ``Memory.max_scores`` long;
- the ts of its last action;
- its label timeline, the last ``Memory.max_labels`` labels;
- pending samples awaiting a label (features as scored, ts, score), at most
  ``Memory.max_pending`` and at most ``Memory.max_pending_age`` seconds old, with
  evictions counted;
- the last applied input position per source, so that an input replayed after a crash
  is not applied twice;
- its current run of high, barely moving scores, and whether it is frozen.

State is changed only through its methods and handed back whole: callers that keep it in
a table write it back explicitly after each change.

Examples
--------
>>> memory = Memory(window=100.0)
>>> state = EntityState()
>>> state.max_score(now=0.0, memory=memory) is None
True
>>> state.add_score(0.0, 0.9, memory)
>>> state.add_score(50.0, 0.4, memory)
>>> state.max_score(now=60.0, memory=memory), state.max_score(now=120.0, memory=memory)
(0.9, 0.4)
>>> EntityState.restore(state.snapshot()) == state
True
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.events import FeatureContribution

__all__ = ["EntityState", "Memory", "PendingSample"]


@dataclass(frozen=True, kw_only=True)
class Memory:
    """How much each entity remembers; every bound is per entity.

    Parameters
    ----------
    window
        Seconds of scores the entity's max covers (24 h by default).
    max_scores
        Entries of the monotone max queue. Beyond it the two oldest entries merge into
        one that keeps the higher score and the later ts, so the max is never
        underestimated (the policy errs towards not acting again).
    max_labels
        Labels kept in the timeline.
    max_pending
        Samples awaiting a label; the oldest are evicted first.
    max_pending_age
        Seconds a sample may wait for a label before it is evicted.
    """

    window: float = 86_400.0
    max_scores: int = 64
    max_labels: int = 16
    max_pending: int = 256
    max_pending_age: float = 7 * 86_400.0
    #: The entity's last decisions kept (by input position), so that an input replayed
    #: after a crash gets the very same decision again.
    max_decisions: int = 32

    def __post_init__(self) -> None:
        if self.window <= 0 or self.max_pending_age <= 0:
            raise ValueError("window and max_pending_age must be positive")
        if min(self.max_scores, self.max_labels, self.max_pending) < 1:
            raise ValueError("max_scores, max_labels and max_pending must be at least 1")


@dataclass(frozen=True, slots=True)
class PendingSample:
    """An event's features as they were when it was scored, waiting for a label."""

    ts: float
    score: float
    features: dict[str, float]
    #: Its JSON, made once when first needed (a sample never changes).
    encoded: bytes | None = field(default=None, compare=False, repr=False)

    def encode(self) -> bytes:
        """``[ts, score, features]`` as JSON (made once)."""
        if self.encoded is None:
            object.__setattr__(self, "encoded", orjson.dumps([self.ts, self.score, self.features]))
        return self.encoded  # type: ignore[return-value]


@dataclass(slots=True, eq=True)
class EntityState:
    """What one entity's history leaves behind; see the module docstring."""

    n_events: int = 0
    last_event_ts: float | None = None
    last_action_ts: float | None = None
    #: Monotone queue: ts increasing, score strictly decreasing.
    scores: list[tuple[float, float]] = field(default_factory=list)
    #: (ts, label), ts increasing, at most ``Memory.max_labels``.
    labels: list[tuple[float, int]] = field(default_factory=list)
    #: Sorted by ts.
    pending: list[PendingSample] = field(default_factory=list)
    evicted_pending: int = 0
    merged_scores: int = 0
    #: Last applied input position (e.g. Kafka offset) per source (e.g. ``"events"``).
    applied: dict[str, int] = field(default_factory=dict)
    #: The current run of high scores that barely move: (length, start ts, low, high).
    high_run: tuple[int, float, float, float] | None = None
    #: Whether the entity's predictions are frozen now (see engine.monitors.frozen).
    frozen: bool = False
    #: (position, decision fields) of the last ``Memory.max_decisions`` decisions.
    decisions: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    #: Each of ``decisions`` as JSON, made once, when first needed (a remembered decision
    #: never changes); ``None`` until then.
    decisions_json: list[bytes | None] = field(default_factory=list, compare=False, repr=False)
    #: ``pending`` and ``decisions`` as JSON arrays, kept up to date as they change, so
    #: that :meth:`to_json` costs the same however much the entity remembers (the worker
    #: writes a changed state once per batch); ``None`` until made, or after a change
    #: that is cheaper to encode anew.
    pending_array: _JsonArray | None = field(default=None, compare=False, repr=False)
    decisions_array: _JsonArray | None = field(default=None, compare=False, repr=False)

    # --- scores -------------------------------------------------------------------------

    def max_score(self, *, now: float, memory: Memory) -> float | None:
        """The max score seen within ``memory.window`` seconds before ``now``, or ``None``."""
        horizon = now - memory.window
        for ts, score in self.scores:  # the first entry still in the window is the max
            if ts > horizon:
                return score
        return None

    def add_score(self, ts: float, score: float, memory: Memory) -> None:
        """Remember a score; forget those that can no longer be the max."""
        scores = self.scores
        if scores and ts < scores[-1][0]:
            ts = scores[-1][0]  # a late event counts as seen at the latest ts: never lower
        horizon = ts - memory.window
        while scores and scores[0][0] <= horizon:
            scores.pop(0)
        while scores and scores[-1][1] <= score:
            scores.pop()
        scores.append((ts, score))
        if len(scores) > memory.max_scores:
            (_, high), (later, _) = scores[0], scores[1]
            scores[0:2] = [(later, high)]
            self.merged_scores += 1
        self.n_events += 1
        if self.last_event_ts is None or ts > self.last_event_ts:
            self.last_event_ts = ts

    # --- pending samples ----------------------------------------------------------------

    def add_pending(self, sample: PendingSample, memory: Memory) -> None:
        """Keep a scored sample until a label says what it was; bounded by count and age."""
        if not self.pending or sample.ts >= self.pending[-1].ts:
            self.pending.append(sample)  # the usual case: events in time order
            if self.pending_array is not None:
                self.pending_array.append(sample.encode())
        else:
            keys = [p.ts for p in self.pending]
            self.pending.insert(bisect.bisect_right(keys, sample.ts), sample)
            self.pending_array = None
        self.evict_pending(now=sample.ts, memory=memory)

    def evict_pending(self, *, now: float, memory: Memory) -> int:
        """Drop samples older than ``max_pending_age`` and beyond ``max_pending``; count them."""
        horizon = now - memory.max_pending_age
        keep_from = max(0, len(self.pending) - memory.max_pending)
        while keep_from < len(self.pending) and self.pending[keep_from].ts < horizon:
            keep_from += 1
        if keep_from:
            if self.pending_array is not None:
                self.pending_array.drop_first(keep_from)
            del self.pending[:keep_from]
            self.evicted_pending += keep_from
        return keep_from

    def take_pending(self, *, after: float | None, until: float) -> list[PendingSample]:
        """Remove and return the samples with ``after < ts <= until``, in ts order."""
        taken, kept = [], []
        for p in self.pending:
            inside = p.ts <= until and (after is None or p.ts > after)
            (taken if inside else kept).append(p)
        if taken:
            self.pending = kept
            self.pending_array = None
        return taken

    # --- labels -------------------------------------------------------------------------

    @property
    def last_label(self) -> tuple[float, int] | None:
        """The latest label by ts, or ``None``."""
        return self.labels[-1] if self.labels else None

    def add_label(self, ts: float, label: int, memory: Memory) -> tuple[float, int] | None:
        """Insert a label into the timeline; return the one before it (by ts), if any."""
        index = bisect.bisect_right([t for t, _ in self.labels], ts)
        previous = self.labels[index - 1] if index else None
        self.labels.insert(index, (ts, label))
        if len(self.labels) > memory.max_labels:
            del self.labels[: len(self.labels) - memory.max_labels]
        return previous

    # --- positions ----------------------------------------------------------------------

    def already_applied(self, source: str, position: int | None) -> bool:
        """True if an input at ``position`` of ``source`` was applied before."""
        if position is None:
            return False
        last = self.applied.get(source)
        return last is not None and position <= last

    def mark_applied(self, source: str, position: int | None) -> None:
        if position is not None:
            self.applied[source] = position

    def remember_decision(self, position: int, fields: tuple[Any, ...], memory: Memory) -> None:
        """Keep a decision's fields by its input position (the last few only)."""
        self.decisions.append((position, fields))
        self.decisions_json.append(None)  # encoded when first needed
        if self.decisions_array is not None:  # kept up to date once made (to_json)
            self.decisions_array.append(self._decision_json(-1))
        if len(self.decisions) > memory.max_decisions:
            if self.decisions_array is not None:
                self.decisions_array.drop_first(1)
            del self.decisions[0]
            del self.decisions_json[0]

    def forget_decisions(self, *, before: int) -> int:
        """Forget the decisions given at positions below ``before``; return how many.

        For inputs that cannot come again (online: offsets already committed), whose
        decisions need not be given again. The rest stay remembered, in order.

        >>> state, memory = EntityState(), Memory()
        >>> for position in (3, 5, 8):
        ...     state.remember_decision(position, (0.5,), memory)
        >>> state.forget_decisions(before=6), [p for p, _ in state.decisions]
        (2, [8])
        """
        decisions = self.decisions
        n = 0  # the oldest go, as usual: inputs are applied in position order
        for position, _ in decisions:
            if position >= before:
                break
            n += 1
        in_order = True
        for position, _ in decisions[n + 1 :]:
            if position < before:
                in_order = False
                break
        if in_order and not n:
            return 0
        if len(self.decisions_json) != len(decisions):  # changed by hand: anew
            self.decisions_json = [None] * len(decisions)
            self.decisions_array = None
        if in_order:
            if self.decisions_array is not None:
                self.decisions_array.drop_first(n)
            del decisions[:n]
            del self.decisions_json[:n]
            return n
        kept = [i for i, (position, _) in enumerate(decisions) if position >= before]
        self.decisions_array = None  # encoded anew when next needed
        self.decisions = [decisions[i] for i in kept]
        self.decisions_json = [self.decisions_json[i] for i in kept]
        return len(decisions) - len(kept)

    def decision_at(self, position: int | None) -> tuple[Any, ...] | None:
        """The fields of the decision given at ``position``, if still remembered."""
        for kept, fields in self.decisions:
            if kept == position:
                return fields
        return None

    # --- persistence --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A plain, JSON-ready copy of the state (nothing shared with it)."""
        return {
            "n_events": self.n_events,
            "last_event_ts": self.last_event_ts,
            "last_action_ts": self.last_action_ts,
            "scores": [list(s) for s in self.scores],
            "labels": [list(lb) for lb in self.labels],
            "pending": [[p.ts, p.score, dict(p.features)] for p in self.pending],
            "evicted_pending": self.evicted_pending,
            "merged_scores": self.merged_scores,
            "applied": dict(self.applied),
            "high_run": None if self.high_run is None else list(self.high_run),
            "frozen": self.frozen,
            "decisions": [
                _decision_snapshot(position, fields) for position, fields in self.decisions
            ],
        }

    def to_json(self) -> bytes:
        """:meth:`snapshot` as JSON bytes, the same bytes, made without copying the state.

        The pending samples and remembered decisions, which never change once kept, are
        encoded once each, and their arrays are kept encoded as they change, so this
        costs about as much as encoding the scalars.
        """
        if len(self.decisions_json) != len(self.decisions):  # changed by hand: anew
            self.decisions_json = [None] * len(self.decisions)
            self.decisions_array = None
        pending, decisions = self.pending_array, self.decisions_array
        if pending is None or pending.count != len(self.pending):
            pending = self.pending_array = _JsonArray([p.encode() for p in self.pending])
        if decisions is None or decisions.count != len(self.decisions):
            items = [self._decision_json(i) for i in range(len(self.decisions))]
            decisions = self.decisions_array = _JsonArray(items)
        return orjson.dumps(
            {
                "n_events": self.n_events,
                "last_event_ts": self.last_event_ts,
                "last_action_ts": self.last_action_ts,
                "scores": self.scores,
                "labels": self.labels,
                "pending": orjson.Fragment(pending.encoded),
                "evicted_pending": self.evicted_pending,
                "merged_scores": self.merged_scores,
                "applied": self.applied,
                "high_run": self.high_run,
                "frozen": self.frozen,
                "decisions": orjson.Fragment(decisions.encoded),
            }
        )

    def _decision_json(self, index: int) -> bytes:
        """The remembered decision at ``index`` as JSON (made once)."""
        encoded = self.decisions_json[index]
        if encoded is None:
            encoded = self.decisions_json[index] = _decision_json(*self.decisions[index])
        return encoded

    @classmethod
    def from_json(cls, data: bytes) -> EntityState:
        """The state :meth:`to_json` encoded."""
        return cls.restore(orjson.loads(data))

    @classmethod
    def restore(cls, snapshot: dict[str, Any]) -> EntityState:
        """Rebuild a state from :meth:`snapshot`'s output."""
        return cls(
            n_events=snapshot["n_events"],
            last_event_ts=snapshot["last_event_ts"],
            last_action_ts=snapshot["last_action_ts"],
            scores=[(float(t), float(s)) for t, s in snapshot["scores"]],
            labels=[(float(t), int(y)) for t, y in snapshot["labels"]],
            pending=[PendingSample(float(t), float(s), dict(f)) for t, s, f in snapshot["pending"]],
            evicted_pending=snapshot["evicted_pending"],
            merged_scores=snapshot["merged_scores"],
            applied=dict(snapshot["applied"]),
            high_run=None
            if snapshot.get("high_run") is None
            else (int(snapshot["high_run"][0]), *map(float, snapshot["high_run"][1:])),
            frozen=bool(snapshot.get("frozen", False)),
            decisions=[
                (int(position), (*fields[:6], tuple(FeatureContribution(*f) for f in fields[6])))
                for position, fields in snapshot.get("decisions", [])
            ],
        )


class _JsonArray:
    """A JSON array of encoded items, kept as they are appended or dropped first, and
    joined when read (once per change): appending never copies what is there.

    Examples
    --------
    >>> array = _JsonArray([b"1", b"22"])
    >>> array.append(b"3"); array.drop_first(1); array.encoded, array.count
    (b'[22,3]', 2)
    >>> array.drop_first(2); array.encoded, array.count
    (b'[]', 0)
    """

    __slots__ = ("_encoded", "items")

    def __init__(self, items: list[bytes]) -> None:
        self.items = items
        self._encoded: bytes | None = None

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def encoded(self) -> bytes:
        """The array's JSON."""
        if self._encoded is None:
            self._encoded = b"[" + b",".join(self.items) + b"]"
        return self._encoded

    def append(self, item: bytes) -> None:
        self.items.append(item)
        self._encoded = None

    def drop_first(self, n: int) -> None:
        """Drop the ``n`` items appended first."""
        del self.items[:n]
        self._encoded = None


def _decision_snapshot(position: int, fields: tuple[Any, ...]) -> list[Any]:
    # Each FeatureContribution (name, value, contribution) as a list: orjson takes no
    # named tuples.
    return [position, [*fields[:6], list(map(list, fields[6]))]]


def _decision_json(position: int, fields: tuple[Any, ...]) -> bytes:
    """:func:`_decision_snapshot` as JSON, without building it: orjson writes tuples as
    arrays and hands each named tuple (a FeatureContribution) to ``default``.

    >>> from engine.events import FeatureContribution
    >>> fields = (0.9, True, "first_seen", 1, None, None, (FeatureContribution("a", 2.0, 0.5),))
    >>> _decision_json(7, fields) == orjson.dumps(_decision_snapshot(7, fields))
    True
    """
    return orjson.dumps((position, fields), default=tuple)
