"""``vigil replay``: JSONL files through the same engine the worker runs, to JSONL files.

Reads ``events`` and ``labels`` files (one JSON object per line, the contract's shapes),
validates every line with the rules the worker uses (bad lines go to
``dead-letter.jsonl``, as on Kafka, with the file as ``source_topic`` and the line number
as ``offset``), orders inputs as :mod:`engine.replay` says, and writes
``decisions.jsonl`` and ``alerts.jsonl``. The same input gives byte-identical output.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from engine.events import (
    Event,
    InputError,
    Label,
    dead_letter,
    decode_event,
    decode_label,
    encode,
)
from engine.replay import order_inputs, replay
from engine.scorer import Scorer

__all__ = ["ReplaySummary", "replay_files"]

T = TypeVar("T", Event, Label)


@dataclass
class ReplaySummary:
    """What a replay read and wrote."""

    events: int = 0
    labels: int = 0
    decisions: int = 0
    actions: int = 0
    alerts: int = 0
    dead_letters: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


def replay_files(
    *,
    events_path: Path,
    labels_path: Path | None,
    out_dir: Path,
    scorer: Scorer,
    max_message_bytes: int,
    progress: bool | None = None,
) -> ReplaySummary:
    """Replay the files through ``scorer``; write the three output files in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ReplaySummary()
    if progress is None:
        progress = sys.stderr.isatty()
    with open(out_dir / "dead-letter.jsonl", "wb") as letters:
        events = _read(events_path, decode_event, letters, max_message_bytes, summary)
        labels: list[tuple[int, Label]] = []
        if labels_path is not None:
            labels = _read(labels_path, decode_label, letters, max_message_bytes, summary)
    summary.events, summary.labels = len(events), len(labels)
    inputs = order_inputs(events=events, labels=labels)
    total = len(inputs)
    with (
        open(out_dir / "decisions.jsonl", "wb") as decisions,
        open(out_dir / "alerts.jsonl", "wb") as alerts,
    ):
        for kind, record in replay(inputs, scorer):
            if kind == "decision":
                decisions.write(encode(record) + b"\n")
                summary.decisions += 1
                summary.actions += record["action"]
                summary.reasons[record["reason"]] += 1
                if progress and summary.decisions % 10_000 == 0:
                    _progress(summary.decisions + summary.labels, total)
            else:
                alerts.write(encode(record) + b"\n")
                summary.alerts += 1
    if progress:
        _progress(total, total)
        sys.stderr.write("\n")
    return summary


def _read(
    path: Path,
    decode: Callable[..., T],
    letters: BinaryIO,
    max_message_bytes: int,
    summary: ReplaySummary,
) -> list[tuple[int, T]]:
    items: list[tuple[int, T]] = []
    with open(path, "rb") as lines:
        for number, line in enumerate(lines, start=1):
            raw = line.rstrip(b"\r\n")
            if not raw.strip():
                continue
            try:
                items.append((number, decode(raw, max_bytes=max_message_bytes)))
            except InputError as exc:
                record = dead_letter(
                    source_topic=path.name,
                    partition=None,
                    offset=number,
                    timestamp=None,
                    key=None,
                    raw=raw,
                    error=exc,
                )
                letters.write(encode(record) + b"\n")
                summary.dead_letters += 1
    return items


def _progress(done: int, total: int) -> None:
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} inputs")
    sys.stderr.flush()
