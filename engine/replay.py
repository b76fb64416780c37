"""Run an ordered stream of events and labels through a :class:`~engine.scorer.Scorer`.

Offline, the engine must see inputs in the order it would have seen them online: events
by ``ts``, labels by when they became known (``reported_ts``, falling back to ``ts``),
and at equal times the event before the label, so that a replay never knows a label
before it arrived. Ties beyond that keep the input order.

Examples
--------
>>> from engine.events import Event, Label
>>> from engine.scorer import Scorer
>>> inputs = order_inputs(
...     events=[(1, Event("e-1", "a", 10.0, {"x": 1.0})), (2, Event("e-2", "a", 30.0, {}))],
...     labels=[(1, Label("a", 5.0, 1, reported_ts=10.0))],
... )
>>> [(i.kind, i.order_ts) for i in inputs]
[('event', 10.0), ('label', 10.0), ('event', 30.0)]
>>> [kind for kind, _ in replay(inputs, Scorer())]
['decision', 'decision']
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, Literal, NamedTuple

from engine.events import Decision, Event, Label
from engine.scorer import Scorer

__all__ = ["ReplayInput", "order_inputs", "order_key", "replay"]

_RANK = {"event": 0, "label": 1}


def order_key(
    kind: Literal["event", "label"], ts: float, reported_ts: float | None = None
) -> tuple[float, int]:
    """The sort key of one input: (time it is known, events before labels)."""
    known = ts if kind == "event" or reported_ts is None else reported_ts
    return (known, _RANK[kind])


class ReplayInput(NamedTuple):
    """One input in replay order; ``position`` is its place in its source (a line number)."""

    kind: Literal["event", "label"]
    order_ts: float
    position: int
    item: Event | Label


def order_inputs(
    *, events: Iterable[tuple[int, Event]], labels: Iterable[tuple[int, Label]]
) -> list[ReplayInput]:
    """Merge events and labels, each with its position, in the order online would see them."""
    merged = [ReplayInput("event", e.ts, pos, e) for pos, e in events]
    merged += [ReplayInput("label", lb.known_at, pos, lb) for pos, lb in labels]
    merged.sort(key=lambda i: (i.order_ts, _RANK[i.kind], i.position))
    return merged


def replay(
    inputs: Iterable[ReplayInput], scorer: Scorer, *, batch_size: int = 256
) -> Iterator[tuple[Literal["decision", "alert"], dict[str, Any]]]:
    """Yield ``("decision", dict)`` per event and ``("alert", dict)`` per alert, in order.

    Inputs go to :meth:`Scorer.process_inputs` in batches of up to ``batch_size``, events
    and labels together, as the online worker hands over a fetched batch.
    """
    entries = iter(inputs)
    while batch := list(islice(entries, batch_size)):
        results = scorer.process_inputs(
            [entry.item for entry in batch], positions=[entry.position for entry in batch]
        )
        for result in results:
            if type(result) is Decision:
                yield "decision", result.to_dict()
            else:
                yield "alert", result.to_dict()
