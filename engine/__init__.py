"""vigil's pure core: contract values, scoring, policy and learning; no Kafka, no I/O."""

from engine.events import Decision, Event, Label
from engine.scorer import Scorer

__all__ = ["Decision", "Event", "Label", "Scorer"]
