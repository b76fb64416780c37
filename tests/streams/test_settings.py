from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import ENVIRONMENT, Settings, SettingsError


def test_defaults_match_the_contract() -> None:
    s = Settings.from_env({})
    assert (
        s.events_topic,
        s.labels_topic,
        s.decisions_topic,
        s.alerts_topic,
        s.dead_letter_topic,
    ) == ("events", "labels", "decisions", "alerts", "dead-letter")
    assert s.bootstrap == "localhost:9092"


def test_every_setting_round_trips_through_the_environment() -> None:
    s = Settings(
        bootstrap_servers="h:1",
        partitions=7,
        group_id="g",
        data_dir=Path("/tmp/x"),
        action_threshold=0.25,
        events_topic="ev",
    )
    assert Settings.from_env(s.to_env()) == s
    assert set(s.to_env()) <= set(ENVIRONMENT.values())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_PARTITIONS": "0"}, "VIGIL_PARTITIONS: must be at least 1"),
        ({"VIGIL_ACTION_THRESHOLD": "1.5"}, "VIGIL_ACTION_THRESHOLD: must be within"),
        ({"VIGIL_ACTION_THRESHOLD": "high"}, "expected a number"),
        ({"VIGIL_LABELS_TOPIC": "events"}, "topic names must differ"),
        ({"VIGIL_LOG_LEVEL": "loud"}, "unknown level"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)
