"""Small River classifiers for tests: they make the score a known function of the input."""

from __future__ import annotations

from river import base


class ScoreFromFeature(base.Classifier):
    """Predicts ``x["s"]`` as the probability of class 1 and records what it learns."""

    def __init__(self) -> None:
        self.learned: list[tuple[dict[str, float], bool]] = []

    def learn_one(self, x: dict, y: bool) -> None:
        self.learned.append((dict(x), y))

    def predict_proba_one(self, x: dict) -> dict:
        p = float(x.get("s", 0.0))
        return {False: 1.0 - p, True: p}
