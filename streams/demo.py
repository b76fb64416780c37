"""``vigil demo``: a broker, a worker, a few thousand events, and a summary of what came out.

It picks a broker (:mod:`streams.brokers`: ``KAFKA_BOOTSTRAP_SERVERS``, else Docker, else
the local Apache Kafka), starts ``vigil worker`` as a child process, produces a seeded
synthetic stream of events and labels with a few invalid messages mixed in, reads the
decisions and dead letters back, prints a summary and stops everything it started.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson

from engine.simulate import Scenario, merge_by_time, simulate
from streams.brokers import kafka_broker
from streams.clients import WorkerProcess, make_producer, read_topics
from streams.local_kafka import free_port
from streams.settings import Settings
from streams.topics import ensure_topics

__all__ = ["BAD_INPUTS", "run_demo"]

#: Invalid messages the demo mixes into ``events``: (key, value), one per kind of mistake.
BAD_INPUTS: list[tuple[bytes | None, bytes | None]] = [
    (b"acct-0", b"this is not JSON"),
    (b"acct-0", b"\xff\xfe\x00 not UTF-8"),
    (b"acct-0", b'["an", "array"]'),
    (b"acct-0", None),
    (b"acct-0", b'{"event_id": "bad-1", "ts": 1, "features": {}}'),
    (
        b"acct-0",
        b'{"event_id": "bad-2", "entity_id": "acct-0", "ts": 1, "features": {"amount": NaN}}',
    ),
    (
        b"acct-0",
        b'{"event_id": "bad-3", "entity_id": "acct-0", "ts": 1, "features": {"amount": "12"}}',
    ),
    (
        b"acct-0",
        b'{"event_id": "bad-4", "entity_id": "acct-0", "ts": 1, '
        b'"features": {"amount": {"value": 1}}}',
    ),
    (b"acct-0", b'{"event_id": "bad-5", "entity_id": "acct-0", "ts": "yesterday", "features": {}}'),
    (b"acct-9", b'{"event_id": "bad-6", "entity_id": "acct-0", "ts": 1, "features": {}}'),
]


def run_demo(
    *,
    n_entities: int = 300,
    days: float = 3.0,
    seed: int = 42,
    timeout: float = 180.0,
    report_dir: Path = Path("vigil-report"),
    evaluate_entities: int = 1000,
    out: Callable[[str], None] = print,
) -> int:
    """Run the demo; return 0 when every valid event got exactly one decision.

    Then evaluate the policy offline on a larger simulated stream and print the headline.
    """
    run_id = uuid.uuid4().hex[:8]
    events, labels = [], []
    for step in simulate(Scenario(n_entities=n_entities, days=days, seed=seed, drift_day=None)):
        events += [{**e, "event_id": f"demo-{run_id}-{e['event_id']}"} for e in step.events]
        labels += step.labels
    workdir = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    out("vigil demo: starting a Kafka broker ...")
    with kafka_broker() as broker:
        out(f"  broker: {broker.describe()}")
        settings = replace(
            Settings.from_env(),
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"vigil-demo-{run_id}",
            data_dir=workdir / "data",
            metrics_port=free_port(),
        )
        ensure_topics(settings)  # before anything is produced, so nothing auto-creates them
        worker = WorkerProcess(settings, log_path=workdir / "worker.log")
        out(f"  worker: starting (log: {worker.log_path})")
        with worker:
            status = _drive(settings, worker, events, labels, timeout=timeout, out=out)
    if status != 0:
        out(f"  kept {workdir} (the worker's log and data) for a look")
        return status
    shutil.rmtree(workdir, ignore_errors=True)
    return _evaluate(entities=evaluate_entities, seed=seed, report_dir=report_dir, out=out)


def _evaluate(*, entities: int, seed: int, report_dir: Path, out: Callable[[str], None]) -> int:
    from streams.evaluate import headline_table, run_evaluation

    out("")
    out(
        f"vigil demo: does acting on rises pay? Evaluating offline on {entities} simulated "
        "entities over 7 days ..."
    )
    result = run_evaluation(
        scenario=Scenario(n_entities=entities, days=7.0, seed=seed), out_dir=report_dir
    )
    out(headline_table(result))
    out(
        f"  report: {report_dir / 'report.md'} (reproduce: vigil evaluate --entities "
        f"{entities} --seed {seed} --out {report_dir})"
    )
    return 0


def _drive(
    settings: Settings,
    worker: WorkerProcess,
    events: list[dict],
    labels: list[dict],
    *,
    timeout: float,
    out: Callable[[str], None],
) -> int:
    producer = make_producer(settings)
    wanted = {e["event_id"] for e in events}

    def decided(records: dict) -> set[str]:
        return {
            orjson.loads(r.value)["event_id"] for r in records[settings.decisions_topic]
        } & wanted

    # A first event tells us when the worker is consuming; it is part of the stream.
    first, rest = events[0], events[1:]
    producer.send(settings.events_topic, key=first["entity_id"].encode(), value=orjson.dumps(first))
    producer.flush()
    began = time.monotonic()
    read_topics(
        settings,
        [settings.decisions_topic],
        until=lambda r: first["event_id"] in decided(r) or not worker.alive,
        timeout=90.0,
    )
    if not worker.alive:
        out(
            f"the worker exited with code {worker.returncode}; its log ends with:\n"
            + worker.log_tail()
        )
        return 1
    out(f"  worker: ready after {time.monotonic() - began:.1f} s")

    started = time.monotonic()
    stream = merge_by_time(rest, labels)
    bad_every = max(1, len(stream) // (len(BAD_INPUTS) + 1))
    bad_inputs = iter(BAD_INPUTS)
    for i, (kind, item) in enumerate(stream):
        topic = settings.events_topic if kind == "event" else settings.labels_topic
        producer.send(topic, key=item["entity_id"].encode(), value=orjson.dumps(item))
        if i % bad_every == bad_every - 1:
            key, value = next(bad_inputs, (None, None))
            if key is not None:
                producer.send(settings.events_topic, key=key, value=value)
    for key, value in bad_inputs:  # whatever the loop did not place
        producer.send(settings.events_topic, key=key, value=value)
    producer.flush()
    producer.close()
    out(
        f"  produced {len(events)} events, {len(labels)} labels and {len(BAD_INPUTS)} invalid "
        f"messages in {time.monotonic() - started:.1f} s"
    )

    records = read_topics(
        settings,
        [settings.decisions_topic, settings.dead_letter_topic],
        until=lambda r: (
            (
                len(decided(r)) == len(wanted)
                and len(r[settings.dead_letter_topic]) >= len(BAD_INPUTS)
            )
            or not worker.alive
        ),
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    decisions = [orjson.loads(r.value) for r in records[settings.decisions_topic]]
    decisions = [d for d in decisions if d["event_id"] in wanted]
    per_event = Counter(d["event_id"] for d in decisions)
    letters = [orjson.loads(r.value) for r in records[settings.dead_letter_topic]]
    reasons = Counter(d["reason"] for d in decisions)
    lost = len(wanted) - len(per_event)
    duplicates = sum(n - 1 for n in per_event.values())

    out("")
    out("  summary")
    out(f"    events in (valid)      {len(events):>8}")
    out(f"    invalid messages in    {len(BAD_INPUTS):>8}")
    out(f"    labels in              {len(labels):>8}")
    out(f"    decisions out          {len(decisions):>8}   (lost {lost}, duplicates {duplicates})")
    out(f"    actions                {sum(d['action'] for d in decisions):>8}")
    out(
        f"    dead letters           {len(letters):>8}   "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(x["stage"] for x in letters).items()))
    )
    out("    reasons                " + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())))
    out(
        f"    events/s (end to end)  {len(rest) / elapsed:>8.0f}   "
        f"({len(rest)} events from first produce to last decision in {elapsed:.1f} s)"
    )
    ok = lost == 0 and duplicates == 0 and len(letters) == len(BAD_INPUTS) and worker.alive
    if not ok:
        out(
            "  FAILED: expected one decision per valid event and one dead letter per invalid "
            f"message; the worker log ends with:\n{worker.log_tail()}"
        )
    return 0 if ok else 1
