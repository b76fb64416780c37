"""Model step (predict, then learn) in µs per event: NumbaLogisticRegression against River.

Both sides run in the same process and the same runs, on the same seeded stream, with the
same hyperparameters, plain and with standard scaling (River: ``StandardScaler() |
LogisticRegression()``). Columns:

- one by one: ``predict_proba_one`` then ``learn_one``, on both sides; River's is also the
  reference of the batch rows with the same semantics as ``learn_dicts``. The stream's rows
  have random subsets of features in random order, so nearly every row is a new tuple of
  keys (the worst case of the model's per-key-tuple layouts); the "same keys" rows give every
  event the same 6 features in the same order, as the simulator's (and most producers')
  events have;
- Numba dicts: the engine's path, ``predict_proba_dicts`` then ``learn_dicts`` on a batch of
  feature dicts (converting them included); ``learn_dicts`` equals ``learn_one`` on each row;
- Numba test-then-train: ``predict_learn_dicts`` on a batch of feature dicts, each row's
  prediction then its learning in one kernel call, one conversion: River's one-by-one
  semantics exactly (progressive validation), for a caller that has each label with its
  features (offline evaluation). The engine online cannot: its labels come later;
- frames: ``predict_proba_many`` then ``learn_many`` on prebuilt dataframes (absent features
  as 0: River's mini-batches must be dense); ``learn_many`` takes one step along the batch's
  mean gradient, on both sides;
- River frames + build: the same, plus building the dataframe from the dicts, which is what
  River's mini-batches cost a caller that holds dicts, as the engine does.

Medians over the runs, min-max beside them; a speed-up is a River median over a Numba
median. Nothing here is asserted anywhere.

    .venv/bin/python -m benchmarks.bench_model [--runs 5] [--events 4096] [--seed 0]
        [--batch-sizes 1,64,256,1024]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import warnings
from collections.abc import Callable

import pandas as pd
from river import linear_model, preprocessing

from engine.models import NumbaLogisticRegression, warm_up

BATCH_SIZES = (1, 64, 256, 1024)
POOL = {f"f{i}": s for i, s in enumerate([1e-2, 0.1, 1, 1, 5, 10, 50, 100, 1e3, 1e4, 1, 0.5])}

Batch = tuple[list[dict[str, float]], list[bool], pd.DataFrame, pd.Series]


def stream(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    """3 to 8 features of a pool of 12, of mixed scales, in random order; ~30 % positives."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        names = rng.sample(list(POOL), rng.randint(3, 8))
        x = {name: rng.gauss(0.5, 1.0) * POOL[name] for name in names}
        out.append((x, rng.random() < 0.3))
    return out


def same_keys(data: list[tuple[dict[str, float], bool]]) -> list[tuple[dict[str, float], bool]]:
    """The stream with every row's features replaced by the same 6, in the same order."""
    rng = random.Random(len(data))
    names = list(POOL)[:6]
    return [({name: rng.gauss(0.5, 1.0) * POOL[name] for name in names}, y) for _, y in data]


def frame(rows: list[dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows).fillna(0.0)


def batches_of(data: list[tuple[dict[str, float], bool]], size: int) -> list[Batch]:
    out = []
    for start in range(0, len(data), size):
        rows = [x for x, _ in data[start : start + size]]
        ys = [y for _, y in data[start : start + size]]
        out.append((rows, ys, frame(rows), pd.Series(ys)))
    return out


def river_model(scale: bool):
    model = linear_model.LogisticRegression()
    return preprocessing.StandardScaler() | model if scale else model


def one_by_one(model, data: list[tuple[dict[str, float], bool]]) -> None:
    for x, y in data:
        model.predict_proba_one(x)
        model.learn_one(x, y)


def dicts(model: NumbaLogisticRegression, batches: list[Batch]) -> None:
    for rows, ys, _, _ in batches:
        model.predict_proba_dicts(rows)
        model.learn_dicts(rows, ys)


def test_then_train(model: NumbaLogisticRegression, batches: list[Batch]) -> None:
    for rows, ys, _, _ in batches:
        model.predict_learn_dicts(rows, ys)


def frames(model, batches: list[Batch]) -> None:
    for _, _, X, y in batches:
        model.predict_proba_many(X)
        model.learn_many(X, y)


def frames_built(model, batches: list[Batch]) -> None:
    for rows, _, _, y in batches:
        X = frame(rows)
        model.predict_proba_many(X)
        model.learn_many(X, y)


def measure(
    n_events: int, runs: int, seed: int, batch_sizes: tuple[int, ...] = BATCH_SIZES
) -> dict[tuple[str, str], list[float]]:
    """µs per event by (row, column) of the tables, one value per run."""
    data = stream(n_events, seed)
    fixed = same_keys(data)
    batches = {size: batches_of(data, size) for size in batch_sizes}
    results: dict[tuple[str, str], list[float]] = {}

    def record(row: str, column: str, model, step: Callable, inputs) -> None:
        began = time.perf_counter()
        step(model, inputs)
        us = (time.perf_counter() - began) / n_events * 1e6
        results.setdefault((row, column), []).append(us)

    for _ in range(runs):
        for scale in (False, True):
            name = "scaled" if scale else "plain"
            row = f"{name}, one by one"
            record(row, "Numba", NumbaLogisticRegression(scale=scale), one_by_one, data)
            record(row, "River", river_model(scale), one_by_one, data)
            row = f"{name}, one by one, same keys"
            record(row, "Numba", NumbaLogisticRegression(scale=scale), one_by_one, fixed)
            record(row, "River", river_model(scale), one_by_one, fixed)
            for size, chunks in batches.items():
                row = f"{name}, batch {size}"
                record(row, "Numba dicts", NumbaLogisticRegression(scale=scale), dicts, chunks)
                record(
                    row,
                    "Numba test-then-train",
                    NumbaLogisticRegression(scale=scale),
                    test_then_train,
                    chunks,
                )
                record(row, "Numba frames", NumbaLogisticRegression(scale=scale), frames, chunks)
                record(row, "River frames", river_model(scale), frames, chunks)
                record(row, "River frames + build", river_model(scale), frames_built, chunks)
    for name in ("plain", "scaled"):  # the same-semantics reference of learn_dicts
        for size in batch_sizes:
            results[(f"{name}, batch {size}", "River one by one")] = results[
                (f"{name}, one by one", "River")
            ]
    return results


def table(
    results: dict[tuple[str, str], list[float]],
    columns: list[str],
    speedups: list[tuple[str, str]],
) -> str:
    """A Markdown table of the rows measured in ``columns``; each (River, Numba) pair of
    ``speedups`` adds the ratio of their medians."""

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    def ratio(row: str, river: str, numba: str) -> str:
        median = statistics.median
        return f"{median(results[(row, river)]) / median(results[(row, numba)]):.1f}x"

    header = [f"{c} µs" for c in columns] + [f"{river} / {numba}" for river, numba in speedups]
    lines = ["| model, step | " + " | ".join(header) + " |", "|---|" + "---:|" * len(header)]
    for row in dict.fromkeys(r for r, c in results if c == columns[0]):
        cells = [cell(results[(row, c)]) for c in columns]
        cells += [ratio(row, river, numba) for river, numba in speedups]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--batch-sizes",
        default=",".join(map(str, BATCH_SIZES)),
        help="comma-separated batch sizes (default: %(default)s)",
    )
    args = parser.parse_args()
    batch_sizes = tuple(int(size) for size in args.batch_sizes.split(","))
    # River's vectorised sigmoid and loss overflow exp() on saturated logits; harmless here.
    warnings.filterwarnings("ignore", "overflow encountered in exp", RuntimeWarning)
    print(f"warm_up: {warm_up():.3f} s")
    # First pandas/narwhals calls: untimed.
    measure(n_events=1024, runs=1, seed=args.seed + 1, batch_sizes=batch_sizes)
    results = measure(args.events, args.runs, args.seed, batch_sizes)
    print(f"{args.events} events, {args.runs} runs; µs per event, median (min-max)\n")
    print(table(results, ["Numba", "River"], [("River", "Numba")]))
    print()
    columns = [
        "Numba dicts",
        "Numba test-then-train",
        "Numba frames",
        "River one by one",
        "River frames",
        "River frames + build",
    ]
    speedups = [
        ("River one by one", "Numba dicts"),
        ("River one by one", "Numba test-then-train"),
        ("River frames", "Numba dicts"),
        ("River frames + build", "Numba dicts"),
        ("River frames", "Numba frames"),
    ]
    print(table(results, columns, speedups))


if __name__ == "__main__":
    main()
