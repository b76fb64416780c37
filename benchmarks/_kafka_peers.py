"""The peers of ``benchmarks.bench_kafka``, each run in its own process.

- ``baseline``: a bare aiokafka loop (consumer group, ``getmany``, per record
  ``orjson.loads``, a sum of the features as the score, ``orjson.dumps`` of a small
  decision, ``producer.send`` with ``acks=all``, the batch's futures gathered, then a
  commit). It exits once it has produced ``--n`` outputs.
- ``faust_plain``: a plain Faust agent (same faust-streaming as the worker) doing the same
  per event with ``await topic.send(...)``; no scoring engine, raw serializers, web off,
  the worker's commit settings (every ``--batch-max`` acks or 1 s; Faust publishes what
  an agent sends when the source offset is committed). It runs until it is stopped.
- ``paced``: an aiokafka producer sending the events of ``--events-file`` at ``--rate``
  events/s (for the latency measurement of the worker).

Run by the benchmark, not by hand; for instance::

    .venv/bin/python -m benchmarks._kafka_peers baseline --bootstrap 127.0.0.1:9092 \\
        --input ev --output dec --group g --n 100000

Connection security (``KAFKA_SECURITY_PROTOCOL``, SASL, CA file) comes from the
environment, as for the worker (:meth:`streams.settings.Settings.from_env`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import ssl
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from streams.settings import Settings

__all__ = ["aiokafka_options", "decision_for", "main"]

log = logging.getLogger("bench_kafka.peer")


def decision_for(value: bytes) -> tuple[bytes, bytes]:
    """The peers' whole per-event work: parse, score (sum of features), encode.

    Parameters
    ----------
    value
        An event as the worker reads it (UTF-8 JSON with ``features``).

    Returns
    -------
    tuple of bytes
        The key (the entity id) and the value of a small decision-like record.

    Examples
    --------
    >>> decision_for(b'{"event_id": "e-1", "entity_id": "a", "features": {"x": 1, "y": 2.5}}')
    (b'a', b'{"event_id":"e-1","entity_id":"a","score":3.5}')
    """
    event = orjson.loads(value)
    score = float(sum(event["features"].values()))
    decision = {"event_id": event["event_id"], "entity_id": event["entity_id"], "score": score}
    return event["entity_id"].encode(), orjson.dumps(decision)


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """aiokafka connection options (bootstrap servers and security) for ``settings``."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap.split(","),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in {"SSL", "SASL_SSL"}:
        options["ssl_context"] = ssl.create_default_context(cafile=settings.ssl_cafile)
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password
    return options


# --- baseline: bare aiokafka ----------------------------------------------------------


async def run_baseline(settings: Settings, args: argparse.Namespace) -> int:
    """Consume, compute, produce and commit per batch until ``args.n`` outputs are acked."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    options = aiokafka_options(settings)
    consumer = AIOKafkaConsumer(
        args.input,
        **options,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=args.max_records,
    )
    producer = AIOKafkaProducer(**options, acks="all")
    await consumer.start()
    await producer.start()
    produced = 0
    try:
        while produced < args.n:
            batches = await consumer.getmany(timeout_ms=100, max_records=args.max_records)
            futures = []
            for records in batches.values():
                for record in records:
                    key, value = decision_for(record.value)
                    futures.append(await producer.send(args.output, value, key=key))
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
                produced += len(futures)
    finally:
        await producer.stop()
        await consumer.stop()
    log.info("baseline: %d outputs produced", produced)
    return 0


# --- faust_plain: a plain Faust agent ------------------------------------------------


def run_faust_plain(settings: Settings, args: argparse.Namespace) -> int:
    """A Faust app, one agent: per event parse, sum, ``await output.send``; until stopped."""
    import faust

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="bench-faust-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        args.group,
        broker=["kafka://" + server for server in settings.bootstrap.split(",")],
        broker_credentials=settings.faust_credentials(),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        # The worker's commit settings (streams/app.py), not Faust's defaults (every 10,000
        # acks or 2.8 s): inside an agent, topic.send() is published when the source offset
        # is committed, so with the defaults the outputs would come out in lumps.
        **(
            {
                "broker_commit_every": args.batch_max,
                "broker_commit_interval": 1.0,
                "broker_max_poll_records": args.batch_max,
            }
            if args.commit == "worker"
            else {}
        ),
        producer_acks=-1,
        web_enabled=False,
        datadir=str(data_dir),
        store="memory://",
    )
    source = app.topic(args.input, key_type=bytes, value_type=bytes)
    output = app.topic(args.output, key_type=bytes, value_type=bytes)

    direct = args.send == "direct"

    @app.agent(source)
    async def plain(stream: Any) -> None:
        async for value in stream:
            key, decision = decision_for(value)
            await output.send(key=key, value=decision, force=direct)

    worker = faust.Worker(app, loglevel="info", quiet=True)
    worker.execute_from_commandline()
    return 0


# --- paced: a producer at a fixed rate ------------------------------------------------


async def run_paced(settings: Settings, args: argparse.Namespace) -> int:
    """Send the events of ``args.events_file`` (JSONL) at ``args.rate`` per second.

    What is due is sent every ``args.linger_ms``, a record batch per partition (the
    partition of each key computed before the clock starts, as aiokafka's default
    partitioner would), the deliveries awaited only at the end: a few µs of CPU per
    event, so that the load generator takes little of the cores the worker is measured
    on. kafka-python, one ``send`` per event, took 0.7 of a core at 4,500 events/s here
    and fell behind, and aiokafka's ``send`` per event still took 0.4; sending every
    millisecond cost the broker about 0.3 of a core in produce requests.
    """
    from aiokafka import AIOKafkaProducer
    from aiokafka.partitioner import DefaultPartitioner

    from streams.output import build_batches

    lines = Path(args.events_file).read_bytes().splitlines()
    producer = AIOKafkaProducer(
        **aiokafka_options(settings), acks="all", linger_ms=args.linger_ms, client_id="bench-paced"
    )
    await producer.start()
    futures = []
    behind = 0.0
    try:
        partitions = sorted(await producer.partitions_for(args.input))
        partition_of = DefaultPartitioner()
        keyed = []
        for line in lines:
            key = orjson.loads(line)["entity_id"].encode()
            keyed.append((partition_of(key, partitions, partitions), key, line))
        began = time.monotonic()
        sent = 0
        while sent < len(keyed):
            due = min(len(keyed), int((time.monotonic() - began) * args.rate) + 1)
            behind = max(behind, (due - sent - 1) / args.rate)
            by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
            for partition, key, value in keyed[sent:due]:
                by_partition.setdefault(partition, []).append((key, value))
            for partition, records in by_partition.items():
                for batch in build_batches(producer, records):
                    sending = await producer.send_batch(batch, args.input, partition=partition)
                    futures.append(sending)
            sent = due
            if sent < len(keyed):  # every linger_ms, as a producer's linger would group them
                next_due = began + sent / args.rate
                await asyncio.sleep(max(0.0, next_due - time.monotonic(), args.linger_ms / 1000))
        await asyncio.gather(*futures)
        seconds = time.monotonic() - began
    finally:
        await producer.stop()
    log.info(
        "paced: %d events in %.2f s (%.0f/s), at most %.1f ms behind schedule",
        len(lines),
        seconds,
        len(lines) / seconds,
        behind * 1000,
    )
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=["baseline", "faust_plain", "paced"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True, help="the events topic")
    parser.add_argument("--output", default=None, help="the decisions topic")
    parser.add_argument("--group", default=None, help="consumer group (and Faust app id)")
    parser.add_argument("--n", type=int, default=0, help="baseline: outputs before exiting")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--max-records", type=int, default=1000, help="baseline: per getmany")
    parser.add_argument("--batch-max", type=int, default=500, help="faust_plain: as the worker's")
    parser.add_argument(
        "--commit",
        choices=["worker", "faust"],
        default="worker",
        help="faust_plain: the worker's commit settings, or Faust's defaults",
    )
    parser.add_argument(
        "--send",
        choices=["attached", "direct"],
        default="attached",
        help="faust_plain: topic.send() as Faust does it in an agent (published when the "
        "source offset is committed), or with force=True (to the producer at once)",
    )
    parser.add_argument("--data-dir", default=None, help="faust_plain: Faust's datadir")
    parser.add_argument("--events-file", default=None, help="paced: JSONL events to send")
    parser.add_argument("--rate", type=float, default=1000.0, help="paced: events per second")
    parser.add_argument("--linger-ms", type=int, default=5, help="paced: producer linger")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the peer named on the command line."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    settings = replace(Settings.from_env(), bootstrap_servers=args.bootstrap)
    if args.peer == "baseline":
        return asyncio.run(run_baseline(settings, args))
    if args.peer == "faust_plain":
        return run_faust_plain(settings, args)
    return asyncio.run(run_paced(settings, args))


if __name__ == "__main__":
    sys.exit(main())
