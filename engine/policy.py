"""Decision policies: act on the rise over the entity's own max, not on the level.

A frozen high score (PROBLEM.md §1) is paid for once, not at every event: the memory
policy acts only when the score clears the threshold *and* rises by at least
``min_rise`` over the max score the entity had in its memory window.

Reasons, a closed set (each decision carries exactly one):

============================  ======  ==================================================
reason                        action  when
============================  ======  ==================================================
``below_threshold``           no      score < threshold
``first_seen``                yes     score ≥ threshold, no score of the entity in window
``rise_over_entity_max``      yes     score ≥ threshold and score - max ≥ min_rise
``no_rise_over_entity_max``   no      score ≥ threshold but score - max < min_rise
``cooldown``                  no      it would act, but the entity was acted on less
                                      than ``cooldown`` seconds ago
``above_threshold``           yes     (naive policy only) score ≥ threshold
============================  ======  ==================================================

Examples
--------
>>> policy = MemoryPolicy(threshold=0.8, min_rise=0.1, cooldown=3600)
>>> policy.decide(score=0.9, entity_max=None, since_last_action=None)
Verdict(action=True, reason='first_seen')
>>> policy.decide(score=0.9, entity_max=0.85, since_last_action=None)
Verdict(action=False, reason='no_rise_over_entity_max')
>>> policy.decide(score=0.95, entity_max=0.6, since_last_action=600.0)
Verdict(action=False, reason='cooldown')
>>> NaivePolicy(threshold=0.8).decide(score=0.9, entity_max=0.95, since_last_action=1.0)
Verdict(action=True, reason='above_threshold')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple, Protocol

from engine.state import EntityState, Memory

__all__ = [
    "REASONS",
    "DecisionPolicy",
    "MemoryPolicy",
    "NaivePolicy",
    "Reason",
    "Verdict",
    "decide_for",
    "remember",
]

Reason = Literal[
    "below_threshold",
    "first_seen",
    "rise_over_entity_max",
    "no_rise_over_entity_max",
    "cooldown",
    "above_threshold",
]
#: Every reason a decision may carry.
REASONS: tuple[Reason, ...] = (
    "below_threshold",
    "first_seen",
    "rise_over_entity_max",
    "no_rise_over_entity_max",
    "cooldown",
    "above_threshold",
)


class Verdict(NamedTuple):
    """Whether to act, and the one reason why."""

    action: bool
    reason: Reason


# Every verdict there is, made once (a Verdict is immutable).
_BELOW_THRESHOLD = Verdict(False, "below_threshold")
_FIRST_SEEN = Verdict(True, "first_seen")
_RISE = Verdict(True, "rise_over_entity_max")
_NO_RISE = Verdict(False, "no_rise_over_entity_max")
_COOLDOWN = Verdict(False, "cooldown")
_ABOVE_THRESHOLD = Verdict(True, "above_threshold")


class DecisionPolicy(Protocol):
    """Decides from a score and what the entity's memory says."""

    threshold: float

    def decide(
        self, *, score: float, entity_max: float | None, since_last_action: float | None
    ) -> Verdict:
        """``entity_max``: max score in the window before this event; ``since_last_action``:
        seconds since the entity's last action (``None`` if never)."""
        ...


@dataclass(frozen=True, kw_only=True)
class MemoryPolicy:
    """Act when the score clears ``threshold`` and rises ``min_rise`` over the entity's max.

    Parameters
    ----------
    threshold
        Scores below it never act.
    min_rise
        The least ``score - entity_max`` that acts on an entity with scores in its window.
    cooldown
        Seconds after an action during which the entity is not acted on again.
    """

    threshold: float = 0.8
    min_rise: float = 0.1
    cooldown: float = 3600.0

    def __post_init__(self) -> None:
        _check_threshold(self.threshold)
        if self.min_rise < 0 or self.cooldown < 0:
            raise ValueError("min_rise and cooldown must not be negative")

    def decide(
        self, *, score: float, entity_max: float | None, since_last_action: float | None
    ) -> Verdict:
        if score < self.threshold:
            return _BELOW_THRESHOLD
        if entity_max is None:
            verdict = _FIRST_SEEN
        elif score - entity_max >= self.min_rise:
            verdict = _RISE
        else:
            return _NO_RISE
        if since_last_action is not None and since_last_action < self.cooldown:
            return _COOLDOWN
        return verdict


@dataclass(frozen=True, kw_only=True)
class NaivePolicy:
    """Act whenever the score clears ``threshold``: the status quo, kept for comparison."""

    threshold: float = 0.8

    def __post_init__(self) -> None:
        _check_threshold(self.threshold)

    def decide(
        self, *, score: float, entity_max: float | None, since_last_action: float | None
    ) -> Verdict:
        if score < self.threshold:
            return _BELOW_THRESHOLD
        return _ABOVE_THRESHOLD


def decide_for(
    state: EntityState, *, ts: float, score: float, policy: DecisionPolicy, memory: Memory
) -> tuple[Verdict, float | None]:
    """The policy's verdict on ``score`` given the entity's memory, and the entity's max."""
    entity_max = state.max_score(now=ts, memory=memory)
    since = None if state.last_action_ts is None else ts - state.last_action_ts
    return policy.decide(score=score, entity_max=entity_max, since_last_action=since), entity_max


def remember(state: EntityState, *, ts: float, score: float, action: bool, memory: Memory) -> None:
    """Write a decided score (and the action, if any) into the entity's memory."""
    state.add_score(ts, score, memory)
    if action:
        state.last_action_ts = ts


def _check_threshold(threshold: float) -> None:
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
