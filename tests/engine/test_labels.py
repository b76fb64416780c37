"""The label rule: learn between agreeing labels, never across a change of class."""

from __future__ import annotations

from engine.labels import LabelRule, resolve_label
from engine.state import EntityState, Memory, PendingSample

MEMORY = Memory()


def state_with(*times: float) -> EntityState:
    state = EntityState()
    for ts in times:
        state.add_pending(PendingSample(ts, 0.5, {"t": ts}), MEMORY)
    return state


def resolve(state: EntityState, ts: float, label: int, rule: LabelRule | None = None):
    return resolve_label(state, "a", ts=ts, label=label, rule=rule or LabelRule(), memory=MEMORY)


def test_samples_between_agreeing_labels_are_learned_with_the_label() -> None:
    state = state_with(1, 2, 3, 4, 5)
    first = resolve(state, 2.5, 1)
    second = resolve(state, 4.5, 1)
    assert [s.ts for s in first.learn] == [1, 2] and first.label == 1
    assert [s.ts for s in second.learn] == [3, 4] and second.flip is None
    assert [p.ts for p in state.pending] == [5], "samples after the label stay pending"


def test_samples_between_different_labels_are_ambiguous_and_not_learned() -> None:
    state = state_with(1, 2, 3, 4, 5)
    resolve(state, 2.5, 0)
    flipped = resolve(state, 4.5, 1)
    assert flipped.learn == [] and flipped.ambiguous == 2
    assert flipped.flip is not None
    assert (flipped.flip.label_before, flipped.flip.label, flipped.flip.ambiguous_samples) == (
        0,
        1,
        2,
    )
    assert flipped.previous_label == 0


def test_learning_every_sample_is_possible_for_comparison_only() -> None:
    state = state_with(1, 2, 3, 4)
    resolve(state, 2.5, 0)
    flipped = resolve(state, 4.5, 1, LabelRule(learn_ambiguous=True))
    assert [s.ts for s in flipped.learn] == [3, 4] and flipped.flip is not None


def test_before_the_first_label_only_recent_samples_are_learned() -> None:
    state = state_with(0, 50, 90, 100)
    first = resolve(state, 100, 1, LabelRule(first_label_lookback=20))
    assert [s.ts for s in first.learn] == [90, 100] and first.stale == 2


def test_a_sample_at_the_label_time_belongs_to_the_label() -> None:
    state = state_with(10)
    assert [s.ts for s in resolve(state, 10, 1).learn] == [10]


def test_a_label_older_than_the_last_one_resolves_nothing() -> None:
    state = state_with(1, 2, 3)
    resolve(state, 2.5, 1)
    late = resolve(state, 1.5, 0)
    assert late.late_label and late.learn == [] and late.flip is None
    assert [t for t, _ in state.labels] == [1.5, 2.5]
    assert [p.ts for p in state.pending] == [3]


def test_a_late_event_older_than_the_previous_label_is_stale() -> None:
    state = state_with(5)
    resolve(state, 10, 1)
    state.add_pending(PendingSample(8, 0.5, {}), MEMORY)  # its event arrived after the label
    state.add_pending(PendingSample(12, 0.5, {}), MEMORY)
    later = resolve(state, 15, 1)
    assert [s.ts for s in later.learn] == [12] and later.stale == 1
