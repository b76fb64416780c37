"""Numba kernels of :class:`engine.models.NumbaLogisticRegression`.

Every kernel works on one float64 ``state`` array of shape ``(4, capacity)`` whose rows are
the weights and the scaler's per-feature counts, means and variances (indexed by the row
constants below), one column per feature of the model's schema. The intercept travels as a
float: learning kernels return the new one.

Rows of features come in three layouts:

- sparse, for a batch of dicts: ``idx`` (int64 columns, ``-1`` for a feature not in the
  schema) and ``val`` (float64 values) in each dict's order, CSR-like: row ``r`` is
  ``idx[indptr[r]:indptr[r + 1]]``;
- packed, for one dict: a single float64 array, its ``n`` columns then its ``n`` values
  (columns are exact as floats). One array instead of two halves the cost of converting a
  dict and of Numba's dispatch, which dominate a single row's cost.

  Kernels on these two follow River's ``*_one`` methods (and ``Pipeline.learn_one``)
  operation for operation, so their results are River's to the bit wherever the same libm
  is used;
- dense, as River's dataframes: ``X`` (C-contiguous, ``(n, p)``) and ``cols`` (its columns'
  schema columns). These follow ``learn_many``/``predict_proba_many`` and
  ``StandardScaler.learn_many``/``transform_many``; sums run in another order than numpy's, so
  they agree with River to rounding.

Kernels are compiled with ``error_model="numpy"``, so a division by zero gives inf or NaN
as it does in numpy instead of raising.

Numba's dispatcher types every argument at every call (about 0.1 µs an argument), which is
as much as a row's arithmetic; :func:`compiled` gives the one-row kernels' machine code for
the argument types the model passes, to call without it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import numba
import numpy as np
from numba import types

__all__ = [
    "COUNTS",
    "MEANS",
    "VARS",
    "WEIGHTS",
    "Compiled",
    "compiled",
    "contributions_row",
    "contributions_rows",
    "learn_dense",
    "learn_row",
    "learn_rows",
    "predict_and_rank_rows",
    "predict_dense",
    "predict_learn_rows",
    "predict_row",
    "predict_rows",
    "top_contributions_rows",
]

WEIGHTS, COUNTS, MEANS, VARS = 0, 1, 2, 3

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def _sigmoid(z: float) -> float:
    """``river.utils.math.sigmoid``: clipped at ±30."""
    if z < -30.0:
        return 0.0
    if z > 30.0:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


@_jit
def _log_gradient(y: float, raw: float) -> float:
    """``optim.losses.Log().gradient`` for one sample (weights 1), with its ±18 branches."""
    sign = -1.0 if y == 0.0 else 1.0
    z = raw * sign
    if z > 18.0:
        return math.exp(-z) * -sign
    if z < -18.0:
        return -sign
    return -sign / (math.exp(z) + 1.0)


@_jit
def _clamp(g: float, clip: float) -> float:
    """``utils.math.clamp(g, -clip, clip)``; NaN stays NaN, as with Python's min and max."""
    if g > clip:
        return clip
    if g < -clip:
        return -clip
    return g


@_jit
def _scaled(state: np.ndarray, j: int, v: float) -> float:
    """``StandardScaler.transform_one`` for one feature: 0 while its variance is 0."""
    var = state[VARS, j]
    if var != 0.0:
        return (v - state[MEANS, j]) / var**0.5
    return 0.0


@_jit
def _raw_one(
    idx: np.ndarray, val: np.ndarray, state: np.ndarray, intercept: float, scale: bool
) -> float:
    """The logit of one sparse row: ``weights.dot(x) + intercept``, summed in x's order."""
    dot = 0.0
    for k in range(idx.shape[0]):
        j = int(idx[k])
        if j < 0:
            continue
        v = _scaled(state, j, val[k]) if scale else val[k]
        dot += state[WEIGHTS, j] * v
    return dot + intercept


@_jit
def _learn_one(
    idx: np.ndarray,
    val: np.ndarray,
    y: float,
    state: np.ndarray,
    intercept: float,
    lr: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    scale: bool,
) -> float:
    """One ``learn_one`` step (of the scaler, then of the GLM); returns the new intercept.

    Every column of ``idx`` must be in the schema. As in River, only the weights of features
    present in the row are touched, L2 included.
    """
    if scale:  # StandardScaler.learn_one: Welford, per feature
        for k in range(idx.shape[0]):
            j = int(idx[k])
            v = val[k]
            count = state[COUNTS, j] + 1.0
            old_mean = state[MEANS, j]
            new_mean = old_mean + (v - old_mean) / count
            var = state[VARS, j]
            state[COUNTS, j] = count
            state[MEANS, j] = new_mean
            state[VARS, j] = var + ((v - old_mean) * (v - new_mean) - var) / count
    g = _clamp(_log_gradient(y, _raw_one(idx, val, state, intercept, scale)), clip)
    intercept = intercept - intercept_lr * g
    for k in range(idx.shape[0]):
        j = int(idx[k])
        v = _scaled(state, j, val[k]) if scale else val[k]
        gj = v * g
        if l2 != 0.0:
            gj = gj + l2 * state[WEIGHTS, j]
        state[WEIGHTS, j] = state[WEIGHTS, j] - lr * gj
    return intercept


@_jit
def predict_row(row: np.ndarray, state: np.ndarray, intercept: float, scale: bool) -> float:
    """P(True) of one packed row, as ``predict_proba_one`` gives it."""
    n = row.shape[0] // 2
    return _sigmoid(_raw_one(row[:n], row[n:], state, intercept, scale))


@_jit
def learn_row(
    row: np.ndarray,
    y: float,
    state: np.ndarray,
    intercept: float,
    lr: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    scale: bool,
) -> float:
    """``learn_one`` on one packed row; returns the new intercept."""
    n = row.shape[0] // 2
    return _learn_one(row[:n], row[n:], y, state, intercept, lr, l2, intercept_lr, clip, scale)


@_jit
def predict_rows(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    state: np.ndarray,
    intercept: float,
    scale: bool,
) -> np.ndarray:
    """P(True) of each sparse row, as ``predict_proba_one`` gives it."""
    out = np.empty(indptr.shape[0] - 1)
    _predict_into(indptr, idx, val, state, intercept, scale, out)
    return out


@_jit
def _predict_into(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    state: np.ndarray,
    intercept: float,
    scale: bool,
    out: np.ndarray,
) -> None:
    """:func:`predict_rows` written into the start of ``out``."""
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        out[r] = _sigmoid(_raw_one(idx[a:b], val[a:b], state, intercept, scale))


@_jit
def learn_rows(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    ys: np.ndarray,
    state: np.ndarray,
    intercept: float,
    lr: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    scale: bool,
) -> float:
    """``learn_one`` on each sparse row in turn; returns the new intercept."""
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        intercept = _learn_one(
            idx[a:b], val[a:b], ys[r], state, intercept, lr, l2, intercept_lr, clip, scale
        )
    return intercept


@_jit
def predict_learn_rows(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    ys: np.ndarray,
    state: np.ndarray,
    intercept: float,
    lr: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    scale: bool,
    out: np.ndarray,
) -> float:
    """Test then train: each sparse row's P(True) into ``out``, then ``learn_one`` on it,
    in turn; returns the new intercept.

    A feature the model has not learned yet has weight 0 and, scaled, variance 0: for a
    finite value its term of the prediction is 0, as for a feature not in the schema.
    """
    for r in range(indptr.shape[0] - 1):
        a, b = indptr[r], indptr[r + 1]
        out[r] = _sigmoid(_raw_one(idx[a:b], val[a:b], state, intercept, scale))
        intercept = _learn_one(
            idx[a:b], val[a:b], ys[r], state, intercept, lr, l2, intercept_lr, clip, scale
        )
    return intercept


@_jit
def contributions_row(row: np.ndarray, state: np.ndarray, scale: bool) -> np.ndarray:
    """Each term ``weight * value`` of a packed row's logit (0 for a feature not in the schema)."""
    n = row.shape[0] // 2
    out = np.zeros(n)
    for k in range(n):
        j = int(row[k])
        if j >= 0:
            v = row[n + k]
            out[k] = state[WEIGHTS, j] * (_scaled(state, j, v) if scale else v)
    return out


@_jit
def contributions_rows(
    indptr: np.ndarray, idx: np.ndarray, val: np.ndarray, state: np.ndarray, scale: bool
) -> np.ndarray:
    """:func:`contributions_row` of each sparse row, as one array aligned with ``val``."""
    out = np.empty(val.shape[0])
    _contributions_into(idx, val, state, scale, out)
    return out


@_jit
def _contributions_into(
    idx: np.ndarray, val: np.ndarray, state: np.ndarray, scale: bool, out: np.ndarray
) -> None:
    """:func:`contributions_rows` written into the start of ``out``."""
    for k in range(val.shape[0]):
        j = idx[k]
        out[k] = 0.0
        if j >= 0:
            v = val[k]
            out[k] = state[WEIGHTS, j] * (_scaled(state, j, v) if scale else v)


@_jit
def top_contributions_rows(
    indptr: np.ndarray, idx: np.ndarray, val: np.ndarray, state: np.ndarray, scale: bool, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`contributions_rows`, and each row's ``n`` terms of largest absolute value.

    Returns ``terms`` (aligned with ``val``), ``top`` (positions in ``terms``: row ``r``'s,
    largest first, are ``top[top_bounds[r]:top_bounds[r + 1]]``, ``min(n, row length)`` of
    them), ``top_bounds`` and ``tied``, not ``0`` for a row where two terms of equal
    absolute value (or a NaN) compete for a place in its top, whose order this kernel
    cannot settle (the caller ranks ties by feature name): ``2`` when all the row's terms
    are of one size (the names alone rank them), else ``1``.
    """
    rows = indptr.shape[0] - 1
    terms = np.empty(val.shape[0])
    top_bounds = np.empty(rows + 1, np.int64)
    top = np.empty(idx.shape[0], np.int64)
    tied = np.empty(rows, np.int8)
    _rank_into(indptr, idx, val, state, scale, n, terms, top, top_bounds, tied)
    return terms, top[: top_bounds[rows]], top_bounds, tied


@_jit
def _rank_into(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    state: np.ndarray,
    scale: bool,
    n: int,
    terms: np.ndarray,
    top: np.ndarray,
    top_bounds: np.ndarray,
    tied: np.ndarray,
) -> int:
    """:func:`top_contributions_rows` written into the start of the arrays given (each at
    least as long as it needs); returns how many rows tie."""
    rows = indptr.shape[0] - 1
    _contributions_into(idx, val, state, scale, terms)
    top_bounds[0] = 0
    for r in range(rows):
        top_bounds[r + 1] = top_bounds[r] + min(n, indptr[r + 1] - indptr[r])
    n_tied = 0
    for r in range(rows):
        start, stop, first = indptr[r], indptr[r + 1], top_bounds[r]
        tied[r] = 0
        for out in range(first, top_bounds[r + 1]):
            best, best_size = start, -1.0
            for q in range(start, stop):
                taken = False
                for s in range(first, out):
                    if top[s] == q:
                        taken = True
                        break
                if taken:
                    continue
                size = abs(terms[q])
                if size > best_size:
                    best, best_size = q, size
                elif not size < best_size:  # equal, or NaN
                    tied[r] = 1
            top[out] = best
        if tied[r]:
            n_tied += 1
            size = abs(terms[start])
            tied[r] = 2
            for q in range(start, stop):
                if abs(terms[q]) != size:  # a different size, or NaN
                    tied[r] = 1
                    break
    return n_tied


@_jit
def predict_and_rank_rows(
    indptr: np.ndarray,
    idx: np.ndarray,
    val: np.ndarray,
    start: int,
    stop: int,
    state: np.ndarray,
    intercept: float,
    scale: bool,
    n: int,
    scores: np.ndarray,
    terms: np.ndarray,
    top: np.ndarray,
    top_bounds: np.ndarray,
    tied: np.ndarray,
) -> int:
    """:func:`predict_rows` and :func:`top_contributions_rows` of the sparse rows ``start`` to
    ``stop`` (excluded) only, as if they were a batch of their own, written into the start
    of ``scores``, ``terms``, ``top``, ``top_bounds`` and ``tied`` (arrays as long as the
    whole batch needs, reused from call to call); returns how many of the rows tie."""
    first, last = indptr[start], indptr[stop]
    part = indptr[start : stop + 1] - first
    part_idx, part_val = idx[first:last], val[first:last]
    _predict_into(part, part_idx, part_val, state, intercept, scale, scores)
    return _rank_into(part, part_idx, part_val, state, scale, n, terms, top, top_bounds, tied)


@_jit
def _transform_dense(X: np.ndarray, cols: np.ndarray, state: np.ndarray) -> np.ndarray:
    """``StandardScaler.transform_many``: a column of zero variance is centred, not zeroed."""
    n, p = X.shape
    out = np.empty((n, p))
    for c in range(p):
        j = cols[c]
        mean, std = (state[MEANS, j], state[VARS, j] ** 0.5) if j >= 0 else (0.0, 0.0)
        for i in range(n):
            v = X[i, c] - mean
            out[i, c] = v / std if std > 0.0 else v
    return out


@_jit
def _raw_dense(X: np.ndarray, cols: np.ndarray, state: np.ndarray, intercept: float) -> np.ndarray:
    """``X @ weights[cols] + intercept``; a column not in the schema has weight 0."""
    n, p = X.shape
    raw = np.empty(n)
    for i in range(n):
        dot = 0.0
        for c in range(p):
            j = cols[c]
            if j >= 0:
                dot += X[i, c] * state[WEIGHTS, j]
        raw[i] = dot + intercept
    return raw


@_jit
def predict_dense(
    X: np.ndarray, cols: np.ndarray, state: np.ndarray, intercept: float, scale: bool
) -> np.ndarray:
    """P(True) of each row of a dense batch, as ``predict_proba_many`` gives it."""
    Xt = _transform_dense(X, cols, state) if scale else X
    raw = _raw_dense(Xt, cols, state, intercept)
    out = np.empty(raw.shape[0])
    for i in range(raw.shape[0]):
        out[i] = _sigmoid(raw[i])
    return out


@_jit
def _learn_scaler_dense(X: np.ndarray, cols: np.ndarray, state: np.ndarray) -> None:
    """``StandardScaler.learn_many``: merges the batch's mean and variance into the running ones.

    The batch mean and count skip NaN (``np.nanmean``), the batch variance does not, as in River.
    """
    n, p = X.shape
    for c in range(p):
        j = cols[c]
        total, squares, count = 0.0, 0.0, 0.0
        for i in range(n):
            v = X[i, c]
            squares += v * v
            if not math.isnan(v):
                total += v
                count += 1.0
        new_mean = total / count
        new_var = squares / n - new_mean**2
        old_mean, old_var, old_count = state[MEANS, j], state[VARS, j], state[COUNTS, j]
        a = old_count / (old_count + count)
        b = count / (old_count + count)
        state[MEANS, j] = a * old_mean + b * new_mean
        state[VARS, j] = a * old_var + b * new_var + a * b * (old_mean - new_mean) ** 2
        state[COUNTS, j] = old_count + count


@_jit
def learn_dense(
    X: np.ndarray,
    cols: np.ndarray,
    ys: np.ndarray,
    state: np.ndarray,
    intercept: float,
    lr: float,
    l2: float,
    intercept_lr: float,
    clip: float,
    scale: bool,
) -> float:
    """``learn_many``: one SGD step along the batch's mean gradient; returns the new intercept.

    With ``scale``, the scaler learns the batch first and the GLM learns the batch as
    ``transform_many`` scales it, which is what ``Pipeline.learn_many`` does. Every column of
    ``cols`` must be in the schema.
    """
    n, p = X.shape
    if scale:
        _learn_scaler_dense(X, cols, state)
        X = _transform_dense(X, cols, state)
    raw = _raw_dense(X, cols, state, intercept)
    # The vectorised Log gradient has no ±18 branches: -y / (exp(y * raw) + 1), y in {-1, 1}.
    lg = np.empty(n)
    lg_sum = 0.0
    for i in range(n):
        sign = -1.0 if ys[i] == 0.0 else 1.0
        lg[i] = _clamp(-sign / (math.exp(raw[i] * sign) + 1.0), clip)
        lg_sum += lg[i]
    grad = np.zeros(p)
    for i in range(n):
        for c in range(p):
            grad[c] += X[i, c] * lg[i]
    intercept = intercept - intercept_lr * (lg_sum / n)
    for c in range(p):
        j = cols[c]
        gj = grad[c] / n
        if l2 != 0.0:
            gj += l2 * state[WEIGHTS, j]
        state[WEIGHTS, j] -= lr * gj
    return intercept


class Compiled(NamedTuple):
    """The kernels called once per event, label or run of events, as machine code for the
    argument types the model passes.

    Called directly they skip Numba's dispatch, and with it every check of their arguments:
    arrays must be C-contiguous, of float64 (``row``, ``state``, values, outputs), int64
    (``indptr``, columns, ``top``, ``top_bounds``) or int8 (``tied``); scalars may be any
    Python number. Only kernels that return a number are here; those returning arrays go
    through their dispatchers.
    """

    predict_row: Callable[..., float]
    learn_row: Callable[..., float]
    learn_rows: Callable[..., float]
    predict_and_rank_rows: Callable[..., int]
    predict_learn_rows: Callable[..., float]


@functools.cache
def compiled() -> Compiled:
    """The :class:`Compiled` entry points, compiled (or loaded from Numba's cache) the first
    time."""
    row, state, f8, flag = types.float64[::1], types.float64[:, ::1], types.float64, types.boolean
    i8, columns, flags = types.int64, types.int64[::1], types.int8[::1]

    def entry(kernel, *signature) -> Callable:
        kernel.compile(signature)
        return kernel.get_overload(signature)

    return Compiled(
        predict_row=entry(predict_row, row, state, f8, flag),
        learn_row=entry(learn_row, row, f8, state, f8, f8, f8, f8, f8, flag),
        learn_rows=entry(learn_rows, columns, columns, row, row, state, f8, f8, f8, f8, f8, flag),
        predict_and_rank_rows=entry(
            predict_and_rank_rows,
            *(columns, columns, row, i8, i8, state, f8, flag, i8),
            *(row, row, columns, columns, flags),
        ),
        predict_learn_rows=entry(
            predict_learn_rows, columns, columns, row, row, state, f8, f8, f8, f8, f8, flag, row
        ),
    )
