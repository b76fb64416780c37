"""The whole engine offline: events/s of ``vigil replay`` with the Numba model vs River's.

JSON in and out included, no Kafka: the seed scenario written as JSONL, then replayed
through the same :class:`~engine.scorer.Scorer` the worker runs (state, policy, label
rule, monitors, explanations), once with each model, alternating, several runs; medians.

    .venv/bin/python -m benchmarks.bench_replay [--entities 2000] [--days 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from engine.models import warm_up
from engine.simulate import Scenario
from streams.process import build_scorer
from streams.replay import replay_files
from streams.runtime import relax_garbage_collector
from streams.settings import Settings
from streams.simulate import write_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=2000)
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    warm_up()
    relax_garbage_collector()  # as `vigil replay` and the worker do
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        counts = write_scenario(Scenario(n_entities=args.entities, days=args.days), folder)
        seconds: dict[str, list[float]] = {"numba": [], "river": []}
        for _ in range(args.runs):
            for model in seconds:
                began = time.perf_counter()
                replay_files(
                    events_path=folder / "events.jsonl",
                    labels_path=folder / "labels.jsonl",
                    out_dir=folder / f"out-{model}",
                    scorer=build_scorer(Settings(), model=model),
                    max_message_bytes=1 << 20,
                    progress=False,
                )
                seconds[model].append(time.perf_counter() - began)
    n = counts["events"]
    print(
        f"{n} events and {counts['labels']} labels ({args.entities} entities, {args.days} "
        f"days), {args.runs} runs each, alternating\n"
    )
    print("| model | events/s (median) | min-max | ratio to River |")
    print("|---|---|---|---|")
    river = n / statistics.median(seconds["river"])
    for model, values in seconds.items():
        rates = [n / s for s in values]
        median = statistics.median(rates)
        print(
            f"| {model} | {median:,.0f} | {min(rates):,.0f}-{max(rates):,.0f} | "
            f"{median / river:.2f} |"
        )


if __name__ == "__main__":
    main()
