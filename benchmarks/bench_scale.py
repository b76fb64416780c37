"""The worker through real Kafka across configurations: partitions, batch size, workers, model.

Each configuration is one run of :mod:`benchmarks.bench_kafka` with the ``worker`` and
``baseline`` variants alternating (so each row's ratio is against a bare aiokafka loop
measured in the same run, on the same topics' shape), without latency runs. A
configuration changes one thing from the reference (4 partitions, ``VIGIL_BATCH_MAX``
2,000, the default; one worker process, the Numba model)::

    .venv/bin/python -m benchmarks.bench_scale [--events 20000] [--runs 5]
        [--configs "partitions=1;partitions=8;workers=2"] [--out benchmarks/results]
    vigil bench scale [the same options]

Results: ``scale-<stamp>.json`` (every configuration's bench_kafka report),
``scale-<stamp>.md`` (one table row per configuration) and ``scale-<stamp>.png`` (worker
and bare loop per configuration) in ``--out``; ``--plot FILE.json`` draws the PNG of an
earlier result again.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from benchmarks import bench_kafka

REPO = Path(__file__).resolve().parent.parent

#: The reference configuration; each configuration changes one of these.
REFERENCE = {"partitions": 4, "batch_max": 2000, "workers": 1, "model": "numba"}
DEFAULT_CONFIGS = (
    "partitions=1;partitions=2;partitions=4;partitions=8;"
    "batch_max=100;batch_max=500;workers=2;model=river"
)


def parse_config(text: str) -> dict[str, Any]:
    """``"partitions=8"`` as the reference configuration with that one change.

    >>> parse_config("workers=2")
    {'partitions': 4, 'batch_max': 2000, 'workers': 2, 'model': 'numba'}
    >>> parse_config("cores=3")
    Traceback (most recent call last):
    ...
    ValueError: unknown setting 'cores'; expected one of partitions, batch_max, workers, model
    """
    config = dict(REFERENCE)
    for part in filter(None, text.split(",")):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in REFERENCE:
            raise ValueError(f"unknown setting {name!r}; expected one of {', '.join(REFERENCE)}")
        config[name] = value.strip() if name == "model" else int(value)
    return config


def bench_kafka_argv(config: dict[str, Any], args: argparse.Namespace, out: Path) -> list[str]:
    """The bench_kafka command line of one configuration."""
    return [
        "--variants",
        "worker,baseline",
        "--latency-rates",
        "none",
        "--events",
        str(args.events),
        "--runs",
        str(args.runs),
        "--partitions",
        str(config["partitions"]),
        "--batch-max",
        str(config["batch_max"]),
        "--workers",
        str(config["workers"]),
        "--model",
        config["model"],
        "--seed",
        str(args.seed),
        "--out",
        str(out),
    ]


def row(config: dict[str, Any], report: dict[str, Any]) -> str:
    """One configuration's Markdown row."""
    summary = report["summary"]
    worker = summary.get("worker", {}).get("events_per_s")
    baseline = summary.get("baseline", {}).get("events_per_s")
    ratio = worker["median"] / baseline["median"] if worker and baseline else None
    changed = [f"{k}={v}" for k, v in config.items() if REFERENCE[k] != v] or ["reference"]

    def figure(f: dict[str, float] | None) -> str:
        return f"{f['median']:,.0f} ({f['min']:,.0f}–{f['max']:,.0f})" if f else "–"

    ok = f"{summary['worker']['ok']}/{summary['worker']['runs']}" if "worker" in summary else "–"
    return (
        f"| {', '.join(changed)} | {config['partitions']} | {config['batch_max']} | "
        f"{config['workers']} | {config['model']} | {figure(worker)} | {figure(baseline)} | "
        f"{'–' if ratio is None else f'{ratio:.2f}'} | {ok} |"
    )


def markdown(stamp: str, rows: list[str], args: argparse.Namespace, machine: dict) -> str:
    return "\n".join(
        [
            f"# bench_scale {stamp}",
            "",
            f"{args.events:,} events per run, {args.runs} runs per configuration, worker and "
            f"bare aiokafka loop alternating; {machine.get('cpu_count')} CPUs "
            f"({machine.get('cpu_model')}).",
            "",
            "| configuration | partitions | batch max | workers | model | worker events/s "
            "(median, min–max) | baseline events/s | × baseline | worker runs ok |",
            "|---|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def plot(configs: list[dict[str, Any]], path: Path) -> None:
    """Per configuration, the worker's and the bare loop's median events/s (min–max bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, sides = [], {"worker": ([], [], []), "baseline": ([], [], [])}
    for entry in configs:
        config, summary = entry["config"], entry["report"]["summary"]
        changed = [f"{k}={v}" for k, v in config.items() if REFERENCE[k] != v]
        labels.append("\n".join(changed) or "reference")
        for variant, bars in sides.items():
            rate = summary.get(variant, {}).get("events_per_s")
            for values, value in zip(bars, bench_kafka.error_bar(rate), strict=True):
                values.append(value)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels)), 4.5))
    width = 0.4
    for i, (variant, (medians, low, high)) in enumerate(sides.items()):
        xs = [x + (i - 0.5) * width for x in range(len(labels))]
        name = "worker" if variant == "worker" else "bare aiokafka loop"
        ax.bar(xs, medians, width, yerr=[low, high], capsize=4, label=name)
    (worker, _, above), baseline = sides["worker"], sides["baseline"][0]
    for x, (w, b, top) in enumerate(zip(worker, baseline, above, strict=True)):
        if w and b:
            where = (x - width / 2, w + top)
            ax.annotate(f"{w / b:.2f}×", where, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("events/s (median, min–max)")
    ax.set_title("vigil bench scale: the worker against the bare loop, same run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run (20000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per configuration (5)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="';'-separated changes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument(
        "--plot", type=Path, default=None, help="only draw the PNG of a scale-*.json result"
    )
    args = parser.parse_args(argv)
    if args.plot is not None:
        plot(orjson.loads(args.plot.read_bytes())["configs"], args.plot.with_suffix(".png"))
        print(f"plot: {args.plot.with_suffix('.png')}")
        return 0
    try:
        configs = [parse_config(text) for text in args.configs.split(";") if text.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:4]
    reports, rows, failed = [], [], 0
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for i, config in enumerate(configs):
            print(f"\n## configuration {i + 1}/{len(configs)}: {config}", flush=True)
            out = Path(tmp) / str(i)
            code = bench_kafka.main(bench_kafka_argv(config, args, out))
            failed += code != 0
            found = sorted(out.glob("kafka-*.json"))
            if not found:
                rows.append(f"| {config} | – | – | – | – | failed (exit {code}) | – | – | – |")
                continue
            report = orjson.loads(found[-1].read_bytes())
            reports.append({"config": config, "report": report})
            rows.append(row(config, report))
    machine = reports[0]["report"]["machine"] if reports else {}
    args.out.mkdir(parents=True, exist_ok=True)
    base = args.out / f"scale-{stamp}"
    Path(f"{base}.json").write_bytes(
        orjson.dumps(
            {"stamp": stamp, "configs": reports, "events": args.events, "runs": args.runs},
            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS,
        )
    )
    table = markdown(stamp, rows, args, machine)
    Path(f"{base}.md").write_text(table)
    if reports:
        plot(reports, Path(f"{base}.png"))
    print("\n" + table)
    print(f"results: {base}.json, {base}.md, {base}.png")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
