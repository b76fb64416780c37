"""Create the worker's topics with their configured partition counts, at start-up.

The models topic has one partition and is compacted (see :mod:`streams.checkpoints`).

``events`` and ``labels`` must have the same partition count (and the same key, the
entity id), so that one entity's events and labels reach the same worker; a mismatch
on an existing cluster is a configuration error, not something to paper over.
"""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

__all__ = ["TopicError", "ensure_topics", "topic_partitions"]


class TopicError(RuntimeError):
    """The topics exist with a shape the worker cannot use."""


def topic_partitions(admin: KafkaAdminClient, names: list[str]) -> dict[str, int]:
    """The partition count of each existing topic among ``names``."""
    existing = set(admin.list_topics())
    present = [n for n in names if n in existing]
    if not present:
        return {}
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(present)}


def ensure_topics(settings: Settings, *, timeout: float = 30.0) -> dict[str, int]:
    """Create the missing topics; check that ``events`` and ``labels`` agree. Returns counts."""
    names = [
        settings.events_topic,
        settings.labels_topic,
        settings.decisions_topic,
        settings.alerts_topic,
        settings.dead_letter_topic,
    ]
    admin = KafkaAdminClient(
        **settings.kafka_options(),
        client_id="vigil-admin",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        existing = topic_partitions(admin, names)
        missing = [
            NewTopic(n, settings.partitions, settings.replication_factor)
            for n in names
            if n not in existing
        ]
        if settings.models_topic not in topic_partitions(admin, [settings.models_topic]):
            missing.append(
                NewTopic(
                    settings.models_topic,
                    1,
                    settings.replication_factor,
                    topic_configs={"cleanup.policy": "compact"},
                )
            )
        if missing:
            # Another worker may create them at the same moment.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing, timeout_ms=int(timeout * 1000))
            admin.wait_for_topics([t.name for t in missing], timeout_ms=int(timeout * 1000))
        counts = topic_partitions(admin, names)
    finally:
        admin.close()
    events, labels = counts[settings.events_topic], counts[settings.labels_topic]
    if events != labels:
        raise TopicError(
            f"topic {settings.events_topic!r} has {events} partitions but "
            f"{settings.labels_topic!r} has {labels}: they must be equal, so that an entity's "
            "events and labels reach the same worker"
        )
    return counts
