"""Frozen predictions: an entity whose high score stays put, paid for again and again.

Per entity, a *run* is a sequence of consecutive scores at or above the action threshold
whose range (max - min) stays under ``epsilon``; the run lives in the entity's
:class:`~engine.state.EntityState` (``high_run``), so it is bounded and persisted with
it. When a run reaches ``k`` scores within the memory window the entity is frozen: one
``frozen_predictions`` alert names it. A score below the threshold, or one that moves
the run's range past ``epsilon``, unfreezes it (silently; the global share tells the
trend). Globally, the share of frozen entities among those seen raises a warning from
``share_warn`` and an all-clear below ``share_clear``.

Examples
--------
>>> from engine.state import EntityState
>>> monitor = FrozenPredictions(threshold=0.8, k=3, epsilon=0.01, window=3600)
>>> state = EntityState()
>>> [monitor.observe(state, "acct-1", ts, s) is not None
...  for ts, s in [(0, 0.91), (10, 0.912), (20, 0.905), (30, 0.91), (40, 0.5)]]
[False, False, True, False, False]
>>> state.frozen, monitor.n_frozen
(False, 0)
"""

from __future__ import annotations

from engine.events import Alert
from engine.monitors.gate import AlertGate
from engine.state import EntityState

__all__ = ["FrozenPredictions"]


class FrozenPredictions:
    """Per-entity frozen runs and the global share of frozen entities.

    Parameters
    ----------
    threshold
        The action threshold: only scores at or above it can freeze.
    k
        Consecutive scores that make a run frozen.
    epsilon
        The most a frozen run's scores may move (max - min).
    window
        Seconds within which the ``k`` scores must fall (the memory window).
    share_warn, share_clear
        Share of frozen entities that raises a warning, and below which it clears.
    min_entities
        Entities seen before the share is judged at all.
    """

    def __init__(
        self,
        *,
        threshold: float = 0.8,
        k: int = 5,
        epsilon: float = 0.01,
        window: float = 86_400.0,
        share_warn: float = 0.05,
        share_clear: float = 0.025,
        min_entities: int = 100,
    ) -> None:
        if k < 2 or epsilon < 0:
            raise ValueError("k must be at least 2 and epsilon not negative")
        self.threshold = threshold
        self.k = k
        self.epsilon = epsilon
        self.window = window
        self.share_warn = share_warn
        self.share_clear = share_clear
        self.min_entities = min_entities
        self.n_frozen = 0
        self._gate = AlertGate(max_keys=1)

    def observe(self, state: EntityState, entity_id: str, ts: float, score: float) -> Alert | None:
        """Update the entity's run with its new score; an alert when it becomes frozen."""
        if score < self.threshold:
            state.high_run = None
            if state.frozen:
                self._unfreeze(state)
            return None
        run = state.high_run
        if run is not None:
            length, start, low, high = run
            low, high = min(low, score), max(high, score)
            if (high - low <= self.epsilon and ts - start <= self.window) or (
                state.frozen and high - low <= self.epsilon
            ):
                state.high_run = (length + 1, start, low, high)
            else:
                run = None
        if run is None:
            state.high_run = (1, ts, score, score)
            self._unfreeze(state)
            return None
        length, start, low, high = state.high_run
        if state.frozen or length < self.k:
            return None
        state.frozen = True
        self.n_frozen += 1
        return Alert(
            kind="frozen_predictions",
            ts=ts,
            severity="warning",
            entity_id=entity_id,
            detail={
                "scope": "entity",
                "consecutive_scores": length,
                "score_low": low,
                "score_high": high,
                "epsilon": self.epsilon,
                "threshold": self.threshold,
                "since_ts": start,
            },
        )

    def check_share(self, ts: float, n_entities: int) -> Alert | None:
        """The global share of frozen entities: an alert when it crosses its levels."""
        if n_entities < self.min_entities:
            return None
        share = self.n_frozen / n_entities
        if share >= self.share_warn:
            level = "warning"
        elif share < self.share_clear:
            level = "clear"
        else:
            return None
        report = self._gate.change("share", level)
        if report is None:
            return None
        return Alert(
            kind="frozen_predictions",
            ts=ts,
            severity="info" if report == "clear" else "warning",
            detail={
                "scope": "global",
                "status": "cleared" if report == "clear" else "raised",
                "frozen_entities": self.n_frozen,
                "entities": n_entities,
                "share": share,
                "share_warn": self.share_warn,
                "share_clear": self.share_clear,
            },
        )

    def _unfreeze(self, state: EntityState) -> None:
        if state.frozen:
            state.frozen = False
            self.n_frozen -= 1
