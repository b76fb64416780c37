"""Monitors: detections pinned on seeded streams, one alert per lasting drift, bounded memory."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from river import linear_model, preprocessing
from river.datasets import synth

from engine.events import Event, Label
from engine.monitors import (
    DETECTORS,
    AlertGate,
    DistributionDrift,
    Monitors,
    MonitorSettings,
    StreamDrift,
    psi,
)
from engine.scorer import Scorer
from engine.state import EntityState
from tests.engine.helpers import ScoreFromFeature


def prequential_errors(stream, n: int) -> list[float]:
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    errors = []
    for x, y in itertools.islice(stream, n):
        p = model.predict_proba_one(x).get(True, 0.0)
        errors.append(float((p >= 0.5) != bool(y)))
        model.learn_one(x, y)
    return errors


def prequential_scores(stream, n: int) -> list[tuple[float, int]]:
    """(score given before learning, label) of each sample: what one label teaches."""
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    samples = []
    for x, y in itertools.islice(stream, n):
        samples.append((model.predict_proba_one(x).get(True, 0.0), int(y)))
        model.learn_one(x, y)
    return samples


def sea_abrupt(position: int = 2000):
    before = synth.SEA(seed=1, variant=0)
    after = synth.SEA(seed=2, variant=3)
    return itertools.chain(itertools.islice(before, position), after)


def sea_gradual(position: int = 2000, width: int = 1000):
    return iter(
        synth.ConceptDriftStream(
            synth.SEA(seed=1, variant=0),
            synth.SEA(seed=2, variant=3),
            position=position,
            width=width,
            seed=1,
        )
    )


def agrawal_abrupt(position: int = 2000):
    before = synth.Agrawal(classification_function=0, seed=1)
    after = synth.Agrawal(classification_function=4, seed=2)
    return itertools.chain(itertools.islice(before, position), after)


def concept_alerts(monitors: Monitors, labels) -> list[int]:
    """Indices of the labels ``(scores, label)`` that raise a ``concept_drift`` alert."""
    return [
        i
        for i, (scores, label) in enumerate(labels)
        if monitors.observe_learned(ts=float(i), scores=scores, label=label)
    ]


@pytest.mark.parametrize(
    ("stream", "n", "expected"),
    [
        (sea_abrupt, 4000, [2111]),  # drift at 2000
        (sea_gradual, 4000, [2239]),  # new concept from 12 % of samples at 1500, 50 % at 2000
        (agrawal_abrupt, 4000, [2047]),  # drift at 2000
        (lambda: iter(synth.SEA(seed=3, variant=0)), 20_000, []),
        (lambda: iter(synth.Agrawal(classification_function=0, seed=3)), 10_000, []),
    ],
    ids=["sea-abrupt", "sea-gradual", "agrawal-abrupt", "sea-stationary", "agrawal-stationary"],
)
def test_the_default_concept_monitor_detections_are_pinned(stream, n, expected) -> None:
    labels = [([score], label) for score, label in prequential_scores(stream(), n)]
    assert concept_alerts(Monitors(), labels) == expected


def test_one_label_is_one_value_however_many_samples_it_teaches() -> None:
    rng = random.Random(0)
    labels = []  # stationary: 3 % of labels find all their samples misclassified
    for _ in range(6000):
        wrong = rng.random() < 0.03
        labels.append(([0.9 if wrong else 0.1] * rng.randint(1, 30), 0))
    assert concept_alerts(Monitors(), labels) == []
    # The same samples fed one by one look like bursts of independent errors.
    one_by_one = StreamDrift("adwin", params={"delta": 0.05}, direction="increase")
    errors = [float(score >= 0.5) for scores, _ in labels for score in scores]
    assert sum(one_by_one.update(e) is not None for e in errors) > 10


def test_the_concept_value_is_the_share_of_misclassified_samples() -> None:
    monitors = Monitors()
    reference = StreamDrift(
        "adwin", params={"delta": 0.05}, recent=500, cooldown=1000, direction="increase"
    )
    rng = random.Random(2)
    for i in range(8000):
        scores = [rng.random() ** (3 if i < 4000 else 1) for _ in range(rng.randint(1, 5))]
        label = 0
        expected = reference.update(sum(s >= 0.5 for s in scores) / len(scores))
        alerts = monitors.observe_learned(ts=float(i), scores=scores, label=label)
        assert [a.detail for a in alerts] == (
            [{"signal": "prequential_error", **expected}] if expected else []
        )
    assert reference.n_detections == 1


def test_a_detection_with_nothing_before_it_to_compare_is_not_a_rise() -> None:
    values = [1.0] * 100 + [0.0] * 300  # detected within the first ``recent`` values
    rising = StreamDrift("adwin", recent=500, direction="increase")
    either = StreamDrift("adwin", recent=500, direction="both")
    assert [rising.update(x) for x in values] == [None] * len(values)
    assert [d["before"] for d in map(either.update, values) if d] == [None]


@pytest.mark.parametrize(
    ("detector", "expected"),
    [("adwin", [2239, 3711]), ("page_hinkley", []), ("kswin", []), ("ddm", [2131, 2343, 2598])],
)
def test_detections_on_a_seeded_sea_stream_are_pinned(detector, expected) -> None:
    errors = prequential_errors(sea_abrupt(2000), 4000)
    drift = StreamDrift(detector, cooldown=200)
    assert [i for i, e in enumerate(errors) if drift.update(e)] == expected


def test_detection_details_say_what_changed() -> None:
    errors = prequential_errors(sea_abrupt(2000), 4000)
    drift = StreamDrift("adwin", recent=200, cooldown=200)
    detail = next(d for d in map(drift.update, errors) if d)
    assert detail["detector"] == "adwin" and detail["position"] == 2240
    assert detail["after"] > detail["before"]
    assert detail["window_before"] + detail["window_after"] == detail["events_covered"]


def test_a_cooldown_keeps_a_lasting_change_to_one_alert() -> None:
    rng = random.Random(3)
    drift = StreamDrift("page_hinkley", cooldown=10_000)
    hits = [drift.update(float(rng.random() < (0.1 if i < 3000 else 0.6))) for i in range(9000)]
    assert sum(h is not None for h in hits) == 1


@pytest.mark.parametrize("detector", DETECTORS)
def test_every_detector_is_deterministic(detector) -> None:
    errors = prequential_errors(sea_abrupt(1000), 2500)
    runs = [
        [i for i, e in enumerate(errors) if StreamDrift(detector, cooldown=100).update(e)]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_psi_is_zero_for_the_same_sample_and_grows_with_the_shift() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 5000)
    shifts = [psi(reference, reference + s) for s in (0.0, 0.2, 0.5, 1.0)]
    assert shifts[0] == 0.0 and shifts == sorted(shifts)
    assert psi(reference, rng.normal(0, 1, 5000)) < 0.02


def test_a_lasting_data_drift_raises_one_alert_then_one_all_clear() -> None:
    monitors = Monitors(MonitorSettings(reference_size=500, window_size=500, check_every=100))
    rng = random.Random(5)
    state = EntityState()
    alerts = []
    for i in range(6000):
        shifted = 2000 <= i < 4000
        features = {"amount": rng.gauss(3.0 if shifted else 0.0, 1.0), "steady": rng.random()}
        alerts += monitors.observe_event(
            entity_id="a", ts=float(i), features=features, score=0.1, state=state, n_entities=1
        )
    data = [a for a in alerts if a.kind == "data_drift"]
    assert [(a.feature, a.detail["status"], a.severity) for a in data] == [
        ("amount", "raised", "warning"),
        ("amount", "escalated", "critical"),
        ("amount", "cleared", "info"),
    ]
    assert 2000 <= data[0].ts < data[1].ts < 2600 and 4000 <= data[2].ts < 4600


def test_at_most_max_features_are_watched() -> None:
    monitors = Monitors(MonitorSettings(max_features=3))
    state = EntityState()
    monitors.observe_event(
        entity_id="a",
        ts=0.0,
        features={f"f{i}": 1.0 for i in range(10)},
        score=0.5,
        state=state,
        n_entities=1,
    )
    assert sorted(monitors.features) == ["f0", "f1", "f2"]


def test_distribution_windows_are_fixed_size() -> None:
    d = DistributionDrift(reference_size=10, window_size=5, check_every=1)
    for x in range(100):
        d.update(float(x))
    assert list(d.reference) == [float(x) for x in range(10)]
    assert list(d.recent) == [95.0, 96.0, 97.0, 98.0, 99.0]


@pytest.mark.parametrize(
    ("reference_size", "window_size", "check_every", "warmup"),
    [(10, 5, 1, 0), (10, 5, 7, 3), (30, 20, 8, 0), (4, 25, 10, 2)],
)
def test_distribution_drift_equals_a_plain_list_at_every_step(
    reference_size, window_size, check_every, warmup
) -> None:
    rng = random.Random(reference_size)
    d = DistributionDrift(
        reference_size=reference_size,
        window_size=window_size,
        check_every=check_every,
        warmup=warmup,
    )
    seen: list[float] = []
    since_check = 0
    for i in range(300):
        x = rng.gauss(0.0 if i < 150 else 2.0, 1.0)
        level = d.update(x)
        if i >= warmup:
            seen.append(x)
        reference, recent = seen[:reference_size], seen[reference_size:][-window_size:]
        since_check += len(seen) > reference_size
        expected = None
        if len(recent) == window_size and since_check >= check_every:
            since_check = 0
            expected = d.level
            assert d.psi == psi(np.array(reference), np.array(recent))
        assert level == expected
        if i % 7 == 0 or expected is not None:
            assert list(d.reference) == reference and list(d.recent) == recent


def test_a_frozen_entity_is_named_once_and_the_global_share_is_watched() -> None:
    settings = MonitorSettings(threshold=0.8, frozen_k=3, check_every=10)
    scorer = Scorer(model=ScoreFromFeature(), monitors=Monitors(settings))
    alerts = []
    for i in range(200):  # 100 entities; 10 of them stay at 0.95
        entity = f"acct-{i % 100}"
        score = 0.95 if i % 100 < 10 else 0.1 + (i % 7) / 100
        scorer.process_event(Event(f"e-{i}", entity, float(i), {"s": score}))
        alerts += scorer.take_alerts()
    for i in range(200, 300):  # the frozen ones drop
        scorer.process_event(Event(f"e-{i}", f"acct-{i % 10}", float(i), {"s": 0.2}))
        alerts += scorer.take_alerts()
    frozen = [a for a in alerts if a.kind == "frozen_predictions"]
    per_entity = [a.entity_id for a in frozen if a.detail["scope"] == "entity"]
    assert per_entity == []  # two high scores each, k = 3: nobody is frozen yet
    for i in range(300, 330):
        scorer.process_event(Event(f"e-{i}", f"acct-{i % 10}", float(i), {"s": 0.95}))
        alerts += scorer.take_alerts()
    frozen = [a for a in alerts if a.kind == "frozen_predictions"]
    per_entity = [a.entity_id for a in frozen if a.detail["scope"] == "entity"]
    assert sorted(per_entity) == sorted(f"acct-{i}" for i in range(10))
    shares = [a.detail["status"] for a in frozen if a.detail["scope"] == "global"]
    assert shares == ["raised"]


def test_label_prior_and_contradiction_rate_drifts_are_alerts() -> None:
    scorer = Scorer(
        model=ScoreFromFeature(), monitors=Monitors(MonitorSettings(detector_cooldown=5000))
    )
    rng = random.Random(11)
    alerts = []
    for i in range(6000):
        flip_rate = 0.02 if i < 3000 else 0.5
        entity = f"acct-{i % 50}"
        previous = scorer.states.get(entity)
        last = previous.last_label[1] if previous and previous.last_label else 0
        label = 1 - last if rng.random() < flip_rate else last
        alerts += scorer.process_label(Label(entity, float(i), label))
    signals = [a.detail["signal"] for a in alerts if a.kind == "label_drift"]
    assert "contradiction_rate" in signals
    first = next(a for a in alerts if a.detail["signal"] == "contradiction_rate")
    assert 3000 <= first.ts < 3400 and first.detail["after"] > first.detail["before"]


def learning_scores(n: int, *, step_at: int | None = None, seed: int = 4) -> list[float]:
    """Scores of a model still learning: the share of high scores creeps from 4 % to 6 %
    (an entity's events come in ones and twos, scored alike); ``step_at``: then 10 points
    more."""
    rng = random.Random(seed)
    scores: list[float] = []
    while len(scores) < n:
        high = 0.04 + 0.02 * len(scores) / n
        if step_at is not None and len(scores) >= step_at:
            high += 0.1
        score = rng.uniform(0.8, 1.0) if rng.random() < high else rng.uniform(0.0, 0.2)
        scores += [score] * rng.randint(1, 2)
    return scores[:n]


def prediction_alerts(scores: list[float], settings: MonitorSettings) -> list:
    monitors, state = Monitors(settings), EntityState()
    alerts = []
    for i, score in enumerate(scores):
        alerts += monitors.observe_event(
            entity_id="acct-1", ts=float(i), features={}, score=score, state=state, n_entities=1
        )
    return [a for a in alerts if a.kind == "prediction_drift"]


def test_slowly_moving_scores_raise_no_prediction_drift_and_a_step_does() -> None:
    stationary = learning_scores(60_000)
    assert prediction_alerts(stationary, MonitorSettings()) == []
    river_delta = MonitorSettings(
        prediction_warmup=5000, prediction_adwin_delta=0.002, prediction_min_change=0.0
    )
    assert len(prediction_alerts(stationary, river_delta)) == 2  # what the defaults avoid
    alerts = prediction_alerts(learning_scores(60_000, step_at=40_000), MonitorSettings())
    assert [(a.ts, a.detail["signal"]) for a in alerts] == [
        (40287.0, "share_above_threshold"),
        (40319.0, "mean_score"),
    ]
    for alert in alerts:
        assert alert.detail["after"] - alert.detail["before"] >= 0.04
        assert alert.severity == "warning"


def test_a_detection_smaller_than_min_change_is_not_reported() -> None:
    rng = random.Random(7)
    stream = [float(rng.random() < (0.1 if i < 2000 else 0.4)) for i in range(4000)]
    for min_change, expected in ((0.0, 1), (0.2, 0)):  # the change found: 0.11 -> 0.23
        d = StreamDrift("adwin", recent=200, min_change=min_change)
        assert sum(d.update(x) is not None for x in stream) == expected


def test_gate_keys_are_bounded() -> None:
    gate = AlertGate(max_keys=2)
    for key in "abc":
        assert gate.change(key, "warning") == "warning"
    assert gate.level("a") == "clear" and gate.level("c") == "warning"


def test_the_same_stream_gives_the_same_alerts() -> None:
    from engine.simulate import synthetic_stream

    events, labels = synthetic_stream(n_entities=30, n_events=3000, seed=4)
    more, more_labels = synthetic_stream(  # then a larger share of bad entities
        n_entities=30,
        n_events=3000,
        seed=5,
        bad_share=0.7,
        start_ts=1_732_353_000.0,
        event_id_prefix="f-",
    )
    events += more
    labels += more_labels

    def alerts() -> list:
        from engine.events import parse_event, parse_label
        from engine.replay import order_inputs, replay

        inputs = order_inputs(
            events=[(i, parse_event(e)) for i, e in enumerate(events)],
            labels=[(i, parse_label(lb)) for i, lb in enumerate(labels)],
        )
        return [r for kind, r in replay(inputs, Scorer()) if kind == "alert"]

    first = alerts()
    assert {a["kind"] for a in first} == {"data_drift", "frozen_predictions", "label_drift"}
    assert first == alerts()
