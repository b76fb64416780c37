"""Evaluation metrics, and that they judge the same decisions the Scorer makes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from engine.evaluate import (
    ScoredStream,
    action_metrics,
    apply_policy,
    calibration,
    match_recall,
    policy_curve,
    roc_auc,
)
from engine.events import Event
from engine.policy import MemoryPolicy, NaivePolicy
from engine.scorer import Scorer
from engine.state import Memory
from tests.engine.helpers import ScoreFromFeature


def random_stream(n: int = 3000, seed: int = 0) -> ScoredStream:
    rng = np.random.default_rng(seed)
    entity = np.array([f"e{i}" for i in rng.integers(0, 40, n)], dtype=object)
    ts = np.sort(rng.uniform(0, 5 * 86_400, n))
    bad = rng.random(n) < 0.2
    score = np.clip(np.where(bad, 0.75, 0.3) + rng.normal(0, 0.15, n), 0, 1)
    episode = rng.integers(0, 3, n)
    return ScoredStream(entity, ts, score, bad, episode)


def test_apply_policy_acts_exactly_as_the_scorer_does() -> None:
    stream = random_stream()
    policy = MemoryPolicy(threshold=0.7, min_rise=0.05, cooldown=600)
    scorer = Scorer(model=ScoreFromFeature(), policy=policy)
    online = [
        scorer.process_event(Event(f"x{i}", e, float(t), {"s": float(s)})).action
        for i, (e, t, s) in enumerate(zip(stream.entity, stream.ts, stream.score, strict=True))
    ]
    assert list(apply_policy(stream, policy, Memory())) == online


def test_duplicates_count_actions_in_the_same_episode() -> None:
    stream = ScoredStream(
        entity=np.array(["a"] * 5, dtype=object),
        ts=np.arange(5.0),
        score=np.full(5, 0.9),
        bad=np.array([True, True, False, True, True]),
        episode=np.array([0, 0, 1, 2, 2]),
    )
    m = action_metrics(stream, np.array([True, True, True, True, False]), cost=3.0)
    assert (m.actions, m.true_actions, m.duplicates, m.cost) == (4, 3, 1, 12.0)
    assert (m.episodes, m.episodes_caught, m.episode_recall) == (2, 2, 1.0)


def test_the_memory_policy_cuts_duplicates_on_frozen_scores() -> None:
    stream = random_stream()
    naive = action_metrics(
        stream, apply_policy(stream, NaivePolicy(threshold=0.7), Memory()), cost=1.0
    )
    memory = action_metrics(
        stream, apply_policy(stream, MemoryPolicy(threshold=0.7), Memory()), cost=1.0
    )
    assert memory.actions < naive.actions and memory.duplicates < naive.duplicates


def test_match_recall_finds_the_threshold_of_equal_recall() -> None:
    stream = random_stream()
    target = action_metrics(
        stream, apply_policy(stream, NaivePolicy(threshold=0.8), Memory()), cost=1.0
    ).episode_recall
    t, m = match_recall(stream, lambda t: MemoryPolicy(threshold=t), target, Memory(), cost=1.0)
    curve = policy_curve(
        stream, lambda t: MemoryPolicy(threshold=t), [0.5, 0.7, 0.9], Memory(), cost=1.0
    )
    assert abs(m.episode_recall - target) <= min(abs(c.episode_recall - target) for _, c in curve)
    assert 0.0 < t < 1.0


def test_roc_auc_matches_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + y * 0.3, 2)  # with ties
    assert roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_calibration_of_a_perfectly_calibrated_score_is_near_zero() -> None:
    rng = np.random.default_rng(2)
    p = rng.random(200_000)
    y = rng.random(200_000) < p
    brier, ece, table = calibration(p, y)
    assert ece < 0.01 and abs(brier - 1 / 6) < 0.005  # E[p(1-p)] = 1/6
    assert sum(count for *_, count in table) == 200_000
