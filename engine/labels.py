"""The operating point: learn only from samples whose label is unambiguous.

A label ``(entity, ts, y)`` says the entity was of class ``y`` as of ``ts``. When it
arrives, the entity's pending samples up to ``ts`` are resolved against the entity's
previous label (the latest one before ``ts``):

- **same class** as the previous label: the class did not change in between (as far as
  anyone can know), so the samples between the two labels are learned with ``y``;
- **different class**: the entity changed class at an unknown moment in between, so
  those samples are **ambiguous** and are *not* learned; they are counted, and the
  flip feeds the contradiction-rate monitor of the alert layer;
- **no previous label** (the entity's first): samples at most ``first_label_lookback``
  seconds before ``ts`` are learned with ``y``; older ones are dropped as *stale*, since
  the entity may have changed class before anyone looked;
- samples after ``ts`` stay pending for the next label;
- a label older than one already applied (it arrived out of order) joins the timeline
  but resolves nothing: its window was already decided;
- a pending sample older than the previous label (its event arrived late) is dropped as
  stale.

Learned samples are the features stored at scoring time, so nothing from after the
event leaks into what the model learns.

Examples
--------
>>> from engine.state import EntityState, Memory, PendingSample
>>> memory, rule = Memory(), LabelRule(first_label_lookback=100.0)
>>> state = EntityState()
>>> for ts in (10.0, 20.0, 30.0, 40.0):
...     state.add_pending(PendingSample(ts, 0.5, {"x": ts}), memory)
>>> r = resolve_label(state, "acct-1", ts=25.0, label=0, rule=rule, memory=memory)
>>> [s.ts for s in r.learn], r.label, r.flip
([10.0, 20.0], 0, None)
>>> r = resolve_label(state, "acct-1", ts=45.0, label=1, rule=rule, memory=memory)
>>> r.learn, r.ambiguous, r.flip.label_before, r.flip.label
([], 2, 0, 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.state import EntityState, Memory, PendingSample

__all__ = ["LabelFlip", "LabelRule", "Resolution", "resolve_label"]


@dataclass(frozen=True, kw_only=True)
class LabelRule:
    """How labels turn pending samples into training data.

    Parameters
    ----------
    first_label_lookback
        Seconds before an entity's first label within which its samples are learned
        with that label (24 h by default; ``float("inf")`` learns them all, 0 none).
    learn_ambiguous
        Learn every resolved sample with the new label, even across a class change: the
        status quo of PROBLEM.md §1, kept only for comparison.
    """

    first_label_lookback: float = 86_400.0
    learn_ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class LabelFlip:
    """An entity's label changed between two labels (counted; feeds ``label_drift``)."""

    entity_id: str
    ts_before: float
    label_before: int
    ts: float
    label: int
    ambiguous_samples: int


@dataclass(frozen=True, slots=True)
class Resolution:
    """What one label did: samples to learn with ``label``, and what was not learned."""

    label: int
    previous_label: int | None = None
    learn: list[PendingSample] = field(default_factory=list)
    ambiguous: int = 0
    stale: int = 0
    late_label: bool = False
    flip: LabelFlip | None = None


def resolve_label(
    state: EntityState,
    entity_id: str,
    *,
    ts: float,
    label: int,
    rule: LabelRule,
    memory: Memory,
) -> Resolution:
    """Apply a label to ``state`` (in place) and say which samples may be learned."""
    last = state.last_label
    if last is not None and ts < last[0]:
        state.add_label(ts, label, memory)
        return Resolution(label, previous_label=None, late_label=True)
    previous = state.add_label(ts, label, memory)
    samples = state.take_pending(after=None, until=ts)
    if previous is None:
        horizon = ts - rule.first_label_lookback
        learn = [s for s in samples if s.ts >= horizon]
        return Resolution(label, None, learn=learn, stale=len(samples) - len(learn))
    between = [s for s in samples if s.ts > previous[0]]
    stale = len(samples) - len(between)
    if previous[1] == label:
        return Resolution(label, previous[1], learn=between, stale=stale)
    flip = LabelFlip(entity_id, previous[0], previous[1], ts, label, len(between))
    if rule.learn_ambiguous:
        return Resolution(label, previous[1], learn=between, stale=stale, flip=flip)
    return Resolution(label, previous[1], ambiguous=len(between), stale=stale, flip=flip)
