"""River's ADWIN drift detector, in Numba kernels, with a path for many values per call.

:class:`ADWIN` takes River's hyperparameters and detects what ``river.drift.ADWIN``
detects, at the same values: its kernels (:mod:`engine.monitors._kernels`) follow River's
``AdaptiveWindowing`` operation for operation, and like River's detector it starts an
empty window at the value after a detection. What it adds is :meth:`ADWIN.update_many`:
values up to the next detection in one call, which is what lets
:class:`~engine.monitors.detectors.StreamDrift` watch a batch's scores without a Python
call per value.

Examples
--------
>>> import random
>>> rng = random.Random(12345)
>>> adwin = ADWIN()
>>> stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
>>> for i, x in enumerate(stream):
...     adwin.update(x)
...     if adwin.drift_detected:
...         print(f"Change detected at index {i}, input value: {x}")
Change detected at index 1023, input value: 4
>>> adwin = ADWIN()
>>> values = np.array(stream, dtype=float)
>>> adwin.update_many(values), adwin.drift_detected, adwin.update_many(values, 1024)
(1024, True, 2000)
"""

from __future__ import annotations

import numpy as np
from river import base

from engine.monitors import _kernels as k

__all__ = ["ADWIN"]


class ADWIN(base.DriftDetector):
    """ADaptive WINdowing: ``river.drift.ADWIN``'s detections, in compiled code.

    Parameters
    ----------
    delta
        Significance value: smaller detects less.
    clock
        Values between two looks for a change.
    max_buckets
        Buckets of each size kept before two are merged.
    min_window_length
        The shortest sub-window a cut may leave.
    grace_period
        Values before the first look for a change.

    River's own fails after a while when ``max_buckets`` is 1 (a Rust panic); this one
    refuses it.
    """

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        if max_buckets < 2:
            raise ValueError("max_buckets must be at least 2")
        super().__init__()
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self._reset()

    def _reset(self) -> None:
        super()._reset()
        self._state = k.adwin_state(
            self.delta, self.clock, self.max_buckets, self.min_window_length, self.grace_period
        )
        # ADWIN looks for a change only at every clock-th value: the values since the
        # last look wait here, and go into the window together at the next.
        self._ticks = 0
        self._waiting: list[float] = []

    @property
    def width(self) -> float:
        """Values in the window (a float, as River's)."""
        return float(self._settled()[k.WIDTH])

    @property
    def total(self) -> float:
        """The sum of the values in the window."""
        return float(self._settled()[k.TOTAL])

    @property
    def variance(self) -> float:
        """The window's sum of squared deviations from its mean, as River keeps it."""
        return float(self._settled()[k.VARIANCE])

    @property
    def estimation(self) -> float:
        """The mean of the window (``0`` when empty)."""
        width = self.width
        return 0.0 if width == 0 else self.total / width

    @property
    def n_detections(self) -> int:
        """Detections since the window last started (a detection starts a new one)."""
        return int(self._settled()[k.DETECTIONS])

    def update(self, x: float) -> None:
        """Add a value; :attr:`drift_detected` says whether it made a detection."""
        if self._drift_detected:
            self._reset()
        self._waiting.append(x)
        self._ticks += 1
        if self._ticks % self.clock == 0:  # a look: the values go in, the last may detect
            self._drift_detected = self._add_waiting()

    def update_many(self, values: np.ndarray, start: int = 0) -> int:
        """Add ``values[start:]`` (a float64 array) as :meth:`update` one by one would, up
        to the first that makes a detection; the index after the last value added.

        :attr:`drift_detected` then says whether it stopped at a detection.
        """
        if start >= len(values):
            return start
        if self._drift_detected:
            self._reset()
        self._add_waiting()
        stop, self._drift_detected = k.adwin_update_many(self._state, values, start)
        self._ticks += stop - start
        return stop

    def _add_waiting(self) -> bool:
        """Add the waiting values to the window; whether the last detected a drift."""
        if not self._waiting:
            return False
        values = np.array(self._waiting, dtype=float)
        self._waiting = []
        return k.adwin_update_many(self._state, values, 0)[1]

    def _settled(self) -> np.ndarray:
        """The state, with the waiting values in the window (none of them can detect)."""
        self._add_waiting()
        return self._state
