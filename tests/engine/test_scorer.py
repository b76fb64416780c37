"""The Scorer end to end without Kafka: state, policy, labels, batches, invariances."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import compose, linear_model

from engine.events import Event, Label
from engine.labels import LabelRule
from engine.monitors import Monitors, MonitorSettings
from engine.policy import MemoryPolicy, NaivePolicy
from engine.scorer import InputFailed, Scorer
from engine.simulate import synthetic_stream
from engine.state import EntityState, Memory
from tests.engine.helpers import ScoreFromFeature


def ev(i: int, entity: str, ts: float, s: float, **features: float) -> Event:
    return Event(f"e-{i}", entity, ts, {"s": s, **features})


def test_a_frozen_high_score_is_acted_on_once() -> None:
    scorer = Scorer(
        model=ScoreFromFeature(), policy=MemoryPolicy(threshold=0.8, min_rise=0.1, cooldown=0)
    )
    decisions = [scorer.process_event(ev(i, "a", 100.0 * i, 0.9)) for i in range(10)]
    assert [d.action for d in decisions] == [True] + [False] * 9
    assert {d.reason for d in decisions[1:]} == {"no_rise_over_entity_max"}
    assert decisions[3].entity_max_score == 0.9 and decisions[3].rise == 0.0
    naive = Scorer(model=ScoreFromFeature(), policy=NaivePolicy(threshold=0.8))
    assert all(naive.process_event(ev(i, "a", 100.0 * i, 0.9)).action for i in range(10))


def test_a_rise_after_the_window_forgets_acts_again() -> None:
    scorer = Scorer(
        model=ScoreFromFeature(),
        memory=Memory(window=1000.0),
        policy=MemoryPolicy(threshold=0.8, min_rise=0.1, cooldown=0),
    )
    assert scorer.process_event(ev(1, "a", 0.0, 0.9)).action
    assert not scorer.process_event(ev(2, "a", 500.0, 0.9)).action
    later = scorer.process_event(ev(3, "a", 1600.0, 0.9))
    assert later.action and later.reason == "first_seen"  # nothing of "a" left in its window


entity_streams = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 500), st.floats(0, 1)),
    min_size=1,
    max_size=120,
)


@settings(max_examples=60)
@given(entity_streams)
def test_cooldown_is_honoured(steps) -> None:
    cooldown = 600.0
    scorer = Scorer(
        model=ScoreFromFeature(),
        policy=MemoryPolicy(threshold=0.5, min_rise=0.0, cooldown=cooldown),
    )
    ts, last_action = 0.0, {}
    for i, (entity, gap, s) in enumerate(steps):
        ts += gap
        d = scorer.process_event(ev(i, entity, ts, s))
        if d.action:
            assert entity not in last_action or ts - last_action[entity] >= cooldown
            last_action[entity] = ts


@settings(max_examples=40)
@given(entity_streams, st.integers(1, 50))
def test_a_batch_decides_as_one_event_at_a_time(steps, batch_size) -> None:
    events, ts = [], 0.0
    for i, (entity, gap, s) in enumerate(steps):
        ts += gap
        events.append(ev(i, entity, ts, s))
    one_by_one = Scorer(model=ScoreFromFeature())
    batched = Scorer(model=ScoreFromFeature())
    expected = [one_by_one.process_event(e) for e in events]
    got = []
    for start in range(0, len(events), batch_size):
        got += batched.process_events(events[start : start + batch_size])
    assert got == expected


def test_the_default_model_decides_and_explains_a_batch_as_one_event_at_a_time() -> None:
    from engine.events import parse_event
    from engine.simulate import synthetic_stream

    events, labels = synthetic_stream(n_entities=30, n_events=600, seed=4)
    warm = Scorer()
    run(warm, events[:300], labels)  # a model that has learned: explanations not all zero
    model = warm.model.snapshot()
    one_by_one, batched = Scorer(), Scorer()
    one_by_one.model = type(warm.model).restore(model)
    batched.model = type(warm.model).restore(model)
    rest = [parse_event(e) for e in events[300:]]
    expected = [one_by_one.process_event(e) for e in rest]
    got = [
        d
        for start in range(0, len(rest), 64)
        for d in batched.process_events(rest[start : start + 64])
    ]
    assert got == expected
    assert any(c.contribution != 0.0 for d in got for c in d.top_features)


def run(scorer: Scorer, events: list[dict], labels: list[dict]) -> list:
    from engine.events import parse_event, parse_label
    from engine.replay import order_inputs, replay

    inputs = order_inputs(
        events=[(i, parse_event(e)) for i, e in enumerate(events)],
        labels=[(i, parse_label(lb)) for i, lb in enumerate(labels)],
    )
    return [record for kind, record in replay(inputs, scorer) if kind == "decision"]


def test_renaming_entities_changes_no_decision() -> None:
    events, labels = synthetic_stream(n_entities=30, n_events=600, seed=5)
    rename = {f"acct-{i}": f"user/{i * 7 % 30}-x" for i in range(30)}
    renamed_events = [{**e, "entity_id": rename[e["entity_id"]]} for e in events]
    renamed_labels = [{**lb, "entity_id": rename[lb["entity_id"]]} for lb in labels]
    original = run(Scorer(), events, labels)
    renamed = run(Scorer(), renamed_events, renamed_labels)
    assert [{**d, "entity_id": None} for d in original] == [
        {**d, "entity_id": None} for d in renamed
    ]


def test_a_feature_the_model_ignores_changes_no_decision() -> None:
    events, labels = synthetic_stream(n_entities=30, n_events=600, seed=6)
    noisy = [{**e, "features": {**e["features"], "noise": i % 13}} for i, e in enumerate(events)]

    def model():
        return compose.Discard("noise") | linear_model.LogisticRegression()

    plain = run(Scorer(model=model()), events, labels)
    with_noise = run(Scorer(model=model()), noisy, labels)
    strip = ("top_features",)
    assert [{k: v for k, v in d.items() if k not in strip} for d in plain] == [
        {k: v for k, v in d.items() if k not in strip} for d in with_noise
    ]
    assert any(d["action"] for d in plain)


def test_nothing_is_learned_from_an_ambiguous_window() -> None:
    model = ScoreFromFeature()
    scorer = Scorer(model=model, label_rule=LabelRule(first_label_lookback=1e9))
    for i, ts in enumerate([1.0, 2.0, 3.0, 4.0, 5.0]):
        scorer.process_event(ev(i, "a", ts, 0.1, t=ts))
    scorer.process_label(Label("a", 2.5, 0))
    scorer.process_label(Label("a", 4.5, 1))
    assert [(x["t"], y) for x, y in model.learned] == [(1.0, False), (2.0, False)]
    assert scorer.counts["samples_ambiguous"] == 2 and scorer.counts["label_flips"] == 1


def test_learned_features_are_those_seen_at_scoring_time() -> None:
    model = ScoreFromFeature()
    scorer = Scorer(model=model)
    features = {"s": 0.2, "amount": 5.0}
    scorer.process_event(Event("e-1", "a", 1.0, features))
    features["amount"] = 999.0  # a caller changing its dict afterwards must not leak in
    scorer.process_event(Event("e-2", "a", 3.0, {"s": 0.2, "amount": 7.0}))
    scorer.process_label(Label("a", 2.0, 1))
    assert [x["amount"] for x, _ in model.learned] == [5.0]
    assert len(model.learned) == 1, "the event after the label's ts stays pending"


def test_memory_stays_bounded_when_labels_flip_at_every_event() -> None:
    memory = Memory(max_scores=8, max_labels=4, max_pending=16)
    scorer = Scorer(model=ScoreFromFeature(), memory=memory)
    for i in range(20_000):
        scorer.process_event(ev(i, "a", float(i), (i % 100) / 100))
        scorer.process_label(Label("a", float(i), i % 2))
    state = scorer.states["a"]
    assert len(state.scores) <= 8 and len(state.labels) <= 4 and len(state.pending) <= 16
    assert scorer.counts["label_flips"] == 19_999


def test_an_input_replayed_at_the_same_position_is_not_applied_twice() -> None:
    scorer = Scorer(
        model=ScoreFromFeature(), policy=MemoryPolicy(threshold=0.5, min_rise=0.1, cooldown=0)
    )
    first = scorer.process_event(ev(1, "a", 1.0, 0.9), position=7)
    state_after = scorer.states["a"].snapshot()
    again = scorer.process_event(ev(1, "a", 1.0, 0.9), position=7)
    assert scorer.states["a"].snapshot() == state_after
    assert first.action and again == first, "a replayed input gets the very same decision"
    assert scorer.counts["events_replayed"] == 1
    scorer.process_label(Label("a", 1.0, 1), position=3)
    scorer.process_label(Label("a", 1.0, 1), position=3)
    assert scorer.counts["labels"] == 1 and scorer.counts["labels_replayed"] == 1


def test_a_replay_beyond_the_remembered_decisions_is_recomputed_not_applied() -> None:
    memory = Memory(max_decisions=2)
    scorer = Scorer(model=ScoreFromFeature(), memory=memory)
    for i in range(5):
        scorer.process_event(ev(i, "a", float(i), 0.9), position=i)
    snapshot = scorer.states["a"].snapshot()
    assert [p for p, _ in scorer.states["a"].decisions] == [3, 4]
    assert EntityState.restore(snapshot) == scorer.states["a"]
    again = scorer.process_event(ev(0, "a", 0.0, 0.9), position=0)
    assert again.event_id == "e-0" and scorer.states["a"].snapshot() == snapshot


def test_decisions_explain_themselves() -> None:
    scorer = Scorer()
    for i in range(200):
        up = float(i % 5)
        scorer.process_event(Event(f"e-{i}", f"a{i}", float(i), {"up": up, "flat": 1.0}))
        scorer.process_label(Label(f"a{i}", float(i), int(up > 2)))
    d = scorer.process_event(Event("e-x", "b", 300.0, {"up": 4.0, "flat": 1.0}))
    assert [f.name for f in d.top_features] == ["up", "flat"] and d.top_features[0].value == 4.0
    assert d.top_features[0].contribution > 0
    assert d.entity_max_score is None and d.rise is None
    again = scorer.process_event(Event("e-y", "b", 301.0, {"up": 0.0, "flat": 1.0}))
    assert again.entity_max_score == d.score
    assert again.rise == pytest.approx(again.score - d.score) and again.rise < 0


def test_a_model_with_a_seed_is_seeded() -> None:
    from river import forest

    a = Scorer(model=forest.ARFClassifier(n_models=3), seed=11)
    b = Scorer(model=forest.ARFClassifier(n_models=3), seed=11)
    assert a.model.seed == b.model.seed == 11
    events, labels = synthetic_stream(n_entities=20, n_events=300, seed=2)
    assert run(a, events, labels) == run(b, events, labels)


def step_by_step(scorer: Scorer, inputs: list, positions: list) -> list:
    """What ``process_inputs`` must equal: each run of events through ``process_events``
    (then ``take_alerts``), each label through ``process_label``."""
    out: list = []
    run: list = []

    def flush() -> None:
        out.extend(scorer.process_events([e for e, _ in run], positions=[p for _, p in run]))
        out.extend(scorer.take_alerts())
        run.clear()

    for item, position in zip(inputs, positions, strict=True):
        if isinstance(item, Label):
            if run:
                flush()
            out.extend(scorer.process_label(item, position=position))
        else:
            run.append((item, position))
    if run:
        flush()
    return out


def sensitive_monitors() -> Monitors:
    """Monitors that raise every kind of alert on a few thousand simulated inputs."""
    return Monitors(
        MonitorSettings(
            frozen_k=2,
            threshold=0.3,
            reference_size=200,
            window_size=100,
            check_every=10,
            psi_warn=0.05,
            psi_critical=0.1,
            psi_clear=0.02,
            prediction_warmup=0,
            prediction_min_change=0.0,
            detector_recent=50,
            detector_cooldown=50,
            concept_adwin_delta=0.9,
        )
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_process_inputs_equals_runs_and_labels_step_by_step(seed: int) -> None:
    from engine.events import Alert, parse_event, parse_label
    from engine.replay import order_inputs

    events, labels = synthetic_stream(
        n_entities=40, n_events=3000, seed=seed, label_rate=0.3, label_delay=20.0
    )
    flips = [{**lb, "label": 1 - lb["label"], "ts": lb["ts"] + 1.0} for lb in labels[::4]]
    inputs = order_inputs(
        events=[(i, parse_event(e)) for i, e in enumerate(events)],
        labels=[(i, parse_label(lb)) for i, lb in enumerate(labels + flips)],
    )
    items, positions = [i.item for i in inputs], [i.position for i in inputs]
    stepped, batched = Scorer(monitors=sensitive_monitors()), Scorer(monitors=sensitive_monitors())
    rng, expected, got, start = random.Random(seed), [], [], 0
    while start < len(items):
        stop = start + rng.choice([1, 2, rng.randint(1, 40), rng.randint(1, 600)])
        expected += step_by_step(stepped, items[start:stop], positions[start:stop])
        got += batched.process_inputs(items[start:stop], positions=positions[start:stop])
        start = stop
    assert got == expected
    kinds = {o.kind for o in got if isinstance(o, Alert)}
    assert {"frozen_predictions", "data_drift", "label_drift"} <= kinds, kinds
    # Batches change where the events' alerts come among the decisions, nothing else.
    whole = Scorer(monitors=sensitive_monitors()).process_inputs(items, positions=positions)
    assert [o for o in got if not isinstance(o, Alert)] == [
        o for o in whole if not isinstance(o, Alert)
    ]
    assert sorted(map(repr, (o for o in got if isinstance(o, Alert)))) == sorted(
        map(repr, (o for o in whole if isinstance(o, Alert)))
    )


def test_a_failing_label_stops_process_inputs_with_what_came_before() -> None:
    class FailsToLearn(ScoreFromFeature):
        def learn_one(self, x: dict, y: bool) -> None:
            raise FloatingPointError("cannot learn")

    scorer = Scorer(model=FailsToLearn(), monitors=Monitors(MonitorSettings(frozen_k=2)))
    inputs = [ev(0, "a", 1.0, 0.9), ev(1, "a", 2.0, 0.9), Label("a", 2.0, 1), ev(2, "a", 3.0, 0.3)]
    with pytest.raises(InputFailed) as failed:
        scorer.process_inputs(inputs, positions=[0, 1, 0, 2])
    assert (failed.value.start, failed.value.stop) == (2, 3)
    results = failed.value.results
    assert [type(r).__name__ for r in results] == ["Decision", "Decision", "Alert"]
    assert results[2].kind == "frozen_predictions", "the alerts of the events decided come too"
    assert isinstance(failed.value.__cause__, FloatingPointError)
    assert scorer.states["a"].n_events == 2 and scorer.monitors.take_raised() == []
