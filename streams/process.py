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
    Decision,
    Event,
    InputError,
    Label,
    Stage,
    ValidationError,
    dead_letter,
    decode_event,
    decode_label,
    encode,
)
from engine.labels import LabelRule
from engine.policy import DecisionPolicy, MemoryPolicy, NaivePolicy
from engine.scorer import InputFailed, Scorer, make_model
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
        """The records to produce for a batch: a dead letter for each record that does not
        decode, then the decisions and alerts of the others, in input order.

        The events and labels go to :meth:`Scorer.process_inputs` in one call (each sees
        the model and the state left by the ones before it). If a label fails (a bug or a
        model failure), it is dead-lettered; if a run of events fails, its events go again
        one by one, and only the failing one is dead-lettered (what was applied before the
        failure is recognised by its position and not applied twice). The inputs after it
        then go on as before.
        """
        out: list[OutputRecord] = []
        valid: list[InputRecord] = []
        inputs: list[Event | Label] = []
        for record in records:
            try:
                inputs.append(self._decode(record))
            except InputError as exc:
                out.append(self._dead_letter(record, exc))
                continue
            valid.append(record)
        while inputs:
            try:
                results = self.scorer.process_inputs(
                    inputs, positions=[record.offset for record in valid]
                )
            except InputFailed as failure:
                start, stop = failure.start, failure.stop
                out += self._outputs(failure.results, valid[:start], inputs[:start])
                if start == stop:  # every input applied; the monitors failed
                    log.error("the monitors failed on a batch", exc_info=failure.__cause__)
                else:
                    out += self._failed(valid[start:stop], inputs[start:stop], failure)
                valid, inputs = valid[stop:], inputs[stop:]
                continue
            return out + self._outputs(results, valid, inputs)
        return out

    def _decode(self, record: InputRecord) -> Event | Label:
        """The event or label in ``record``; raises :class:`InputError` for a bad one."""
        settings = self.settings
        if record.topic == settings.events_topic:
            event = decode_event(record.value, key=record.key, max_bytes=settings.max_message_bytes)
            _require_key(record)
            return event
        if record.topic == settings.labels_topic:
            label = decode_label(record.value, key=record.key, max_bytes=settings.max_message_bytes)
            _require_key(record)
            if label.reported_ts is None and record.timestamp is not None:
                # Online, a label is known from the moment Kafka received it (CONTRACT.md).
                label = replace(label, reported_ts=max(label.ts, record.timestamp))
            return label
        raise ValueError(f"record from an unexpected topic {record.topic!r}")

    def _outputs(
        self,
        results: Sequence[Decision | Alert],
        records: Sequence[InputRecord],
        inputs: Sequence[Event | Label],
    ) -> list[OutputRecord]:
        """The records of the scorer's ``results`` for ``inputs``: each decision to its
        event's partition, each alert keyed by its entity or kind."""
        event_records = iter(
            [record for record, item in zip(records, inputs, strict=True) if type(item) is Event]
        )
        decisions = [result for result in results if type(result) is Decision]
        counts = self.counts
        counts["events"] += len(decisions)
        counts["actions"] += sum(decision.action for decision in decisions)
        for reason, n in Counter(decision.reason for decision in decisions).items():
            counts[f"reason.{reason}"] += n
        counts["labels"] += len(inputs) - len(decisions)
        topic = self.settings.decisions_topic
        return [
            OutputRecord(
                topic, result.entity_id.encode(), encode(result), next(event_records).partition
            )
            if type(result) is Decision
            else self._alert(result)
            for result in results
        ]

    def _failed(
        self, records: list[InputRecord], inputs: list[Event | Label], failure: InputFailed
    ) -> list[OutputRecord]:
        """A failed label's dead letter, or a failed run's events again, one by one."""
        if type(inputs[0]) is Label:
            record = records[0]
            log.error(
                "learning failed for %s[%s]@%s",
                record.topic,
                record.partition,
                record.offset,
                exc_info=failure.__cause__,
            )
            return [self._dead_letter(record, failure.__cause__ or failure, stage="score")]
        return self._score_run(list(zip(records, inputs, strict=True)))

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
                letter = self._dead_letter(record, exc, stage="score")
                return [letter, *self._alerts(self.scorer.take_alerts())]
            # One by one: what was applied before the failure is recognised by its position
            # and not applied twice; only the failing event is dead-lettered.
            return [out for item in run for out in self._score_run([item])]
        out = self._outputs(decisions, *zip(*run, strict=True))
        return out + self._alerts(self.scorer.take_alerts())

    def _alerts(self, alerts: list[Alert]) -> list[OutputRecord]:
        return [self._alert(alert) for alert in alerts]

    def _alert(self, alert: Alert) -> OutputRecord:
        """An alert keyed by its entity, or by its kind when it has none."""
        self.counts["alerts"] += 1
        self.counts[f"alert.{alert.kind}"] += 1
        return OutputRecord(
            self.settings.alerts_topic,
            (alert.entity_id or alert.kind).encode("utf-8"),
            encode(alert),
        )

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
