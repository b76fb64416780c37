"""The Faust application: input and output topics, and the agent that scores.

One agent consumes ``events`` and ``labels`` together. Both are keyed by the entity id
and have the same partition count (:func:`streams.topics.ensure_topics` checks it), so
one entity's events and labels reach the same agent, each topic in its order. The agent
takes micro-batches (``stream.take_events``: at most ``VIGIL_BATCH_MAX`` records, waiting
at most ``VIGIL_BATCH_WITHIN_SECONDS``), hands each to
:meth:`streams.process.MessageProcessor.process_batch` and produces what it returns: one
decision per valid event, one dead letter per invalid input, alerts. ``take_events``
acknowledges a batch's records only after the agent has handled the whole batch.

Delivery is at least once: Faust commits an input offset only after the agent has moved
past the record and after ``producer.flush()`` has had the broker acknowledge every
record produced so far (``faust.transport.consumer.Consumer._commit_offsets``).
"""

from __future__ import annotations

import logging

import faust

from engine.scorer import Scorer
from streams.process import InputRecord, MessageProcessor, build_scorer
from streams.settings import Settings
from streams.topics import ensure_topics

__all__ = ["create_app", "run_worker"]

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, scorer: Scorer | None = None) -> faust.App:
    """Build the worker's Faust app for ``settings``; nothing connects until it starts."""
    app = faust.App(
        settings.group_id,
        broker=["kafka://" + server for server in settings.bootstrap.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        datadir=str(settings.data_dir / settings.group_id),
        store="memory://",
    )
    processor = MessageProcessor(settings, scorer if scorer is not None else build_scorer(settings))
    inputs = app.topic(
        settings.events_topic,
        settings.labels_topic,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
    )
    outputs = {
        name: app.topic(name, key_type=bytes, value_type=bytes, partitions=settings.partitions)
        for name in (
            settings.decisions_topic,
            settings.alerts_topic,
            settings.dead_letter_topic,
        )
    }

    @app.agent(inputs, name="vigil.score")
    async def score(stream: faust.StreamT) -> None:
        async for events in stream.take_events(
            settings.batch_max, within=settings.batch_within_seconds
        ):
            records = [
                InputRecord(
                    topic=event.message.topic,
                    partition=event.message.partition,
                    offset=event.message.offset,
                    timestamp=event.message.timestamp,
                    key=event.message.key,
                    value=event.message.value,
                )
                for event in events
            ]
            for out in processor.process_batch(records):
                await outputs[out.topic].send(key=out.key, value=out.value)

    return app


def run_worker(settings: Settings) -> None:
    """Create the topics, then run the worker until SIGTERM or Ctrl-C."""
    counts = ensure_topics(settings)
    log.info("topics ready: %s", counts)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
