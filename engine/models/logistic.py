"""Online logistic regression whose arithmetic runs in Numba kernels (:mod:`._kernels`)."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import struct
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from operator import neg
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from river import base, utils

from engine.models import _kernels as k

if TYPE_CHECKING:
    from narwhals.stable.v2.typing import IntoDataFrame, IntoSeries

__all__ = ["NumbaLogisticRegression", "PackedRows", "Ranked", "warm_up"]

SNAPSHOT_KIND = "vigil.NumbaLogisticRegression"
SNAPSHOT_VERSION = 1

# `map(schema.get, x, _MISSING)` looks every key of x up with -1 for a feature not in the
# schema. `map` stops at its shortest iterable, so one shared endless iterator serves every call.
_MISSING = itertools.repeat(-1)

#: Key tuples whose packed rows a model keeps (see `NumbaLogisticRegression._row`).
MAX_LAYOUTS = 1024


class _Layout(NamedTuple):
    """A packed row for dicts with one tuple of keys: its columns are written once, its values
    at each call, by ``pack_values(row, offset, *values)``."""

    row: np.ndarray
    pack_values: Callable[..., None]
    complete: bool  # every key is in the schema


@functools.cache
def _packers(n: int) -> tuple[Callable[..., None], Callable[..., None]]:
    """``pack_into`` of n float64s and of 2n float64s."""
    return struct.Struct(f"{n}d").pack_into, struct.Struct(f"{2 * n}d").pack_into


def _packed_array(code: str, count: int, values: Iterable[Any]) -> np.ndarray:
    """``count`` values as a new int64 (``code`` "q") or float64 ("d") array.

    ``struct`` converts each value as ``int()``/``float()`` would, at about half
    ``np.fromiter``'s cost per value.
    """
    out = np.empty(count, np.int64 if code == "q" else np.float64)
    struct.pack_into(f"{count}{code}", out, 0, *values)
    return out


class Ranked(NamedTuple):
    """What :meth:`NumbaLogisticRegression.predict_and_rank_dicts` returns for a batch."""

    scores: np.ndarray  #: P(True) of each row
    terms: list[float]  #: every row's terms of the logit, in one list, each in its dict's order
    top: list[int]  #: positions in ``terms`` of each row's top terms, largest first
    top_bounds: list[int]  #: row r's top is ``top[top_bounds[r]:top_bounds[r + 1]]``


def _targets(ys: Sequence[base.typing.ClfTarget]) -> np.ndarray:
    """``ys`` as the kernels take them: float64, one per row, 0 as False, the rest as True."""
    targets = np.array(ys, dtype=np.float64)
    if targets.ndim != 1:
        raise ValueError(f"targets must be one per row, got an array of shape {targets.shape}")
    return targets


def _rank_by_name(ranked: Ranked, x: dict[Hashable, Any], start: int, r: int) -> None:
    """Rank row ``r`` (dict ``x``, whose terms begin at ``start``) as ``sorted`` would, ties
    broken by name: for rows whose terms tie in absolute value."""
    first, stop = ranked.top_bounds[r], ranked.top_bounds[r + 1]
    terms = ranked.terms[start : start + len(x)]
    order = sorted(zip(map(neg, map(abs, terms)), x, itertools.count(start)))
    ranked.top[first:stop] = [position for _, _, position in order[: stop - first]]


def _rank_ties(
    ranked: Ranked, rows: Sequence[dict[Hashable, Any]], starts: list[int], tied: list[int]
) -> None:
    """Rank by name the rows whose terms tie (``tied``, as ``top_contributions_rows`` gives it;
    row ``r``'s terms begin at ``starts[r]``)."""
    by_name: dict[tuple[Hashable, ...], list[int]] = {}  # per tuple of keys
    for r, how in enumerate(tied):
        if how == 1:
            _rank_by_name(ranked, rows[r], starts[r], r)
        elif how == 2:  # all of one size (e.g. a model that has learned nothing)
            keys = tuple(rows[r])
            order = by_name.get(keys)
            if order is None:
                order = by_name[keys] = sorted(range(len(keys)), key=keys.__getitem__)
            first, stop = ranked.top_bounds[r], ranked.top_bounds[r + 1]
            ranked.top[first:stop] = [starts[r] + i for i in order[: stop - first]]


@dataclasses.dataclass(slots=True)
class PackedRows:
    """Feature dicts converted once (:meth:`NumbaLogisticRegression.pack_dicts`): row ``r`` is
    ``idx/val[indptr[r]:indptr[r + 1]]``, ``idx`` as the schema was at ``n_features``; and the
    arrays each run's scores and ranks are written to."""

    rows: Sequence[dict[Hashable, Any]]
    indptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    n_features: int
    scores: np.ndarray
    terms: np.ndarray
    top: np.ndarray
    top_bounds: np.ndarray
    tied: np.ndarray


class NumbaLogisticRegression(base.MiniBatchClassifier):
    """Logistic regression learned by SGD, optionally on online standard-scaled features.

    It computes what ``linear_model.LogisticRegression(optim.SGD(lr), l2=l2, ...)`` computes
    (or, with ``scale``, ``preprocessing.StandardScaler() | linear_model.LogisticRegression(...)``),
    operation for operation, but on numpy arrays in compiled kernels: one column per feature,
    in a schema that grows as features appear. A feature absent from ``x`` contributes nothing
    to the logit, and neither its weight (L2 included) nor its scaling statistics are updated.

    Besides River's methods, it offers a batch fast path for the engine:
    `predict_proba_dicts` and `learn_dicts` take lists of feature dicts and make one kernel
    call each; `learn_dicts` equals `learn_one` on each row in turn (whereas `learn_many`, as
    in River, takes a single step along the batch's mean gradient).

    One row costs little more than its conversion: the columns of each tuple of keys seen are
    kept with a reused array (up to `MAX_LAYOUTS` tuples, forgotten when the schema grows), so
    a call converts only the values, and the one-row kernels that predict and learn are
    called without Numba's dispatch. As those arrays are reused, an instance is not safe to
    share between threads, even only to predict.

    Parameters
    ----------
    lr
        Learning rate of the weights' SGD (River's default ``optim.SGD(0.01)``).
    l2
        Amount of L2 regularization pushing the weights of the features present towards 0.
    intercept_lr
        Learning rate of the intercept; 0 keeps it at 0.
    clip_gradient
        Clips the absolute value of the loss gradient of each sample.
    scale
        Whether to scale each feature with its running mean and variance first, as River's
        ``preprocessing.StandardScaler`` does in a pipeline.
    initial_capacity
        How many features the arrays hold before they first double.

    Attributes
    ----------
    weights
        The current weights, by feature, in the order the features appeared.
    intercept
        The current intercept.
    n_learned
        How many samples the model has learned.

    Examples
    --------

    On a seeded stream it gives the probabilities of River's own pipeline:

    >>> import random
    >>> from river import linear_model, preprocessing
    >>> from engine.models import NumbaLogisticRegression

    >>> rng = random.Random(42)
    >>> model = NumbaLogisticRegression(scale=True)
    >>> reference = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    >>> gap = 0.0
    >>> for _ in range(500):
    ...     x = {"amount": rng.expovariate(0.01), "n_devices": rng.randint(1, 5)}
    ...     if rng.random() < 0.5:
    ...         x["account_age_days"] = rng.uniform(0, 3650)
    ...     y = x["amount"] > 150 or x["n_devices"] > 3
    ...     p, q = model.predict_proba_one(x)[True], reference.predict_proba_one(x)[True]
    ...     gap = max(gap, abs(p - q))
    ...     model.learn_one(x, y)
    ...     reference.learn_one(x, y)
    >>> gap < 1e-12
    True
    >>> x = {"amount": 420.0, "n_devices": 4}
    >>> round(model.predict_proba_one(x)[True], 4)
    0.9361

    Each feature's share of the logit:

    >>> {name: round(c, 4) for name, c in model.contributions_one(x).items()}
    {'amount': 1.8701, 'n_devices': 0.6391}

    A snapshot is plain JSON, and the model restored from it carries on identically:

    >>> import json
    >>> twin = NumbaLogisticRegression.restore(json.loads(json.dumps(model.snapshot())))
    >>> twin.predict_proba_one(x) == model.predict_proba_one(x)
    True

    """

    def __init__(
        self,
        *,
        lr: float = 0.01,
        l2: float = 0.0,
        intercept_lr: float = 0.01,
        clip_gradient: float = 1e12,
        scale: bool = False,
        initial_capacity: int = 16,
    ) -> None:
        if initial_capacity < 1:
            raise ValueError(f"initial_capacity must be at least 1, got {initial_capacity}")
        self.lr = lr
        self.l2 = l2
        self.intercept_lr = intercept_lr
        self.clip_gradient = clip_gradient
        self.scale = scale
        self.initial_capacity = initial_capacity
        self._reset()

    def _reset(self) -> None:
        """Forget everything learned."""
        self._schema: dict[Hashable, int] = {}  # feature -> column
        self._features: list[Hashable] = []  # column -> feature
        # Rows k.WEIGHTS, k.COUNTS, k.MEANS, k.VARS; one column per feature.
        self._state = np.zeros((4, self.initial_capacity))
        self._intercept = 0.0
        self._n_learned = 0
        self._layouts: dict[tuple[Hashable, ...], _Layout] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_layouts"] = {}  # a cache, rebuilt on use (and its packers do not pickle)
        return state

    @property
    def _mutable_attributes(self) -> set[str]:
        return {"lr", "l2", "intercept_lr", "clip_gradient"}

    @classmethod
    def _unit_test_params(cls):
        yield {}
        yield {"scale": True}
        yield {"l2": 0.01, "lr": 0.05, "initial_capacity": 1}

    def _unit_test_skips(self) -> set[str]:
        # As River's GLM: `learn_many` takes one mean-gradient step per batch, by design.
        return {"check_learn_many_matches_learn_one"}

    @property
    def weights(self) -> dict[Hashable, float]:
        w = self._state[k.WEIGHTS]
        return {name: float(w[j]) for j, name in enumerate(self._features)}

    @property
    def intercept(self) -> float:
        return self._intercept

    @property
    def n_learned(self) -> int:
        return self._n_learned

    # Schema

    def _add_features(self, features: Iterable[Hashable]) -> None:
        """Give each new feature a column, doubling the arrays when they are full."""
        schema = self._schema
        n_before = len(self._features)
        for name in features:
            if name not in schema:
                schema[name] = len(self._features)
                self._features.append(name)
        if len(self._features) == n_before:
            return
        self._layouts.clear()  # their columns of -1 may have become known
        capacity = self._state.shape[1]
        if len(self._features) > capacity:
            while capacity < len(self._features):
                capacity *= 2
            state = np.zeros((4, capacity))
            state[:, : self._state.shape[1]] = self._state
            self._state = state

    def _row(self, x: Mapping[Hashable, Any]) -> np.ndarray:
        """x packed as the row kernels take it, in x's order: the schema column of each feature
        (-1 for a feature not in the schema), then the values.

        The array is kept for x's tuple of keys and reused: it is valid until the next call.
        """
        keys = tuple(x)
        layout = self._layouts.get(keys)
        if layout is None:
            return self._new_layout(keys, x.values()).row
        layout.pack_values(layout.row, 8 * len(keys), *x.values())
        return layout.row

    def _row_to_learn(self, x: Mapping[Hashable, Any]) -> np.ndarray:
        """As `_row`, after adding x's new features to the schema."""
        keys = tuple(x)
        layout = self._layouts.get(keys)
        if layout is None or not layout.complete:
            self._add_features(keys)
            return self._new_layout(keys, x.values()).row
        layout.pack_values(layout.row, 8 * len(keys), *x.values())
        return layout.row

    def _new_layout(self, keys: tuple[Hashable, ...], values: Iterable[Any]) -> _Layout:
        """The `_Layout` of ``keys``, kept, with ``values`` packed in its row."""
        if len(self._layouts) >= MAX_LAYOUTS:
            self._layouts.clear()
        n = len(keys)
        pack_values, pack_row = _packers(n)
        columns = list(map(self._schema.get, keys, _MISSING))
        row = np.empty(2 * n)
        pack_row(row, 0, *columns, *values)
        layout = self._layouts[keys] = _Layout(row, pack_values, -1 not in columns)
        return layout

    def _csr(self, rows: Sequence[dict[Hashable, Any]], *, learn: bool = False):
        """Rows of dicts as CSR-like arrays: row r is ``idx/val[indptr[r]:indptr[r + 1]]``.

        To learn, x's new features are added to the schema first; otherwise a feature not in
        the schema gets column -1. The loops over features run in C (``map``, ``chain``,
        ``struct``), not in Python bytecode.
        """
        lengths = list(map(len, rows))
        nnz = sum(lengths)
        indptr = _packed_array("q", len(rows) + 1, itertools.accumulate(lengths, initial=0))
        keys = itertools.chain.from_iterable
        if not learn:
            idx = _packed_array("q", nnz, map(self._schema.get, keys(rows), _MISSING))
        else:
            try:
                idx = _packed_array("q", nnz, map(self._schema.__getitem__, keys(rows)))
            except KeyError:
                self._add_features(keys(rows))
                idx = _packed_array("q", nnz, map(self._schema.__getitem__, keys(rows)))
        val = _packed_array("d", nnz, keys(map(dict.values, rows)))
        return indptr, idx, val

    def _hyperparameters(self) -> tuple[float, float, float, float, bool]:
        return (
            float(self.lr),
            float(self.l2),
            float(self.intercept_lr),
            float(self.clip_gradient),
            bool(self.scale),
        )

    # Single instance methods

    def learn_one(self, x: dict[Hashable, Any], y: base.typing.ClfTarget) -> None:
        self._intercept = k.compiled().learn_row(
            self._row_to_learn(x),
            0.0 if y == 0 else 1.0,
            self._state,
            self._intercept,
            self.lr,
            self.l2,
            self.intercept_lr,
            self.clip_gradient,
            self.scale,
        )
        self._n_learned += 1

    def predict_proba_one(self, x: dict[Hashable, Any], **kwargs: Any) -> dict[bool, float]:
        p = k.compiled().predict_row(self._row(x), self._state, self._intercept, self.scale)
        return {False: 1.0 - p, True: p}

    def contributions_one(self, x: dict[Hashable, Any]) -> dict[Hashable, float]:
        """Each feature's term of the logit: its weight times its (scaled) value.

        A feature the model has never learned contributes 0. The terms, summed in x's order,
        plus the intercept, are the logit ``predict_proba_one`` takes the sigmoid of.
        """
        terms = k.contributions_row(self._row(x), self._state, bool(self.scale))
        return dict(zip(x, terms.tolist(), strict=True))

    # Fast paths for batches of dicts

    def predict_proba_dicts(self, rows: Sequence[dict[Hashable, Any]]) -> np.ndarray:
        """P(True) for each feature dict, in one kernel call, without learning.

        Equals ``[self.predict_proba_one(x)[True] for x in rows]``.
        """
        if len(rows) == 1:  # the single-row kernel costs less to call
            return np.array([self.predict_proba_one(rows[0])[True]])
        indptr, idx, val = self._csr(rows)
        return k.predict_rows(indptr, idx, val, self._state, self._intercept, bool(self.scale))

    def predict_and_rank_dicts(self, rows: Sequence[dict[Hashable, Any]], n: int) -> Ranked:
        """P(True) of each feature dict, its terms, and the ``n`` terms that weigh most.

        The terms are :meth:`contributions_one`'s values, all rows' in one list, in each
        dict's order. Each row's top terms are ranked by absolute value, largest first, ties
        by feature name, as ``sorted(zip(-abs(term), name))`` would rank them. One conversion
        of the batch and one kernel call; only rows with tied terms are ranked in Python.
        """
        return self.predict_and_rank_packed(self.pack_dicts(rows), 0, len(rows), n)

    def pack_dicts(self, rows: Sequence[dict[Hashable, Any]]) -> PackedRows:
        """A batch of feature dicts converted once, for :meth:`predict_and_rank_packed` to
        score any run of its rows, the model learning in between.

        >>> model = NumbaLogisticRegression()
        >>> packed = model.pack_dicts([{"x": 1.0}, {"x": 2.0}, {"x": 3.0}])
        >>> model.predict_and_rank_packed(packed, 0, 1, 1).scores.tolist()
        [0.5]
        >>> model.learn_one({"x": 1.0}, True)
        >>> scores = model.predict_and_rank_packed(packed, 1, 3, 1).scores.tolist()
        >>> scores == [model.predict_proba_one(x)[True] for x in ({"x": 2.0}, {"x": 3.0})]
        True
        """
        indptr, idx, val = self._csr(rows)
        n_rows, nnz = len(rows), len(val)
        return PackedRows(
            rows,
            indptr,
            idx,
            val,
            len(self._features),
            scores=np.empty(n_rows),
            terms=np.empty(nnz),
            top=np.empty(nnz, np.int64),
            top_bounds=np.empty(n_rows + 1, np.int64),
            tied=np.empty(n_rows, np.int8),
        )

    def predict_and_rank_packed(self, packed: PackedRows, start: int, stop: int, n: int) -> Ranked:
        """:meth:`predict_and_rank_dicts` of ``packed.rows[start:stop]``, with the model as it
        is now; their terms and top positions count from row ``start``'s first term."""
        if not 0 <= start <= stop <= len(packed.rows) or n < 0:
            raise ValueError(f"rows {start} to {stop} of {len(packed.rows)}, top {n}: out of range")
        if packed.n_features != len(self._features):  # features learned since: their columns
            packed.idx = _packed_array(
                "q",
                len(packed.idx),
                map(self._schema.get, itertools.chain.from_iterable(packed.rows), _MISSING),
            )
            packed.n_features = len(self._features)
        n_tied = k.compiled().predict_and_rank_rows(
            packed.indptr,
            packed.idx,
            packed.val,
            start,
            stop,
            self._state,
            self._intercept,
            bool(self.scale),
            n,
            packed.scores,
            packed.terms,
            packed.top,
            packed.top_bounds,
            packed.tied,
        )
        n_rows = stop - start
        top_bounds = packed.top_bounds[: n_rows + 1].tolist()
        ranked = Ranked(
            packed.scores[:n_rows].copy(),
            packed.terms[: packed.indptr[stop] - packed.indptr[start]].tolist(),
            packed.top[: top_bounds[-1]].tolist(),
            top_bounds,
        )
        if n_tied:
            first = packed.indptr[start]
            starts = (packed.indptr[start : stop + 1] - first).tolist()
            _rank_ties(ranked, packed.rows[start:stop], starts, packed.tied[:n_rows].tolist())
        return ranked

    def learn_dicts(
        self, rows: Sequence[dict[Hashable, Any]], ys: Sequence[base.typing.ClfTarget]
    ) -> None:
        """Learn each (x, y) in order, in one kernel call; equals ``learn_one`` on each in turn."""
        if len(rows) != len(ys):
            raise ValueError(f"{len(rows)} rows but {len(ys)} targets")
        if len(rows) == 1:  # the single-row kernel costs less to call
            self.learn_one(rows[0], ys[0])
            return
        targets = _targets(ys)
        indptr, idx, val = self._csr(rows, learn=True)
        self._intercept = k.compiled().learn_rows(
            indptr, idx, val, targets, self._state, self._intercept, *self._hyperparameters()
        )
        self._n_learned += len(rows)

    def predict_learn_dicts(
        self, rows: Sequence[dict[Hashable, Any]], ys: Sequence[base.typing.ClfTarget]
    ) -> np.ndarray:
        """Test then train on a batch: each row's P(True) before the model learns from it,
        then ``learn_one`` on it, row after row, in one conversion and one kernel call.

        Equals ``predict_proba_one(x)[True]`` followed by ``learn_one(x, y)`` on each (x, y)
        in turn, to the bit, for finite values (a feature first seen in the batch is given
        its column before its row is predicted: its weight 0 times an infinite value makes
        that prediction NaN, as in River, where ``predict_proba_one`` leaves it out). That
        is River's progressive validation (``river.evaluate.progressive_val_score``) on
        the batch, for a stream whose labels come with its features, as in an offline
        evaluation; online, a label comes later than the prediction it grades.

        >>> model = NumbaLogisticRegression()
        >>> rows, ys = [{"x": 1.0}, {"x": 2.0}, {"x": 1.0}], [True, True, False]
        >>> probas = model.predict_learn_dicts(rows, ys)
        >>> one_by_one = NumbaLogisticRegression()
        >>> expected = []
        >>> for x, y in zip(rows, ys):
        ...     expected.append(one_by_one.predict_proba_one(x)[True])
        ...     one_by_one.learn_one(x, y)
        >>> probas.tolist() == expected and model.weights == one_by_one.weights
        True
        """
        if len(rows) != len(ys):
            raise ValueError(f"{len(rows)} rows but {len(ys)} targets")
        if len(rows) == 1:  # the single-row kernels cost less to call
            p = self.predict_proba_one(rows[0])[True]
            self.learn_one(rows[0], ys[0])
            return np.array([p])
        targets = _targets(ys)
        indptr, idx, val = self._csr(rows, learn=True)
        probas = np.empty(len(rows))
        self._intercept = k.compiled().predict_learn_rows(
            indptr,
            idx,
            val,
            targets,
            self._state,
            self._intercept,
            *self._hyperparameters(),
            probas,
        )
        self._n_learned += len(rows)
        return probas

    # Mini-batch methods

    def _dense(self, X: IntoDataFrame) -> tuple[Any, np.ndarray]:
        """A dataframe as narwhals frame and C-contiguous, writable float64 matrix."""
        frame = utils.dataframe.into_frame(X)
        values = np.require(
            utils.dataframe.to_numpy(frame), dtype=np.float64, requirements=("C", "W")
        )
        return frame, values

    def learn_many(self, X: IntoDataFrame, y: IntoSeries) -> None:
        """One SGD step along the batch's mean gradient, as River's ``learn_many``.

        Every cell of ``X`` is a present feature (a NaN spreads, as in River). With ``scale``,
        the scaler learns the batch first and the weights learn it as ``transform_many``
        scales it, as in ``Pipeline.learn_many``. An empty batch changes nothing.
        """
        frame, values = self._dense(X)
        if values.shape[0] == 0:
            return
        self._add_features(frame.columns)
        cols = np.fromiter(map(self._schema.__getitem__, frame.columns), np.int64)
        targets = np.asarray(utils.dataframe.into_series(y).to_numpy() != 0, dtype=np.float64)
        self._intercept = k.learn_dense(
            values, cols, targets, self._state, self._intercept, *self._hyperparameters()
        )
        self._n_learned += values.shape[0]

    def _predict_dense(self, X: IntoDataFrame) -> tuple[Any, np.ndarray]:
        frame, values = self._dense(X)
        cols = np.fromiter(map(self._schema.get, frame.columns, _MISSING), np.int64)
        p = k.predict_dense(values, cols, self._state, self._intercept, bool(self.scale))
        return frame, p

    def predict_proba_many(self, X: IntoDataFrame) -> IntoDataFrame:
        """P(False) and P(True) of each row, as River's ``predict_proba_many``.

        With ``scale``, rows are scaled as ``StandardScaler.transform_many`` does: a feature of
        zero variance is centred, whereas ``predict_proba_one`` zeroes it, as River does. The
        sigmoid is clipped at ±30 as in ``predict_proba_one`` (River's vectorised one is not:
        they differ by less than 1e-13).
        """
        frame, p = self._predict_dense(X)
        return utils.dataframe.to_native_frame({False: 1.0 - p, True: p}, like=frame)

    def predict_many(self, X: IntoDataFrame) -> IntoSeries:
        frame, p = self._predict_dense(X)
        return utils.dataframe.to_native_series(p > 0.5, name=None, like=frame)

    # Snapshots

    def snapshot(self) -> dict[str, Any]:
        """Hyperparameters and learned state as plain JSON-ready values."""
        n = len(self._features)
        state = self._state[:, :n]
        return {
            "kind": SNAPSHOT_KIND,
            "version": SNAPSHOT_VERSION,
            "hyperparameters": self._get_params(),
            "features": list(self._features),
            "weights": state[k.WEIGHTS].tolist(),
            "intercept": self._intercept,
            "counts": [int(c) for c in state[k.COUNTS].tolist()],
            "means": state[k.MEANS].tolist(),
            "variances": state[k.VARS].tolist(),
            "n_learned": self._n_learned,
        }

    @classmethod
    def restore(cls, snapshot: Mapping[str, Any]) -> NumbaLogisticRegression:
        """The model a `snapshot` was taken of; it predicts and learns as that model did."""
        if snapshot.get("kind") != SNAPSHOT_KIND or snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"not a {SNAPSHOT_KIND} snapshot of version {SNAPSHOT_VERSION}: "
                f"kind={snapshot.get('kind')!r}, version={snapshot.get('version')!r}"
            )
        features = list(snapshot["features"])
        model = cls(**snapshot["hyperparameters"])
        model._add_features(features)
        n = len(features)
        for row, key in (
            (k.WEIGHTS, "weights"),
            (k.COUNTS, "counts"),
            (k.MEANS, "means"),
            (k.VARS, "variances"),
        ):
            values = snapshot[key]
            if len(values) != n:
                raise ValueError(f"{key} has {len(values)} values for {n} features")
            model._state[row, :n] = values
        model._intercept = float(snapshot["intercept"])
        model._n_learned = int(snapshot["n_learned"])
        return model


def warm_up() -> float:
    """Compile, or load from Numba's cache, every kernel; returns the seconds it took.

    Each kernel is called once on tiny arrays of the types the model passes, so that no
    compilation happens later, while scoring.
    """
    began = time.perf_counter()
    k.compiled()
    for scale in (False, True):
        model = NumbaLogisticRegression(scale=scale, initial_capacity=1)
        model.learn_one({"a": 1.0, "b": 2.0}, True)
        model.predict_proba_one({"a": 1.0, "c": 3.0})
        model.contributions_one({"a": 1.0})
        model.learn_dicts([{"a": 0.5}, {"b": -1.0}], [False, True])
        model.predict_proba_dicts([{"a": 0.5}, {"c": 1.0}])
        model.predict_and_rank_dicts([{"a": 0.5}, {"c": 1.0}], 3)
        # The dataframe paths' kernels, called directly so that warming up needs no pandas.
        X = np.array([[1.0, 2.0], [3.0, 4.0]])
        known = np.array([0, 1], dtype=np.int64)
        k.predict_dense(X, np.array([0, -1], dtype=np.int64), model._state, 0.0, scale)
        targets = np.array([0.0, 1.0])
        k.learn_dense(X, known, targets, model._state, 0.0, *model._hyperparameters())
    return time.perf_counter() - began
