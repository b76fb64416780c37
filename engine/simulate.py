"""A small seeded stream of synthetic events and labels, in the contract's shapes.

Each entity has a hidden class (``bad`` with probability ``bad_share``); its features
depend on the class, with noise. About ``label_rate`` of the events are followed by a
label of their entity, reported ``label_delay`` seconds later. Deterministic for a given ``seed``.

Examples
--------
>>> events, labels = synthetic_stream(n_entities=3, n_events=5, seed=1)
>>> len(events), events[0]["event_id"], sorted(events[0]["features"])
(5, 'e-000000', ['amount', 'country_risk', 'n_items'])
>>> synthetic_stream(n_entities=3, n_events=5, seed=1) == (events, labels)
True
"""

from __future__ import annotations

import random
from typing import Any

from engine.replay import order_key

__all__ = ["merge_by_time", "synthetic_stream"]


def synthetic_stream(
    *,
    n_entities: int = 200,
    n_events: int = 3000,
    seed: int = 42,
    start_ts: float = 1_732_350_000.0,
    seconds_between_events: float = 1.0,
    bad_share: float = 0.2,
    label_rate: float = 0.1,
    label_delay: float = 60.0,
    event_id_prefix: str = "e-",
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return ``(events, labels)``: JSON-ready dicts, events in time order."""
    rng = random.Random(seed)
    bad = {f"acct-{i}": rng.random() < bad_share for i in range(n_entities)}
    entities = list(bad)
    events = []
    labels = []
    for i in range(n_events):
        entity = rng.choice(entities)
        ts = start_ts + i * seconds_between_events
        is_bad = bad[entity]
        features = {
            "amount": round(rng.lognormvariate(4.0 if is_bad else 3.0, 0.6), 2),
            "n_items": rng.randint(1, 12 if is_bad else 5),
            "country_risk": round(min(1.0, max(0.0, rng.gauss(0.6 if is_bad else 0.2, 0.15))), 3),
        }
        events.append(
            {
                "event_id": f"{event_id_prefix}{i:06d}",
                "entity_id": entity,
                "ts": ts,
                "features": features,
            }
        )
        if rng.random() < label_rate:
            labels.append(
                {
                    "entity_id": entity,
                    "ts": ts,
                    "label": int(is_bad),
                    "reported_ts": ts + label_delay,
                }
            )
    return events, labels


def merge_by_time(
    events: list[dict[str, Any]], labels: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    """Events by ``ts`` and labels by ``reported_ts``, in one stream, as replay sees them.

    >>> merge_by_time([{"ts": 1.0}, {"ts": 2.0}], [{"ts": 1.0, "reported_ts": 2.0}])
    [('event', {'ts': 1.0}), ('event', {'ts': 2.0}), ('label', {'ts': 1.0, 'reported_ts': 2.0})]
    """
    tagged = [(*order_key("event", e["ts"]), i, "event", e) for i, e in enumerate(events)]
    tagged += [
        (*order_key("label", lb["ts"], lb.get("reported_ts")), i, "label", lb)
        for i, lb in enumerate(labels)
    ]
    tagged.sort(key=lambda t: t[:3])
    return [(kind, item) for *_, kind, item in tagged]
