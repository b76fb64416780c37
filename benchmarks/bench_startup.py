"""Start-up, cold and warm: the engine's kernels, and the worker's first decision.

*Cold* is an empty Numba cache (``NUMBA_CACHE_DIR`` a fresh folder): every kernel is
compiled. *Warm* is the same folder again, as the cold start left it: the kernels are
loaded from it. Each run does both, in that order, with a folder of its own:

- **kernels**: a fresh Python process imports the engine and calls
  :func:`engine.models.warm_up`, then :func:`engine.monitors.warm_up` (what the worker
  does before it consumes);
- **worker**: ``vigil worker`` started against the local broker with 200 events waiting
  on its input topic; from the process's start to the first decision in the decisions
  topic (Faust's start, the group join, the kernels, the first batch).

    .venv/bin/python -m benchmarks.bench_startup [--runs 5] [--out benchmarks/results]
    vigil bench startup [the same options]

Results: ``startup-<stamp>.json`` and ``startup-<stamp>.md`` in ``--out``; the table is
printed, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition

from benchmarks.bench_kafka import (
    delete_topics,
    machine,
    make_events,
    output_count,
    produce_input,
    spread,
)
from streams.brokers import BrokerInfo, kafka_broker
from streams.clients import WorkerProcess
from streams.settings import Settings
from streams.topics import ensure_topics

REPO = Path(__file__).resolve().parent.parent

KERNELS = """
import json, time
began = time.perf_counter()
from engine.models import warm_up
from engine.monitors import warm_up as warm_up_monitors
imported = time.perf_counter() - began
seconds = warm_up()
monitors = warm_up_monitors()
print(json.dumps({"import_s": imported, "warm_up_s": seconds, "monitors_warm_up_s": monitors}))
"""


def kernels_start(cache: Path) -> dict[str, float]:
    """A fresh process: seconds to import the engine and to warm its kernels up."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KERNELS], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"warming the kernels up failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def worker_start(broker: BrokerInfo, cache: Path, workdir: Path) -> dict[str, float]:
    """``vigil worker`` with events waiting: seconds from its start to the first decision."""
    name = f"su{uuid.uuid4().hex[:8]}"
    settings = replace(
        Settings.from_env(),
        bootstrap_servers=broker.bootstrap_servers,
        group_id=name,
        data_dir=workdir / name,
        metrics_port=0,
        log_level="info",
        log_format="text",
    ).with_topic_prefix(f"{name}.")
    ensure_topics(settings)
    produce_input(settings, settings.events_topic, make_events(200, entities=50, seed=7))
    consumer = KafkaConsumer(**settings.kafka_options(), client_id="bench-startup")
    partitions = [TopicPartition(settings.decisions_topic, p) for p in range(settings.partitions)]
    log_path = workdir / f"{name}.log"
    previous = os.environ.get("NUMBA_CACHE_DIR")
    os.environ["NUMBA_CACHE_DIR"] = str(cache)  # the worker's environment is ours
    try:
        began = time.monotonic()
        worker = WorkerProcess(settings, log_path=log_path).start()
    finally:
        if previous is None:
            del os.environ["NUMBA_CACHE_DIR"]
        else:
            os.environ["NUMBA_CACHE_DIR"] = previous
    try:
        while output_count(consumer, partitions) == 0:
            if not worker.alive:
                raise RuntimeError(f"the worker stopped: {worker.log_tail()}")
            if time.monotonic() - began > 180:
                raise RuntimeError("no decision within 180 s")
            time.sleep(0.05)
        first = time.monotonic() - began
    finally:
        worker.stop()
        consumer.close()
        delete_topics(settings, name)  # on a cluster of one's own, too
    log = log_path.read_text(errors="replace")
    model = re.search(r"model kernels ready in ([\d.]+) s", log)
    monitors = re.search(r"monitor kernels ready in ([\d.]+) s", log)
    return {
        "first_decision_s": first,
        "kernels_s": float(model.group(1)) if model else None,
        "monitor_kernels_s": float(monitors.group(1)) if monitors else None,
    }


def markdown(report: dict[str, Any]) -> str:
    rows = []
    labels = {
        "import_s": "import the engine (fresh process)",
        "warm_up_s": "compile or load the model's kernels (`engine.models.warm_up`)",
        "monitors_warm_up_s": "the monitors' kernels (`engine.monitors.warm_up`)",
        "kernels_s": "the worker's model kernels step (from its log)",
        "monitor_kernels_s": "the worker's monitor kernels step (from its log)",
        "first_decision_s": "worker process start to first decision",
    }
    for key, label in labels.items():
        cold, warm = report["summary"]["cold"].get(key), report["summary"]["warm"].get(key)
        if cold and warm:
            rows.append(
                f"| {label} | {cold['median']:.2f} ({cold['min']:.2f}–{cold['max']:.2f}) "
                f"| {warm['median']:.2f} ({warm['min']:.2f}–{warm['max']:.2f}) |"
            )
    m = report["machine"]
    return "\n".join(
        [
            f"# bench_startup {report['stamp']}",
            "",
            f"{report['runs']} runs, cold then warm in each; seconds, median (min–max); "
            f"{m.get('cpu_count')} CPUs ({m.get('cpu_model')}); {report['broker']}.",
            "",
            "| step | cold (empty Numba cache) | warm (cache filled) |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp, kafka_broker() as broker:
        workdir = Path(tmp)
        for i in range(args.runs):
            for part, measure in (("kernels", kernels_start), ("worker", None)):
                cache = workdir / f"numba-{part}-{i}"  # empty: the cold start fills it
                for mode in ("cold", "warm"):
                    if measure is not None:
                        result = measure(cache)
                    else:
                        result = worker_start(broker, cache, workdir)
                    runs.append({"run": i, "part": part, "mode": mode, **result})
                    print(f"  run {i} {part} {mode}: {result}", flush=True)
        described = broker.describe()
    summary: dict[str, dict[str, Any]] = {"cold": {}, "warm": {}}
    for mode in summary:
        for key in (
            "import_s",
            "warm_up_s",
            "monitors_warm_up_s",
            "kernels_s",
            "monitor_kernels_s",
            "first_decision_s",
        ):
            values = [r[key] for r in runs if r["mode"] == mode and r.get(key) is not None]
            if values:
                summary[mode][key] = spread(values)
    report = {
        "stamp": stamp,
        "runs": args.runs,
        "broker": described,
        "machine": machine(),
        "results": runs,
        "summary": summary,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / f"startup-{stamp}"
    Path(f"{base}.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    Path(f"{base}.md").write_text(table)
    print("\n" + table)
    print(f"results: {base}.json, {base}.md")
    print(json.dumps({mode: {k: v["median"] for k, v in s.items()} for mode, s in summary.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
