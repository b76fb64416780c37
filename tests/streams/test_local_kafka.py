"""The project's own Apache Kafka: it answers, it stops cleanly, and it says what is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from streams.brokers import BrokerInfo, BrokerUnavailable, kafka_broker, probe
from streams.local_kafka import LocalKafka, LocalKafkaError, check_java, resolve_jars

pytestmark = pytest.mark.kafka


def test_the_session_broker_answers_with_its_version(kafka: BrokerInfo) -> None:
    version = probe({"bootstrap_servers": [kafka.bootstrap_servers]})
    assert version.split(".")[0].isdigit()
    if kafka.kind == "local":
        # The broker's API versions say which release it is; it must be the one we resolved.
        assert kafka.version.startswith(version)


def test_a_local_broker_starts_answers_and_leaves_nothing_behind() -> None:
    broker = LocalKafka()
    with broker:
        workdir = broker.workdir
        assert workdir is not None and (workdir / "data" / "meta.properties").exists()
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        assert admin.describe_cluster()["brokers"][0]["port"] == broker.port
        admin.close()
        process = broker._process
        assert process is not None
    assert process.poll() is not None, "the JVM must be gone after stop()"
    assert not workdir.exists(), "the data folder must be removed after stop()"


def test_missing_java_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match="Java is missing: no `java` on PATH"):
        check_java()


def test_missing_maven_is_named_when_the_jars_are_not_cached(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LocalKafkaError, match="Maven is missing: no `mvn` on PATH"):
        resolve_jars("4.3.1", cache=tmp_path / "empty-cache")


def test_a_release_maven_cannot_resolve_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        LocalKafkaError, match=r"could not resolve org.apache.kafka:kafka_2.13:0.0.0"
    ):
        resolve_jars("0.0.0", cache=tmp_path)


def test_broker_selection_fails_and_says_why_when_the_configured_cluster_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from streams.local_kafka import free_port

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    with (
        pytest.raises(
            BrokerUnavailable, match=r"KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:.* did not answer"
        ),
        kafka_broker(probe_timeout=2.0),
    ):
        pass


def test_broker_selection_uses_the_configured_cluster(
    kafka: BrokerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    with kafka_broker() as chosen:
        assert (chosen.kind, chosen.bootstrap_servers) == ("external", kafka.bootstrap_servers)
    assert os.environ["KAFKA_BOOTSTRAP_SERVERS"] == kafka.bootstrap_servers
