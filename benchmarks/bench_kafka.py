"""The worker end to end through real Kafka: events/s and latency, against baselines.

Every variant runs in its own process, on fresh topics and a fresh consumer group, with
its whole input produced before it starts, so what is measured is how fast it drains:

- ``worker``: the real ``vigil worker`` (:class:`streams.clients.WorkerProcess`), one
  decision per event (``--workers 2``: two worker processes in one group);
- ``worker_labels``: the same worker, with labels among its input: about
  ``--label-rate`` of the events are followed by a label of their entity on the labels
  topic, interleaved with the events in the simulator's order (as replay sees them), so
  that it resolves pending samples and learns while it scores (``worker``'s model, never
  given a label, learns nothing);
- ``baseline``: a bare aiokafka loop (``benchmarks._kafka_peers baseline``): per record
  ``orjson.loads``, a sum of the features, ``orjson.dumps``, ``send`` with ``acks=all``,
  futures gathered per batch, then a commit;
- ``faust_plain``: a plain Faust agent doing the same (``benchmarks._kafka_peers
  faust_plain``), the peer: what Faust itself costs, without the engine;
- ``floor``: Kafka's own ``ProducerPerformance`` (Java, ``kafka-producer-perf-test``)
  from the local broker's jars (``kafka-tools``, resolved by ``streams/kafka/pom.xml``):
  what the broker takes from a producer on this machine.

Throughput is the number of events over the span between the first and the last output
record's timestamp (CreateTime, set by the producer, read back from the output topic), so
the start-up is left out; it is reported apart (process start to first output). Every
run checks that each event got an output: a run with any lost is reported as failed and
left out of the figures. Variants alternate within each repetition (``--runs``); the
tables give the median and the min–max.

Latency: the worker fed at a fixed rate (50 % and 80 % of its median throughput) by a
producer in another process; per event, the decision's timestamp minus the event's (both
CreateTime, both set on this machine's clock); p50, p99, p99.9.

The broker is chosen as for the tests (:func:`streams.brokers.kafka_broker`):
``KAFKA_BOOTSTRAP_SERVERS`` if set, else the project's local Apache Kafka, started and
stopped by the run. Results (JSON with every run's figures and the machine, a Markdown
table, a PNG plot) go to ``--out`` (default ``benchmarks/results``)::

    .venv/bin/python -m benchmarks.bench_kafka [--quick] [--events 100000] [--runs 5]
        [--partitions 4] [--batch-max 2000] [--workers 1|2]
        [--variants worker,baseline,faust_plain,floor] [--out benchmarks/results]
    vigil bench kafka [the same options]

``--quick`` (under 3 minutes on 2 cores): 16,000 events (4,000 for ``faust_plain``, which
is much slower), 3 runs, no floor, one latency measurement of 5 s at 50 %. The last line
printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import logging
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from benchmarks._kafka_peers import aiokafka_options
from engine.simulate import merge_by_time, synthetic_stream
from streams.brokers import BrokerInfo, BrokerUnavailable, kafka_broker
from streams.clients import WorkerProcess, terminate
from streams.local_kafka import DEFAULT_KAFKA_VERSION, cache_dir, die_with_parent
from streams.settings import Settings
from streams.topics import ensure_topics

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("worker", "worker_labels", "baseline", "faust_plain", "floor")
#: The variants that run the worker itself.
WORKER_VARIANTS = ("worker", "worker_labels")
PERF_CLASS = "org.apache.kafka.tools.ProducerPerformance"
#: Events produced and decided before a latency measurement, so that start-up is left out.
WARM_UP_EVENTS = 200

Payload = tuple[bytes, bytes]
#: A record to produce: topic, key, value.
Record = tuple[str, bytes, bytes]


# --- options --------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with ``--quick``'s defaults filled in where nothing was given."""
    parser = argparse.ArgumentParser(
        prog="bench_kafka", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--events", type=int, default=None, help="events per run (100000)")
    parser.add_argument(
        "--faust-events",
        type=int,
        default=None,
        help="events per faust_plain run (default: --events; 4000 with --quick)",
    )
    parser.add_argument(
        "--faust-commit",
        choices=["worker", "faust"],
        default="worker",
        help="faust_plain commits as the worker does (every --batch-max acks or 1 s; "
        "default) or with Faust's defaults (10,000 acks or 2.8 s)",
    )
    parser.add_argument(
        "--faust-send",
        choices=["attached", "direct"],
        default="attached",
        help="faust_plain's topic.send(): attached to the source offset, published at its "
        "commit (Faust's way in an agent; default), or direct (force=True)",
    )
    parser.add_argument("--entities", type=int, default=2000, help="entities (default 2000)")
    parser.add_argument(
        "--label-rate",
        type=float,
        default=0.1,
        help="worker_labels: share of events followed by a label (default 0.1)",
    )
    parser.add_argument(
        "--features", type=int, default=3, help="features per event (the simulator's 3)"
    )
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--batch-max", type=int, default=Settings().batch_max, help="the worker's VIGIL_BATCH_MAX"
    )
    parser.add_argument("--runs", type=int, default=None, help="repetitions (default 5)")
    parser.add_argument("--quick", action="store_true", help="a run of under 3 minutes")
    parser.add_argument(
        "--variants", default=None, help="comma-separated, of " + ",".join(VARIANTS)
    )
    parser.add_argument("--workers", type=int, choices=[1, 2], default=1)
    parser.add_argument("--model", choices=["numba", "river"], default="numba")
    parser.add_argument(
        "--latency-rates",
        default=None,
        help="shares of the worker's median events/s to feed it at (0.5,0.8; --quick 0.5; "
        "none: no latency runs)",
    )
    parser.add_argument("--latency-seconds", type=float, default=None, help="(20; --quick 5)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per run at most")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--keep-logs", action="store_true", help="copy every log to --out")
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (16_000 if quick else 100_000)
    args.faust_events = args.faust_events or (min(4_000, args.events) if quick else args.events)
    args.runs = args.runs or (3 if quick else 5)
    default_variants = "worker,baseline,faust_plain" if quick else ",".join(VARIANTS)
    args.variants = [v.strip() for v in (args.variants or default_variants).split(",") if v]
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose among {list(VARIANTS)}")
    rates = args.latency_rates or ("0.5" if quick else "0.5,0.8")
    args.latency_rates = [] if rates == "none" else [float(r) for r in rates.split(",") if r]
    args.latency_seconds = args.latency_seconds or (5.0 if quick else 20.0)
    return args


# --- processes ------------------------------------------------------------------------


class PeerProcess:
    """A ``benchmarks._kafka_peers`` process; it dies with its parent (Linux)."""

    def __init__(self, argv: list[str], *, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "benchmarks._kafka_peers", *argv],
                cwd=REPO,
                env={**os.environ, "PYTHONPATH": _pythonpath()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
            )

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def wait(self, timeout: float) -> int | None:
        """Wait for it to exit on its own; its exit code, or ``None`` if it still runs."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self._process.wait(timeout)
        return None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        return terminate(self._process, timeout)


def _pythonpath() -> str:
    """The repository root first, so that ``benchmarks`` imports however we were started."""
    return os.pathsep.join(p for p in [str(REPO), os.environ.get("PYTHONPATH", "")] if p)


# --- one run's topics, input and output -----------------------------------------------


def run_settings(
    broker: BrokerInfo, args: argparse.Namespace, name: str, workdir: Path
) -> Settings:
    """Settings of one run: its own group and topics (all named after ``name``), created."""
    base = Settings.from_env()
    settings = replace(
        base,
        bootstrap_servers=broker.bootstrap_servers,
        partitions=args.partitions,
        group_id=name,
        data_dir=workdir / name / "data",
        metrics_port=0,
        batch_max=args.batch_max,
        model=args.model,
        log_level="info",
        log_format="text",
    ).with_topic_prefix(f"{name}.")
    ensure_topics(settings)
    return settings


def make_events(
    n: int, *, entities: int, seed: int, prefix: str = "e-", features: int = 3
) -> list[Payload]:
    """``n`` synthetic events as (key, value) pairs: entity id, orjson-encoded event.

    The simulator's events have 3 features; with ``features`` fewer, the first ones are
    kept, with more, ``x3``, ``x4``… are added (seeded noise, 3 decimals).

    Examples
    --------
    >>> [sorted(orjson.loads(v)["features"]) for _, v in make_events(1, entities=1, seed=0,
    ...                                                               features=5)]
    [['amount', 'country_risk', 'n_items', 'x3', 'x4']]
    >>> list(orjson.loads(make_events(1, entities=1, seed=0, features=1)[0][1])["features"])
    ['amount']
    """
    events, _ = _synthetic(n, entities=entities, seed=seed, prefix=prefix, features=features)
    return [(e["entity_id"].encode(), orjson.dumps(e)) for e in events]


def make_labelled(
    n: int, *, entities: int, seed: int, label_rate: float, prefix: str = "e-", features: int = 3
) -> list[tuple[str, bytes, bytes]]:
    """The events of :func:`make_events` and their labels in one stream: (kind, key, value).

    ``kind`` is ``"event"`` or ``"label"``. About ``label_rate`` of the events are followed
    by a label of their entity, placed where the simulator reports it: the order in which
    replay sees them (:func:`engine.simulate.merge_by_time`). The events are those of
    :func:`make_events` with the same arguments.

    Examples
    --------
    >>> stream = make_labelled(50, entities=5, seed=0, label_rate=0.5)
    >>> events = [(k, v) for kind, k, v in stream if kind == "event"]
    >>> events == make_events(50, entities=5, seed=0)
    True
    >>> 10 < len(stream) - len(events) < 40
    True
    """
    events, labels = _synthetic(
        n, entities=entities, seed=seed, prefix=prefix, features=features, label_rate=label_rate
    )
    return [
        (kind, item["entity_id"].encode(), orjson.dumps(item))
        for kind, item in merge_by_time(events, labels)
    ]


def _synthetic(
    n: int, *, entities: int, seed: int, prefix: str, features: int, label_rate: float = 0.1
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The simulator's events (with ``features`` features each) and labels."""
    if features < 1:
        raise ValueError(f"features: at least 1, got {features}")
    events, labels = synthetic_stream(
        n_entities=entities, n_events=n, seed=seed, event_id_prefix=prefix, label_rate=label_rate
    )
    rng = random.Random(seed)
    for event in events:
        kept = dict(list(event["features"].items())[:features])
        for k in range(3, features):
            kept[f"x{k}"] = round(rng.gauss(0.0, 1.0), 3)
        event["features"] = kept
    return events, labels


def produce_input(settings: Settings, topic: str, payloads: list[Payload]) -> float:
    """Produce ``payloads`` to ``topic`` (aiokafka, ``acks=all``), wait for every ack; events/s.

    aiokafka with large batches pre-produces about 3.5× faster than kafka-python here.
    """
    return asyncio.run(_produce(settings, [(topic, key, value) for key, value in payloads]))


def produce_records(settings: Settings, records: list[Record]) -> float:
    """Produce ``records`` (each to its own topic) in order, as :func:`produce_input`;
    records/s."""
    return asyncio.run(_produce(settings, records))


async def _produce(settings: Settings, records: list[Record]) -> float:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        **aiokafka_options(settings),
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=4 * 1024 * 1024,
        client_id="bench-input",
    )
    await producer.start()
    try:
        began = time.perf_counter()
        futures = [await producer.send(topic, value, key=key) for topic, key, value in records]
        await asyncio.gather(*futures)
        seconds = time.perf_counter() - began
    finally:
        await producer.stop()
    return len(records) / seconds


def output_count(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> int:
    """Records in the output topic right now (sum of its partitions' end offsets)."""
    return sum(consumer.end_offsets(partitions).values())


def topic_partitions(consumer: KafkaConsumer, topic: str, timeout: float = 30.0) -> set[int]:
    """The partition numbers of ``topic``, once the consumer's metadata knows them."""
    deadline = time.monotonic() + timeout
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic!r} does not exist")
        time.sleep(0.2)
    return found


def partitions_of(settings: Settings, topic: str) -> set[int]:
    """The partition numbers of ``topic`` (a short-lived kafka-python consumer asks)."""
    consumer = KafkaConsumer(**settings.kafka_options(), client_id="bench-metadata")
    try:
        return topic_partitions(consumer, topic)
    finally:
        consumer.close()


def wait_for_outputs(
    settings: Settings, topic: str, n: int, alive: Any, timeout: float
) -> tuple[bool, str]:
    """Wait until ``topic`` holds ``n`` records, the processes died, or ``timeout`` passed.

    Returns whether ``n`` were reached and, if not, why.
    """
    consumer = KafkaConsumer(**settings.kafka_options(), client_id="bench-watch")
    try:
        deadline = time.monotonic() + timeout
        partitions = [TopicPartition(topic, p) for p in sorted(topic_partitions(consumer, topic))]
        while True:
            if output_count(consumer, partitions) >= n:
                return True, ""
            if not alive():
                # It may have exited just after producing its last output.
                if output_count(consumer, partitions) >= n:
                    return True, ""
                return False, "the process exited before producing every output"
            if time.monotonic() > deadline:
                return False, f"not every output within {timeout:.0f} s"
            time.sleep(0.25)
    finally:
        consumer.close()


def read_back(settings: Settings, topic: str, timeout: float = 120.0) -> list[tuple[int, bytes]]:
    """Every record of ``topic`` up to its end as of now: (timestamp in ms, value).

    aiokafka, without a group: about 5× faster than kafka-python's consumer here.
    """
    return asyncio.run(_read_back(settings, topic, timeout))


async def _read_back(settings: Settings, topic: str, timeout: float) -> list[tuple[int, bytes]]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.structs import TopicPartition as AioTP

    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        client_id="bench-read-back",
    )
    await consumer.start()
    records: list[tuple[int, bytes]] = []
    try:
        partitions = [AioTP(topic, p) for p in sorted(partitions_of(settings, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}: not read to its end within {timeout} s")
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=10_000)
                records += [(r.timestamp, r.value) for r in batch.get(tp, [])]
    finally:
        await consumer.stop()
    return records


def tally_outputs(
    settings: Settings, topic: str, expected: set[str], started_at: float
) -> dict[str, Any]:
    """Read ``topic`` to its end: outputs per event, lost, duplicates, events/s, start-up,
    and the outputs that act (``action`` true: the worker's model has learned enough to
    cross the threshold; the peers' outputs have no ``action``).

    ``started_at`` is the wall-clock time (s) at which the variant's process started.
    """
    records = read_back(settings, topic)
    seen: Counter[str] = Counter()
    stamps: list[int] = []
    actions = 0
    for timestamp, value in records:
        output = orjson.loads(value)
        seen[output["event_id"]] += 1
        actions += output.get("action") is True
        stamps.append(timestamp)
    decided = expected & set(seen)
    result: dict[str, Any] = {
        "outputs": len(records),
        "actions": actions,
        "lost": len(expected) - len(decided),
        "duplicates": sum(seen[e] - 1 for e in decided),
        "unexpected": len(set(seen) - expected),
    }
    if len(stamps) >= 2 and max(stamps) > min(stamps):
        span = (max(stamps) - min(stamps)) / 1000.0
        result["span_s"] = span
        result["events_per_s"] = len(decided) / span
        result["startup_to_first_output_s"] = min(stamps) / 1000.0 - started_at
    return result


def delete_topics(settings: Settings, name: str) -> None:
    """Delete every topic whose name starts with ``name`` (the run's, Faust's internal)."""
    admin = KafkaAdminClient(**settings.kafka_options(), client_id="bench-cleanup")
    try:
        mine = [t for t in admin.list_topics() if t.startswith(name)]
        if mine:
            with contextlib.suppress(Exception):
                admin.delete_topics(mine, timeout_ms=30_000)
    finally:
        admin.close()


def log_problems(path: Path, limit: int = 5) -> dict[str, Any]:
    """How many ERROR / WARNING / Traceback lines a log has, and the first few of them."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {"log": str(path), "missing": True}
    flagged = [
        line
        for line in lines
        if "[ERROR]" in line or "[WARNING]" in line or "Traceback" in line or "CRITICAL" in line
    ]
    return {
        "log": path.name,
        "errors": sum("[ERROR]" in line or "Traceback" in line for line in lines),
        "warnings": sum("[WARNING]" in line for line in lines),
        "first": flagged[:limit],
    }


class Phases:
    """Seconds spent in each phase of a run (``lap(name)`` ends the phase ``name``)."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[name] = round(self.laps.get(name, 0.0) + now - self._last, 3)
        self._last = now


# --- the variants ---------------------------------------------------------------------


@dataclass
class Context:
    """What every run needs: the broker, the options, a work folder, the input."""

    broker: BrokerInfo
    args: argparse.Namespace
    workdir: Path
    payloads: list[Payload]
    stamp: str
    #: The events with their labels (:func:`make_labelled`), for ``worker_labels``.
    labelled: list[tuple[str, bytes, bytes]] = field(default_factory=list)


def start_consumers(
    ctx: Context, variant: str, settings: Settings, name: str, n: int
) -> list[WorkerProcess | PeerProcess]:
    """Start ``variant``'s process(es) on ``settings``' topics."""
    logs = ctx.workdir / "logs"
    if variant in WORKER_VARIANTS:
        workers = []
        for i in range(ctx.args.workers):
            own = replace(settings, data_dir=settings.data_dir / f"w{i}")
            worker = WorkerProcess(own, log_path=logs / f"{name}-w{i}.log")
            workers.append(worker.start())
        return workers
    common = [
        "--bootstrap",
        settings.bootstrap,
        "--input",
        settings.events_topic,
        "--output",
        settings.decisions_topic,
        "--group",
        name,
        "--partitions",
        str(settings.partitions),
        "--n",
        str(n),
        "--batch-max",
        str(ctx.args.batch_max),
    ]
    if variant == "faust_plain":
        common += ["--data-dir", str(settings.data_dir)]
        common += ["--commit", ctx.args.faust_commit, "--send", ctx.args.faust_send]
    return [PeerProcess([variant, *common], log_path=logs / f"{name}.log")]


def run_consumer_variant(ctx: Context, variant: str, rep: int) -> dict[str, Any]:
    """One run of ``worker``, ``baseline`` or ``faust_plain``: produce, start, drain, tally."""
    n = ctx.args.faust_events if variant == "faust_plain" else ctx.args.events
    name = f"bk{ctx.stamp}-{variant.replace('_', '')}-{rep}"
    clock = Phases()
    settings = run_settings(ctx.broker, ctx.args, name, ctx.workdir)
    payloads = ctx.payloads[:n]
    result: dict[str, Any] = {"variant": variant, "run": rep, "events": n, "phases_s": clock.laps}
    clock.lap("topics")
    if variant == "worker_labels":
        topics = {"event": settings.events_topic, "label": settings.labels_topic}
        stream = [(topics[kind], key, value) for kind, key, value in ctx.labelled]
        result["labels"] = len(stream) - n
        result["input_produce_events_per_s"] = produce_records(settings, stream)
    else:
        result["input_produce_events_per_s"] = produce_input(
            settings, settings.events_topic, payloads
        )
    expected = {orjson.loads(value)["event_id"] for _, value in payloads}
    timeout = ctx.args.timeout or 90.0 + n / 1000.0
    clock.lap("produce")
    started_at = time.time()
    processes = start_consumers(ctx, variant, settings, name, n)
    try:
        done, why = wait_for_outputs(
            settings,
            settings.decisions_topic,
            n,
            lambda: any(p.alive for p in processes),
            timeout,
        )
        clock.lap("drain")
        result.update(tally_outputs(settings, settings.decisions_topic, expected, started_at))
        clock.lap("read_back")
        if done and result["lost"] and any(p.alive for p in processes):
            # Duplicates reached the count before every event was decided: wait a little more.
            wait_for_outputs(
                settings, settings.decisions_topic, n + result["lost"], lambda: True, 15.0
            )
            result.update(tally_outputs(settings, settings.decisions_topic, expected, started_at))
    finally:
        result["exit_codes"] = [p.stop() for p in processes]
        clock.lap("stop")
    result["failed"] = bool(result["lost"]) or "events_per_s" not in result
    if result["failed"]:
        result["why"] = why or f"{result['lost']} of {n} events got no output"
    result["logs"] = [log_problems(p.log_path) for p in processes]
    delete_topics(settings, name)
    clock.lap("cleanup")
    return result


def perf_jars() -> tuple[Path | None, str]:
    """The jar folder holding Kafka's ``ProducerPerformance``, or ``None`` and why not."""
    version = os.environ.get("VIGIL_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION
    libs = cache_dir() / f"kafka-{version}" / "libs"
    if not libs.is_dir():
        return None, f"no Apache Kafka {version} jars cached in {libs}"
    wanted = PERF_CLASS.replace(".", "/") + ".class"
    for jar in sorted(libs.glob("*.jar")):
        with contextlib.suppress(zipfile.BadZipFile), zipfile.ZipFile(jar) as archive:
            if wanted in archive.namelist():
                return libs, ""
    tools = sorted(p.name for p in libs.glob("kafka-tools*.jar"))
    return None, (
        f"{PERF_CLASS} is in none of the jars in {libs} (kafka-tools jars there: "
        f"{tools or 'none'}); streams/kafka/pom.xml would need org.apache.kafka:kafka-tools"
    )


def run_floor(ctx: Context, rep: int, libs: Path) -> dict[str, Any]:
    """One run of Kafka's ProducerPerformance: records/s of 200-byte records, ``acks=all``."""
    n = ctx.args.events
    name = f"bk{ctx.stamp}-floor-{rep}"
    settings = run_settings(ctx.broker, ctx.args, name, ctx.workdir)
    command = [
        shutil.which("java") or "java",
        "-cp",
        f"{libs}/*",
        PERF_CLASS,
        "--topic",
        settings.events_topic,
        "--num-records",
        str(n),
        "--record-size",
        "200",
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={settings.bootstrap}",
        "acks=all",
    ]
    result: dict[str, Any] = {"variant": "floor", "run": rep, "events": n}
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=ctx.args.timeout or 90.0 + n / 1000.0,
        preexec_fn=die_with_parent,
    )
    rates = re.findall(r"([\d.]+) records/sec", done.stdout)
    result["failed"] = done.returncode != 0 or not rates
    if rates:
        result["events_per_s"] = float(rates[-1])
    if result["failed"]:
        result["why"] = f"exit {done.returncode}: {(done.stdout + done.stderr)[-500:]}"
    delete_topics(settings, name)
    return result


# --- latency --------------------------------------------------------------------------


def run_latency(ctx: Context, share: float, rate: float) -> dict[str, Any]:
    """The worker fed at ``rate`` events/s: per-event decision minus event timestamp (ms)."""
    import numpy as np

    args = ctx.args
    n = max(1, int(rate * args.latency_seconds))
    name = f"bk{ctx.stamp}-lat{round(share * 100)}"
    settings = run_settings(ctx.broker, args, name, ctx.workdir)
    result: dict[str, Any] = {"share": share, "target_events_per_s": rate, "events": n}
    shape = {"entities": args.entities, "features": args.features}
    warm = make_events(WARM_UP_EVENTS, **shape, seed=args.seed + 1, prefix="w-")
    paced = make_events(n, **shape, seed=args.seed + 2, prefix="lat-")
    events_file = ctx.workdir / f"{name}.jsonl"
    events_file.write_bytes(b"\n".join(value for _, value in paced) + b"\n")
    done, why, latencies = False, "", []
    processes: list[Any] = start_consumers(ctx, "worker", settings, name, n)
    try:
        produce_input(settings, settings.events_topic, warm)
        alive = lambda: any(p.alive for p in processes)  # noqa: E731
        ready, why = wait_for_outputs(settings, settings.decisions_topic, len(warm), alive, 120.0)
        if not ready:
            return {**result, "failed": True, "why": f"warm-up: {why}"}
        producer = PeerProcess(
            [
                "paced",
                "--bootstrap",
                settings.bootstrap,
                "--input",
                settings.events_topic,
                "--events-file",
                str(events_file),
                "--rate",
                str(rate),
            ],
            log_path=ctx.workdir / "logs" / f"{name}-producer.log",
        )
        producer.wait(args.latency_seconds * 3 + 60)
        producer.stop()
        total = len(warm) + n
        done, why = wait_for_outputs(settings, settings.decisions_topic, total, alive, 60.0)
        latencies, figures = latency_figures(settings, {v for _, v in paced})
        result.update(figures)
    finally:
        result["exit_codes"] = [p.stop() for p in processes]
    result["failed"] = not done or bool(result.get("lost"))
    if result["failed"]:
        result["why"] = why or f"{result['lost']} of {n} events got no decision"
    if latencies:
        values = np.asarray(latencies, dtype=float)
        for label, q in (("p50_ms", 50), ("p99_ms", 99), ("p99_9_ms", 99.9)):
            result[label] = float(np.percentile(values, q))
        result["max_ms"] = float(values.max())
        # A queue that grows shows as a later tenth slower than the first.
        tenth = max(1, len(values) // 10)
        result["p50_first_tenth_ms"] = float(np.median(values[:tenth]))
        result["p50_last_tenth_ms"] = float(np.median(values[-tenth:]))
        result["per_second"] = per_second(values, rate)
    result["logs"] = [log_problems(p.log_path) for p in processes]
    delete_topics(settings, name)
    return result


def per_second(values: Any, rate: float) -> list[dict[str, float]]:
    """Latencies (in sending order) by second of sending: count, p50 and max (ms)."""
    import numpy as np

    size = max(1, round(rate))
    chunks = [values[start : start + size] for start in range(0, len(values), size)]
    return [
        {
            "second": i,
            "events": len(chunk),
            "p50_ms": float(np.median(chunk)),
            "max_ms": float(chunk.max()),
        }
        for i, chunk in enumerate(chunks)
    ]


def latency_figures(settings: Settings, values: set[bytes]) -> tuple[list[int], dict[str, Any]]:
    """Per paced event, in sending order: its first decision's timestamp minus its own.

    Also how many were sent, how many got no decision, and the rate achieved.
    """
    sent: dict[str, int] = {}
    for timestamp, value in read_back(settings, settings.events_topic):
        event_id = orjson.loads(value)["event_id"]
        if event_id.startswith("lat-"):
            sent[event_id] = timestamp
    decided: dict[str, int] = {}
    for timestamp, value in read_back(settings, settings.decisions_topic):
        event_id = orjson.loads(value)["event_id"]
        if event_id in sent:
            decided[event_id] = min(timestamp, decided.get(event_id, timestamp))
    latencies = [decided[e] - sent[e] for e in sorted(decided, key=sent.__getitem__)]
    stamps = sorted(sent.values())
    span = (stamps[-1] - stamps[0]) / 1000.0 if len(stamps) > 1 else 0.0
    return latencies, {
        "sent": len(sent),
        "lost": len(values) - len(decided),
        "achieved_events_per_s": len(sent) / span if span else None,
    }


# --- summary, files -------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    """Median, min and max of ``values``.

    >>> spread([3.0, 1.0, 2.0])
    {'median': 2.0, 'min': 1.0, 'max': 3.0}
    """
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def error_bar(figure: dict[str, float] | None) -> tuple[float, float, float]:
    """A :func:`spread` as a bar: its median, and how far below and above it min and max are."""
    if not figure:
        return 0.0, 0.0, 0.0
    return figure["median"], figure["median"] - figure["min"], figure["max"] - figure["median"]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and min–max of each figure over a variant's runs that did not fail."""
    ok = [r for r in runs if not r.get("failed")]
    summary: dict[str, Any] = {"runs": len(runs), "ok": len(ok), "failed": len(runs) - len(ok)}
    for key in ("events_per_s", "startup_to_first_output_s", "input_produce_events_per_s"):
        values = [r[key] for r in ok if r.get(key) is not None]
        if values:
            summary[key] = spread(values)
    summary["lost"] = sum(r.get("lost", 0) for r in runs)
    summary["duplicates"] = sum(r.get("duplicates", 0) for r in runs)
    summary["events"] = sorted({r["events"] for r in runs})
    labels = sorted({r["labels"] for r in runs if "labels" in r})
    if labels:
        summary["labels"] = labels
    actions = [r["actions"] for r in ok if "actions" in r]
    if actions:
        summary["actions"] = spread(actions)
    return summary


def machine() -> dict[str, Any]:
    """CPU count and model, Python, and the versions of the Kafka clients and Faust."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("faust-streaming", "aiokafka", "kafka-python", "orjson", "mode-streaming"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    java_path = shutil.which("java")
    java = subprocess.run(
        [java_path or "true", "-version"], capture_output=True, text=True, check=False
    )
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "java": (java.stderr or java.stdout or "none").splitlines()[0] if java_path else None,
        "packages": versions,
        "git": git_state(),
    }


def git_state() -> dict[str, Any]:
    """The commit measured, and the files that differ from it (the worker may be edited)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "streams", "engine", "benchmarks")
    return {"commit": git("rev-parse", "HEAD"), "changed": changed.splitlines()}


def median_of(summary: dict[str, Any], variant: str) -> float | None:
    """The median events/s of ``variant``, if it has any run that did not fail."""
    figure = summary.get(variant, {}).get("events_per_s")
    return figure["median"] if figure else None


def markdown(report: dict[str, Any]) -> str:
    """The report's tables: throughput per variant, then latency."""
    summary, config = report["summary"], report["config"]
    baseline = median_of(summary, "baseline")
    lines = [
        f"# bench_kafka {report['stamp']}",
        "",
        f"{report['broker']}; {config['partitions']} partitions; "
        f"{config.get('entities', '?')} entities, {config.get('features', 3)} features per "
        "event; worker batch_max "
        f"{config['batch_max']}, {config['workers']} worker process(es), model "
        f"{config['model']}; {config['runs']} runs, variants alternating; "
        f"{report['machine']['cpu_count']} CPUs ({report['machine']['cpu_model']}); "
        f"commit {report['machine']['git']['commit'][:10]}"
        + (" with local changes" if report["machine"]["git"]["changed"] else "")
        + ".",
        "",
        "| variant | events | runs ok | events/s (median) | min–max | × baseline "
        "| start-up to first output (s) | lost | duplicates |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, s in summary.items():
        rate = s.get("events_per_s")
        startup = s.get("startup_to_first_output_s")
        lines.append(
            f"| {variant} | {'/'.join(f'{n:,}' for n in s['events'])} | {s['ok']}/{s['runs']} "
            f"| {_num(rate and rate['median'])} "
            f"| {_num(rate and rate['min'])}–{_num(rate and rate['max'])} "
            f"| {_ratio(rate and rate['median'], baseline)} "
            f"| {_num(startup and startup['median'], 1)} | {s['lost']} | {s['duplicates']} |"
        )
    for variant in report["skipped"]:
        lines.append(f"| {variant} | – | skipped | – | – | – | – | – | – |")
    lines += [f"\n{variant} skipped: {why}" for variant, why in report["skipped"].items()]
    labelled = summary.get("worker_labels", {})
    if labelled.get("labels"):
        lines += [
            "",
            f"worker_labels: the worker with {'/'.join(f'{n:,}' for n in labelled['labels'])} "
            f"labels among its input ({config.get('label_rate', '?')} of the events, "
            "interleaved with them as the simulator reports them); it resolves pending "
            f"samples and learns from them, and acted on {_actions(labelled)} decisions "
            f"(median). `worker` gets no label, so its model learns nothing (it acted on "
            f"{_actions(summary.get('worker', {}))}); baseline and faust_plain read the "
            "events only.",
        ]
    inputs = summary.get("worker", {}).get("input_produce_events_per_s")
    if inputs:
        lines += [
            "",
            f"Input pre-produced with aiokafka (acks=all, linger 20 ms, 1 MiB batches): median "
            f"{inputs['median']:,.0f} events/s.",
        ]
    if report["latency"]:
        lines += [
            "",
            "| worker fed at | target events/s | achieved | p50 ms | p99 ms | p99.9 ms "
            "| max ms | lost |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in report["latency"]:
            lines.append(
                f"| {r['share']:.0%} | {r['target_events_per_s']:,.0f} "
                f"| {_num(r.get('achieved_events_per_s'))} | {_num(r.get('p50_ms'), 1)} "
                f"| {_num(r.get('p99_ms'), 1)} | {_num(r.get('p99_9_ms'), 1)} "
                f"| {_num(r.get('max_ms'), 1)} | {r.get('lost', '–')} |"
            )
    failures = [r for runs in report["runs"].values() for r in runs if r.get("failed")]
    failures += [r for r in report["latency"] if r.get("failed")]
    for r in failures:
        lines.append(f"\nFAILED: {r.get('variant', 'latency')} run {r.get('run', '')}: {r['why']}")
    return "\n".join(lines) + "\n"


def _actions(summary: dict[str, Any]) -> str:
    actions = summary.get("actions")
    return "–" if actions is None else f"{actions['median']:,.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None, baseline: float | None) -> str:
    return "–" if value is None or not baseline else f"{value / baseline:.2f}"


def plot(report: dict[str, Any], path: Path) -> None:
    """A bar per variant: median events/s, min–max as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, medians, low, high = [], [], [], []
    for variant, s in report["summary"].items():
        rate = s.get("events_per_s")
        if rate:
            names.append(variant)
            for bars, value in zip((medians, low, high), error_bar(rate), strict=True):
                bars.append(value)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(names, medians, yerr=[low, high], capsize=6, color="#4878a8")
    ax.set_ylabel("events/s (median, min–max)")
    ax.set_title(f"vigil through Kafka, {report['config']['partitions']} partitions")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path, logs: Path, keep_logs: bool) -> Path:
    """JSON, Markdown and PNG into ``out``; returns the Markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"kafka-{report['stamp']}"
    Path(f"{base}.json").write_bytes(
        orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    )
    table = Path(f"{base}.md")
    table.write_text(markdown(report))
    plot(report, Path(f"{base}.png"))
    if keep_logs:
        shutil.copytree(logs, Path(f"{base}-logs"), dirs_exist_ok=True)
    return table


def headline(report: dict[str, Any]) -> dict[str, Any]:
    """The one-line JSON summary printed last."""
    summary = report["summary"]
    worker, baseline = median_of(summary, "worker"), median_of(summary, "baseline")
    first = next((r for r in report["latency"] if not r.get("failed")), None)
    failed = sum(s["failed"] for s in summary.values())
    return {
        "events_per_s": worker,
        "baseline_events_per_s": baseline,
        "faust_plain_events_per_s": median_of(summary, "faust_plain"),
        "floor_events_per_s": median_of(summary, "floor"),
        "ratio": worker / baseline if worker and baseline else None,
        "p99_ms": first["p99_ms"] if first and "p99_ms" in first else None,
        "latency_share": first["share"] if first else None,
        "failed_runs": failed,
        "lost": sum(s["lost"] for s in summary.values()),
        "report": report.get("files", {}).get("markdown"),
    }


# --- main -----------------------------------------------------------------------------


def run_all(ctx: Context) -> dict[str, Any]:
    """Every repetition of every variant, alternating, then the latency runs."""
    args = ctx.args
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in args.variants}
    skipped: dict[str, str] = {}
    libs = None
    if "floor" in args.variants:
        libs, why = perf_jars()
        if libs is None:
            skipped["floor"] = why
            del runs["floor"]
            print(f"floor skipped: {why}", flush=True)
    for rep in range(args.runs):
        for variant in runs:
            if variant == "floor":
                assert libs is not None
                result = run_floor(ctx, rep, libs)
            else:
                result = run_consumer_variant(ctx, variant, rep)
            runs[variant].append(result)
            print(progress_line(result), flush=True)
    summary = {v: summarize(r) for v, r in runs.items()}
    latency = []
    worker_rate = median_of(summary, "worker")
    if "worker" in args.variants and worker_rate:
        for share in args.latency_rates:
            result = run_latency(ctx, share, share * worker_rate)
            latency.append(result)
            print(latency_line(result), flush=True)
    elif args.latency_rates:
        skipped["latency"] = "needs the worker's events/s (variant worker, at least one run ok)"
    return {"runs": runs, "summary": summary, "latency": latency, "skipped": skipped}


def progress_line(r: dict[str, Any]) -> str:
    """One run, as it ends."""
    if r.get("failed"):
        return f"  {r['variant']} run {r['run']}: FAILED ({r.get('why')})"
    startup = r.get("startup_to_first_output_s")
    return (
        f"  {r['variant']} run {r['run']}: {r['events_per_s']:,.0f} events/s"
        + (f", first output after {startup:.1f} s" if startup is not None else "")
        + (f", {r['duplicates']} duplicates" if r.get("duplicates") else "")
        + (f"; phases (s) {r['phases_s']}" if r.get("phases_s") else "")
    )


def latency_line(r: dict[str, Any]) -> str:
    """One latency run, as it ends."""
    if "p99_ms" not in r:
        return f"  latency at {r['share']:.0%}: FAILED ({r.get('why')})"
    return (
        f"  latency at {r['share']:.0%} ({r['target_events_per_s']:,.0f}/s): "
        f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, p99.9 {r['p99_9_ms']:.0f} ms "
        f"(p50 of the first tenth {r['p50_first_tenth_ms']:.0f} ms, "
        f"of the last {r['p50_last_tenth_ms']:.0f} ms)"
        + (f" FAILED ({r.get('why')})" if r.get("failed") else "")
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the Markdown table and, last, one JSON line."""
    args = parse_args(argv)
    # Retries of the input producer right after a topic is created are expected and harmless.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as tmp:
        workdir = Path(tmp)
        (workdir / "logs").mkdir()
        labelled: list[tuple[str, bytes, bytes]] = []
        if "worker_labels" in args.variants:  # the same events, with their labels
            labelled = make_labelled(
                args.events,
                entities=args.entities,
                label_rate=args.label_rate,
                features=args.features,
                seed=args.seed,
            )
            payloads = [(key, value) for kind, key, value in labelled if kind == "event"]
        else:
            payloads = make_events(
                args.events, entities=args.entities, features=args.features, seed=args.seed
            )
        try:
            with kafka_broker() as broker:
                print(f"kafka broker: {broker.describe()}", flush=True)
                report = run_all(Context(broker, args, workdir, payloads, stamp, labelled))
        except BrokerUnavailable as exc:
            print(f"bench_kafka: no Kafka broker: {exc}", file=sys.stderr)
            return 3
        report |= {
            "stamp": stamp,
            "broker": broker.describe(),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "machine": machine(),
            "seconds": time.monotonic() - began,
        }
        base = args.out / f"kafka-{stamp}"
        report["files"] = {
            "json": f"{base}.json",
            "markdown": f"{base}.md",
            "png": f"{base}.png",
        }
        table = write_report(report, args.out, workdir / "logs", args.keep_logs)
    print()
    print(table.read_text())
    print(f"results: {report['files']['json']}, {table}, {report['files']['png']}")
    print(orjson.dumps(headline(report)).decode())
    return 0 if not any(s["failed"] for s in report["summary"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
