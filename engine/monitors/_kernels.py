"""Numba kernels of the monitors, on numpy arrays; the classes that hold their state wrap them.

- :func:`bin_of`, :func:`write_window` and :func:`gather_terms`: a PSI recent window kept
  with its values' bins and the count of values per bin, whose PSI terms are looked up
  (:class:`~engine.monitors.distribution.DistributionDrift`), so that a check counts
  nothing again.

Kernels are compiled with ``error_model="numpy"`` and cached on disk, like the model's;
:func:`warm_up` compiles or loads them before they are needed.
"""

from __future__ import annotations

import time

import numba
import numpy as np

__all__ = ["bin_of", "gather_terms", "warm_up", "write_window"]

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


def warm_up() -> float:
    """Compile, or load from Numba's cache, every kernel; returns the seconds it took.

    Each kernel is called once on tiny arrays of the types the monitors pass, so that no
    compilation happens later, while monitoring.
    """
    began = time.perf_counter()
    ints, floats = np.zeros(2, dtype=np.int64), np.zeros(2)
    write_window(np.zeros(2), ints.copy(), ints.copy(), floats, floats, 0)
    gather_terms(np.zeros((1, 1)), ints, ints, np.empty(2))
    return time.perf_counter() - began
