"""SASL settings reach every client, and the password never reaches a log.

A broker of its own: the project's local Apache Kafka with a SASL_PLAINTEXT (PLAIN)
listener, so that a wrong password is refused for real.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from kafka.errors import KafkaError

from engine.simulate import synthetic_stream
from streams.brokers import probe
from streams.clients import WorkerProcess, make_producer, read_topics
from streams.local_kafka import LocalKafka
from streams.settings import Settings
from streams.topics import ensure_topics

pytestmark = pytest.mark.kafka

PASSWORD = "pw-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[LocalKafka]:
    broker = LocalKafka(sasl_plain_users={"vigil": PASSWORD})
    with broker:
        yield broker


def sasl_settings(broker: LocalKafka, tmp_path: Path, password: str = PASSWORD) -> Settings:
    run = uuid.uuid4().hex[:8]
    return Settings(
        bootstrap_servers=broker.bootstrap_servers,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="vigil",
        sasl_password=password,
        partitions=2,
        group_id=f"sasl-{run}",
        data_dir=tmp_path / "data",
        metrics_port=0,
        log_level="debug",
    ).with_topic_prefix(f"sasl-{run}.")


def test_the_worker_and_the_tools_connect_with_sasl_and_never_log_the_password(
    sasl_broker: LocalKafka, tmp_path: Path
) -> None:
    settings = sasl_settings(sasl_broker, tmp_path)
    assert PASSWORD not in repr(settings)
    ensure_topics(settings)
    events, _ = synthetic_stream(n_entities=10, n_events=100, seed=3)
    producer = make_producer(settings)
    for e in events:
        producer.send(settings.events_topic, key=e["entity_id"].encode(), value=orjson.dumps(e))
    producer.flush()
    producer.close()
    with WorkerProcess(settings, log_path=tmp_path / "worker.log") as worker:
        records = read_topics(
            settings,
            [settings.decisions_topic],
            until=lambda r: len(r[settings.decisions_topic]) >= 100,
            timeout=90,
        )
        assert len(records[settings.decisions_topic]) == 100, worker.log_tail()
    log = (tmp_path / "worker.log").read_text()
    assert "DEBUG" in log, "the worker ran at debug level"
    assert PASSWORD not in log


def test_a_wrong_password_is_refused(sasl_broker: LocalKafka, tmp_path: Path) -> None:
    settings = sasl_settings(sasl_broker, tmp_path, password="wrong")
    with pytest.raises(KafkaError):
        probe(settings.kafka_options(), timeout=5)
    plaintext = replace(settings, security_protocol="PLAINTEXT", sasl_mechanism=None)
    with pytest.raises(KafkaError):
        probe(plaintext.kafka_options(), timeout=5)
