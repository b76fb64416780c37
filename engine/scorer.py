"""The one facade both the Kafka worker and the offline replay call.

``Scorer.process_event`` turns a validated :class:`~engine.events.Event` into exactly one
:class:`~engine.events.Decision`; ``Scorer.process_label`` learns from a late label.

Examples
--------
>>> from engine.events import Event, Label
>>> scorer = Scorer(threshold=0.5)
>>> d = scorer.process_event(Event("e-1", "acct-1", 10.0, {"amount": 3.0}))
>>> d.score, d.action, d.reason
(0.5, False, 'first_seen')
>>> scorer.process_label(Label("acct-1", 11.0, 1))
[]
>>> d = scorer.process_event(Event("e-2", "acct-1", 12.0, {"amount": 3.0}))
>>> d.score > 0.5, d.top_features[0].name
(True, 'amount')
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from river import linear_model

from engine.events import Decision, Event, FeatureContribution, Label

__all__ = ["Scorer"]


class Scorer:
    """Score events with an online River classifier; learn from labels.

    Parameters
    ----------
    model
        Any River binary classifier; a ``LogisticRegression`` by default.
    threshold
        Scores at or above it are actionable.
    max_entities
        The number of entities whose last event is remembered for learning; the least
        recently seen are forgotten first, so memory stays bounded.
    n_top_features
        How many features each decision names as pushing its score most.
    """

    def __init__(
        self,
        *,
        model: Any = None,
        threshold: float = 0.8,
        max_entities: int = 100_000,
        n_top_features: int = 3,
    ) -> None:
        self.model = model if model is not None else linear_model.LogisticRegression()
        self.threshold = threshold
        self.max_entities = max_entities
        self.n_top_features = n_top_features
        self.model_version = 0
        self._last_features: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._max_score: dict[str, float] = {}

    def process_event(self, event: Event) -> Decision:
        """Score one event and decide whether to act on it."""
        proba = self.model.predict_proba_one(event.features)
        score = float(proba.get(True, proba.get(1, 0.0)))
        entity = event.entity_id
        previous_max = self._max_score.get(entity)
        if previous_max is None:
            reason = "first_seen"
        elif score >= self.threshold:
            reason = "above_threshold"
        else:
            reason = "below_threshold"
        self._remember(entity, event.features, score)
        return Decision(
            event_id=event.event_id,
            entity_id=entity,
            ts=event.ts,
            score=score,
            action=reason == "above_threshold",
            reason=reason,
            model_version=self.model_version,
            entity_max_score=previous_max,
            rise=None if previous_max is None else score - previous_max,
            top_features=self._top_features(event.features),
        )

    def process_label(self, label: Label) -> list[Any]:
        """Learn the entity's last scored features with the label's class."""
        features = self._last_features.get(label.entity_id)
        if features is not None:
            self.model.learn_one(features, bool(label.label))
        return []

    def _remember(self, entity: str, features: dict[str, float], score: float) -> None:
        self._last_features[entity] = features
        self._last_features.move_to_end(entity)
        self._max_score[entity] = max(score, self._max_score.get(entity, -math.inf))
        while len(self._last_features) > self.max_entities:
            old, _ = self._last_features.popitem(last=False)
            self._max_score.pop(old, None)

    def _top_features(self, features: dict[str, float]) -> tuple[FeatureContribution, ...]:
        weights = getattr(self.model, "weights", {})
        contributions = [
            FeatureContribution(name, value, float(weights.get(name, 0.0)) * value)
            for name, value in features.items()
        ]
        contributions.sort(key=lambda c: (-abs(c.contribution), c.name))
        return tuple(contributions[: self.n_top_features])
