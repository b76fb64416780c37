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
        ({"VIGIL_MODEL": "xgboost"}, "VIGIL_MODEL: expected numba or river"),
        ({"VIGIL_STATE_STORE": "redis"}, "VIGIL_STATE_STORE: expected rocksdb or memory"),
        ({"VIGIL_FETCH_MAX_WAIT_MS": "0"}, r"VIGIL_FETCH_MAX_WAIT_MS: must be within \[1, 30000\]"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_the_model_setting_chooses_the_workers_model() -> None:
    from river.linear_model import LogisticRegression

    from engine.models import NumbaLogisticRegression
    from streams.process import build_scorer

    assert isinstance(build_scorer(Settings.from_env({})).model, NumbaLogisticRegression)
    river = build_scorer(Settings.from_env({"VIGIL_MODEL": "river"})).model
    assert isinstance(river.steps["LogisticRegression"], LogisticRegression)


def test_a_toml_file_sets_values_and_the_environment_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('partitions = 8\nevents_topic = "ev"\naction_threshold = 0.7\n')
    s = Settings.from_env({"VIGIL_CONFIG": str(config), "VIGIL_PARTITIONS": "2"})
    assert (s.partitions, s.events_topic, s.action_threshold) == (2, "ev", 0.7)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("partitons = 3\n", "unknown settings \\['partitons'\\]"),
        ("x = [\n", "not valid TOML"),
        ("partitions = 'many'\n", "expected an integer"),
    ],
)
def test_a_bad_toml_file_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({"VIGIL_CONFIG": str(config)})


def test_a_missing_toml_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="no such file"):
        Settings.from_env({"VIGIL_CONFIG": str(tmp_path / "nope.toml")})


def test_sasl_needs_its_credentials_and_hides_the_password() -> None:
    with pytest.raises(SettingsError, match="needs KAFKA_SASL_MECHANISM"):
        Settings.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    s = Settings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="u",
        sasl_password="hunter2",
    )
    assert "hunter2" not in repr(s)
    assert s.kafka_options()["sasl_plain_password"] == "hunter2"
