"""All the monitors the engine runs, fed by the Scorer, returning alerts.

- ``concept_drift``: the prequential error of labelled samples (the score given at event
  time against the label learned), one value per label (the share of the samples it
  teaches that were misclassified), through a River detector (:mod:`.detectors`); only
  a rising error is reported.
- ``data_drift``: per feature, PSI of a reference window against a recent one
  (:mod:`.distribution`), naming the feature.
- ``prediction_drift``: the mean score, and the share of scores at or above the action
  threshold (what actions cost), each through a River detector (ADWIN with a small δ)
  after a warm-up, reported only when the mean moves by at least
  ``prediction_min_change``. (PSI of the scores was tried first: an online model that
  keeps learning sharpens its scores on a stationary stream, and PSI over deciles
  raised that as drift; River's δ on the scores raised 12.6 false alarms per 100k
  stationary simulator events for the same reason.)
- ``label_drift``: the class prior of incoming labels (either way), and a rising rate of
  labels that contradict the entity's previous label, each through a River detector.
- ``frozen_predictions``: per entity and globally (:mod:`.frozen`).

Every alert is rate-limited: detectors stay quiet for a cooldown after they fire, and
PSI levels go through an :class:`~engine.monitors.gate.AlertGate` (one alert when a drift
starts, then escalation or all-clear). Memory is bounded: fixed windows, at most
``max_features`` features watched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.events import Alert, AlertKind
from engine.monitors.detectors import DetectorName, StreamDrift
from engine.monitors.distribution import DistributionDrift
from engine.monitors.frozen import FrozenPredictions
from engine.monitors.gate import AlertGate, Level
from engine.state import EntityState

__all__ = ["MonitorSettings", "Monitors"]


@dataclass(frozen=True, kw_only=True)
class MonitorSettings:
    """Thresholds of every monitor, with their defaults."""

    detector: DetectorName = "adwin"
    #: ADWIN's δ for ``concept_drift`` (when ``detector`` is ``adwin``; the other
    #: monitors keep River's 0.002). Larger is more sensitive: one value per label is a
    #: sparse stream (a few thousand a day) whose changes can be small. Of the δ tried
    #: (0.002-0.1), 0.05 is the largest that kept false alarms under 0.5 per 100k
    #: stationary events on the tuning seeds of ``benchmarks/bench_drift.py``.
    concept_adwin_delta: float = 0.05
    #: Scores the prediction-drift detectors ignore at the start: an online model's
    #: scores move while it first learns, and that is not drift. On the simulator the
    #: mean score falls from ~0.5 to ~0.1 over the first ~20,000 events.
    prediction_warmup: int = 20_000
    #: ADWIN's δ for ``prediction_drift`` (when ``detector`` is ``adwin``). Smaller
    #: than River's 0.002: ADWIN takes its values for independent, and scores are not
    #: (an entity's events come in bursts, scored alike), so River's δ finds changes
    #: in a stationary stream of scores.
    prediction_adwin_delta: float = 1e-6
    #: A prediction-drift detection is reported only when the recent mean (of the
    #: scores, or of the share at or above ``threshold``) differs from the mean before
    #: by at least this much: an online model that keeps learning moves its scores by
    #: up to ~0.05 on a stationary stream. δ 1e-6 and 0.04 (with the 20,000-event
    #: warm-up) kept false alarms under 0.5 per 100k stationary events on the tuning
    #: seeds of ``benchmarks/bench_drift.py``.
    prediction_min_change: float = 0.04
    threshold: float = 0.8
    reference_size: int = 2000
    #: PSI's recent window and how often it is checked (also the frozen share's check):
    #: 1,000 and 100 catch the simulator's day-5 data drift ~660 events after it (2,000
    #: and 500 took ~1,500), with no false alarm in 840k stationary events; the
    #: reference's bins are computed once, so checking this often costs no more.
    window_size: int = 1000
    check_every: int = 100
    psi_warn: float = 0.25
    psi_critical: float = 0.5
    psi_clear: float = 0.1
    max_features: int = 256
    detector_recent: int = 500
    detector_cooldown: int = 1000
    frozen_k: int = 5
    frozen_epsilon: float = 0.01
    frozen_share_warn: float = 0.05
    frozen_share_clear: float = 0.025
    memory_window: float = 86_400.0
    seed: int = 0


class Monitors:
    """Feed it what the engine sees; it returns the alerts to publish."""

    def __init__(self, settings: MonitorSettings | None = None) -> None:
        self.settings = s = settings if settings is not None else MonitorSettings()
        self.concept = self._detector(
            direction="increase",
            params={"delta": s.concept_adwin_delta} if s.detector == "adwin" else None,
        )
        self.label_prior = self._detector()
        self.contradictions = self._detector(direction="increase")
        self.score_mean = self._prediction_detector()
        self.share_above = self._prediction_detector()
        self.features: dict[str, DistributionDrift] = {}
        self.frozen = FrozenPredictions(
            threshold=s.threshold,
            k=s.frozen_k,
            epsilon=s.frozen_epsilon,
            window=s.memory_window,
            share_warn=s.frozen_share_warn,
            share_clear=s.frozen_share_clear,
        )
        self.gate = AlertGate(max_keys=s.max_features + 1)
        self.n_events = 0

    # --- what the engine feeds --------------------------------------------------------

    def observe_event(
        self,
        *,
        entity_id: str,
        ts: float,
        features: dict[str, float],
        score: float,
        state: EntityState,
        n_entities: int,
    ) -> list[Alert]:
        """One scored event: data, prediction and frozen-prediction monitors."""
        alerts: list[Alert] = []
        self.n_events += 1
        for name, value in features.items():
            monitor = self.features.get(name)
            if monitor is None:
                if len(self.features) >= self.settings.max_features:
                    continue
                monitor = self.features[name] = self._distribution()
            level = monitor.update(value)
            if level is not None:
                alerts += self._level_alert("data_drift", ts, level, monitor, feature=name)
        detail = self.score_mean.update(score)
        if detail is not None:
            alerts.append(self._detector_alert("prediction_drift", ts, detail, signal="mean_score"))
        detail = self.share_above.update(float(score >= self.settings.threshold))
        if detail is not None:
            detail["threshold"] = self.settings.threshold
            alerts.append(
                self._detector_alert("prediction_drift", ts, detail, signal="share_above_threshold")
            )
        frozen = self.frozen.observe(state, entity_id, ts, score)
        if frozen is not None:
            alerts.append(frozen)
        if self.n_events % self.settings.check_every == 0:
            share = self.frozen.check_share(ts, n_entities)
            if share is not None:
                alerts.append(share)
        return alerts

    def observe_learned(self, *, ts: float, scores: list[float], label: int) -> list[Alert]:
        """Samples learned with ``label``, each with the score it was given when scored.

        The concept monitor takes one value per label: the share of its samples that
        were misclassified (at the 0.5 cut-off). The samples one label teaches are an
        entity's recent events, scored alike and so wrong or right together; fed one by
        one, they would look like that many independent errors (a burst of them is not
        a drift).
        """
        n = len(scores)
        if not n:
            return []
        misclassified = (0.5).__gt__ if label else (0.5).__le__  # score < 0.5, score >= 0.5
        wrong = misclassified(scores[0]) if n == 1 else sum(map(misclassified, scores)) / n
        detail = self.concept.update(float(wrong))
        if detail is None:
            return []
        return [self._detector_alert("concept_drift", ts, detail, signal="prequential_error")]

    def observe_label(self, *, ts: float, label: int, previous: int | None) -> list[Alert]:
        """A label as it arrives, with the entity's previous label (``None`` if first)."""
        alerts = []
        detail = self.label_prior.update(float(label))
        if detail is not None:
            alerts.append(self._detector_alert("label_drift", ts, detail, signal="class_prior"))
        if previous is not None:
            detail = self.contradictions.update(float(previous != label))
            if detail is not None:
                alerts.append(
                    self._detector_alert("label_drift", ts, detail, signal="contradiction_rate")
                )
        return alerts

    # --- helpers ----------------------------------------------------------------------

    def _detector(
        self,
        warmup: int = 0,
        direction: Literal["both", "increase"] = "both",
        params: dict[str, Any] | None = None,
        min_change: float = 0.0,
    ) -> StreamDrift:
        s = self.settings
        return StreamDrift(
            s.detector,
            recent=s.detector_recent,
            cooldown=s.detector_cooldown,
            seed=s.seed,
            warmup=warmup,
            direction=direction,
            params=params,
            min_change=min_change,
        )

    def _prediction_detector(self) -> StreamDrift:
        s = self.settings
        return self._detector(
            warmup=s.prediction_warmup,
            params={"delta": s.prediction_adwin_delta} if s.detector == "adwin" else None,
            min_change=s.prediction_min_change,
        )

    def _distribution(self) -> DistributionDrift:
        s = self.settings
        return DistributionDrift(
            reference_size=s.reference_size,
            window_size=s.window_size,
            check_every=s.check_every,
            warn_at=s.psi_warn,
            critical_at=s.psi_critical,
            clear_below=s.psi_clear,
        )

    def _level_alert(
        self,
        kind: AlertKind,
        ts: float,
        level: Level,
        monitor: DistributionDrift,
        feature: str | None = None,
    ) -> list[Alert]:
        previous = self.gate.level((kind, feature))
        report = self.gate.change((kind, feature), level)
        if report is None:
            return []
        status = {"clear": "cleared", "warning": "raised"}.get(report, "raised")
        if report == "critical" and previous == "warning":
            status = "escalated"
        reference, recent = monitor.reference, monitor.recent
        detail: dict[str, Any] = {
            "statistic": "psi",
            "psi": monitor.psi,
            "status": status,
            "reference_mean": float(reference.mean()),
            "recent_mean": float(recent.mean()),
            "reference_size": len(reference),
            "window_size": len(recent),
            "events_covered": monitor.n_seen - monitor.warmup,
        }
        severity = "info" if report == "clear" else report
        return [Alert(kind=kind, ts=ts, severity=severity, feature=feature, detail=detail)]

    def _detector_alert(
        self, kind: AlertKind, ts: float, detail: dict[str, Any], *, signal: str
    ) -> Alert:
        before, after = detail["before"], detail["after"]
        worse = before is None or after > before
        if signal in {"class_prior", "mean_score"}:
            worse = True  # a move either way is worth a look
        return Alert(
            kind=kind,
            ts=ts,
            severity="warning" if worse else "info",
            detail={"signal": signal, **detail},
        )
