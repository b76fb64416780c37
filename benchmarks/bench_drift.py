"""How well the concept-drift monitor detects drift: delay, false alarms, misses.

On River's synthetic streams with drift at a known position (SEA and Agrawal; abrupt:
one concept then the other; gradual: ``ConceptDriftStream`` with a width), a scaled
logistic regression learns prequentially (predict, then learn) and each detector watches
its 0/1 error through :class:`engine.monitors.StreamDrift`, exactly as the engine's
``concept_drift`` monitor does. Stationary streams (no drift) count false alarms.

- delay: events from the drift position to the first detection at or after it;
- false alarms: detections before the drift position, and all detections on stationary
  streams, per 100k events;
- missed: drift streams with no detection after the drift position.

    .venv/bin/python -m benchmarks.bench_drift [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from river import linear_model, preprocessing
from river.datasets import synth

from engine.monitors import DETECTORS, StreamDrift

Stream = Iterator[tuple[dict, bool]]


def sea(seed: int, variant: int) -> synth.SEA:
    return synth.SEA(seed=seed, variant=variant)


def agrawal(seed: int, function: int) -> synth.Agrawal:
    return synth.Agrawal(classification_function=function, seed=seed)


def abrupt(make: Callable[[int, int], Any], a: int, b: int, seed: int, position: int) -> Stream:
    return itertools.chain(itertools.islice(make(seed, a), position), make(seed + 1000, b))


def gradual(
    make: Callable[[int, int], Any], a: int, b: int, seed: int, position: int, width: int
) -> Stream:
    return iter(
        synth.ConceptDriftStream(
            stream=make(seed, a),
            drift_stream=make(seed + 1000, b),
            position=position,
            width=width,
            seed=seed,
        )
    )


def errors(stream: Iterable[tuple[dict, bool]], n: int) -> list[float]:
    model = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    out = []
    for x, y in itertools.islice(stream, n):
        p = model.predict_proba_one(x).get(True, 0.0)
        out.append(float((p >= 0.5) != bool(y)))
        model.learn_one(x, y)
    return out


def detections(errs: list[float], detector: str) -> list[int]:
    drift = StreamDrift(detector, cooldown=1000, direction="increase")  # as the engine's monitor
    return [i for i, e in enumerate(errs) if drift.update(e)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and shorter streams")
    args = parser.parse_args()
    seeds = range(2) if args.quick else range(5)
    sea_n, agr_n = (6000, 4000) if args.quick else (20_000, 8000)
    stationary_sea, stationary_agr = (20_000, 6000) if args.quick else (100_000, 20_000)

    scenarios = []  # (name, position, errors)
    for seed in seeds:
        p = sea_n // 2
        scenarios.append(("SEA 0→3 abrupt", p, errors(abrupt(sea, 0, 3, seed, p), sea_n)))
        scenarios.append(
            ("SEA 0→3 gradual (width 2000)", p, errors(gradual(sea, 0, 3, seed, p, 2000), sea_n))
        )
    for seed in list(seeds)[:3]:
        p = agr_n // 2
        scenarios.append(("Agrawal 0→4 abrupt", p, errors(abrupt(agrawal, 0, 4, seed, p), agr_n)))
        scenarios.append(
            (
                "Agrawal 0→4 gradual (width 1000)",
                p,
                errors(gradual(agrawal, 0, 4, seed, p, 1000), agr_n),
            )
        )
    stationary = [errors(iter(sea(seed, 0)), stationary_sea) for seed in seeds]
    stationary += [errors(iter(agrawal(seed, 0)), stationary_agr) for seed in list(seeds)[:2]]
    stationary_events = sum(len(e) for e in stationary)

    print(
        f"seeds {list(seeds)}; drift streams: SEA {sea_n} events, Agrawal {agr_n} events, "
        f"drift at the middle; stationary: {stationary_events} events\n"
    )
    print(
        "| detector | stream | detected | median delay | delays | false alarms before drift /100k |"
    )
    print("|---|---|---|---|---|---|")
    summary = {}
    for detector in DETECTORS:
        all_delays, missed, total = [], 0, 0
        for name in dict.fromkeys(s[0] for s in scenarios):
            delays, before, n_before, found = [], 0, 0, 0
            runs = [s for s in scenarios if s[0] == name]
            for _, position, errs in runs:
                hits = detections(errs, detector)
                before += sum(h < position for h in hits)
                n_before += position
                after = [h - position for h in hits if h >= position]
                if after:
                    delays.append(after[0])
                    found += 1
            all_delays += delays
            missed += len(runs) - found
            total += len(runs)
            median = f"{statistics.median(delays):.0f}" if delays else "—"
            print(
                f"| {detector} | {name} | {found}/{len(runs)} | {median} | "
                f"{delays} | {before / n_before * 1e5:.1f} |"
            )
        false = sum(len(detections(e, detector)) for e in stationary)
        summary[detector] = (missed, total, all_delays, false / stationary_events * 1e5)
    print("\n| detector | missed | median delay (all drifts) | false alarms /100k stationary |")
    print("|---|---|---|---|")
    for detector, (missed, total, delays, false) in summary.items():
        median = f"{statistics.median(delays):.0f}" if delays else "—"
        print(f"| {detector} | {missed}/{total} | {median} | {false:.1f} |")


if __name__ == "__main__":
    main()
