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
from engine.monitors.adwin import ADWIN
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


# --- the batch path: the same alerts as event by event -------------------------------


def monitored_events(n: int, seed: int) -> list[tuple[str, float, dict[str, float], float]]:
    """(entity, ts, features, score): features that shift for the middle third, appear,
    go missing and change order; scores that step up halfway; a tenth of the entities
    frozen until the last sixth."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        number = rng.randrange(150)
        entity = f"acct-{number}"
        shifted = n // 3 <= i < 2 * n // 3
        features = {
            "amount": rng.gauss(2.0 if shifted else 0.0, 1.0),
            "n_items": float(rng.randint(1, 4) + 3 * shifted),  # ties: fewer bins
            "risk": rng.random(),
        }
        if rng.random() < 0.1:
            features["rare"] = rng.random()
        if rng.random() < 0.1:
            del features["risk"]
        if rng.random() < 0.2:
            features = dict(reversed(features.items()))
        if i > n // 2 and rng.random() < 0.05:  # past max_features
            features[f"late-{rng.randrange(3)}"] = 1.0
        if number < 15 and i < n * 5 // 6:
            score = 0.95
        elif i < n // 2:
            score = rng.uniform(0.0, 0.4)
        else:
            score = rng.uniform(0.8, 1.0) if rng.random() < 0.2 else rng.uniform(0.2, 0.6)
        events.append((entity, float(i), features, score))
    return events


BATCH_SETTINGS = MonitorSettings(
    reference_size=200,
    window_size=100,
    check_every=20,
    prediction_warmup=300,
    detector_recent=50,
    detector_cooldown=100,
    frozen_k=3,
    max_features=4,
)


def raised_event_by_event(events, settings: MonitorSettings) -> list[tuple[int, object]]:
    monitors, states = Monitors(settings), {}
    raised = []
    for position, (entity, ts, features, score) in enumerate(events):
        state = states.setdefault(entity, EntityState())
        alerts = monitors.observe_event(
            entity_id=entity,
            ts=ts,
            features=features,
            score=score,
            state=state,
            n_entities=len(states),
        )
        raised += [(position, a) for a in alerts]
    return raised


def raised_in_batches(events, settings: MonitorSettings, seed: int) -> list[tuple[int, object]]:
    rng = random.Random(seed)
    monitors, states = Monitors(settings), {}
    raised, start = [], 0
    while start < len(events):
        size = rng.choice([1, 2, 3, 4, 5, 17, 64, 300])
        for entity, ts, features, score in events[start : start + size]:
            state = states.setdefault(entity, EntityState())
            monitors.queue_event(
                entity_id=entity,
                ts=ts,
                features=features,
                score=score,
                state=state,
                n_entities=len(states),
            )
        raised += monitors.take_raised()
        start += size
    return raised


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_events_queued_in_batches_raise_the_alerts_of_event_by_event(seed) -> None:
    events = monitored_events(3000, seed)
    expected = raised_event_by_event(events, BATCH_SETTINGS)
    assert {(a.kind, a.detail.get("signal", a.detail.get("scope"))) for _, a in expected} == {
        ("data_drift", None),
        ("prediction_drift", "mean_score"),
        ("prediction_drift", "share_above_threshold"),
        ("frozen_predictions", "entity"),
        ("frozen_predictions", "global"),
    }
    assert len({p for p, a in expected if a.kind == "data_drift"}) < sum(
        a.kind == "data_drift" for _, a in expected
    )  # some events raise several, whose order is checked too
    assert raised_in_batches(events, BATCH_SETTINGS, seed) == expected


def test_observe_event_takes_what_was_queued_first() -> None:
    events = monitored_events(1000, 4)
    expected = [a for _, a in raised_event_by_event(events, BATCH_SETTINGS)]
    monitors, states, alerts = Monitors(BATCH_SETTINGS), {}, []
    for i, (entity, ts, features, score) in enumerate(events):
        state = states.setdefault(entity, EntityState())
        kwargs = dict(entity_id=entity, ts=ts, features=features, score=score, state=state)
        if i % 10 == 9:
            alerts += monitors.observe_event(**kwargs, n_entities=len(states))
        else:
            monitors.queue_event(**kwargs, n_entities=len(states))
    assert alerts + monitors.take_alerts() == expected and monitors.take_alerts() == []


def test_events_queued_one_at_a_time_raise_the_alerts_of_observe_event() -> None:
    events = monitored_events(3000, 6)
    expected = [a for _, a in raised_event_by_event(events, BATCH_SETTINGS)]
    assert {a.kind for a in expected} == {"data_drift", "prediction_drift", "frozen_predictions"}
    monitors, states, alerts = Monitors(BATCH_SETTINGS), {}, []
    for entity, ts, features, score in events:
        state = states.setdefault(entity, EntityState())
        monitors.queue_event(
            entity_id=entity,
            ts=ts,
            features=features,
            score=score,
            state=state,
            n_entities=len(states),
        )
        alerts += monitors.take_alerts()
    assert alerts == expected


def test_a_scorer_raises_the_same_alerts_in_batches_as_event_by_event() -> None:
    events = [
        Event(f"e-{i}", entity, ts, {**features, "s": score})
        for i, (entity, ts, features, score) in enumerate(monitored_events(2000, 5))
    ]

    def alerts(batch: int) -> list:
        scorer = Scorer(model=ScoreFromFeature(), monitors=Monitors(BATCH_SETTINGS))
        for start in range(0, len(events), batch):
            scorer.process_events(events[start : start + batch])
        return scorer.take_alerts()

    one_by_one = alerts(1)
    assert {a.kind for a in one_by_one} == {"data_drift", "prediction_drift", "frozen_predictions"}
    assert alerts(97) == one_by_one


@pytest.mark.parametrize(
    ("reference_size", "window_size", "check_every", "warmup"),
    [(10, 5, 1, 0), (10, 5, 7, 3), (30, 20, 8, 0), (4, 25, 10, 2), (200, 100, 20, 50)],
)
def test_distribution_drift_update_many_equals_update_at_every_check(
    reference_size, window_size, check_every, warmup
) -> None:
    rng = random.Random(window_size)
    values = [rng.gauss(0.0 if i < 600 else 1.0, 1.0) for i in range(1200)]
    values += [float(rng.randint(0, 3)) for _ in range(300)]  # ties
    settings = dict(
        reference_size=reference_size,
        window_size=window_size,
        check_every=check_every,
        warmup=warmup,
    )
    one, many = DistributionDrift(**settings), DistributionDrift(**settings)
    expected = []
    for i, x in enumerate(values):
        level = one.update(x)
        if level is not None:
            expected.append((i + 1, level, one.psi, list(one.recent)))
    checks, start = [], 0
    while start < len(values):
        stop = start + rng.randint(1, 60)
        while start < min(stop, len(values)):
            start, level = many.update_many(values[:stop], start)
            if level is not None:
                checks.append((start, level, many.psi, list(many.recent)))
    assert checks == expected and many.n_seen == one.n_seen == len(values)
    assert list(many.reference) == list(one.reference)


@pytest.mark.parametrize(
    ("detector", "warmup", "cooldown"),
    [("adwin", 0, 0), ("adwin", 0, 300), ("adwin", 700, 50), ("page_hinkley", 100, 20)],
)
def test_stream_drift_update_many_equals_update(detector, warmup, cooldown) -> None:
    rng = random.Random(cooldown)
    values = [rng.gauss(0.3 * (i // 800), 0.5) for i in range(6000)]
    settings = dict(detector=detector, recent=100, cooldown=cooldown, warmup=warmup)
    one, many = StreamDrift(**settings), StreamDrift(**settings)
    expected = [(i + 1, d) for i, x in enumerate(values) if (d := one.update(x)) is not None]
    assert len(expected) >= 3
    detections, start = [], 0
    while start < len(values):
        stop = start + rng.randint(1, 500)
        while start < min(stop, len(values)):
            start, detail = many.update_many(values[:stop], start)
            if detail is not None:
                detections.append((start, detail))
    assert detections == expected and many.n_seen == one.n_seen


def test_bin_of_is_numpys_searchsorted_right() -> None:
    from engine.monitors._kernels import bin_of

    rng = np.random.default_rng(3)
    for edges in (
        np.array([]),
        np.array([1.0]),
        np.unique(rng.integers(0, 5, 8).astype(float)),
        np.sort(rng.normal(size=9)),
        np.array([-np.inf, 0.0, np.inf]),
        np.array([0.0, 1.0, np.nan]),
    ):
        values = np.concatenate(
            [rng.normal(size=50), edges, [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0]]
        )
        expected = np.searchsorted(edges, values, side="right")
        assert [bin_of(edges, x) for x in values] == expected.tolist()


def test_psi_windows_count_what_they_hold() -> None:
    d = DistributionDrift(reference_size=300, window_size=100, check_every=7)
    rng = random.Random(9)
    for i in range(2000):
        d.update(rng.gauss(i / 1000, 1.0))
        if i % 37 == 0:
            recent = d.recent  # (also flushes)
            edges = d._reference_bins[0] if d._reference_bins is not None else None
            if edges is not None:
                bins = np.searchsorted(edges, recent, side="right")
                counts = np.bincount(bins, minlength=len(edges) + 1)
                assert d._recent_counts.tolist() == counts.tolist()


def test_warm_up_reports_seconds() -> None:
    from engine.monitors import warm_up

    assert 0.0 <= warm_up() < 60.0


def adwin_streams() -> list[tuple[list[float], dict]]:
    """Streams with steps, bursts and random walks, under River's and other settings."""
    streams = []
    for seed in range(8):
        rng = random.Random(seed)
        n = 6000
        values = [
            [rng.gauss(0.3 * (i // 700), 0.5) for i in range(n)],
            [float(rng.random() < (0.1 if (i // 1500) % 2 else 0.4)) for i in range(n)],
            list(np.cumsum([rng.gauss(0, 1) for _ in range(n)])),
            [rng.expovariate(1.0) ** 3 * 1e6 for _ in range(n)],
        ][seed % 4]
        params = {
            "delta": rng.choice([0.5, 0.05, 0.002, 1e-6]),
            "clock": rng.choice([1, 4, 32]),
            "max_buckets": rng.choice([2, 5, 9]),
            "min_window_length": rng.choice([1, 5, 20]),
            "grace_period": rng.choice([0, 10, 100]),
        }
        streams.append((values, params))
    return streams


@pytest.mark.parametrize(("values", "params"), adwin_streams())
def test_adwin_is_rivers_at_every_step(values, params) -> None:
    from river import drift

    rivers, ours, unread = drift.ADWIN(**params), ADWIN(**params), ADWIN(**params)
    detections = []
    for i, x in enumerate(values):
        rivers.update(x)
        ours.update(x)
        unread.update(x)  # its window is never read: values wait until ADWIN looks
        assert ours.drift_detected == unread.drift_detected == rivers.drift_detected
        detections.append(rivers.drift_detected)
        if i % 7 == 0 or rivers.drift_detected:
            assert (ours.width, ours.total, ours.variance, ours.n_detections) == (
                rivers.width,
                rivers.total,
                rivers.variance,
                rivers.n_detections,
            )
            assert ours.estimation == rivers.estimation
    assert sum(detections) >= 1 or params["delta"] < 0.01


@pytest.mark.parametrize(("values", "params"), adwin_streams()[:4])
def test_adwin_update_many_equals_update(values, params) -> None:
    one, many = ADWIN(**params), ADWIN(**params)
    expected = []
    for i, x in enumerate(values):
        one.update(x)
        if one.drift_detected:
            expected.append(i + 1)
    rng = random.Random(len(expected))
    array, detections, start = np.array(values), [], 0
    while start < len(values):
        if rng.random() < 0.3:  # some values one by one, between the calls
            many.update(values[start])
            start += 1
            if many.drift_detected:
                detections.append(start)
            continue
        start = many.update_many(array[: start + rng.randint(1, 400)], start)
        if many.drift_detected:
            detections.append(start)
    assert detections == expected
    assert (many.width, many.total, many.variance) == (one.width, one.total, one.variance)


def test_adwin_refuses_a_single_bucket_per_level() -> None:
    with pytest.raises(ValueError, match="max_buckets"):
        ADWIN(max_buckets=1)
