"""The Faust application: input and output topics, the entity-state table, the scoring.

The worker consumes ``events`` and ``labels`` together. Both are keyed by the entity id
and have the same partition count (:func:`streams.topics.ensure_topics` checks it), so
one entity's events and labels reach the same worker, each topic in its order. Their
records reach :func:`create_app`'s ``score`` a partition's fetched batch at a time
(:mod:`streams.ingest`, at most ``VIGIL_BATCH_MAX`` records), which runs
:meth:`streams.process.MessageProcessor.process_batch` and produces what it returns: one
decision per valid event, one dead letter per invalid input, alerts, and one changelog
record per entity whose state changed. The batch's offsets are acknowledged once all of
those are acknowledged by the broker, and committed after that by Faust's commit loop.

Delivery is at least once. Entity states live in a Faust table backed by a changelog
topic (:mod:`streams.state_table`); each state carries the last input position applied
to it and its last decisions, so that inputs replayed after a crash are not applied
twice and get the same decisions again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

import faust
from faust.types import TP

from engine.models import warm_up
from engine.monitors import warm_up as warm_up_monitors
from engine.scorer import Scorer
from streams.checkpoints import CheckpointFollower, publish, read_checkpoints
from streams.clients import make_producer
from streams.ingest import consume_batches
from streams.observe import WorkerMetrics, serve
from streams.output import BatchSender
from streams.process import InputRecord, MessageProcessor, build_scorer
from streams.runtime import relax_garbage_collector
from streams.settings import Settings, SettingsError
from streams.state_table import TableStates
from streams.topics import ensure_topics

__all__ = ["create_app", "run_worker"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    scorer: Scorer | None = None,
    metrics: WorkerMetrics | None = None,
    checkpoints: CheckpointFollower | None = None,
    topic_counts: dict[str, int] | None = None,
) -> faust.App:
    """Build the worker's Faust app for ``settings``; nothing connects until it starts.

    With ``checkpoints``, the model is checkpointed to the models topic every
    ``VIGIL_CHECKPOINT_SECONDS`` when it has learned since, and a rollback is loaded.
    ``topic_counts`` (from :func:`streams.topics.ensure_topics`) are the partition counts
    of the existing topics: the entity-state table gets the input topics' count, and when
    the decisions topic has it too, an input partition's decisions go to the same
    partition of decisions, produced as whole batches.
    """
    metrics = metrics if metrics is not None else WorkerMetrics()
    counts = topic_counts or {}
    partitions = counts.get(settings.events_topic, settings.partitions)
    co_partitioned = counts.get(settings.decisions_topic) == partitions
    app = faust.App(
        settings.group_id,
        broker=["kafka://" + server for server in settings.bootstrap.split(",")],
        broker_credentials=settings.faust_credentials(),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        # Commit often: after a crash, what is replayed is what came after the last commit.
        broker_commit_every=settings.batch_max,
        broker_commit_interval=1.0,
        # A batch is what one fetch returns, at most this many records.
        broker_max_poll_records=settings.batch_max,
        # Batched output: a batch's records for one partition go out in one produce batch.
        producer_max_batch_size=1_000_000,
        # A crashed worker's partitions move to the others after this long.
        broker_session_timeout=10.0,
        producer_acks=-1,
        web_enabled=False,
        datadir=str(settings.data_dir / settings.group_id),
        store="rocksdb://" if settings.state_store == "rocksdb" else "memory://",
    )
    states = app.Table(
        "entity-state",
        partitions=partitions,
        key_type=bytes,
        value_type=bytes,
        use_partitioner=True,  # changelog partition = input partition (same keys, same hash)
    )
    table_states = TableStates(states)
    scorer = scorer if scorer is not None else build_scorer(settings)
    scorer.states = table_states
    processor = MessageProcessor(settings, scorer)
    changelog = states.changelog_topic.get_topic_name()
    last_offsets: dict[tuple[str, int | None], int] = {}
    sender: BatchSender | None = None  # over Faust's aiokafka producer, once it exists

    async def score(records: list[InputRecord]) -> list[asyncio.Future]:
        """One fetch's records: decisions, alerts, dead letters and state changes, sent."""
        before = processor.counts.copy()
        began = time.perf_counter()
        produced = processor.process_batch(records)
        # A state's decisions are remembered to be given again to inputs replayed after a
        # crash; those of inputs below the committed offset will never be.
        partition_of = {r.key: r.partition for r in records}
        confirmed = app.consumer.confirmed
        committed = {p: confirmed(TP(settings.events_topic, p)) for p in set(partition_of.values())}
        state_changes = table_states.flush(
            replayable_from=lambda key: committed.get(partition_of.get(key))
        )
        seconds = time.perf_counter() - began
        nonlocal sender
        producer = app.producer._ensure_producer()  # aiokafka's, for whole batches
        if sender is None or sender.producer is not producer:
            sender = BatchSender(producer)
        # An entity's state goes to the changelog partition of its input partition: a state
        # changes only through inputs keyed by its entity.
        changes = _by_partition((partition_of[key], key, value) for key, value in state_changes)
        futures = []
        for partition, items in changes.items():
            sent = sender.send(changelog, partition, items)
            table_states.settle_when_sent(partition, items, sent)  # into the store once acked
            futures += sent
        if co_partitioned:
            decisions = [o for o in produced if o.topic == settings.decisions_topic]
            produced = [o for o in produced if o.topic != settings.decisions_topic]
            grouped = _by_partition((d.partition, d.key, d.value) for d in decisions)
            for partition, items in grouped.items():
                futures += sender.send(settings.decisions_topic, partition, items)
        send = app.producer.send  # one by one, partitioned by key: alerts, dead letters
        futures += [await send(out.topic, out.key, out.value, None, None, None) for out in produced]
        stamps = [r.timestamp for r in records if r.timestamp is not None]
        metrics.record_batch(
            len(records),
            processor.counts - before,
            seconds=seconds,
            oldest_timestamp=min(stamps, default=None),
        )
        metrics.model_version.set(processor.scorer.model_version)
        for record in records:
            last_offsets[(record.topic, record.partition)] = record.offset or 0
        return futures

    consume_batches(
        app,
        [settings.events_topic, settings.labels_topic],
        score,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
    )

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: faust.App, revoked: set[TP], **kwargs: object) -> None:
        table_states.forget()  # what comes back is recovered from the changelog

    @app.on_partitions_assigned.connect
    async def forget_assigned(app: faust.App, assigned: set[TP], **kwargs: object) -> None:
        table_states.forget()

    @app.task
    async def ready() -> None:
        metrics.ready = True

    @app.timer(interval=5.0)
    async def tick() -> None:
        """The loop is alive; and how far behind each partition the worker is."""
        metrics.alive()
        for (topic, partition), offset in list(last_offsets.items()):
            with contextlib.suppress(Exception):  # a partition revoked meanwhile
                metrics.lag.labels(topic=topic, partition=str(partition)).set(
                    max(0, app.consumer.highwater(TP(topic, partition)) - offset - 1)
                )

    if checkpoints is not None:
        add_checkpointing(app, settings, processor.scorer, checkpoints)
    return app


def _by_partition(
    records: Iterable[tuple[int | None, bytes | None, bytes | None]],
) -> dict[int, list[tuple[bytes | None, bytes | None]]]:
    """``(partition, key, value)`` records as ``(key, value)`` lists by partition, in order."""
    grouped: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
    for partition, key, value in records:
        assert partition is not None, "Kafka records have a partition"
        grouped.setdefault(partition, []).append((key, value))
    return grouped


def add_checkpointing(
    app: faust.App, settings: Settings, scorer: Scorer, follower: CheckpointFollower
) -> None:
    """A timer that checkpoints the model when it learned, and loads rollbacks."""
    producer = make_producer(settings)
    learned = {"n": getattr(scorer.model, "n_learned", 0)}

    @app.timer(interval=settings.checkpoint_seconds)
    async def checkpoint() -> None:
        loop = asyncio.get_running_loop()
        for version in follower.rollbacks():
            data = follower.versions.get(version)
            if data is None:  # older than what the follower keeps: read the topic
                versions, _ = await loop.run_in_executor(None, read_checkpoints, settings)
                data = versions.get(version)
            if data is None:
                log.warning("rollback to model version %d: no such checkpoint", version)
                continue
            scorer.restore_checkpoint(data)
            learned["n"] = getattr(scorer.model, "n_learned", 0)
            log.info("rolled back to model version %d", version)
        n_learned = getattr(scorer.model, "n_learned", 0)
        if n_learned == learned["n"]:
            return
        latest = max([scorer.model_version, *follower.versions])
        state = scorer.checkpoint(version=latest + 1)
        learned["n"] = n_learned
        await loop.run_in_executor(None, publish, producer, settings, state)
        log.info("model version %d checkpointed (%d samples learned)", latest + 1, n_learned)


def run_worker(settings: Settings) -> None:
    """Create the topics, then run the worker until SIGTERM or Ctrl-C."""
    counts = ensure_topics(settings)
    log.info("topics ready: %s", counts)
    log.info("model kernels ready in %.2f s (compiled, or loaded from Numba's cache)", warm_up())
    log.info("monitor kernels ready in %.2f s", warm_up_monitors())
    lock = lock_data_dir(settings.data_dir / settings.group_id)  # held until the end
    metrics = WorkerMetrics()
    if settings.metrics_port:
        server = serve(metrics, port=settings.metrics_port)
        log.info("metrics, /healthz and /readyz on port %d", server.server_address[1])
    scorer = build_scorer(settings)
    follower = None
    if hasattr(scorer.model, "snapshot"):
        versions, current = read_checkpoints(settings)
        if current is not None and current in versions:
            scorer.restore_checkpoint(versions[current])
            log.info("model version %d restored from %s", current, settings.models_topic)
        follower = CheckpointFollower(settings).start()
        follower.versions.update(versions)
    else:
        log.warning("VIGIL_MODEL=%s has no checkpoints: a restart starts it afresh", settings.model)
    app = create_app(
        settings, scorer=scorer, metrics=metrics, checkpoints=follower, topic_counts=counts
    )
    relax_garbage_collector()  # after start-up's allocations; see streams.runtime
    worker = faust.Worker(
        app,
        loglevel=settings.log_level.lower(),
        quiet=True,
        # JSON logs: the handler set up by `vigil worker` stays; Faust's own would replace it.
        override_logging=settings.log_format != "json",
    )
    worker.execute_from_commandline()
    lock.close()


def lock_data_dir(directory: Path) -> IO[str]:
    """Take ``directory`` (a worker's local state) for this process, or fail saying why.

    Two workers on one folder would wait on each other's RocksDB locks, then crash.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> held = lock_data_dir(folder)
    >>> lock_data_dir(folder)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streams.settings.SettingsError: VIGIL_DATA_DIR: .../ is in use by another worker ...
    >>> held.close()
    """
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / "worker.lock", "w")  # noqa: SIM115 (held open on purpose)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SettingsError(
            f"VIGIL_DATA_DIR: {directory}/ is in use by another worker (its local state "
            "store); give each worker process on this machine its own VIGIL_DATA_DIR"
        ) from None
    return handle
