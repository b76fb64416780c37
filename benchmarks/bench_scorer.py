"""Per-event cost of the engine: ``Scorer.process_event`` and ``process_events`` per event.

Baseline, measured in the same run: the model's own ``predict_proba_one`` on the same
features, so the table shows what the engine adds around the model (state, policy,
explanation). A row runs the same batches with the monitors replaced by a stand-in
that does nothing, so that the difference is what the monitors cost; the last two are
what the worker adds around the engine per event: ``decode_event`` on the events as JSON
bytes, and ``encode`` of their decisions. With labels among the inputs (10 % of the
events, interleaved as the simulator reports them), ``Scorer.process_inputs`` on batches
of 2,000 inputs against the same batches step by step: ``process_events`` on each run of
events between two labels, ``process_label`` on each label (what the worker and the
replay did before ``process_inputs``). Several runs, medians; no number here is asserted
anywhere.

    .venv/bin/python -m benchmarks.bench_scorer [--events 20000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import orjson

from engine.events import Decision, Event, Label, decode_event, encode, parse_event, parse_label
from engine.replay import order_inputs
from engine.scorer import Scorer
from engine.simulate import synthetic_stream
from streams.runtime import relax_garbage_collector


def _events(n: int, seed: int):
    events, _ = synthetic_stream(n_entities=max(10, n // 20), n_events=n, seed=seed)
    return [parse_event(e) for e in events], [orjson.dumps(e) for e in events]


def _inputs(n: int, seed: int) -> tuple[list[Event | Label], list[int]]:
    """``n`` events and their labels in the order the engine sees them, and positions."""
    events, labels = synthetic_stream(
        n_entities=max(10, n // 20), n_events=n, seed=seed, label_rate=0.1
    )
    inputs = order_inputs(
        events=[(i, parse_event(e)) for i, e in enumerate(events)],
        labels=[(i, parse_label(lb)) for i, lb in enumerate(labels)],
    )
    return [i.item for i in inputs], [i.position for i in inputs]


def _step_by_step(scorer: Scorer, inputs: list[Event | Label], positions: list[int]) -> None:
    """The inputs as runs of events through ``process_events`` (then ``take_alerts``)
    and labels through ``process_label``."""
    run: list[tuple[Event, int]] = []
    for item, position in [*zip(inputs, positions, strict=True), (None, 0)]:
        if isinstance(item, Event):
            run.append((item, position))
            continue
        if run:
            scorer.process_events([e for e, _ in run], positions=[p for _, p in run])
            scorer.take_alerts()
            run = []
        if item is not None:
            scorer.process_label(item, position=position)


class _NoMonitors:
    """Monitors that watch nothing: what the engine costs without them."""

    def observe_event(self, **_: object) -> list:
        return []

    def queue_event(self, **_: object) -> None:
        return None

    def take_alerts(self) -> list:
        return []

    def observe_label(self, **_: object) -> list:
        return []

    def observe_learned(self, **_: object) -> list:
        return []


def _warm_scorer(seed: int) -> Scorer:
    """A scorer whose model has learned something, as in production."""
    from engine.replay import replay

    events, labels = synthetic_stream(n_entities=100, n_events=3000, seed=seed + 1)
    scorer = Scorer(seed=seed)
    inputs = order_inputs(
        events=[(i, parse_event(e)) for i, e in enumerate(events)],
        labels=[(i, parse_label(lb)) for i, lb in enumerate(labels)],
    )
    for _ in replay(inputs, scorer):
        pass
    scorer.states.clear()
    return scorer


def measure(n_events: int, runs: int, seed: int) -> dict[str, list[float]]:
    events, raws = _events(n_events, seed)
    labelled, positions = _inputs(n_events, seed)
    relax_garbage_collector()  # as `vigil replay` and the worker do
    results: dict[str, list[float]] = {}

    def record(name: str, seconds: float) -> None:
        results.setdefault(name, []).append(seconds / n_events * 1e6)

    for _ in range(runs):
        scorer = _warm_scorer(seed)
        model = scorer.model
        began = time.perf_counter()
        for e in events:
            model.predict_proba_one(e.features)
        record("baseline: model.predict_proba_one", time.perf_counter() - began)

        scorer = _warm_scorer(seed)
        began = time.perf_counter()
        for e in events:
            scorer.process_event(e)
        record("Scorer.process_event", time.perf_counter() - began)

        for size in (64, 256):
            scorer = _warm_scorer(seed)
            began = time.perf_counter()
            for start in range(0, n_events, size):
                scorer.process_events(events[start : start + size])
            record(f"Scorer.process_events (batch {size})", time.perf_counter() - began)

        scorer = _warm_scorer(seed)
        scorer.monitors = _NoMonitors()
        decisions: list[Decision] = []
        began = time.perf_counter()
        for start in range(0, n_events, 256):
            decisions += scorer.process_events(events[start : start + 256])
        record("same, batch 256, monitors off", time.perf_counter() - began)

        began = time.perf_counter()
        for raw in raws:
            decode_event(raw)
        record("decode_event (JSON bytes to Event)", time.perf_counter() - began)

        began = time.perf_counter()
        for decision in decisions:
            encode(decision)
        record("encode (Decision to JSON bytes)", time.perf_counter() - began)

        size = 2000
        scorer = _warm_scorer(seed)
        began = time.perf_counter()
        for start in range(0, len(labelled), size):
            stop = start + size
            _step_by_step(scorer, labelled[start:stop], positions[start:stop])
        record("10 % labels: step by step (2,000 inputs)", time.perf_counter() - began)

        scorer = _warm_scorer(seed)
        began = time.perf_counter()
        for start in range(0, len(labelled), size):
            stop = start + size
            scorer.process_inputs(labelled[start:stop], positions=positions[start:stop])
        record("10 % labels: Scorer.process_inputs", time.perf_counter() - began)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = measure(args.events, args.runs, args.seed)
    baseline = statistics.median(results["baseline: model.predict_proba_one"])
    print(
        f"{args.events} events, {args.runs} runs, median µs per event "
        "(default model: NumbaLogisticRegression with scaling; monitors on)\n"
    )
    print(f"| {'what':<40} | µs/event (median) | min-max | ratio to baseline |")
    print(f"|{'-' * 42}|-------------------|---------|-------------------|")
    for name, values in results.items():
        median = statistics.median(values)
        print(
            f"| {name:<40} | {median:17.1f} | {min(values):.1f}-{max(values):.1f} | "
            f"{median / baseline:17.2f} |"
        )


if __name__ == "__main__":
    main()
