"""Simulated streams in the contract's shapes: the seed scenario, and a small toy stream.

:func:`simulate` runs the seed scenario (PROBLEM.md §1): entities that change class, seen late.

Each entity has a hidden class (bad or good) that flips at hidden moments, several
times, both ways (a Markov chain in continuous time whose stationary share of bad
entities is ``bad_share``). Its features follow a latent *badness* that relaxes towards
the class with time constant ``inertia_hours``, plus per-entity offsets and noise, so an
entity that was bad keeps looking somewhat bad for a while after it turns good: what
freezes a naive model's predictions. Labels arrive late (a log-normal delay) and
sparsely, each saying the class **as of** its ``ts``.

The simulation steps through time (``step_seconds``) with numpy arrays over all
entities, so a million entities work; each step yields the events, labels, ground truth
and flips it made. Deterministic for a given ``seed``.

Examples
--------
>>> scenario = Scenario(n_entities=50, days=1.0, seed=3)
>>> steps = list(simulate(scenario))
>>> events = [e for s in steps for e in s.events]
>>> len(events), sorted(events[0]["features"])
(309, ['account_age_days', 'amount', 'country_risk', 'device_changes', 'n_items'])
>>> [e["ts"] for e in events] == sorted(e["ts"] for e in events)
True
>>> list(simulate(scenario))[5].truth == steps[5].truth
True

:func:`synthetic_stream` is a small stream of entities that never change class, for the
demo and the tests that need a few hundred events.

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

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.replay import order_key

__all__ = ["Scenario", "SimStep", "merge_by_time", "simulate", "synthetic_stream"]


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


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """The simulator's knobs, with the defaults of the evaluation report."""

    n_entities: int = 10_000
    days: float = 7.0
    step_seconds: float = 600.0
    #: Events per entity per day (Poisson).
    events_per_day: float = 6.0
    #: Long-run share of bad entities.
    bad_share: float = 0.1
    #: A bad entity turns good at this rate per day; good turns bad at the rate that
    #: keeps ``bad_share`` stationary.
    bad_to_good_per_day: float = 0.5
    #: Time constant with which features follow a change of class.
    inertia_hours: float = 12.0
    #: Share of events that are followed by a label of their entity.
    label_rate: float = 0.1
    #: Median and log-normal sigma of the delay before a label is known.
    label_delay_hours: float = 6.0
    label_delay_sigma: float = 0.8
    #: What one action costs.
    action_cost: float = 1.0
    #: From this day on (``None``: never) the world drifts: amounts grow for everyone
    #: (data drift) and country risk says less about badness (concept drift).
    drift_day: float | None = 5.0
    start_ts: float = 1_732_320_000.0  # 2024-11-23T00:00:00Z
    seed: int = 42


@dataclass
class SimStep:
    """What one step of simulated time produced (JSON-ready dicts)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    #: One per event: ``{"event_id", "entity_id", "ts", "bad", "episode"}``.
    truth: list[dict[str, Any]] = field(default_factory=list)
    #: One per hidden class change: ``{"entity_id", "ts", "bad"}`` (the new class).
    flips: list[dict[str, Any]] = field(default_factory=list)


def simulate(scenario: Scenario) -> Iterator[SimStep]:
    """Run the scenario; yield one :class:`SimStep` per ``step_seconds`` of time."""
    s = scenario
    rng = np.random.default_rng(s.seed)
    n = s.n_entities
    dt = s.step_seconds
    names = np.array([f"acct-{i}" for i in range(n)], dtype=object)
    bad = rng.random(n) < s.bad_share
    badness = bad.astype(float)
    episode = np.zeros(n, dtype=np.int64)
    created = s.start_ts - rng.uniform(0, 365 * 86_400.0, n)  # account ages up to a year
    offset_amount = rng.normal(0.0, 0.3, n)
    offset_risk = rng.normal(0.0, 0.08, n)
    p_bad_to_good = 1.0 - math.exp(-s.bad_to_good_per_day * dt / 86_400.0)
    good_to_bad = s.bad_to_good_per_day * s.bad_share / (1.0 - s.bad_share)
    p_good_to_bad = 1.0 - math.exp(-good_to_bad * dt / 86_400.0)
    relax = 1.0 - math.exp(-dt / (s.inertia_hours * 3600.0))
    rate = s.events_per_day * dt / 86_400.0
    next_event = 0
    for step in range(round(s.days * 86_400.0 / dt)):
        t0 = s.start_ts + step * dt
        out = SimStep()
        flip_draw = rng.random(n)
        flipped = np.where(bad, flip_draw < p_bad_to_good, flip_draw < p_good_to_bad)
        if step > 0 and flipped.any():
            bad = bad ^ flipped
            episode += flipped
            flip_ts = t0 + 0.0
            out.flips = [
                {"entity_id": names[i], "ts": flip_ts, "bad": bool(bad[i])}
                for i in np.flatnonzero(flipped)
            ]
        badness += (bad - badness) * relax
        drifted = s.drift_day is not None and t0 >= s.start_ts + s.drift_day * 86_400.0
        amount_base, risk_weight = (3.5, 0.15) if drifted else (3.0, 0.45)
        counts = rng.poisson(rate, n)
        who = np.repeat(np.arange(n), counts)
        m = len(who)
        if m:
            ts = np.sort(t0 + rng.uniform(0.0, dt, m))
            order = rng.permutation(m)  # which entity gets which ts, independent of index
            who = who[order]
            b = badness[who]
            amount = np.exp(amount_base + 1.2 * b + offset_amount[who] + rng.normal(0.0, 0.5, m))
            n_items = rng.poisson(1.5 + 3.0 * b)
            noise = rng.normal(0.0, 0.1, m)
            risk = np.clip(0.2 + risk_weight * b + offset_risk[who] + noise, 0, 1)
            devices = rng.poisson(0.2 + 1.2 * b)
            age = (ts - created[who]) / 86_400.0
            labelled = rng.random(m) < s.label_rate
            delay = s.label_delay_hours * 3600.0 * np.exp(rng.normal(0.0, s.label_delay_sigma, m))
            for j in range(m):
                i = who[j]
                event_id = f"e-{next_event:09d}"
                next_event += 1
                entity = names[i]
                t = float(ts[j])
                out.events.append(
                    {
                        "event_id": event_id,
                        "entity_id": entity,
                        "ts": round(t, 3),
                        "features": {
                            "amount": round(float(amount[j]), 2),
                            "n_items": int(n_items[j]),
                            "country_risk": round(float(risk[j]), 4),
                            "device_changes": int(devices[j]),
                            "account_age_days": round(float(age[j]), 2),
                        },
                    }
                )
                out.truth.append(
                    {
                        "event_id": event_id,
                        "entity_id": entity,
                        "ts": round(t, 3),
                        "bad": bool(bad[i]),
                        "episode": int(episode[i]),
                    }
                )
                if labelled[j]:
                    out.labels.append(
                        {
                            "entity_id": entity,
                            "ts": round(t, 3),
                            "label": int(bad[i]),
                            "reported_ts": round(t + float(delay[j]), 3),
                        }
                    )
        yield out
