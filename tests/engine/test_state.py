"""EntityState: the max in the window, bounds under adversarial streams, snapshots."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.state import EntityState, Memory, PendingSample

gaps = st.lists(st.tuples(st.floats(0, 50), st.floats(0, 1)), min_size=1, max_size=200)


def stream(steps: list[tuple[float, float]]) -> list[tuple[float, float]]:
    ts, out = 0.0, []
    for gap, score in steps:
        ts += gap
        out.append((ts, score))
    return out


@given(gaps)
def test_max_score_is_the_max_over_the_window(steps: list[tuple[float, float]]) -> None:
    memory = Memory(window=100.0, max_scores=1000)
    state = EntityState()
    seen: list[tuple[float, float]] = []
    for ts, score in stream(steps):
        expected = max((s for t, s in seen if t > ts - 100.0), default=None)
        assert state.max_score(now=ts, memory=memory) == expected
        state.add_score(ts, score, memory)
        seen.append((ts, score))


@given(gaps)
def test_a_bounded_queue_never_underestimates_the_max(steps: list[tuple[float, float]]) -> None:
    memory = Memory(window=100.0, max_scores=3)
    state = EntityState()
    seen: list[tuple[float, float]] = []
    for ts, score in stream(steps):
        true_max = max((s for t, s in seen if t > ts - 100.0), default=None)
        kept = state.max_score(now=ts, memory=memory)
        if true_max is not None:
            assert kept is not None and kept >= true_max
        state.add_score(ts, score, memory)
        seen.append((ts, score))
        assert len(state.scores) <= 3


def test_one_entity_with_a_million_events_stays_bounded() -> None:
    memory = Memory(window=3600.0, max_scores=64, max_pending=256)
    state = EntityState()
    for i in range(1_000_000):
        ts = float(i)
        score = 1.0 - (i % 1000) / 1000  # falling runs: the worst case for a monotone queue
        state.add_score(ts, score, memory)
        state.add_pending(PendingSample(ts, score, {"x": 1.0}), memory)
    assert len(state.scores) <= 64
    assert len(state.pending) == 256
    assert state.evicted_pending == 1_000_000 - 256
    assert state.n_events == 1_000_000


def test_pending_samples_expire_by_age_and_are_counted() -> None:
    memory = Memory(max_pending_age=10.0)
    state = EntityState()
    for ts in (0.0, 5.0, 20.0):
        state.add_pending(PendingSample(ts, 0.1, {}), memory)
    assert [p.ts for p in state.pending] == [20.0]
    assert state.evicted_pending == 2


def test_out_of_order_samples_are_kept_sorted() -> None:
    memory = Memory()
    state = EntityState()
    for ts in (3.0, 1.0, 2.0):
        state.add_pending(PendingSample(ts, 0.1, {}), memory)
    assert [p.ts for p in state.pending] == [1.0, 2.0, 3.0]
    assert [p.ts for p in state.take_pending(after=1.0, until=2.5)] == [2.0]
    assert [p.ts for p in state.pending] == [1.0, 3.0]


def test_the_label_timeline_is_bounded_and_ordered() -> None:
    memory = Memory(max_labels=3)
    state = EntityState()
    for ts in (5.0, 1.0, 9.0, 7.0, 3.0):
        state.add_label(ts, 1, memory)
    assert [t for t, _ in state.labels] == [5.0, 7.0, 9.0]


def test_positions_applied_are_remembered_per_source() -> None:
    state = EntityState()
    state.mark_applied("events", 10)
    assert state.already_applied("events", 10) and state.already_applied("events", 3)
    assert not state.already_applied("events", 11)
    assert not state.already_applied("labels", 1)
    assert not state.already_applied("events", None)


@settings(max_examples=50)
@given(gaps)
def test_snapshot_restore_and_pickle_round_trip(steps: list[tuple[float, float]]) -> None:
    memory = Memory(window=100.0, max_scores=4, max_pending=5)
    state = EntityState()
    for ts, score in stream(steps):
        state.add_score(ts, score, memory)
        state.add_pending(PendingSample(ts, score, {"f": score}), memory)
    state.add_label(10.0, 1, memory)
    state.mark_applied("events", len(steps))
    assert EntityState.restore(state.snapshot()) == state
    assert pickle.loads(pickle.dumps(state)) == state
    import orjson

    assert EntityState.restore(orjson.loads(orjson.dumps(state.snapshot()))) == state


@settings(max_examples=50)
@given(gaps, st.integers(min_value=0, max_value=40))
def test_to_json_is_the_snapshot_encoded(
    steps: list[tuple[float, float]], n_decisions: int
) -> None:
    import orjson

    from engine.events import FeatureContribution

    memory = Memory(window=100.0, max_scores=4, max_pending=5, max_decisions=8)
    state = EntityState()
    for ts, score in stream(steps):
        state.add_score(ts, score, memory)
        state.add_pending(PendingSample(ts, score, {"f": score, "g": -1.5}), memory)
    for position in range(n_decisions):
        top = (FeatureContribution("f", 0.5, position / 3),)
        state.remember_decision(
            position, (0.25, position % 2 == 1, "rise", 2, 0.1, 0.15, top), memory
        )
    state.add_label(10.0, 1, memory)
    state.mark_applied("events", len(steps))
    assert state.to_json() == orjson.dumps(state.snapshot())
    restored = EntityState.from_json(state.to_json())
    assert restored == state
    assert restored.to_json() == state.to_json()


operations = st.lists(
    st.tuples(
        st.sampled_from(
            ["event", "late_event", "label", "decision", "age_out", "forget", "restore", "to_json"]
        ),
        st.floats(min_value=0.0, max_value=50.0),
    ),
    max_size=120,
)


@settings(max_examples=100)
@given(operations)
def test_to_json_kept_up_to_date_between_calls_equals_encoding_anew(
    steps: list[tuple[str, float]],
) -> None:
    """The JSON arrays kept as pending samples and decisions come and go stay exact."""
    import orjson

    from engine.events import FeatureContribution

    memory = Memory(window=100.0, max_pending=6, max_pending_age=30.0, max_decisions=4)
    state, now, position = EntityState(), 100.0, 0
    for kind, value in steps:
        if kind == "event":
            now += value
            state.add_pending(PendingSample(now, value / 50, {"f": value}), memory)
        elif kind == "late_event":
            state.add_pending(PendingSample(now - value, 0.5, {"g": value}), memory)
        elif kind == "label":
            state.take_pending(after=None, until=now - value)
        elif kind == "decision":
            position += 1
            top = (FeatureContribution("f", value, value / 3),)
            state.remember_decision(position, (value, True, "rise", 1, 0.1, 0.2, top), memory)
        elif kind == "age_out":
            now += value
            state.evict_pending(now=now, memory=memory)
        elif kind == "forget":  # inputs committed online: their decisions are not needed
            before = position - int(value) // 10
            kept = [d for d in state.decisions if d[0] >= before]
            n_remembered = len(state.decisions)
            assert state.forget_decisions(before=before) == n_remembered - len(kept)
            assert state.decisions == kept
        elif kind == "restore":  # read back, as after a restart or a rebalance
            state = EntityState.from_json(state.to_json())
        else:  # what the worker does once per batch
            assert state.to_json() == orjson.dumps(state.snapshot())
    assert state.to_json() == orjson.dumps(state.snapshot())
    assert EntityState.from_json(state.to_json()) == state


def test_forgetting_decisions_out_of_position_order_keeps_the_rest_in_order() -> None:
    import orjson

    memory = Memory()
    state = EntityState()
    for position in (7, 3, 9, 5):  # e.g. replayed offline out of order
        state.remember_decision(
            position, (0.5, False, "below_threshold", 0, None, None, ()), memory
        )
    state.to_json()  # the kept arrays exist
    assert state.forget_decisions(before=6) == 2
    assert [p for p, _ in state.decisions] == [7, 9]
    assert state.decision_at(3) is None and state.decision_at(9) is not None
    assert state.to_json() == orjson.dumps(state.snapshot())
    assert state.forget_decisions(before=0) == 0


def test_a_restored_state_forgets_decisions_and_encodes_as_before() -> None:
    import orjson

    memory = Memory()
    state = EntityState()
    for position in range(5):
        state.remember_decision(
            position, (0.5, False, "below_threshold", 0, None, None, ()), memory
        )
    restored = EntityState.from_json(state.to_json())  # as a worker reads it after a restart
    assert restored.forget_decisions(before=3) == 3
    restored.remember_decision(5, (0.7, True, "rise", 1, 0.5, 0.2, ()), memory)
    assert [p for p, _ in restored.decisions] == [3, 4, 5]
    assert restored.to_json() == orjson.dumps(restored.snapshot())
