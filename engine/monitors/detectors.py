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
from typing import Any, Literal

from river import drift

__all__ = ["DETECTORS", "DetectorName", "StreamDrift", "make_detector"]

DetectorName = Literal["adwin", "page_hinkley", "kswin", "ddm"]
DETECTORS: tuple[DetectorName, ...] = ("adwin", "page_hinkley", "kswin", "ddm")


def make_detector(name: DetectorName, *, seed: int = 0) -> Any:
    """A fresh River detector, with River's defaults (KSWIN seeded)."""
    if name == "adwin":
        return drift.ADWIN()
    if name == "page_hinkley":
        return drift.PageHinkley()
    if name == "kswin":
        return drift.KSWIN(seed=seed)
    if name == "ddm":
        return drift.binary.DDM()
    raise ValueError(f"unknown detector {name!r}; expected one of {DETECTORS}")


class StreamDrift:
    """One detector on one stream; :meth:`update` returns a detail dict when it fires.

    Parameters
    ----------
    detector
        Which River detector. ``ddm`` expects 0/1 values (errors).
    recent
        Values in the "after" window of the detail.
    cooldown
        Values after a detection during which further detections are not reported.
    seed
        For detectors that draw random numbers (KSWIN).
    warmup
        Values ignored at the start (e.g. the scores of a model that has not learned yet).
    direction
        ``increase`` reports only detections where the recent mean is higher than
        before (an error rate that improves is not an alarm); ``both`` reports all.
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
    ) -> None:
        self.detector_name = detector
        self.recent = recent
        self.cooldown = cooldown
        self.seed = seed
        self.warmup = warmup
        self.direction = direction
        self._detector = make_detector(detector, seed=seed)
        self._window: deque[float] = deque(maxlen=recent)
        self._window_sum = 0.0
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
        if len(self._window) == self.recent:
            self._window_sum -= self._window[0]
        self._window.append(x)
        self._window_sum += x
        self._sum += x
        self._n += 1
        self._detector.update(bool(x) if self.detector_name == "ddm" else x)
        if self._quiet:
            self._quiet -= 1
            return None
        if not self._detector.drift_detected:
            return None
        n_window = len(self._window)
        n_before = self._n - n_window
        before = (self._sum - self._window_sum) / n_before if n_before else None
        after = self._window_sum / n_window
        if self.direction == "increase" and before is not None and after <= before:
            self._sum, self._n = self._window_sum, n_window  # a better regime starts
            return None
        detail = {
            "detector": self.detector_name,
            "before": before,
            "after": after,
            "window_before": n_before,
            "window_after": n_window,
            "events_covered": self._n,
            "position": self.n_seen,
        }
        self.n_detections += 1
        self._quiet = self.cooldown
        self._sum, self._n = self._window_sum, n_window  # the new regime starts now
        return detail
