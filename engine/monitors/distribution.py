"""Has a distribution moved? A reference window against a recent one, by PSI.

The population stability index compares the share of values in each bin of the
reference window (its first ``reference_size`` values) with the share in the recent
window (the last ``window_size`` values):

    PSI = sum (recent_i - reference_i) · ln(recent_i / reference_i)

Bins are the reference's deciles; shares are floored at 1e-4 so an empty bin does not
give infinity. By custom, PSI < 0.1 is no change, 0.1-0.25 a moderate one, > 0.25 a
significant one; :class:`DistributionDrift` turns PSI into a level with hysteresis
(``warning`` from ``warn_at``, ``critical`` from ``critical_at``, ``clear`` only
below ``clear_below``). Memory is a few fixed arrays per variable, the largest a table of
the terms PSI can sum: a row of ``window_size + 1`` floats per distinct reference share
(one for a continuous variable's deciles, at most one per bin).

Values can come one at a time (:meth:`DistributionDrift.update`) or in bulk
(:meth:`DistributionDrift.update_many`, the same levels for much less per value). Once
the reference is fixed, the recent window keeps its values' bins and the count of values
per bin up to date as values come in, so a check costs the PSI of a few counts, not a
pass over the window.

Examples
--------
>>> import random
>>> rng = random.Random(1)
>>> d = DistributionDrift(reference_size=1000, window_size=1000, check_every=250)
>>> levels = [d.update(rng.gauss(0, 1)) for _ in range(3000)]
>>> [lv for lv in levels if lv is not None][-1], round(d.psi, 3)
('clear', 0.018)
>>> levels = [d.update(rng.gauss(1.5, 1)) for _ in range(1500)]
>>> [lv for lv in levels if lv is not None][-1], d.psi > 0.5
('critical', True)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.monitors import _kernels as k
from engine.monitors.gate import Level

__all__ = ["DistributionDrift", "psi"]

_FLOOR = 1e-4


def psi(
    reference: np.ndarray,
    recent: np.ndarray,
    *,
    bins: int = 10,
    extra_edges: tuple[float, ...] = (),
) -> float:
    """The population stability index of ``recent`` against ``reference``.

    ``extra_edges`` adds bin edges to the reference's quantiles (e.g. the action
    threshold, so that a move of the share above it always shows).

    >>> x = np.arange(1000.0)
    >>> psi(x, x), round(psi(x, x + 500), 2)
    (0.0, 4.35)
    """
    edges, e = reference_bins(reference, bins=bins, extra_edges=extra_edges)
    return psi_against(edges, e, recent)


def reference_bins(
    reference: np.ndarray, *, bins: int = 10, extra_edges: tuple[float, ...] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The bin edges of ``reference`` (its quantiles and ``extra_edges``) and its shares."""
    quantiles = np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    edges = np.unique(np.concatenate([quantiles, np.asarray(extra_edges, dtype=float)]))
    expected = np.bincount(
        np.searchsorted(edges, reference, side="right"), minlength=len(edges) + 1
    )
    return edges, np.maximum(expected / len(reference), _FLOOR)


def psi_against(edges: np.ndarray, expected_shares: np.ndarray, recent: np.ndarray) -> float:
    """PSI of ``recent`` against a reference's :func:`reference_bins`."""
    actual = np.bincount(np.searchsorted(edges, recent, side="right"), minlength=len(edges) + 1)
    return float(np.sum(_psi_terms(actual, len(recent), expected_shares)))


def psi_terms(n: int, expected_shares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every term PSI can sum, for recent windows of ``n`` values: ``table[rows[i], c]`` is
    bin ``i``'s term when ``c`` of the values fall in it (bins of one share share a row).

    The terms are computed by the same array operations as :func:`psi_against`'s, so their
    sum in bin order (``np.sum``) is its PSI, to the bit.

    >>> edges, shares = reference_bins(np.arange(100.0), bins=4)
    >>> table, rows = psi_terms(50, shares)
    >>> recent = np.arange(40.0, 90.0)
    >>> counts = np.bincount(np.searchsorted(edges, recent, side="right"), minlength=4)
    >>> float(np.sum(table[rows, counts])) == psi_against(edges, shares, recent)
    True
    >>> table.shape, rows
    ((1, 51), array([0, 0, 0, 0]))
    """
    shares, rows = np.unique(expected_shares, return_inverse=True)
    return _psi_terms(np.arange(n + 1), n, shares[:, np.newaxis]), rows


def _psi_terms(actual: np.ndarray, n: int, expected_shares: np.ndarray) -> np.ndarray:
    a = np.maximum(actual / n, _FLOOR)
    e = expected_shares
    return (a - e) * np.log(a / e)


class DistributionDrift:
    """PSI of one variable, checked every ``check_every`` values once both windows are full.

    Parameters
    ----------
    reference_size
        Values kept as the reference (the first ones seen).
    window_size
        Values in the recent window.
    check_every
        Values between two checks.
    warn_at, critical_at, clear_below
        PSI levels for ``warning``, ``critical`` and back to ``clear``.
    extra_edges
        Bin edges added to the reference's deciles.
    warmup
        Values ignored before the reference starts (e.g. the scores of a model that has
        not learned yet).
    """

    def __init__(
        self,
        *,
        reference_size: int = 2000,
        window_size: int = 2000,
        check_every: int = 500,
        warn_at: float = 0.25,
        critical_at: float = 0.5,
        clear_below: float = 0.1,
        extra_edges: tuple[float, ...] = (),
        warmup: int = 0,
    ) -> None:
        if not clear_below <= warn_at <= critical_at:
            raise ValueError("expected clear_below <= warn_at <= critical_at")
        self.reference_size = reference_size
        self.window_size = window_size
        self.check_every = check_every
        self.warn_at = warn_at
        self.critical_at = critical_at
        self.clear_below = clear_below
        self.extra_edges = extra_edges
        self.warmup = warmup
        self._reference = np.empty(reference_size)
        self._recent = np.empty(window_size)
        self.n_seen = 0
        self._n_reference = 0
        self._n_recent_seen = 0
        # Values not yet copied into the arrays: they are copied at a check (or when a
        # window is read), so an update costs an append. Bounded: at most the values
        # up to the first check, then ``check_every``.
        self._pending: list[float] = []
        self._next_check = reference_size + max(window_size, check_every)
        self._reference_bins: tuple[np.ndarray, np.ndarray] | None = None
        # Once the reference is fixed: the bin of each slot of the recent ring and the
        # slots per bin, kept up to date as values come in; every term PSI can sum
        # (psi_terms), and the terms of the counts now.
        self._recent_bins = np.empty(0, dtype=np.int64)
        self._recent_counts = np.empty(0, dtype=np.int64)
        self._terms_table = np.empty((0, 0))
        self._term_rows = np.empty(0, dtype=np.int64)
        self._terms = np.empty(0)
        self.level: Level = "clear"
        self.psi = 0.0

    @property
    def reference(self) -> np.ndarray:
        self._flush()
        return self._reference[: self._n_reference]

    @property
    def recent(self) -> np.ndarray:
        """The recent window, oldest first."""
        self._flush()
        n = self._n_recent_seen
        if n < self.window_size:
            return self._recent[:n]
        start = n % self.window_size
        return np.concatenate([self._recent[start:], self._recent[:start]])

    def update(self, x: float) -> Level | None:
        """Add a value; at a check, return the level (``None`` between checks)."""
        self.n_seen += 1
        if self.n_seen <= self.warmup:
            return None
        self._pending.append(x)
        if self.n_seen - self.warmup < self._next_check:
            return None
        return self._check()

    def update_many(self, values: Sequence[float], start: int = 0) -> tuple[int, Level | None]:
        """Add ``values[start:]`` in order, up to the next check; where it stopped, and the level.

        It stops just after the value that brings a check, returning that value's index
        plus one and the level, with the monitor as :meth:`update` leaves it after that
        value (its ``psi`` and windows can be read); call it again from there for the
        rest. Without a check it adds them all and returns ``(len(values), None)``.

        >>> d = DistributionDrift(reference_size=100, window_size=50, check_every=25)
        >>> values = [float(i * 37 % 100) for i in range(200)] + [99.0] * 60
        >>> start = 0  # the first check once the reference (100) and the window (50) are full
        >>> while start < len(values):
        ...     start, level = d.update_many(values, start)
        ...     print(start, level, round(d.psi, 2))
        150 clear 0.01
        175 clear 0.03
        200 clear 0.01
        225 critical 1.06
        250 critical 8.28
        260 None 8.28
        """
        n = len(values)
        if self.n_seen < self.warmup:  # (no min() and max(): they cost more than all this)
            skipped = self.warmup - self.n_seen
            if skipped >= n - start:
                self.n_seen += n - start
                return n, None
            self.n_seen += skipped
            start += skipped
        stop = start + self._next_check - (self.n_seen - self.warmup)  # the next check's
        if stop > n:
            self._pending += values[start:]
            self.n_seen += n - start
            return n, None
        self._pending += values[start:stop]
        self.n_seen += stop - start
        return stop, self._check()

    def _check(self) -> Level:
        """PSI of the recent window now, and the level it gives."""
        self._next_check += self.check_every
        self._flush()
        if self._reference_bins is None:  # the reference is full and fixed from now on
            self._fix_reference()
        terms = self._terms
        k.gather_terms(self._terms_table, self._term_rows, self._recent_counts, terms)
        self.psi = float(np.add.reduce(terms))  # what np.sum does, without its wrapper
        if self.psi >= self.critical_at:
            self.level = "critical"
        elif self.psi >= self.warn_at:
            self.level = "critical" if self.level == "critical" else "warning"
        elif self.psi < self.clear_below:
            self.level = "clear"
        return self.level

    def _fix_reference(self) -> None:
        """Bin the full reference, then the recent window (full too) by its bins."""
        edges, expected = self._reference_bins = reference_bins(
            self._reference, extra_edges=self.extra_edges
        )
        self._recent_bins = np.searchsorted(edges, self._recent, side="right")
        self._recent_counts = np.bincount(self._recent_bins, minlength=len(edges) + 1)
        self._terms_table, self._term_rows = psi_terms(self.window_size, expected)
        self._terms = np.empty(len(expected))

    def _flush(self) -> None:
        """Copy the pending values into the reference, then the recent ring."""
        values = self._pending
        if not values:
            return
        self._pending = []
        room = self.reference_size - self._n_reference
        if room > 0:
            taken = values[:room]
            self._reference[self._n_reference : self._n_reference + len(taken)] = taken
            self._n_reference += len(taken)
            values = values[room:]
        n, size = len(values), self.window_size
        if not n:
            return
        kept = np.asarray(values[-size:], dtype=float)
        first = (self._n_recent_seen + n - len(kept)) % size
        self._n_recent_seen += n
        if self._reference_bins is not None:
            edges = self._reference_bins[0]
            k.write_window(self._recent, self._recent_bins, self._recent_counts, edges, kept, first)
            return
        split = min(size - first, len(kept))
        self._recent[first : first + split] = kept[:split]
        self._recent[: len(kept) - split] = kept[split:]
