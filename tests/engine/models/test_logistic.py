"""NumbaLogisticRegression against River's LogisticRegression (and StandardScaler pipeline).

Every test runs a seeded stream through both models and compares them at every step.
"""

from __future__ import annotations

import json
import math
import pickle
import random
import sys
import types

import numpy as np
import pytest
from river import compose, linear_model, optim, preprocessing

from engine.models import NumbaLogisticRegression, warm_up

# Hyperparameter sets: defaults, L2, active gradient clipping, and each with scaling.
CONFIGS = [
    {},
    {"l2": 0.01},
    {"lr": 0.1, "intercept_lr": 0.05, "clip_gradient": 0.3},
    {"scale": True},
    {"scale": True, "l2": 0.01},
    {"scale": True, "lr": 0.1, "intercept_lr": 0.0, "clip_gradient": 0.3, "initial_capacity": 1},
]
SEEDS = [0, 1, 2]

# Feature pool: name -> scale of its values (mixed scales make logits saturate and clip).
POOL = {f"f{i}": s for i, s in enumerate([1e-2, 0.1, 1, 1, 5, 10, 50, 100, 1e3, 1e4, 1, 0.5])}
TRUE_WEIGHTS = {name: (-1) ** i / scale for i, (name, scale) in enumerate(POOL.items())}


def river_model(params: dict):
    """River's model with the same hyperparameters as ``NumbaLogisticRegression(**params)``."""
    model = linear_model.LogisticRegression(
        optimizer=optim.SGD(params.get("lr", 0.01)),
        l2=params.get("l2", 0.0),
        intercept_lr=params.get("intercept_lr", 0.01),
        clip_gradient=params.get("clip_gradient", 1e12),
    )
    return preprocessing.StandardScaler() | model if params.get("scale") else model


def row(rng: random.Random, names: list[str] | None = None) -> dict[str, float]:
    """3 to 8 features of the pool (or of ``names``), in random order, of mixed types."""
    names = rng.sample(list(POOL), rng.randint(3, 8)) if names is None else names
    x: dict[str, float] = {}
    for name in names:
        value = rng.gauss(0.5, 1.0) * POOL[name]
        x[name] = round(value) if name == "f5" else value  # an int feature
    return x


def target(rng: random.Random, x: dict[str, float]) -> bool:
    logit = sum(TRUE_WEIGHTS[name] * v for name, v in x.items())
    return rng.random() < 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, logit))))


def stream(seed: int, n: int = 2000) -> list[tuple[dict[str, float], bool]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        x = row(rng)
        out.append((x, target(rng, x)))
    return out


def proba(model, x: dict) -> float:
    return float(model.predict_proba_one(x)[True])


def river_state(reference) -> tuple[dict, float]:
    glm = reference[-1] if isinstance(reference, compose.Pipeline) else reference
    return glm.weights, glm.intercept


# Exactness, one by one


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_learn_one_gives_rivers_probabilities_at_every_step(params: dict, seed: int) -> None:
    model, reference = NumbaLogisticRegression(**params), river_model(params)
    saturated = 0
    for x, y in stream(seed):
        p, expected = proba(model, x), proba(reference, x)
        assert abs(p - expected) <= 1e-9
        saturated += expected in (0.0, 1.0)
        model.learn_one(x, y)
        reference.learn_one(x, y)
    weights, intercept = river_state(reference)
    assert list(model.weights) == list(weights)  # same features, in the order they appeared
    assert np.allclose(list(model.weights.values()), list(weights.values()), rtol=0, atol=1e-9)
    assert model.intercept == pytest.approx(intercept, abs=1e-9)
    assert model.n_learned == 2000
    if not params.get("scale"):
        assert saturated > 0  # the stream reaches River's sigmoid clipping at ±30


def test_an_absent_feature_keeps_its_weight_even_under_l2() -> None:
    model, reference = NumbaLogisticRegression(l2=0.5), river_model({"l2": 0.5})
    for x, y in [({"a": 1.0, "b": 2.0}, True), ({"a": 1.0}, False), ({"c": 0.0}, True)]:
        model.learn_one(x, y)
        reference.learn_one(x, y)
    assert model.weights == reference.weights
    assert model.weights["b"] == 0.01  # learned once, then never decayed while absent
    assert model.weights["c"] == 0.0  # present with value 0: it has a weight, as in River


def test_scaling_ignores_features_never_learned_and_zeroes_constant_ones() -> None:
    model, reference = NumbaLogisticRegression(scale=True), river_model({"scale": True})
    for x, y in [({"a": 1.0, "k": 7.0}, True), ({"a": 3.0, "k": 7.0}, False)]:
        model.learn_one(x, y)
        reference.learn_one(x, y)
    x = {"a": 2.5, "k": 9.0, "new": 1e6}
    assert proba(model, x) == proba(reference, x)
    contributions = model.contributions_one(x)
    assert contributions["a"] != 0.0
    assert contributions["k"] == contributions["new"] == 0.0


def test_kept_layouts_follow_the_schema_as_it_grows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of one key tuple reuse one packed array: its columns must follow new features,
    and a model keeping few layouts (cleared often) must give the same results."""
    from engine.models import logistic

    monkeypatch.setattr(logistic, "MAX_LAYOUTS", 3)
    for params in ({}, {"scale": True}):
        model, reference = NumbaLogisticRegression(**params), river_model(params)
        rng = random.Random(7)
        names = ["f0", "f1", "f2", "f3", "f4"]
        for step in range(400):
            # Few key tuples, seen again and again, some with a feature not learned yet.
            x = row(rng, names[: 2 + step % 4])
            if step % 7 == 0:
                x[f"late{step // 100}"] = 1.5
            assert proba(model, x) == proba(reference, x)
            assert list(model.contributions_one(x)) == list(x)
            if step % 3:
                model.learn_one(x, step % 2 == 0)
                reference.learn_one(x, step % 2 == 0)
        assert len(model._layouts) <= 3
        assert pickle.loads(pickle.dumps(model))._layouts == {}


# Batches of dicts: the engine's fast path


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_predict_proba_dicts_equals_predict_proba_one(params: dict, seed: int) -> None:
    model = NumbaLogisticRegression(**params)
    data = stream(seed, 600)
    for x, y in data[:300]:
        model.learn_one(x, y)
    rows = [x for x, _ in data[300:]]
    rows[3] = {}
    rows[7] = {**rows[7], "never_seen": 12.0}
    got = model.predict_proba_dicts(rows)
    assert got.dtype == np.float64 and got.shape == (len(rows),)
    expected = np.array([proba(model, x) for x in rows])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba_dicts(rows[:1]), expected[:1], atol=1e-12)
    assert model.predict_proba_dicts([]).shape == (0,)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_predict_and_rank_dicts_equals_one_row_at_a_time(params: dict, seed: int) -> None:
    model = NumbaLogisticRegression(**params)
    data = stream(seed, 400)
    for x, y in data[:200]:
        model.learn_one(x, y)
    rows = [x for x, _ in data[200:]]
    rows[5] = {}
    rows[9] = {**rows[9], "never_seen": 3.0}  # a term of 0
    rows[11] = {"a": 1.0, "b": 1.0}  # ties, by name
    rows[12] = {"b": 1.0, "a": 1.0}
    rows[13] = {"x": 0.0, "c": 0.0, "b": 0.0, "a": 0.0}
    for n in (1, 3, 8):
        scores, terms, top, bounds = model.predict_and_rank_dicts(rows, n)
        assert scores.tolist() == [proba(model, x) for x in rows]
        per_row = [list(model.contributions_one(x).values()) for x in rows]
        assert terms == [t for row in per_row for t in row]
        start = 0
        for r, (x, row_terms) in enumerate(zip(rows, per_row, strict=True)):
            positions = range(start, start + len(x))
            expected = sorted(zip([-abs(t) for t in row_terms], x, positions, strict=True))
            assert top[bounds[r] : bounds[r + 1]] == [q for _, _, q in expected[:n]]
            start += len(x)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_runs_of_packed_rows_rank_as_their_dicts_with_the_model_as_it_is(
    params: dict, seed: int
) -> None:
    model = NumbaLogisticRegression(**params)
    data = stream(seed, 600)
    for x, y in data[:100]:
        model.learn_one(x, y)
    rows = [x for x, _ in data[100:400]]
    rows[50] = {**rows[50], "learned_later": 2.0}  # not in the schema when packed
    rows[51] = {}
    packed = model.pack_dicts(rows)
    rng = random.Random(seed)
    start, learned = 0, iter(data[400:])
    while start < len(rows):
        stop = min(len(rows), start + rng.randint(1, 40))
        n = rng.choice([1, 3, 8])
        got = model.predict_and_rank_packed(packed, start, stop, n)
        expected = model.predict_and_rank_dicts(rows[start:stop], n)
        assert got.scores.tolist() == expected.scores.tolist()
        assert (got.terms, got.top, got.top_bounds) == expected[1:]
        for _ in range(rng.randint(1, 5)):  # as labels between runs teach it
            x, y = next(learned)
            model.learn_one(x, y)
        if start <= 50 < stop + 20:
            model.learn_one({"learned_later": 1.0}, True)
        start = stop
    assert "learned_later" in model.weights


def test_a_model_that_learned_nothing_ranks_its_zero_terms_by_name() -> None:
    rows = [{"b": 1.0, "a": 2.0, "c": 3.0}, {"z": 1.0, "y": 0.0}, {"b": 5.0, "a": 1.0, "c": 0.0}]
    scores, terms, top, bounds = NumbaLogisticRegression().predict_and_rank_dicts(rows, 2)
    assert terms == [0.0] * 8 and scores.tolist() == [0.5] * 3
    assert top == [1, 0, 4, 3, 6, 5] and bounds == [0, 2, 4, 6]  # a, b | y, z | a, b


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_learn_dicts_equals_learn_one_in_turn(params: dict, seed: int) -> None:
    batched, one_by_one = NumbaLogisticRegression(**params), NumbaLogisticRegression(**params)
    data = stream(seed)
    rng = random.Random(seed)
    start = 0
    while start < len(data):
        chunk = data[start : start + rng.choice([1, 2, 5, 64, 256])]
        start += len(chunk)
        batched.learn_dicts([x for x, _ in chunk], [y for _, y in chunk])
        for x, y in chunk:
            one_by_one.learn_one(x, y)
        probe = [x for x, _ in data[start : start + 20]]
        np.testing.assert_allclose(
            batched.predict_proba_dicts(probe),
            one_by_one.predict_proba_dicts(probe),
            rtol=0,
            atol=1e-12,
        )
    assert list(batched.weights) == list(one_by_one.weights)
    assert batched.weights == pytest.approx(one_by_one.weights, abs=1e-12)
    assert batched.n_learned == one_by_one.n_learned == len(data)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_predict_learn_dicts_is_river_test_then_train(params: dict, seed: int) -> None:
    batched, reference = NumbaLogisticRegression(**params), river_model(params)
    one_by_one = NumbaLogisticRegression(**params)
    data = stream(seed)
    data[5] = ({}, True)
    rng = random.Random(seed)
    start = 0
    while start < len(data):
        chunk = data[start : start + rng.choice([1, 2, 5, 64, 256])]
        start += len(chunk)
        got = batched.predict_learn_dicts([x for x, _ in chunk], [y for _, y in chunk])
        expected, own = [], []
        for x, y in chunk:
            expected.append(proba(reference, x))
            reference.learn_one(x, y)
            own.append(proba(one_by_one, x))
            one_by_one.learn_one(x, y)
        assert got.shape == (len(chunk),)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)
        assert got.tolist() == own  # to the bit: the same operations in the same order
    assert batched.snapshot() == one_by_one.snapshot()
    weights, intercept = river_state(reference)
    assert batched.weights == pytest.approx(weights, abs=1e-9)
    assert batched.intercept == pytest.approx(intercept, abs=1e-9)
    assert batched.n_learned == len(data)
    assert batched.predict_learn_dicts([], []).shape == (0,)


def test_learn_dicts_needs_one_target_per_row() -> None:
    with pytest.raises(ValueError, match="2 rows but 1 targets"):
        NumbaLogisticRegression().learn_dicts([{"a": 1.0}, {"a": 2.0}], [True])
    with pytest.raises(ValueError, match="2 rows but 1 targets"):
        NumbaLogisticRegression().predict_learn_dicts([{"a": 1.0}, {"a": 2.0}], [True])


def test_contributions_sum_to_the_logit() -> None:
    for params in ({}, {"scale": True}):
        model = NumbaLogisticRegression(**params)
        for x, y in stream(3, 300):
            model.learn_one(x, y)
        for x, _ in stream(4, 50):
            contributions = model.contributions_one(x)
            assert list(contributions) == list(x)
            logit = sum(contributions.values()) + model.intercept
            p = 0.0 if logit < -30 else 1.0 if logit > 30 else 1 / (1 + math.exp(-logit))
            assert proba(model, x) == p


# Dataframes: River's mini-batch semantics


def frames(seed: int, sizes: list[int]):
    """Batches whose columns come and go between batches; every cell is present."""
    rng = random.Random(seed)
    for size in sizes:
        names = rng.sample(list(POOL), rng.randint(2, 8))
        xs = [row(rng, names) for _ in range(size)]
        yield xs, [target(rng, x) for x in xs]


SIZES = [1, 2, 3, 7, 64, 1, 100, 256, 5, 1000, 1024, 17]


@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # River's side
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_learn_many_and_predict_proba_many_follow_river(params: dict, seed: int) -> None:
    pd = pytest.importorskip("pandas")
    model, reference = NumbaLogisticRegression(**params), river_model(params)
    for xs, ys in frames(seed, SIZES):
        X, y = pd.DataFrame(xs), pd.Series(ys)
        got, expected = model.predict_proba_many(X), reference.predict_proba_many(X)
        assert list(got.columns) == [False, True]
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-9)
        assert model.predict_many(X).tolist() == (expected[True] > 0.5).tolist()
        model.learn_many(X, y)
        reference.learn_many(X, y)
    weights, intercept = river_state(reference)
    assert model.weights == pytest.approx(weights, abs=1e-9)
    assert model.intercept == pytest.approx(intercept, abs=1e-9)
    assert model.n_learned == sum(SIZES)


def test_scaled_batches_treat_constant_and_new_features_as_rivers_pipeline() -> None:
    pd = pytest.importorskip("pandas")
    model, reference = NumbaLogisticRegression(scale=True), river_model({"scale": True})
    X = pd.DataFrame({"a": [1.0, 2.0, 4.0], "k": [7.0, 7.0, 7.0]})
    y = pd.Series([True, False, True])
    for m in (model, reference):
        m.learn_many(X, y)
    query = pd.DataFrame({"a": [3.0], "k": [9.0], "new": [5.0]})
    got = model.predict_proba_many(query)[True].iloc[0]
    assert got == pytest.approx(reference.predict_proba_many(query)[True].iloc[0], abs=1e-12)
    one = {"a": 3.0, "k": 9.0, "new": 5.0}
    assert proba(model, one) == pytest.approx(proba(reference, one), abs=1e-12)


def test_an_empty_batch_changes_nothing() -> None:
    pd = pytest.importorskip("pandas")
    model = NumbaLogisticRegression()
    model.learn_many(pd.DataFrame({"a": []}, dtype=float), pd.Series([], dtype=bool))
    assert model.n_learned == 0 and model.weights == {} and model.intercept == 0.0


# River's contract, snapshots, pickling, cloning


@pytest.fixture
def river_checks(monkeypatch: pytest.MonkeyPatch):
    """River's checks; without scikit-learn, an empty stand-in for its import.

    ``river.checks`` imports ``sklearn.datasets`` for the datasets of multi-output
    regressors only; a binary classifier's datasets (Phishing) ship with River.
    """
    try:
        import sklearn  # noqa: F401
    except ImportError:
        stub = types.ModuleType("sklearn")
        stub.datasets = types.ModuleType("sklearn.datasets")  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "sklearn", stub)
        monkeypatch.setitem(sys.modules, "sklearn.datasets", stub.datasets)  # type: ignore[attr-defined]
    from river import checks

    return checks


@pytest.mark.parametrize("params", list(NumbaLogisticRegression._unit_test_params()), ids=str)
def test_passes_rivers_estimator_checks(river_checks, params: dict) -> None:
    river_checks.check_estimator(NumbaLogisticRegression(**params))


@pytest.mark.parametrize("params", CONFIGS, ids=str)
def test_a_restored_snapshot_predicts_and_learns_identically(params: dict) -> None:
    data = stream(5)
    model = NumbaLogisticRegression(**params)
    for x, y in data[:1000]:
        model.learn_one(x, y)
    snapshot = model.snapshot()
    assert json.loads(json.dumps(snapshot)) == snapshot
    assert snapshot["n_learned"] == 1000 and snapshot["hyperparameters"] == model._get_params()
    twin = NumbaLogisticRegression.restore(json.loads(json.dumps(snapshot)))
    assert twin.weights == model.weights and twin.intercept == model.intercept
    for x, y in data[1000:]:
        assert abs(proba(twin, x) - proba(model, x)) <= 1e-15
        model.learn_one(x, y)
        twin.learn_one(x, y)
    assert twin.snapshot() == model.snapshot()


def test_restore_refuses_something_else() -> None:
    with pytest.raises(ValueError, match=r"not a vigil\.NumbaLogisticRegression snapshot"):
        NumbaLogisticRegression.restore({"kind": "other", "version": 1})


def test_pickling_keeps_the_state_and_cloning_forgets_it() -> None:
    data = stream(6, 400)
    model = NumbaLogisticRegression(scale=True, l2=0.01)
    for x, y in data[:200]:
        model.learn_one(x, y)
    copy = pickle.loads(pickle.dumps(model))
    for x, y in data[200:]:
        assert proba(copy, x) == proba(model, x)
        copy.learn_one(x, y)
        model.learn_one(x, y)
    fresh = model.clone()
    assert repr(fresh) == repr(model)
    assert fresh.weights == {} and fresh.n_learned == 0
    assert proba(fresh, data[0][0]) == 0.5


def test_warm_up_reports_seconds() -> None:
    seconds = warm_up()
    assert isinstance(seconds, float) and seconds >= 0.0


def test_the_batch_paths_refuse_what_their_kernels_cannot_take() -> None:
    model = NumbaLogisticRegression()
    packed = model.pack_dicts([{"a": 1.0}, {"b": 2.0}])
    for start, stop, n in ((0, 3, 1), (2, 1, 1), (-1, 1, 1), (0, 2, -1)):
        with pytest.raises(ValueError, match="out of range"):
            model.predict_and_rank_packed(packed, start, stop, n)
    with pytest.raises(ValueError, match="one per row"):
        model.learn_dicts([{"a": 1.0}, {"b": 2.0}], [[1], [0]])
    assert model.weights == {} and model.n_learned == 0
