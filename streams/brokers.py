"""Which Kafka to use, decided in one place for the demo, the tests and the benchmarks.

1. ``KAFKA_BOOTSTRAP_SERVERS``, when set: a cluster of the user's own (it must answer).
2. Else testcontainers' Kafka, when a Docker engine answers.
3. Else the project's own Apache Kafka from Maven jars (:mod:`streams.local_kafka`).

If none can be had, :class:`BrokerUnavailable` says why for each way that was tried.
Nothing here falls back to a stand-in: every way is a real Apache Kafka broker.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from streams.local_kafka import DEFAULT_KAFKA_VERSION, LocalKafka, LocalKafkaError
from streams.settings import Settings

__all__ = ["BrokerInfo", "BrokerUnavailable", "kafka_broker", "probe"]

BrokerKind = Literal["external", "testcontainers", "local"]


class BrokerUnavailable(RuntimeError):
    """No Kafka broker could be had; the message says what was tried and why it failed."""


@dataclass(frozen=True)
class BrokerInfo:
    """A broker the caller may use for the length of the ``with`` block."""

    bootstrap_servers: str
    kind: BrokerKind
    version: str
    start_seconds: float | None = None

    def describe(self) -> str:
        """One line naming the broker, e.g. for a test report's header."""
        where = {
            "external": "KAFKA_BOOTSTRAP_SERVERS",
            "testcontainers": "testcontainers (Docker)",
            "local": "the project's local broker (Maven jars, KRaft)",
        }[self.kind]
        started = f", started in {self.start_seconds:.1f} s" if self.start_seconds else ""
        return f"Apache Kafka {self.version} at {self.bootstrap_servers} from {where}{started}"


def probe(options: dict, *, timeout: float = 15.0) -> str:
    """Ask the cluster for its metadata; return the Kafka version its API versions imply.

    ``options`` are kafka-python connection options (``Settings.kafka_options()``).
    """
    admin = KafkaAdminClient(
        **options,
        request_timeout_ms=int(timeout * 1000),
        bootstrap_timeout_ms=int(timeout * 1000),
        client_id="vigil-probe",
    )
    try:
        brokers = admin.describe_cluster()["brokers"]
        version = admin.get_broker_version_data(brokers[0]["broker_id"])
    finally:
        admin.close()
    return ".".join(str(part) for part in version.broker_version)


def _docker_answers() -> tuple[bool, str]:
    try:
        import docker  # testcontainers' own dependency; imported lazily
    except ImportError:
        return False, "the docker package is not installed"
    try:
        client = docker.from_env(timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return False, f"no Docker engine answered ({type(exc).__name__})"
    return True, "a Docker engine answered"


@contextlib.contextmanager
def kafka_broker(
    *,
    bootstrap_servers: str | None = None,
    use_docker: bool = True,
    local_version: str | None = None,
    probe_timeout: float = 15.0,
) -> Iterator[BrokerInfo]:
    """Provide a Kafka broker for the block, chosen as the module docstring says.

    Parameters
    ----------
    bootstrap_servers
        Overrides ``KAFKA_BOOTSTRAP_SERVERS``.
    use_docker
        Try testcontainers when a Docker engine answers.
    local_version
        The Apache Kafka release of the local broker (``VIGIL_KAFKA_VERSION``, else
        :data:`~streams.local_kafka.DEFAULT_KAFKA_VERSION`).
    probe_timeout
        Seconds a configured cluster has to answer.
    """
    external = bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        options = replace(Settings.from_env(), bootstrap_servers=external).kafka_options()
        try:
            version = probe(options, timeout=probe_timeout)
        except (KafkaError, OSError) as exc:
            raise BrokerUnavailable(
                f"KAFKA_BOOTSTRAP_SERVERS={external} did not answer: {type(exc).__name__}: {exc}"
            ) from exc
        yield BrokerInfo(external, "external", version)
        return

    tried: list[str] = ["KAFKA_BOOTSTRAP_SERVERS is not set"]
    if use_docker:
        answers, why = _docker_answers()
        if answers:
            yield from _testcontainers_kafka()
            return
        tried.append(why)

    version = local_version or os.environ.get("VIGIL_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
    broker = LocalKafka(version=version)
    try:
        broker.start()
    except LocalKafkaError as exc:
        tried.append(f"the local broker could not start: {exc}")
        raise BrokerUnavailable("no Kafka broker can be had:\n- " + "\n- ".join(tried)) from exc
    try:
        yield BrokerInfo(broker.bootstrap_servers, "local", version, broker.start_seconds)
    finally:
        broker.stop()


def _testcontainers_kafka() -> Iterator[BrokerInfo]:
    from testcontainers.kafka import KafkaContainer  # needs Docker; imported lazily

    image = os.environ.get("VIGIL_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
    with KafkaContainer(image).with_kraft() as container:
        yield BrokerInfo(container.get_bootstrap_server(), "testcontainers", image)
