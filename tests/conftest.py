"""One real Apache Kafka broker for the whole test session (never a stand-in).

:func:`streams.brokers.kafka_broker` picks it: ``KAFKA_BOOTSTRAP_SERVERS``, else
testcontainers when a Docker engine answers, else the project's local broker from Maven
jars. If none can be had the session fails with the reason; nothing is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.brokers import BrokerInfo, BrokerUnavailable, kafka_broker


@pytest.fixture(scope="session")
def kafka(request: pytest.FixtureRequest) -> Iterator[BrokerInfo]:
    """The session's Kafka broker; the report names it and its version."""
    try:
        context = kafka_broker()
        broker = context.__enter__()
    except BrokerUnavailable as exc:
        pytest.fail(f"integration tests need a real Kafka broker: {exc}", pytrace=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nkafka broker: {broker.describe()}")
    try:
        yield broker
    finally:
        context.__exit__(None, None, None)
