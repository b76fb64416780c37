"""The one facade both the Kafka worker and the offline replay call.

For each event, :class:`Scorer` scores the features with the model, reads the entity's
memory (:mod:`engine.state`), lets the policy (:mod:`engine.policy`) decide, and writes
the entity's state back; the event's features wait as a pending sample until a label
resolves them (:mod:`engine.labels`). For each label it learns what the label rule
allows and returns signals for the alert layer.

Examples
--------
>>> from engine.events import Event, Label
>>> from engine.policy import MemoryPolicy
>>> scorer = Scorer(policy=MemoryPolicy(threshold=0.6, min_rise=0.05))
>>> d = scorer.process_event(Event("e-1", "acct-1", 10.0, {"amount": 3.0}))
>>> d.score, d.action, d.reason, d.entity_max_score
(0.5, False, 'below_threshold', None)
>>> scorer.process_label(Label("acct-1", 11.0, 1))
[]
>>> d = scorer.process_event(Event("e-2", "acct-1", 12.0, {"amount": 3.0}))
>>> round(d.score, 3), d.action, d.reason, d.entity_max_score, round(d.rise, 3)
(0.501, False, 'below_threshold', 0.5, 0.001)
>>> d.top_features[0].name
'amount'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from functools import partial
from itertools import chain, groupby, pairwise
from operator import neg
from typing import Any

from river import compose, linear_model, preprocessing

from engine.events import Alert, Decision, Event, FeatureContribution, Label
from engine.labels import LabelRule, resolve_label
from engine.models import NumbaLogisticRegression
from engine.monitors import Monitors, MonitorSettings
from engine.policy import DecisionPolicy, MemoryPolicy, decide_for, remember
from engine.state import EntityState, Memory, PendingSample

__all__ = ["InputFailed", "Scorer", "make_model", "river_model"]

EVENTS = "events"
LABELS = "labels"


class InputFailed(Exception):
    """:meth:`Scorer.process_inputs` failed on ``inputs[start:stop]`` (a label, or a run of
    events); ``results`` are those of the inputs before ``start``, all applied, and the
    alerts of every event decided.

    Of the failed run, the events before the failing one may be applied: given again,
    they are recognised by their positions. ``start == stop == len(inputs)`` when every
    input was applied and the monitors failed. The cause is the exception's
    ``__cause__``.
    """

    def __init__(self, start: int, stop: int, results: list[Decision | Alert]) -> None:
        super().__init__(f"inputs {start} to {stop - 1} of the batch failed")
        self.start = start
        self.stop = stop
        self.results = results


class Scorer:
    """Score events, decide per entity, learn from labels; the engine's whole online loop.

    Parameters
    ----------
    model
        Any River binary classifier (or pipeline); by default
        :class:`~engine.models.NumbaLogisticRegression` with online scaling, which computes
        what River's ``StandardScaler() | LogisticRegression()`` computes, in compiled
        kernels (see :func:`river_model` for River's own).
    policy
        A :class:`~engine.policy.DecisionPolicy`; the memory policy by default.
    memory
        Per-entity bounds and the memory window.
    label_rule
        What labels may teach the model.
    states
        Where entity states live (a dict by default; the worker may pass a table). Each
        state is read, changed and written back explicitly.
    clock
        Seconds since the epoch, for ageing pending samples; by default the event time
        of the input being processed, which keeps replays deterministic.
    seed
        Passed to the model when it takes a ``seed``.
    n_top_features
        How many features each decision names as pushing its score most.
    monitors
        The drift and frozen-prediction monitors; by default :class:`Monitors` with the
        policy's threshold and the memory window.
    """

    def __init__(
        self,
        *,
        model: Any = None,
        policy: DecisionPolicy | None = None,
        memory: Memory | None = None,
        label_rule: LabelRule | None = None,
        states: MutableMapping[str, EntityState] | None = None,
        clock: Callable[[], float] | None = None,
        seed: int = 0,
        n_top_features: int = 3,
        monitors: Monitors | None = None,
    ) -> None:
        if model is None:
            model = NumbaLogisticRegression(scale=True)
        if hasattr(model, "_get_params") and "seed" in model._get_params():
            model = model.clone({"seed": seed})
        self.model = model
        self.policy = policy if policy is not None else MemoryPolicy()
        self.memory = memory if memory is not None else Memory()
        self.label_rule = label_rule if label_rule is not None else LabelRule()
        self.states: MutableMapping[str, EntityState] = states if states is not None else {}
        self.clock = clock
        self.seed = seed
        self.n_top_features = n_top_features
        self.model_version = 0
        self.counts: Counter[str] = Counter()
        self.monitors = (
            monitors
            if monitors is not None
            else Monitors(
                MonitorSettings(
                    threshold=self.policy.threshold, memory_window=self.memory.window, seed=seed
                )
            )
        )
        self._alerts: list[Alert] = []

    def take_alerts(self) -> list[Alert]:
        """The alerts raised while processing events since the last call (then cleared)."""
        alerts, self._alerts = self._alerts, []
        return alerts

    # --- events -------------------------------------------------------------------------

    def process_event(self, event: Event, *, position: int | None = None) -> Decision:
        """Score one event and decide; the entity's state is updated and written back."""
        return self.process_events([event], positions=[position])[0]

    def process_events(
        self, events: Sequence[Event], *, positions: Sequence[int | None] | None = None
    ) -> list[Decision]:
        """Decide a batch in order: each event sees the state left by the ones before it.

        The model only changes on labels, so the whole batch is scored first, then the
        policy runs event by event.
        """
        rows = [e.features for e in events]
        scores, explanations = self._score_and_explain(rows)
        if positions is None:
            positions = [None] * len(events)
        try:
            return [
                self._decide(event, score, position, top)
                for event, score, position, top in zip(
                    events, scores, positions, explanations, strict=True
                )
            ]
        finally:  # the monitors watch the batch's events together
            self._alerts += self.monitors.take_alerts()

    def process_inputs(
        self,
        inputs: Sequence[Event | Label],
        *,
        positions: Sequence[int | None] | None = None,
    ) -> list[Decision | Alert]:
        """Decide the events and learn from the labels of a batch, in order; every decision
        and alert, in order.

        The same as :meth:`process_events` on each run of events between labels (then
        :meth:`take_alerts`) and :meth:`process_label` on each label, in the same order: a
        run's decisions, then its events' alerts, then a label's alerts. For less: the
        batch's features are converted for the model once, each run is scored in one call
        (after the labels before it are learned), and the monitors take the batch's events
        together at the end.

        Raises :class:`InputFailed` when a label or a run of events fails (a bug, or a
        model failure), with the results of the inputs before it.

        >>> scorer = Scorer()
        >>> out = scorer.process_inputs(
        ...     [
        ...         Event("e-1", "acct-1", 10.0, {"amount": 3.0}),
        ...         Label("acct-1", 11.0, 1),
        ...         Event("e-2", "acct-1", 12.0, {"amount": 3.0}),
        ...     ]
        ... )
        >>> [(d.event_id, round(d.score, 3)) for d in out]
        [('e-1', 0.5), ('e-2', 0.501)]
        """
        if positions is None:
            positions = [None] * len(inputs)
        score_run = self._run_scorer([item.features for item in inputs if type(item) is Event])
        out: list[Decision | Alert] = []
        run_ends: list[tuple[int, int]] = []  # per run: events the monitors saw, len(out)
        scored = index = 0
        for is_label, group in groupby(zip(inputs, positions, strict=True), key=_is_label):
            if is_label:
                for label, position in group:
                    try:
                        out += self.process_label(label, position=position)
                    except Exception as exc:
                        raise InputFailed(index, index + 1, self._settle(out, run_ends)) from exc
                    index += 1
                continue
            run = list(group)
            try:
                scores, explanations = score_run(scored, scored + len(run))
                out += [
                    self._decide(event, score, position, top)
                    for (event, position), score, top in zip(run, scores, explanations, strict=True)
                ]
            except Exception as exc:
                results = self._settle(out, run_ends)
                raise InputFailed(index, index + len(run), results) from exc
            scored += len(run)
            index += len(run)
            run_ends.append((self.monitors.n_events, len(out)))
        try:
            return _with_alerts(out, run_ends, self.monitors.take_raised())
        except Exception as exc:
            raise InputFailed(len(inputs), len(inputs), out) from exc

    def _settle(
        self, out: list[Decision | Alert], run_ends: list[tuple[int, int]]
    ) -> list[Decision | Alert]:
        """``out`` with the alerts of the events decided so far, for an :class:`InputFailed`;
        without them if the monitors fail too."""
        try:
            return _with_alerts(out, run_ends, self.monitors.take_raised())
        except Exception:
            return out

    def _run_scorer(
        self, rows: list[dict[str, float]]
    ) -> Callable[[int, int], tuple[list[float], list[tuple[FeatureContribution, ...]]]]:
        """Scores and explanations of ``rows[start:stop]`` by the model as it is at each call,
        the batch converted once when the model can."""
        n = self.n_top_features
        model = self.model
        one_run_at_a_time = partial(_score_slice, self._score_and_explain, rows)
        if not hasattr(model, "pack_dicts") or len(rows) < 2 or n <= 0:
            return one_run_at_a_time
        try:
            packed = model.pack_dicts(rows)
        except Exception:  # each run then fails where it is, as one by one it would
            return one_run_at_a_time
        term_bounds = packed.indptr.tolist()
        names = list(chain.from_iterable(rows))
        values = list(chain.from_iterable(map(dict.values, rows)))

        def score_run(
            start: int, stop: int
        ) -> tuple[list[float], list[tuple[FeatureContribution, ...]]]:
            scores, terms, top, top_bounds = model.predict_and_rank_packed(packed, start, stop, n)
            first, last = term_bounds[start], term_bounds[stop]
            return scores.tolist(), _explanations(
                names[first:last], values[first:last], terms, top, top_bounds
            )

        return score_run

    def _score_and_explain(
        self, rows: list[dict[str, float]]
    ) -> tuple[list[float], list[tuple[FeatureContribution, ...]]]:
        """Scores and explanations of a batch; in one pass when the model has one."""
        n = self.n_top_features
        rank = getattr(self.model, "predict_and_rank_dicts", None)
        if rank is None or len(rows) < 2 or n <= 0:
            return self.score_many(rows), [self.explain(x) for x in rows]
        scores, terms, top, top_bounds = rank(rows, n)
        names = list(chain.from_iterable(rows))
        values = list(chain.from_iterable(map(dict.values, rows)))
        return scores.tolist(), _explanations(names, values, terms, top, top_bounds)

    def score_many(self, rows: Sequence[dict[str, float]]) -> list[float]:
        """The model's probability of class 1 for each feature dict; no state changes.

        A model with a batched path of its own (``predict_proba_dicts``) scores the whole
        batch in one call; any other River classifier, one row at a time.
        """
        if not rows:
            return []
        predict = getattr(self.model, "predict_proba_dicts", None)
        if predict is not None:
            return predict(rows).tolist()
        return [_positive(self.model.predict_proba_one(x)) for x in rows]

    # --- model versions -----------------------------------------------------------------

    def checkpoint(self, *, version: int | None = None) -> dict[str, Any]:
        """The model's state as a new version (``version``, else the current one plus one).

        Decisions made from now on carry the new version. Needs a model with
        ``snapshot()`` (the default model has one).
        """
        self.model_version = self.model_version + 1 if version is None else version
        return {"model_version": self.model_version, "model": self.model.snapshot()}

    def restore_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Load a :meth:`checkpoint`: the model and its version (e.g. after a restart)."""
        self.model = type(self.model).restore(checkpoint["model"])
        self.model_version = int(checkpoint["model_version"])

    def _decide(
        self,
        event: Event,
        score: float,
        position: int | None,
        top_features: tuple[FeatureContribution, ...] | None = None,
    ) -> Decision:
        entity = event.entity_id
        states = self.states
        known = states.get(entity)
        state = known if known is not None else EntityState()
        replayed = state.already_applied(EVENTS, position)
        if replayed:
            # Replayed after a crash: the state has it already. Give the same decision
            # again if the state still remembers it, else recompute without applying.
            self.counts["events_replayed"] += 1
            remembered = state.decision_at(position)
            if remembered is not None:
                return _decision((event.event_id, entity, event.ts, *remembered))
        ts, memory = event.ts, self.memory
        (action, reason), entity_max = decide_for(
            state, ts=ts, score=score, policy=self.policy, memory=memory
        )
        decision = _decision(
            (
                event.event_id,
                entity,
                ts,
                score,
                action,
                reason,
                self.model_version,
                entity_max,
                None if entity_max is None else score - entity_max,
                self.explain(event.features) if top_features is None else top_features,
            )
        )
        if replayed:
            return decision
        remember(state, ts=ts, score=score, action=action, memory=memory)
        evicted_before = state.evicted_pending
        # A copy: what is learned later is exactly what was scored now.
        state.add_pending(PendingSample(ts, score, dict(event.features)), memory)
        if self.clock is not None:
            state.evict_pending(now=self.clock(), memory=memory)
        counts = self.counts
        counts["pending_evicted"] += state.evicted_pending - evicted_before
        state.mark_applied(EVENTS, position)
        if position is not None:
            state.remember_decision(position, _decision_fields(decision), memory)
        self.monitors.queue_event(
            entity_id=entity,
            ts=ts,
            features=event.features,
            score=score,
            state=state,
            n_entities=len(states) + (known is None),
        )
        states[entity] = state  # written back explicitly, never changed behind it
        counts["events"] += 1
        counts["actions"] += action
        return decision

    # --- labels -------------------------------------------------------------------------

    def process_label(self, label: Label, *, position: int | None = None) -> list[Alert]:
        """Learn what ``label`` makes unambiguous; return the alerts it raises."""
        entity = label.entity_id
        state = self.states.get(entity) or EntityState()
        if state.already_applied(LABELS, position):
            self.counts["labels_replayed"] += 1
            return []
        resolution = resolve_label(
            state,
            entity,
            ts=label.ts,
            label=label.label,
            rule=self.label_rule,
            memory=self.memory,
        )
        now = self.clock() if self.clock is not None else label.known_at
        evicted = state.evict_pending(now=now, memory=self.memory)
        state.mark_applied(LABELS, position)
        self.states[entity] = state
        target = bool(resolution.label)
        if resolution.learn:
            learn_dicts = getattr(self.model, "learn_dicts", None)
            if learn_dicts is not None:  # one call, equal to learn_one on each in turn
                learn_dicts(
                    [s.features for s in resolution.learn], [target] * len(resolution.learn)
                )
            else:
                for sample in resolution.learn:
                    self.model.learn_one(sample.features, target)
        self.counts["labels"] += 1
        self.counts["samples_learned"] += len(resolution.learn)
        self.counts["samples_ambiguous"] += resolution.ambiguous
        self.counts["samples_stale"] += resolution.stale
        self.counts["labels_late"] += resolution.late_label
        self.counts["label_flips"] += resolution.flip is not None
        self.counts["pending_evicted"] += evicted
        alerts = self.monitors.observe_label(
            ts=label.ts, label=label.label, previous=resolution.previous_label
        )
        alerts += self.monitors.observe_learned(
            ts=label.ts, scores=[s.score for s in resolution.learn], label=label.label
        )
        return alerts

    # --- explanations -------------------------------------------------------------------

    def explain(self, features: dict[str, float]) -> tuple[FeatureContribution, ...]:
        """The features that pushed the score most (weight * value, in log-odds).

        Works for a linear model with ``weights``, alone or at the end of a River
        pipeline whose earlier steps transform features; otherwise it names none.
        """
        if self.n_top_features <= 0:
            return ()
        contribute = getattr(self.model, "contributions_one", None)
        if contribute is not None:
            contributions = contribute(features)
        else:
            x, model = features, self.model
            if isinstance(model, compose.Pipeline):
                *transformers, model = model.steps.values()
                for step in transformers:
                    x = step.transform_one(x)
            weights = getattr(model, "weights", None)
            if weights is None:
                return ()
            contributions = {name: float(weights.get(name, 0.0)) * v for name, v in x.items()}
        return _top_features(features, contributions, contributions.values(), self.n_top_features)


def _top_features(
    features: dict[str, float], names: Iterable[str], terms: Iterable[float], n: int
) -> tuple[FeatureContribution, ...]:
    """The ``n`` largest contributions (``names`` and ``terms``, aligned) by size, ties by name.

    Sorted as ``(-abs(term), name)`` keys would sort them: the names are unique, so a tie on
    both never reaches the third item of each tuple.
    """
    ranked = sorted(zip(map(neg, map(abs, terms)), names, terms, strict=True))
    return tuple(
        FeatureContribution(name, features.get(name, 0.0), term) for _, name, term in ranked[:n]
    )


def _explanations(
    names: list[str], values: list[float], terms: list[float], top: list[int], top_bounds: list[int]
) -> list[tuple[FeatureContribution, ...]]:
    """Each row's top contributions: ``top`` indexes ``names``, ``values`` and ``terms`` (every
    row's, in one list each); row ``r``'s are ``top[top_bounds[r]:top_bounds[r + 1]]``."""
    picked = zip(
        map(names.__getitem__, top),
        map(values.__getitem__, top),
        map(terms.__getitem__, top),
        strict=True,
    )
    contributions = list(map(_contribution, picked))
    return [tuple(contributions[a:b]) for a, b in pairwise(top_bounds)]


def _score_slice(
    score: Callable[[list[dict[str, float]]], Any],
    rows: list[dict[str, float]],
    start: int,
    stop: int,
) -> Any:
    return score(rows[start:stop])


def _is_label(entry: tuple[Event | Label, int | None]) -> bool:
    return type(entry[0]) is Label


def _with_alerts(
    out: list[Decision | Alert], run_ends: list[tuple[int, int]], raised: list[tuple[int, Alert]]
) -> list[Decision | Alert]:
    """``out`` with each of the monitors' ``raised`` alerts right after the decisions of the
    run its event was in (``run_ends``: the events the monitors had seen at each run's end,
    and where its decisions end in ``out``)."""
    if not raised:
        return out
    merged: list[Decision | Alert] = []
    done = taken = 0
    for seen, end in run_ends:
        merged += out[done:end]
        done = end
        while taken < len(raised) and raised[taken][0] < seen:
            merged.append(raised[taken][1])
            taken += 1
    merged += out[done:]
    merged += [alert for _, alert in raised[taken:]]
    return merged


#: ``FeatureContribution`` from a (name, value, contribution) tuple, made in C, as
#: ``FeatureContribution._make`` makes it.
_contribution = partial(tuple.__new__, FeatureContribution)
#: ``Decision`` from a tuple of its ten fields, made in C (half the cost of its ``__new__``).
_decision = partial(tuple.__new__, Decision)


def _decision_fields(decision: Decision) -> tuple[Any, ...]:
    """What a decision says beyond its event (from ``score`` on): enough to give it again,
    identical."""
    return decision[3:]


def _positive(proba: dict[Any, float]) -> float:
    return float(proba.get(True, proba.get(1, 0.0)))


def river_model() -> Any:
    """River's own ``StandardScaler() | LogisticRegression()``: the default model's twin."""
    return preprocessing.StandardScaler() | linear_model.LogisticRegression()


def make_model(name: str) -> Any:
    """``numba`` (the default model) or ``river`` (River's own, for comparison)."""
    if name == "numba":
        return NumbaLogisticRegression(scale=True)
    if name == "river":
        return river_model()
    raise ValueError(f"unknown model {name!r}; expected numba or river")
