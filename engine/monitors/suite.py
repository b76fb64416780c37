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

Events come one at a time (:meth:`Monitors.observe_event`) or queued
(:meth:`Monitors.queue_event`, then :meth:`Monitors.take_alerts` for all of them), which is
what the Scorer does for a batch: the frozen-prediction monitor still sees each event as
it comes (it reads and changes the entity's state), while the data and prediction
monitors are fed each feature's values and the scores of the queued events together.
Either way the alerts are the same, in the same order.

Every alert is rate-limited: detectors stay quiet for a cooldown after they fire, and
PSI levels go through an :class:`~engine.monitors.gate.AlertGate` (one alert when a drift
starts, then escalation or all-clear). Memory is bounded: fixed windows, at most
``max_features`` features watched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any, Literal

from engine.events import Alert, AlertKind
from engine.monitors.detectors import DetectorName, StreamDrift
from engine.monitors.distribution import DistributionDrift
from engine.monitors.frozen import FrozenPredictions
from engine.monitors.gate import AlertGate, Level
from engine.state import EntityState

__all__ = ["MonitorSettings", "Monitors"]

#: An alert with where event by event would have raised it: the event's index in the
#: queue, the monitor (in the order they run for an event), and a rank within the monitor.
_Raised = tuple[int, int, int, Alert]
_DATA, _MEAN, _SHARE, _FROZEN = range(4)
#: Queued events from which the monitors are fed feature by feature: below, event by
#: event costs less (the same alerts either way).
_BULK_FROM = 8


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
        # Events queued for take_alerts (ts, features, score), and the alerts they raised
        # already (frozen predictions).
        self._queued: list[tuple[float, dict[str, float], float]] = []
        self._queued_alerts: list[_Raised] = []

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
        """One scored event: data, prediction and frozen-prediction monitors.

        :meth:`queue_event` then :meth:`take_alerts` (which gives the alerts of events
        queued before it too).
        """
        self.queue_event(
            entity_id=entity_id,
            ts=ts,
            features=features,
            score=score,
            state=state,
            n_entities=n_entities,
        )
        return self.take_alerts()

    def queue_event(
        self,
        *,
        entity_id: str,
        ts: float,
        features: dict[str, float],
        score: float,
        state: EntityState,
        n_entities: int,
    ) -> None:
        """One scored event, whose alerts :meth:`take_alerts` gives.

        The frozen-prediction monitor reads and changes ``state`` as the event's decision
        left it, so it runs now, before the state is written back. The data and
        prediction monitors need only the numbers: they wait for :meth:`take_alerts`,
        which feeds them the events queued since its last call together, for much less
        per event than one by one. ``features`` must not change until then.

        >>> monitors, state = Monitors(MonitorSettings(frozen_k=2)), EntityState()
        >>> for ts in (1.0, 2.0, 3.0):
        ...     monitors.queue_event(
        ...         entity_id="a", ts=ts, features={"x": ts}, score=0.95, state=state,
        ...         n_entities=1,
        ...     )
        >>> state.frozen  # already
        True
        >>> [(a.kind, a.ts, a.entity_id) for a in monitors.take_alerts()]
        [('frozen_predictions', 2.0, 'a')]
        >>> monitors.take_alerts()
        []
        """
        queued = self._queued
        queued.append((ts, features, score))
        self.n_events += 1
        frozen = self.frozen.observe(state, entity_id, ts, score)
        if frozen is not None:
            self._queued_alerts.append((len(queued) - 1, _FROZEN, 0, frozen))
        if self.n_events % self.settings.check_every == 0:
            share = self.frozen.check_share(ts, n_entities)
            if share is not None:
                self._queued_alerts.append((len(queued) - 1, _FROZEN, 0, share))

    def take_alerts(self) -> list[Alert]:
        """The alerts of the events queued since the last call, as :meth:`observe_event`
        would have raised them event by event: in the same order, with the same details."""
        queued = self._queued
        if len(queued) == 1:  # (the same, for less:) one event, its alerts in their order
            (ts, features, score), entity_alerts = queued[0], self._queued_alerts
            self._queued = []
            alerts = self._observe_one(ts, features, score)
            if entity_alerts:
                self._queued_alerts = []
                alerts += [alert for _, _, _, alert in entity_alerts]
            return alerts
        raised = self._take()
        return [alert for _, _, _, alert in raised] if raised else []

    def take_raised(self) -> list[tuple[int, Alert]]:
        """:meth:`take_alerts`, each alert with the position of the event that raised it
        (``0`` for the first event the monitors observed)."""
        first = self.n_events - len(self._queued)
        return [(first + index, alert) for index, _, _, alert in self._take()]

    def _take(self) -> list[_Raised]:
        """The queued events through the data and prediction monitors: all their alerts,
        in order."""
        queued, raised = self._queued, self._queued_alerts
        if not queued:
            return []
        self._queued, self._queued_alerts = [], []
        if len(queued) < _BULK_FROM:
            for i, (ts, features, score) in enumerate(queued):
                for rank, alert in enumerate(self._observe_one(ts, features, score)):
                    raised.append((i, _DATA, rank, alert))  # in order, before the frozen
        else:
            ts, rows, scores = zip(*queued, strict=True)
            raised += self._observe_features(ts, rows)
            raised += self._observe_scores(ts, scores)
        if len(raised) > 1:
            raised.sort(key=_event_order)
        return raised

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

    def _observe_one(self, ts: float, features: dict[str, float], score: float) -> list[Alert]:
        """One event's data and prediction monitors, value by value."""
        alerts: list[Alert] = []
        for name, value in features.items():
            monitor = self.features.get(name) or self._new_feature(name)
            if monitor is None:
                continue
            level = monitor.update(value)
            if level is not None:
                alerts += self._level_alert("data_drift", ts, level, monitor, feature=name)
        detail = self.score_mean.update(score)
        if detail is not None:
            alerts.append(self._mean_alert(ts, detail))
        detail = self.share_above.update(float(score >= self.settings.threshold))
        if detail is not None:
            alerts.append(self._share_alert(ts, detail))
        return alerts

    def _observe_features(
        self, ts: Sequence[float], rows: Sequence[dict[str, float]]
    ) -> list[_Raised]:
        """Each feature's values in the queued events through its distribution monitor.

        Monitors are made in the order features first appear, up to ``max_features``, as
        event by event. Feature monitors share only the gate, whose keys are one per
        feature and never past its bound, so one feature can go through all the events
        before the next.
        """
        raised: list[_Raised] = []
        for name, (indices, values) in _feature_columns(rows).items():
            monitor = self.features.get(name) or self._new_feature(name)
            if monitor is None:
                continue
            start = 0
            while start < len(values):
                start, level = monitor.update_many(values, start)
                if level is None:
                    continue
                i = indices[start - 1]
                rank = list(rows[i]).index(name)  # event by event, features go in its order
                for alert in self._level_alert("data_drift", ts[i], level, monitor, feature=name):
                    raised.append((i, _DATA, rank, alert))
        return raised

    def _observe_scores(self, ts: Sequence[float], scores: Sequence[float]) -> list[_Raised]:
        """The queued scores through the prediction-drift detectors."""
        raised: list[_Raised] = []
        start = 0
        while start < len(scores):
            start, detail = self.score_mean.update_many(scores, start)
            if detail is not None:
                raised.append((start - 1, _MEAN, 0, self._mean_alert(ts[start - 1], detail)))
        threshold = self.settings.threshold
        shares = [float(score >= threshold) for score in scores]
        start = 0
        while start < len(shares):
            start, detail = self.share_above.update_many(shares, start)
            if detail is not None:
                raised.append((start - 1, _SHARE, 0, self._share_alert(ts[start - 1], detail)))
        return raised

    def _new_feature(self, name: str) -> DistributionDrift | None:
        """A monitor for a feature not seen before (``None`` past ``max_features``)."""
        if len(self.features) >= self.settings.max_features:
            return None
        monitor = self.features[name] = self._distribution()
        return monitor

    def _mean_alert(self, ts: float, detail: dict[str, Any]) -> Alert:
        return self._detector_alert("prediction_drift", ts, detail, signal="mean_score")

    def _share_alert(self, ts: float, detail: dict[str, Any]) -> Alert:
        detail["threshold"] = self.settings.threshold
        return self._detector_alert("prediction_drift", ts, detail, signal="share_above_threshold")

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


def _event_order(raised: _Raised) -> tuple[int, int, int]:
    return raised[:3]


def _feature_columns(
    rows: Sequence[dict[str, float]],
) -> dict[str, tuple[Sequence[int], Sequence[float]]]:
    """Per feature, in the order features first appear: the rows that have it, its values.

    >>> _feature_columns([{"a": 1.0, "b": 2.0}, {"b": 3.0, "a": 4.0}])
    {'a': (range(0, 2), (1.0, 4.0)), 'b': (range(0, 2), (2.0, 3.0))}
    >>> _feature_columns([{"a": 1.0}, {"b": 2.0, "a": 3.0}])
    {'a': ([0, 1], [1.0, 3.0]), 'b': ([1], [2.0])}
    """
    names = tuple(rows[0])
    if len(names) > 1:
        try:  # the usual case: every row has the first row's features, and no other
            values = list(zip(*map(itemgetter(*names), rows), strict=True))
        except KeyError:
            pass
        else:
            if sum(map(len, rows)) == len(names) * len(rows):
                everywhere = range(len(rows))
                return dict(zip(names, zip(repeat(everywhere), values), strict=True))
    columns: dict[str, tuple[list[int], list[float]]] = {}
    for i, row in enumerate(rows):
        for name, value in row.items():
            column = columns.get(name)
            if column is None:
                column = columns[name] = ([], [])
            column[0].append(i)
            column[1].append(value)
    return columns
