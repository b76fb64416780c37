"""The vigil command against the real broker: produce, tail, and errors a user can act on."""

from __future__ import annotations

import uuid
from pathlib import Path

import orjson
import pytest

from streams.brokers import BrokerInfo
from streams.cli import EXIT_CONFIG, EXIT_NO_BROKER, EXIT_TOPIC_MISSING, main
from streams.local_kafka import free_port
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka


def test_produce_then_tail_shows_each_record_for_the_entity(
    kafka: BrokerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    prefix = f"cli-{uuid.uuid4().hex[:8]}."
    settings = Settings(bootstrap_servers=kafka.bootstrap_servers, partitions=2)
    settings = settings.with_topic_prefix(prefix)
    ensure_topics(settings)
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    decisions = [
        {
            "event_id": f"e-{i}",
            "entity_id": f"acct-{i % 3}",
            "ts": float(i),
            "score": 0.5,
            "action": False,
            "reason": "below_threshold",
            "model_version": 0,
            "entity_max_score": None,
            "rise": None,
            "top_features": [],
        }
        for i in range(30)
    ]
    path = tmp_path / "decisions.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in decisions))
    assert main(["produce", str(path), "--topic", settings.decisions_topic]) == 0
    capsys.readouterr()
    assert (
        main(["tail", "decisions", "--from-beginning", "--entity", "acct-1", "--idle-timeout", "3"])
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 10 and all("acct-1" in line for line in lines)


def test_a_missing_topic_has_its_own_exit_code(
    kafka: BrokerInfo, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("VIGIL_DECISIONS_TOPIC", f"nope-{uuid.uuid4().hex}")
    assert main(["tail", "decisions", "--idle-timeout", "1"]) == EXIT_TOPIC_MISSING
    assert "does not exist" in capsys.readouterr().err


def test_an_unreachable_broker_and_bad_settings_have_their_own_exit_codes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    assert main(["produce", str(path)]) == EXIT_NO_BROKER
    assert "unreachable" in capsys.readouterr().err
    monkeypatch.setenv("VIGIL_PARTITIONS", "many")
    assert main(["produce", str(path)]) == EXIT_CONFIG
    assert "VIGIL_PARTITIONS" in capsys.readouterr().err


def test_bench_quick_is_the_kafka_benchmark_quick_and_bench_alone_lists_them(capsys) -> None:
    from streams.cli import _parser

    quick = _parser().parse_args(["bench", "--quick"])
    assert (quick.which, quick.quick, quick.options) == (None, True, [])
    named = _parser().parse_args(["bench", "scale", "--events", "100"])
    assert (named.which, named.quick, named.options) == ("scale", False, ["--events", "100"])
    assert main(["bench"]) == EXIT_CONFIG
    assert "kafka" in capsys.readouterr().err
