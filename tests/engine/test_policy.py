"""Policies: the closed set of reasons, and a higher rise never stops an action."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.policy import REASONS, MemoryPolicy, NaivePolicy

unit = st.floats(0, 1)
maybe_max = st.none() | unit
maybe_since = st.none() | st.floats(0, 10_000)


@pytest.mark.parametrize(
    ("score", "entity_max", "since", "expected"),
    [
        (0.5, None, None, (False, "below_threshold")),
        (0.5, 0.1, None, (False, "below_threshold")),
        (0.9, None, None, (True, "first_seen")),
        (0.9, 0.7, None, (True, "rise_over_entity_max")),
        (0.9, 0.79, None, (True, "rise_over_entity_max")),
        (0.9, 0.85, None, (False, "no_rise_over_entity_max")),
        (0.9, 0.95, None, (False, "no_rise_over_entity_max")),
        (0.9, 0.7, 100.0, (False, "cooldown")),
        (0.9, None, 100.0, (False, "cooldown")),
        (0.9, 0.7, 3600.0, (True, "rise_over_entity_max")),
    ],
)
def test_memory_policy_reasons(score, entity_max, since, expected) -> None:
    policy = MemoryPolicy(threshold=0.8, min_rise=0.1, cooldown=3600.0)
    verdict = policy.decide(score=score, entity_max=entity_max, since_last_action=since)
    assert tuple(verdict) == expected


def test_a_rise_of_exactly_min_rise_acts() -> None:
    policy = MemoryPolicy(threshold=0.5, min_rise=0.125)
    assert policy.decide(score=0.875, entity_max=0.75, since_last_action=None).action


@given(unit, unit, maybe_max, maybe_since)
def test_a_higher_rise_never_turns_an_action_into_no_action(s1, s2, entity_max, since) -> None:
    policy = MemoryPolicy(threshold=0.6, min_rise=0.05, cooldown=600.0)
    low, high = sorted((s1, s2))
    if policy.decide(score=low, entity_max=entity_max, since_last_action=since).action:
        assert policy.decide(score=high, entity_max=entity_max, since_last_action=since).action


@given(unit, unit, unit, maybe_since)
def test_a_lower_entity_max_never_turns_an_action_into_no_action(score, m1, m2, since) -> None:
    policy = MemoryPolicy(threshold=0.6, min_rise=0.05, cooldown=600.0)
    low, high = sorted((m1, m2))
    if policy.decide(score=score, entity_max=high, since_last_action=since).action:
        assert policy.decide(score=score, entity_max=low, since_last_action=since).action


@given(unit, maybe_max, maybe_since)
def test_every_reason_is_in_the_closed_set(score, entity_max, since) -> None:
    for policy in (MemoryPolicy(), NaivePolicy()):
        verdict = policy.decide(score=score, entity_max=entity_max, since_last_action=since)
        assert verdict.reason in REASONS
        assert verdict.action == (
            verdict.reason in {"first_seen", "rise_over_entity_max", "above_threshold"}
        )


@given(unit, maybe_max, maybe_since)
def test_naive_policy_acts_on_the_level_alone(score, entity_max, since) -> None:
    verdict = NaivePolicy(threshold=0.7).decide(
        score=score, entity_max=entity_max, since_last_action=since
    )
    assert verdict.action == (score >= 0.7)


def test_bad_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        MemoryPolicy(threshold=1.5)
    with pytest.raises(ValueError, match="negative"):
        MemoryPolicy(min_rise=-0.1)
