"""River's drift detectors over a stream of numbers, with before/after means and a cooldown.

:class:`StreamDrift` feeds each value to a River detector (ADWIN by default;
Page-Hinkley, KSWIN and DDM selectable) and, when it fires, says what changed: the mean
of the values since the last detection before the recent window, the mean of the recent
window, and how many values the detection covers. After a detection it stays quiet for
``cooldown`` values, so a lasting change raises one alert, not one per value.

Examples
--------
>>> import random
>>> rng = random.Random(7)
>>> d = StreamDrift("adwin", recent=200)
>>> hits = [(i, d.update(float(rng.random() < (0.1 if i < 2000 else 0.4))))
...         for i in range(4000)]
>>> [(i, round(h["before"], 2), round(h["after"], 2)) for i, h in hits if h]
[(2079, 0.11, 0.23)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from river import drift

from engine.monitors.adwin import ADWIN

__all__ = ["DETECTORS", "DetectorName", "StreamDrift", "make_detector"]

DetectorName = Literal["adwin", "page_hinkley", "kswin", "ddm"]
DETECTORS: tuple[DetectorName, ...] = ("adwin", "page_hinkley", "kswin", "ddm")


def make_detector(name: DetectorName, *, seed: int = 0, params: Mapping[str, Any] = {}) -> Any:
    """A fresh River detector: River's defaults, changed by ``params`` (KSWIN seeded).

    ADWIN is :class:`~engine.monitors.adwin.ADWIN`: River's, in compiled code (the same
    detections), with a path for many values per call.

    >>> make_detector("adwin", params={"delta": 0.05}).delta
    0.05
    """
    if name == "adwin":
        return ADWIN(**params)
    if name == "page_hinkley":
        return drift.PageHinkley(**params)
    if name == "kswin":
        return drift.KSWIN(seed=seed, **params)
    if name == "ddm":
        return drift.binary.DDM(**params)
    raise ValueError(f"unknown detector {name!r}; expected one of {DETECTORS}")


class StreamDrift:
    """One detector on one stream; :meth:`update` returns a detail dict when it fires.

    Parameters
    ----------
    detector
        Which River detector. ``ddm`` takes 0/1 values (errors); it is given
        ``x >= 0.5``.
    recent
        Values in the "after" window of the detail.
    cooldown
        Values after a detection during which further detections are not reported.
    seed
        For detectors that draw random numbers (KSWIN).
    params
        Hyperparameters of the River detector that differ from River's defaults
        (e.g. ``{"delta": 0.05}`` for ADWIN).
    warmup
        Values ignored at the start (e.g. the scores of a model that has not learned yet).
    direction
        ``increase`` reports only detections where the recent mean is higher than
        before (an error rate that improves is not an alarm, nor a detection with no
        values before the recent window to compare with); ``both`` reports all.
    min_change
        Detections where the recent mean differs from the mean before by less than
        this (or with nothing before to compare with) are not reported: a stream that
        wanders by that much is not worth an alert. ``0`` reports all.
    """

    def __init__(
        self,
        detector: DetectorName = "adwin",
        *,
        recent: int = 500,
        cooldown: int = 1000,
        seed: int = 0,
        warmup: int = 0,
        direction: Literal["both", "increase"] = "both",
        params: Mapping[str, Any] | None = None,
        min_change: float = 0.0,
    ) -> None:
        self.detector_name = detector
        self.recent = recent
        self.cooldown = cooldown
        self.seed = seed
        self.warmup = warmup
        self.direction = direction
        self.params = dict(params or {})
        self.min_change = min_change
        self._detector = make_detector(detector, seed=seed, params=self.params)
        self._binary = detector == "ddm"
        self._window: deque[float] = deque(maxlen=recent)
        self._sum = 0.0
        self._n = 0
        self._quiet = 0
        self.n_seen = 0
        self.n_detections = 0

    def update(self, x: float) -> dict[str, Any] | None:
        """Add a value; return a detail dict when a drift is detected and reported."""
        self.n_seen += 1
        if self.n_seen <= self.warmup:
            return None
        return self._feed(x)

    def update_many(
        self, values: Sequence[float], start: int = 0
    ) -> tuple[int, dict[str, Any] | None]:
        """Add ``values[start:]`` in order, up to a reported detection; where it stopped, and
        the detail.

        It stops just after the value whose detection is reported, returning that value's
        index plus one and the detail :meth:`update` would have returned for it; call it
        again from there for the rest. Without one it adds them all and returns
        ``(len(values), None)``. The values of the warm-up cost nothing each.

        >>> d = StreamDrift("adwin", recent=100, warmup=1000)
        >>> values = [0.0] * 3000 + [1.0] * 1000
        >>> stop, detail = d.update_many(values)
        >>> stop, detail["position"], detail["before"], detail["after"]
        (3016, 3016, 0.0, 0.16)
        >>> d.update_many(values, stop), d.n_seen
        ((4000, None), 4000)
        """
        n = len(values)
        if self.n_seen < self.warmup:  # (no min() and max(): they cost more than all this)
            skipped = self.warmup - self.n_seen
            if skipped >= n - start:
                self.n_seen += n - start
                return n, None
            self.n_seen += skipped
            start += skipped
        if not isinstance(self._detector, ADWIN):
            for i in range(start, n):
                self.n_seen += 1
                detail = self._feed(values[i])
                if detail is not None:
                    return i + 1, detail
            return n, None
        return self._feed_many(values, start)

    def _feed_many(self, values: Sequence[float], start: int) -> tuple[int, dict[str, Any] | None]:
        """:meth:`update_many` past the warm-up, ADWIN taking the values up to each of its
        detections in one call."""
        array = np.asarray(values, dtype=float)
        n = len(values)
        while start < n:
            stop = self._detector.update_many(array, start)
            added = stop - start
            added_values = values[start:stop]
            self._window.extend(added_values)
            total = self._sum
            for x in added_values:  # one by one, as update adds them
                total += x
            self._sum = total
            self._n += added
            self.n_seen += added
            quiet = self._quiet  # each value added counts one down, the last one too
            self._quiet = quiet - added if quiet > added else 0
            start = stop
            if self._detector.drift_detected and quiet < added:
                detail = self._detected()
                if detail is not None:
                    return stop, detail
        return n, None

    def _feed(self, x: float) -> dict[str, Any] | None:
        """A value past the warm-up (``n_seen`` counts it already)."""
        self._window.append(x)
        self._sum += x
        self._n += 1
        detector = self._detector
        detector.update(x >= 0.5 if self._binary else x)
        if self._quiet:
            self._quiet -= 1
            return None
        if not detector.drift_detected:
            return None
        return self._detected()

    def _detected(self) -> dict[str, Any] | None:
        n_window = len(self._window)
        window_sum = sum(self._window)
        n_before = self._n - n_window
        before = (self._sum - window_sum) / n_before if n_before else None
        after = window_sum / n_window
        self._sum, self._n = window_sum, n_window  # the new regime starts now
        if self.direction == "increase" and (before is None or after <= before):
            return None  # a better regime, or nothing before the window to compare with
        if self.min_change and (before is None or abs(after - before) < self.min_change):
            return None  # too small a move to report
        self.n_detections += 1
        self._quiet = self.cooldown
        return {
            "detector": self.detector_name,
            "before": before,
            "after": after,
            "window_before": n_before,
            "window_after": n_window,
            "events_covered": n_before + n_window,
            "position": self.n_seen,
        }
