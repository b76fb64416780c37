"""Drift and frozen-prediction monitors: pure, bounded, deterministic; they return alerts."""

from engine.monitors._kernels import warm_up
from engine.monitors.detectors import DETECTORS, StreamDrift
from engine.monitors.distribution import DistributionDrift, psi
from engine.monitors.frozen import FrozenPredictions
from engine.monitors.gate import AlertGate
from engine.monitors.suite import Monitors, MonitorSettings

__all__ = [
    "DETECTORS",
    "AlertGate",
    "DistributionDrift",
    "FrozenPredictions",
    "MonitorSettings",
    "Monitors",
    "StreamDrift",
    "psi",
    "warm_up",
]
