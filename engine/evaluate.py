"""Metrics that say whether the policy pays, against the simulator's ground truth.

Pure functions over arrays: no files, no plots (the shell renders those). The unit of
value is the *bad episode*: a stretch of time during which an entity is bad. Acting
once in it is what the costly action is for; acting again is a duplicate.

- precision: the share of actions taken on an event whose entity was bad at that time;
- episode recall: the share of bad episodes (with at least one event) acted on at least
  once while bad;
- duplicate actions: actions on an entity whose class has not changed since its last
  action (the same episode);
- cost: actions × the cost of one.

Examples
--------
>>> import numpy as np
>>> stream = ScoredStream(
...     entity=np.array(["a", "a", "a", "b"]), ts=np.array([0.0, 10.0, 20.0, 5.0]),
...     score=np.array([0.9, 0.95, 0.9, 0.2]), bad=np.array([True, True, False, False]),
...     episode=np.array([0, 0, 1, 0]))
>>> m = action_metrics(stream, np.array([True, True, True, False]), cost=2.0)
>>> m.precision, m.episode_recall, m.duplicates, m.cost
(0.6666666666666666, 1.0, 1, 6.0)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from engine.policy import DecisionPolicy, decide_for, remember
from engine.state import EntityState, Memory

__all__ = [
    "ActionMetrics",
    "ScoredStream",
    "action_metrics",
    "apply_policy",
    "at_recall",
    "calibration",
    "match_recall",
    "policy_curve",
    "roc_auc",
]


@dataclass(frozen=True)
class ScoredStream:
    """Scores of a stream in time order, aligned with the ground truth of each event."""

    entity: np.ndarray
    ts: np.ndarray
    score: np.ndarray
    bad: np.ndarray
    episode: np.ndarray

    def __len__(self) -> int:
        return len(self.score)

    def select(self, mask: np.ndarray) -> ScoredStream:
        return ScoredStream(
            self.entity[mask], self.ts[mask], self.score[mask], self.bad[mask], self.episode[mask]
        )


@dataclass(frozen=True)
class ActionMetrics:
    """What a policy's actions bought."""

    actions: int
    true_actions: int
    precision: float
    episode_recall: float
    episodes: int
    episodes_caught: int
    duplicates: int
    cost: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def apply_policy(stream: ScoredStream, policy: DecisionPolicy, memory: Memory) -> np.ndarray:
    """Which events the policy acts on, each entity starting with an empty memory.

    The same per-entity memory and decision code as the :class:`~engine.scorer.Scorer`.
    """
    states: dict[str, EntityState] = {}
    actions = np.zeros(len(stream), dtype=bool)
    for i, (entity, ts, score) in enumerate(
        zip(stream.entity.tolist(), stream.ts.tolist(), stream.score.tolist(), strict=True)
    ):
        state = states.get(entity)
        if state is None:
            state = states[entity] = EntityState()
        verdict, _ = decide_for(state, ts=ts, score=score, policy=policy, memory=memory)
        remember(state, ts=ts, score=score, action=verdict.action, memory=memory)
        actions[i] = verdict.action
    return actions


def action_metrics(stream: ScoredStream, actions: np.ndarray, *, cost: float) -> ActionMetrics:
    """Precision, episode recall, duplicates and cost of ``actions`` (see module docs)."""
    n_actions = int(actions.sum())
    true_actions = int((actions & stream.bad).sum())
    bad_episodes = {
        (e, p) for e, p, b in zip(stream.entity, stream.episode, stream.bad, strict=True) if b
    }
    caught = {
        (e, p)
        for e, p, b, a in zip(stream.entity, stream.episode, stream.bad, actions, strict=True)
        if a and b
    }
    duplicates = 0
    last_episode: dict[str, int] = {}
    for e, p in zip(stream.entity[actions], stream.episode[actions], strict=True):
        if last_episode.get(e) == p:
            duplicates += 1
        last_episode[e] = p
    return ActionMetrics(
        actions=n_actions,
        true_actions=true_actions,
        precision=true_actions / n_actions if n_actions else float("nan"),
        episode_recall=len(caught) / len(bad_episodes) if bad_episodes else float("nan"),
        episodes=len(bad_episodes),
        episodes_caught=len(caught),
        duplicates=duplicates,
        cost=n_actions * cost,
    )


def policy_curve(
    stream: ScoredStream,
    make_policy: Callable[[float], DecisionPolicy],
    thresholds: Sequence[float],
    memory: Memory,
    *,
    cost: float,
) -> list[tuple[float, ActionMetrics]]:
    """Action metrics of the policy at each threshold: its precision-recall curve."""
    return [
        (t, action_metrics(stream, apply_policy(stream, make_policy(t), memory), cost=cost))
        for t in thresholds
    ]


def at_recall(
    curve: list[tuple[float, ActionMetrics]], recall: float
) -> tuple[float, ActionMetrics]:
    """The point of ``curve`` whose episode recall is closest to ``recall`` (ties: higher
    precision)."""
    return min(curve, key=lambda p: (abs(p[1].episode_recall - recall), -p[1].precision))


def match_recall(
    stream: ScoredStream,
    make_policy: Callable[[float], DecisionPolicy],
    recall: float,
    memory: Memory,
    *,
    cost: float,
    low: float = 0.0,
    high: float = 1.0,
    steps: int = 12,
) -> tuple[float, ActionMetrics]:
    """The threshold whose episode recall comes closest to ``recall``, by bisection.

    Episode recall falls as the threshold rises; of the thresholds tried, the one
    closest to ``recall`` wins (ties: the higher precision).
    """
    tried = []
    for _ in range(steps):
        middle = round((low + high) / 2, 6)
        metrics = action_metrics(
            stream, apply_policy(stream, make_policy(middle), memory), cost=cost
        )
        tried.append((middle, metrics))
        if metrics.episode_recall > recall:
            low = middle
        else:
            high = middle
    return at_recall(tried, recall)


def calibration(
    scores: np.ndarray, outcomes: np.ndarray, *, bins: int = 10
) -> tuple[float, float, list[tuple[float, float, int]]]:
    """Brier score, expected calibration error and the reliability table.

    The table has one row per non-empty bin of equal width in [0, 1]:
    (mean score, observed frequency, count).

    >>> brier, ece, table = calibration(np.array([0.1, 0.9]), np.array([False, True]))
    >>> round(brier, 3), round(ece, 3), table
    (0.01, 0.1, [(0.1, 0.0, 1), (0.9, 1.0, 1)])
    """
    y = outcomes.astype(float)
    brier = float(np.mean((scores - y) ** 2))
    which = np.minimum((scores * bins).astype(int), bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            mean_score, frequency = float(scores[mask].mean()), float(y[mask].mean())
            table.append((mean_score, frequency, int(mask.sum())))
            ece += mask.mean() * abs(mean_score - frequency)
    return brier, float(ece), table


def roc_auc(scores: np.ndarray, outcomes: np.ndarray) -> float:
    """Area under the ROC curve (the Mann-Whitney statistic, ties counted half).

    >>> roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
    0.75
    """
    positives = outcomes.astype(bool)
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if not n_pos or not n_neg:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
