from __future__ import annotations

import uuid

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from streams.brokers import BrokerInfo
from streams.settings import Settings
from streams.topics import TopicError, ensure_topics

pytestmark = pytest.mark.kafka


def settings_for(kafka: BrokerInfo, partitions: int = 3) -> Settings:
    prefix = f"t-{uuid.uuid4().hex[:8]}."
    return Settings(
        bootstrap_servers=kafka.bootstrap_servers, partitions=partitions
    ).with_topic_prefix(prefix)


def test_topics_are_created_with_the_configured_partitions(kafka: BrokerInfo) -> None:
    settings = settings_for(kafka, partitions=3)
    counts = ensure_topics(settings)
    assert counts == {
        settings.events_topic: 3,
        settings.labels_topic: 3,
        settings.decisions_topic: 3,
        settings.alerts_topic: 3,
        settings.dead_letter_topic: 3,
    }
    assert ensure_topics(settings) == counts  # again: nothing changes


def test_events_and_labels_with_different_partition_counts_are_refused(kafka: BrokerInfo) -> None:
    settings = settings_for(kafka)
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    admin.create_topics([NewTopic(settings.events_topic, 2, 1)])
    admin.close()
    with pytest.raises(TopicError, match=r"has 2 partitions but .* has 3"):
        ensure_topics(settings)
