"""Numba kernels of the monitors, on numpy arrays; the classes that hold their state wrap them.

- :func:`bin_of`, :func:`write_window` and :func:`gather_terms`: a PSI recent window kept
  with its values' bins and the count of values per bin, whose PSI terms are looked up
  (:class:`~engine.monitors.distribution.DistributionDrift`), so that a check counts
  nothing again.
- ``adwin_*``: River's ADWIN (``river.drift.ADWIN``, whose ``AdaptiveWindowing`` is
  River's Rust port of its Cython original), operation for operation in the same order,
  so that its windows and detections are River's to the bit (the same libm gives the
  same logarithms), over many values per call (:class:`~engine.monitors.adwin.ADWIN`).

  Its state is one float64 array (one array: passing each costs more than an update):
  the window's total, variance and width; the hyperparameters; the clock's ticks, the
  detections and the bucket levels in use; from ``SIZES`` the buckets in use at each
  level; from ``BUCKETS`` each bucket's total and variance, oldest first, level by
  level (``max_buckets + 1`` places per level). A bucket at level ``i`` summarises
  ``2**i`` values; counts are whole numbers, exact as floats.

Kernels are compiled with ``error_model="numpy"`` and cached on disk, like the model's;
:func:`warm_up` compiles or loads them before they are needed.
"""

from __future__ import annotations

import math
import time

import numba
import numpy as np

__all__ = [
    "adwin_reset",
    "adwin_state",
    "adwin_update_many",
    "bin_of",
    "gather_terms",
    "warm_up",
    "write_window",
]

# ADWIN's state: its slots, and how many bucket levels there are room for (a level holds
# buckets of 2**level values: 64 levels never fill).
TOTAL, VARIANCE, WIDTH, DELTA, MIN_WINDOW, GRACE, CLOCK, MAX_BUCKETS = range(8)
TICK, DETECTIONS, N_LEVELS, SIZES = range(8, 12)
LEVELS = 64
BUCKETS = SIZES + LEVELS

_jit = numba.njit(cache=True, error_model="numpy", nogil=True)


@_jit
def bin_of(edges: np.ndarray, x: float) -> int:
    """``np.searchsorted(edges, x, side="right")`` for one value (NaN sorts last, as in numpy).

    >>> edges = np.array([0.0, 1.0, 1.0, 2.0])
    >>> [bin_of(edges, x) for x in (-1.0, 0.0, 1.0, 1.5, 2.0, np.inf, np.nan)]
    [0, 1, 3, 3, 4, 4, 4]
    """
    lo, hi = 0, len(edges)
    while lo < hi:
        mid = (lo + hi) >> 1
        edge = edges[mid]
        if x < edge or (edge != edge and x == x):  # numpy's order: NaN above everything
            hi = mid
        else:
            lo = mid + 1
    return lo


@_jit
def write_window(
    window: np.ndarray,
    bins: np.ndarray,
    counts: np.ndarray,
    edges: np.ndarray,
    values: np.ndarray,
    first: int,
) -> None:
    """Write ``values`` into the ring ``window`` from position ``first`` on, keeping ``bins``
    (each slot's bin among ``edges``) and ``counts`` (slots per bin) in step."""
    size = len(window)
    position = first
    for x in values:
        b = bin_of(edges, x)
        counts[bins[position]] -= 1
        counts[b] += 1
        bins[position] = b
        window[position] = x
        position += 1
        if position == size:
            position = 0


@_jit
def gather_terms(table: np.ndarray, rows: np.ndarray, counts: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = table[rows[i], counts[i]]``: each bin's PSI term for its count."""
    for i in range(len(out)):
        out[i] = table[rows[i], counts[i]]


# --- ADWIN ------------------------------------------------------------------------------


def adwin_state(
    delta: float, clock: int, max_buckets: int, min_window_length: int, grace_period: int
) -> np.ndarray:
    """An empty window's state, with these hyperparameters (River's names)."""
    state = np.zeros(BUCKETS + LEVELS * (max_buckets + 1) * 2)
    state[DELTA], state[MIN_WINDOW], state[GRACE] = delta, min_window_length, grace_period
    state[CLOCK], state[MAX_BUCKETS] = clock, max_buckets
    adwin_reset(state)
    return state


@_jit
def adwin_reset(state: np.ndarray) -> None:
    """An empty window (``AdaptiveWindowing::new``); the hyperparameters stay."""
    state[TOTAL] = 0.0
    state[VARIANCE] = 0.0
    state[WIDTH] = 0.0
    state[TICK] = 0.0
    state[DETECTIONS] = 0.0
    state[N_LEVELS] = 1.0
    state[SIZES:] = 0.0


@_jit
def adwin_update_many(state: np.ndarray, values: np.ndarray, start: int) -> tuple[int, bool]:
    """Add ``values[start:]`` up to the first that detects a drift: the index after the
    last value added, and whether it detected one."""
    sizes, buckets = _sizes(state), _buckets(state)
    for i in range(start, len(values)):
        _insert(state, sizes, buckets, values[i])
        if _detect_change(state, sizes, buckets):
            return i + 1, True
    return len(values), False


@_jit
def _sizes(state: np.ndarray) -> np.ndarray:
    """Buckets in use per level (a view)."""
    return state[SIZES:BUCKETS]


@_jit
def _buckets(state: np.ndarray) -> np.ndarray:
    """``(level, bucket, total or variance)`` (a view)."""
    return state[BUCKETS:].reshape((LEVELS, int(state[MAX_BUCKETS]) + 1, 2))


@_jit
def _insert(state: np.ndarray, sizes: np.ndarray, buckets: np.ndarray, value: float) -> None:
    """``insert_element``: a bucket of one value, the running variance, then merges."""
    k = int(sizes[0])
    buckets[0, k, 0] = value
    buckets[0, k, 1] = 0.0
    sizes[0] = k + 1
    width = state[WIDTH] + 1.0
    state[WIDTH] = width
    incremental_variance = 0.0
    if width > 1.0:
        delta_v = value - state[TOTAL] / (width - 1.0)
        incremental_variance = (width - 1.0) * delta_v * delta_v / width
    state[VARIANCE] += incremental_variance
    state[TOTAL] += value
    _compress_buckets(state, sizes, buckets)


@_jit
def _compress_buckets(state: np.ndarray, sizes: np.ndarray, buckets: np.ndarray) -> None:
    """``compress_buckets``: while a level is full, merge its two oldest buckets upwards."""
    max_buckets = state[MAX_BUCKETS]
    level = 0
    while sizes[level] == max_buckets + 1:
        n1 = float(1 << level)
        t0, t1 = buckets[level, 0, 0], buckets[level, 1, 0]
        v0, v1 = buckets[level, 0, 1], buckets[level, 1, 1]
        mu1 = t0 / n1
        mu2 = t1 / n1
        temp = n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        if level + 1 >= state[N_LEVELS]:
            state[N_LEVELS] = level + 2
        k = int(sizes[level + 1])
        buckets[level + 1, k, 0] = t0 + t1
        buckets[level + 1, k, 1] = v0 + v1 + temp
        sizes[level + 1] = k + 1
        _drop_oldest(sizes, buckets, level, 2)
        if sizes[level + 1] <= max_buckets:
            break
        level += 1


@_jit
def _drop_oldest(sizes: np.ndarray, buckets: np.ndarray, level: int, n: int) -> None:
    """``Bucket::compress``: the ``n`` oldest buckets of ``level`` go."""
    size = int(sizes[level])
    for k in range(n, size):
        buckets[level, k - n, 0] = buckets[level, k, 0]
        buckets[level, k - n, 1] = buckets[level, k, 1]
    sizes[level] = size - n


@_jit
def _delete_element(state: np.ndarray, sizes: np.ndarray, buckets: np.ndarray) -> None:
    """``delete_element``: the oldest bucket leaves the window."""
    last = int(state[N_LEVELS]) - 1
    n = float(1 << last)
    u, v = buckets[last, 0, 0], buckets[last, 0, 1]
    mu = u / n
    state[WIDTH] -= n
    state[TOTAL] -= u
    width = state[WIDTH]
    mu_window = state[TOTAL] / width
    inc = v + n * width * (mu - mu_window) * (mu - mu_window) / (n + width)
    state[VARIANCE] -= inc
    _drop_oldest(sizes, buckets, last, 1)
    if sizes[last] == 0:
        state[N_LEVELS] = last


@_jit
def _detect_change(state: np.ndarray, sizes: np.ndarray, buckets: np.ndarray) -> bool:
    """``detect_change``: every ``clock`` values, cut the window wherever its two sides'
    means differ by more than ADWIN's bound, dropping its oldest bucket each time."""
    change_detected = False
    state[TICK] += 1.0
    if int(state[TICK]) % int(state[CLOCK]) == 0 and state[WIDTH] > state[GRACE]:
        min_window = state[MIN_WINDOW]
        reduce_width = True
        while reduce_width:
            reduce_width = False
            # evaluate_cut's terms that only the window makes, computed once per pass
            width = state[WIDTH]
            delta_prime = math.log(2.0 * math.log(width) / state[DELTA])
            mean_variance = state[VARIANCE] / width
            n0, n1 = 0.0, width
            u0, u1 = 0.0, state[TOTAL]
            level = int(state[N_LEVELS]) - 1
            cut = False
            while level >= 0 and not cut:
                bucket_size = float(1 << level)
                size = int(sizes[level])
                for k in range(size):
                    n0 += bucket_size
                    n1 -= bucket_size
                    total = buckets[level, k, 0]
                    u0 += total
                    u1 -= total
                    if level == 0 and k == size - 1:
                        break  # the newest bucket: no cut after it
                    delta_mean = (u0 / n0) - (u1 / n1)
                    if (
                        n1 >= min_window
                        and n0 >= min_window
                        and _cut(n0, n1, delta_mean, min_window, delta_prime, mean_variance)
                    ):
                        reduce_width = True
                        change_detected = True
                        if state[WIDTH] > 0.0:
                            _delete_element(state, sizes, buckets)
                            cut = True
                            break
                level -= 1
    if change_detected:
        state[DETECTIONS] += 1.0
    return change_detected


@_jit
def _cut(
    n0: float,
    n1: float,
    delta_mean: float,
    min_window: float,
    delta_prime: float,
    mean_variance: float,
) -> bool:
    """``evaluate_cut``: do the sub-windows' means differ by more than ADWIN's bound?
    (``delta_prime`` and ``mean_variance``: the window's terms of it.)"""
    m_recip = 1.0 / (n0 - min_window + 1.0) + 1.0 / (n1 - min_window + 1.0)
    epsilon = (
        math.sqrt(2.0 * m_recip * mean_variance * delta_prime) + 2.0 / 3.0 * delta_prime * m_recip
    )
    return abs(delta_mean) > epsilon


def warm_up() -> float:
    """Compile, or load from Numba's cache, every kernel; returns the seconds it took.

    Each kernel is called once on tiny arrays of the types the monitors pass, so that no
    compilation happens later, while monitoring.
    """
    began = time.perf_counter()
    ints, floats = np.zeros(2, dtype=np.int64), np.zeros(2)
    write_window(np.zeros(2), ints.copy(), ints.copy(), floats, floats, 0)
    gather_terms(np.zeros((1, 1)), ints, ints, np.empty(2))
    state = adwin_state(0.002, 32, 5, 5, 10)
    adwin_update_many(state, floats, 0)
    return time.perf_counter() - began
