"""From one Kafka input record to the records it makes: decisions or dead letters.

This is the whole per-message logic of the worker, free of Faust and of any client, so
that it is tested in microseconds and the Faust agent stays a loop that sends what
:meth:`MessageProcessor.process` returns.

Examples
--------
>>> from engine.scorer import Scorer, make_model
>>> from streams.settings import Settings
>>> processor = MessageProcessor(Settings(), Scorer())
>>> good = InputRecord("events", 0, 5, 100.0, b"a",
...                    b'{"event_id": "e-1", "entity_id": "a", "ts": 99.0, "features": {}}')
>>> [out.topic for out in processor.process(good)]
['decisions']
>>> bad = InputRecord("events", 0, 6, 100.0, b"a", b"not json")
>>> [out.topic for out in processor.process(bad)], processor.counts["dead_letter.decode"]
(['dead-letter'], 1)
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

from engine.events import (
    Alert,
    Event,
    InputError,
    Stage,
    ValidationError,
    dead_letter,
    decode_event,
    decode_label,
    encode,
)
from engine.labels import LabelRule
from engine.policy import DecisionPolicy, MemoryPolicy, NaivePolicy
from engine.scorer import Scorer, make_model
from engine.state import Memory
from streams.settings import Settings

__all__ = ["InputRecord", "MessageProcessor", "OutputRecord", "build_scorer"]

log = logging.getLogger(__name__)


class InputRecord(NamedTuple):
    """One consumed Kafka record: where it came from and its raw key and value.

    A named tuple: one is made per consumed record, and a frozen dataclass costs several
    times as much to make.
    """

    topic: str
    partition: int | None
    offset: int | None
    timestamp: float | None
    key: bytes | None
    value: bytes | None


class OutputRecord(NamedTuple):
    """One record to produce; ``partition`` is its input's (decisions), else ``None``."""

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None


def build_scorer(
    settings: Settings, *, policy: str | None = None, seed: int = 0, model: str | None = None
) -> Scorer:
    """The engine's :class:`Scorer` as ``settings`` configure it (worker and replay alike).

    ``policy`` and ``model`` (``numba``, the default model, or ``river``, River's own for
    comparison) override the settings' ``policy`` and ``model``.
    """
    chosen: DecisionPolicy
    if (policy or settings.policy) == "naive":
        chosen = NaivePolicy(threshold=settings.action_threshold)
    else:
        chosen = MemoryPolicy(
            threshold=settings.action_threshold,
            min_rise=settings.min_rise,
            cooldown=settings.cooldown_seconds,
        )
    return Scorer(
        model=make_model(model or settings.model),
        policy=chosen,
        memory=Memory(window=settings.memory_window_seconds),
        label_rule=LabelRule(first_label_lookback=settings.first_label_lookback_seconds),
        seed=seed,
    )


def _require_key(record: InputRecord) -> None:
    """A Kafka input without a key lands on any partition, away from its entity's state."""
    if record.key is None:
        raise ValidationError("key: missing; the message key must be the entity_id as UTF-8")


class MessageProcessor:
    """Validate each input record, hand valid ones to the scorer, dead-letter the rest."""

    def __init__(self, settings: Settings, scorer: Scorer) -> None:
        self.settings = settings
        self.scorer = scorer
        self.counts: Counter[str] = Counter()

    def process(self, record: InputRecord) -> list[OutputRecord]:
        """The records to produce for ``record``: one decision, one dead letter, or alerts."""
        return self.process_batch([record])

    def process_batch(self, records: Sequence[InputRecord]) -> list[OutputRecord]:
        """The records to produce for a batch, in input order.

        Runs of consecutive events go to :meth:`Scorer.process_events` in one call (each
        sees the state left by the ones before it); a label is applied where it stands.
        """
        out: list[OutputRecord] = []
        run: list[tuple[InputRecord, Event]] = []
        for record in records:
            if record.topic == self.settings.events_topic:
                try:
                    event = decode_event(
                        record.value, key=record.key, max_bytes=self.settings.max_message_bytes
                    )
                    _require_key(record)
                except InputError as exc:
                    out.append(self._dead_letter(record, exc))
                    continue
                run.append((record, event))
            elif record.topic == self.settings.labels_topic:
                out += self._score_run(run)
                run = []
                out += self._process_label(record)
            else:
                raise ValueError(f"record from an unexpected topic {record.topic!r}")
        out += self._score_run(run)
        return out

    def _score_run(self, run: list[tuple[InputRecord, Event]]) -> list[OutputRecord]:
        if not run:
            return []
        try:
            decisions = self.scorer.process_events(
                [event for _, event in run], positions=[record.offset for record, _ in run]
            )
        except Exception as exc:
            if len(run) == 1:
                record, _ = run[0]
                log.exception(
                    "scoring failed for %s[%s]@%s", record.topic, record.partition, record.offset
                )
                return [self._dead_letter(record, exc, stage="score")]
            # One by one: what was applied before the failure is recognised by its position
            # and not applied twice; only the failing event is dead-lettered.
            return [out for item in run for out in self._score_run([item])]
        counts = self.counts
        counts["events"] += len(decisions)
        counts["actions"] += sum(decision.action for decision in decisions)
        for reason, n in Counter(decision.reason for decision in decisions).items():
            counts[f"reason.{reason}"] += n
        topic = self.settings.decisions_topic
        out = [
            OutputRecord(topic, decision.entity_id.encode(), encode(decision), record.partition)
            for (record, _), decision in zip(run, decisions, strict=True)
        ]
        return out + self._alerts(self.scorer.take_alerts())

    def _process_label(self, record: InputRecord) -> list[OutputRecord]:
        try:
            label = decode_label(
                record.value, key=record.key, max_bytes=self.settings.max_message_bytes
            )
            _require_key(record)
        except InputError as exc:
            return [self._dead_letter(record, exc)]
        if label.reported_ts is None and record.timestamp is not None:
            # Online, a label is known from the moment Kafka received it (CONTRACT.md).
            label = replace(label, reported_ts=max(label.ts, record.timestamp))
        try:
            alerts = self.scorer.process_label(label, position=record.offset)
        except Exception as exc:  # a bug or a model failure: keep the input, keep going
            log.exception(
                "learning failed for %s[%s]@%s", record.topic, record.partition, record.offset
            )
            return [self._dead_letter(record, exc, stage="score")]
        self.counts["labels"] += 1
        return self._alerts(alerts)

    def _alerts(self, alerts: list[Alert]) -> list[OutputRecord]:
        """Alerts keyed by their entity, or by their kind when they have none."""
        self.counts["alerts"] += len(alerts)
        for alert in alerts:
            self.counts[f"alert.{alert.kind}"] += 1
        return [
            OutputRecord(
                self.settings.alerts_topic,
                (alert.entity_id or alert.kind).encode("utf-8"),
                encode(alert),
            )
            for alert in alerts
        ]

    def _dead_letter(
        self, record: InputRecord, error: BaseException, stage: Stage | None = None
    ) -> OutputRecord:
        letter = dead_letter(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp=record.timestamp,
            key=record.key,
            raw=record.value,
            error=error,
            stage=stage,
        )
        self.counts[f"dead_letter.{letter['stage']}"] += 1
        return OutputRecord(self.settings.dead_letter_topic, record.key, encode(letter))
