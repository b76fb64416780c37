"""The seed scenario: deterministic, classes that flip both ways, labels that tell the truth
as of their time, features that lag the class, and a million entities that work."""

from __future__ import annotations

import numpy as np

from engine.simulate import Scenario, simulate


def run(scenario: Scenario):
    events, labels, truth, flips = [], [], [], []
    for step in simulate(scenario):
        events += step.events
        labels += step.labels
        truth += step.truth
        flips += step.flips
    return events, labels, truth, flips


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    a = run(Scenario(n_entities=200, days=1, seed=1))
    assert a == run(Scenario(n_entities=200, days=1, seed=1))
    assert a[0] != run(Scenario(n_entities=200, days=1, seed=2))[0]


def test_classes_flip_both_ways_several_times() -> None:
    _, _, truth, flips = run(Scenario(n_entities=500, days=7, seed=3, bad_to_good_per_day=1.0))
    assert {f["bad"] for f in flips} == {True, False}
    per_entity = {}
    for f in flips:
        per_entity[f["entity_id"]] = per_entity.get(f["entity_id"], 0) + 1
    assert max(per_entity.values()) >= 3
    share = np.mean([t["bad"] for t in truth])
    assert 0.05 < share < 0.2  # the long-run share of 0.1, roughly


def test_labels_say_the_class_as_of_their_time_and_arrive_later() -> None:
    events, labels, truth, _ = run(Scenario(n_entities=300, days=2, seed=4))
    by_time = {(t["entity_id"], t["ts"]): t["bad"] for t in truth}
    assert labels and all(lb["label"] == by_time[(lb["entity_id"], lb["ts"])] for lb in labels)
    assert all(lb["reported_ts"] > lb["ts"] for lb in labels)
    assert 0.05 < len(labels) / len(events) < 0.15


def test_features_lag_a_change_of_class() -> None:
    events, _, truth, flips = run(Scenario(n_entities=2000, days=4, seed=5, drift_day=None))
    turned_good = {f["entity_id"]: f["ts"] for f in flips if not f["bad"]}
    risk_after, risk_good = [], []
    for e, t in zip(events, truth, strict=True):
        flip = turned_good.get(e["entity_id"])
        if flip is not None and not t["bad"] and 0 < e["ts"] - flip < 6 * 3600:
            risk_after.append(e["features"]["country_risk"])
        elif not t["bad"] and flip is None:
            risk_good.append(e["features"]["country_risk"])
    assert np.mean(risk_after) > np.mean(risk_good) + 0.1  # still looks somewhat bad


def test_a_million_entities_work() -> None:
    step = next(iter(simulate(Scenario(n_entities=1_000_000, days=1, seed=6))))
    assert 30_000 < len(step.events) < 55_000  # 1M × 6/day × 10 min
    assert len({e["entity_id"] for e in step.events}) > 30_000
