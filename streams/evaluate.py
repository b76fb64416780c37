"""``vigil evaluate``: the simulator's stream through the Scorer, and a report that says
whether the policy pays (Markdown with PNG plots).

Everything runs through the engine's own code (:class:`~engine.scorer.Scorer`, the
policies, the label rule, the monitors) on the seed scenario of
:mod:`engine.simulate`; the metrics are :mod:`engine.evaluate`'s. This module only
orchestrates, draws and writes.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.evaluate import (
    ActionMetrics,
    ScoredStream,
    action_metrics,
    apply_policy,
    calibration,
    match_recall,
    policy_curve,
    roc_auc,
)
from engine.events import Event, Label
from engine.labels import LabelRule
from engine.policy import MemoryPolicy, NaivePolicy
from engine.replay import order_inputs, replay
from engine.scorer import Scorer
from engine.simulate import Scenario, simulate
from engine.state import Memory

__all__ = ["EvaluationResult", "run_evaluation"]

THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 … 0.95


@dataclass
class Simulated:
    events: list[Event]
    labels: list[Label]
    bad: np.ndarray
    episode: np.ndarray
    flips_ts: np.ndarray


@dataclass
class EvaluationResult:
    """The numbers of the report (also written as ``results.json``)."""

    scenario: dict[str, Any]
    headline: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)


def _simulate(scenario: Scenario) -> Simulated:
    events, labels, bad, episode, flips = [], [], [], [], []
    for step in simulate(scenario):
        for e in step.events:
            events.append(Event(e["event_id"], e["entity_id"], e["ts"], e["features"]))
        for lb in step.labels:
            labels.append(Label(lb["entity_id"], lb["ts"], lb["label"], lb["reported_ts"]))
        bad += [t["bad"] for t in step.truth]
        episode += [t["episode"] for t in step.truth]
        flips += [f["ts"] for f in step.flips]
    return Simulated(events, labels, np.array(bad), np.array(episode), np.array(flips))


def _score(sim: Simulated, scorer: Scorer) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Scores per event (in the simulator's order) and every alert, through replay."""
    index = {e.event_id: i for i, e in enumerate(sim.events)}
    scores = np.empty(len(sim.events))
    alerts = []
    inputs = order_inputs(events=enumerate(sim.events), labels=enumerate(sim.labels))
    for kind, record in replay(inputs, scorer):
        if kind == "decision":
            scores[index[record["event_id"]]] = record["score"]
        else:
            alerts.append(record)
    return scores, alerts


def run_evaluation(
    *,
    scenario: Scenario,
    out_dir: Path,
    threshold: float = 0.8,
    min_rise: float = 0.1,
    cooldown: float = 3600.0,
    progress: Callable[[str], None] = lambda _: None,
    model_factory: Callable[[], Any] | None = None,
) -> EvaluationResult:
    """Simulate, score, compare, draw; write ``report.md``, PNGs and ``results.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    result = EvaluationResult(scenario=asdict(scenario))
    memory = Memory()
    cost = scenario.action_cost

    progress("simulating ...")
    sim = _simulate(scenario)
    progress(f"  {len(sim.events)} events, {len(sim.labels)} labels, {len(sim.flips_ts)} flips")

    def scorer(rule: LabelRule) -> Scorer:
        model = model_factory() if model_factory is not None else None
        policy = MemoryPolicy(threshold=threshold, min_rise=min_rise, cooldown=cooldown)
        return Scorer(
            model=model, policy=policy, memory=memory, label_rule=rule, seed=scenario.seed
        )

    progress("scoring through the Scorer (learning only from unambiguous samples) ...")
    main_scorer = scorer(LabelRule())
    scores, alerts = _score(sim, main_scorer)
    entity = np.array([e.entity_id for e in sim.events], dtype=object)
    ts = np.array([e.ts for e in sim.events])
    stream = ScoredStream(entity, ts, scores, sim.bad, sim.episode)

    progress("comparing policies ...")

    def naive(t: float) -> NaivePolicy:
        return NaivePolicy(threshold=t)

    def with_memory(t: float) -> MemoryPolicy:
        return MemoryPolicy(threshold=t, min_rise=min_rise, cooldown=cooldown)

    naive_curve = policy_curve(stream, naive, THRESHOLDS, memory, cost=cost)
    memory_curve = policy_curve(stream, with_memory, THRESHOLDS, memory, cost=cost)
    naive_default = (
        dict(naive_curve)[threshold]
        if threshold in THRESHOLDS
        else action_metrics(stream, apply_policy(stream, naive(threshold), memory), cost=cost)
    )
    matched_t, matched = match_recall(
        stream, with_memory, naive_default.episode_recall, memory, cost=cost
    )
    result.headline = _headline(threshold, naive_default, matched_t, matched)
    result.sections["curves"] = {
        "naive": [(t, m.as_dict()) for t, m in naive_curve],
        "memory": [(t, m.as_dict()) for t, m in memory_curve],
    }

    progress("learning from every labelled sample, for comparison ...")
    all_scores, _ = _score(
        sim, scorer(LabelRule(learn_ambiguous=True, first_label_lookback=math.inf))
    )
    all_stream = replace(stream, score=all_scores)
    result.sections["learning"] = {
        rule: {
            "auc": roc_auc(s.score, s.bad),
            "brier": calibration(s.score, s.bad)[0],
            "memory_policy": action_metrics(
                s, apply_policy(s, with_memory(matched_t), memory), cost=cost
            ).as_dict(),
        }
        for rule, s in (("unambiguous only", stream), ("every labelled sample", all_stream))
    }
    result.sections["label_rule_counts"] = {
        k: main_scorer.counts[k]
        for k in ("samples_learned", "samples_ambiguous", "samples_stale", "label_flips")
    }

    progress("the status quo: a gradient-boosted tree trained offline ...")
    result.sections["status_quo"] = _status_quo(sim, scenario.seed, threshold)

    brier, ece, table = calibration(scores, sim.bad)
    result.sections["calibration"] = {"brier": brier, "ece": ece, "table": table}
    result.sections["slices"] = _slices(sim, stream, with_memory(matched_t), memory)
    result.sections["checks"] = _behaviour_checks(
        main_scorer, sim, stream, threshold, memory, with_memory(matched_t), scenario.seed
    )
    result.sections["alerts"] = _alerts_summary(alerts, sim, scenario)

    progress("drawing ...")
    _plots(
        out_dir,
        stream,
        naive_curve,
        memory_curve,
        threshold,
        matched_t,
        naive,
        with_memory,
        memory,
        table,
        alerts,
        sim,
        scenario.drift_day,
        scenario.start_ts,
    )
    result.sections["seconds"] = round(time.monotonic() - began, 1)
    (out_dir / "report.md").write_text(_report(result, threshold, matched_t))
    import orjson

    (out_dir / "results.json").write_bytes(
        orjson.dumps(
            result, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=_plain
        )
    )
    return result


def _plain(obj: Any) -> Any:
    if isinstance(obj, EvaluationResult):
        return asdict(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj))


def _headline(
    threshold: float, naive: ActionMetrics, matched_t: float, memory: ActionMetrics
) -> dict[str, Any]:
    return {
        "naive_threshold": threshold,
        "memory_threshold": matched_t,
        "naive": naive.as_dict(),
        "memory": memory.as_dict(),
        "precision_ratio": memory.precision / naive.precision if naive.precision else None,
        "duplicates_cut": 1 - memory.duplicates / naive.duplicates if naive.duplicates else None,
        "recall_gap_points": 100 * (memory.episode_recall - naive.episode_recall),
    }


def _status_quo(sim: Simulated, seed: int, threshold: float) -> dict[str, Any]:
    """Train offline on overlapping (X(t), y(t)) pairs; compare offline and live metrics."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    names = sorted(sim.events[0].features)
    ts = np.array([e.ts for e in sim.events])
    mid = ts[0] + (ts[-1] - ts[0]) / 2
    latest: dict[str, tuple[float, int]] = {}
    for lb in sim.labels:  # the label table as it stands at mid-time: latest label per entity
        if lb.known_at <= mid and (lb.entity_id not in latest or lb.ts >= latest[lb.entity_id][0]):
            latest[lb.entity_id] = (lb.ts, lb.label)
    X = np.array([[e.features.get(n, np.nan) for n in names] for e in sim.events])
    first = np.array([t <= mid for t in ts])
    known = np.array([e.entity_id in latest for e in sim.events])
    train_rows = first & known
    y_pairs = np.array(
        [latest[e.entity_id][1] if k else 0 for e, k in zip(sim.events, known, strict=True)]
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X[train_rows], y_pairs[train_rows], test_size=0.3, random_state=seed
    )
    model = HistGradientBoostingClassifier(random_state=seed).fit(X_train, y_train)

    def metrics(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
        pred = p >= 0.5
        tp = int((pred & y).sum())
        return {
            "precision": tp / pred.sum() if pred.sum() else float("nan"),
            "recall": tp / y.sum() if y.sum() else float("nan"),
            "auc": roc_auc(p, y),
            "rows": len(y),
        }

    offline = metrics(model.predict_proba(X_test)[:, 1], y_test.astype(bool))
    live_rows = ~first
    live = metrics(model.predict_proba(X[live_rows])[:, 1], sim.bad[live_rows])
    return {
        "pairs": int(train_rows.sum()),
        "pairs_contradicting_truth": float((y_pairs[train_rows] != sim.bad[train_rows]).mean()),
        "offline": offline,
        "live": live,
    }


def _slices(
    sim: Simulated, stream: ScoredStream, policy: MemoryPolicy, memory: Memory
) -> dict[str, Any]:
    actions = apply_policy(stream, policy, memory)
    age = np.array([e.features["account_age_days"] for e in sim.events])
    amount = np.array([e.features["amount"] for e in sim.events])
    seen: Counter[str] = Counter()
    nth = np.empty(len(sim.events))
    for i, e in enumerate(sim.events):
        seen[e.entity_id] += 1
        nth[i] = seen[e.entity_id]
    quartiles = np.quantile(amount, [0.25, 0.5, 0.75])
    slices = {
        "account age < 30 d": age < 30,
        "account age 30-180 d": (age >= 30) & (age < 180),
        "account age >= 180 d": age >= 180,
        "entity's events 1-3": nth <= 3,
        "entity's events 4-10": (nth > 3) & (nth <= 10),
        "entity's events > 10": nth > 10,
        "amount Q1": amount <= quartiles[0],
        "amount Q2": (amount > quartiles[0]) & (amount <= quartiles[1]),
        "amount Q3": (amount > quartiles[1]) & (amount <= quartiles[2]),
        "amount Q4": amount > quartiles[2],
    }
    rows = {}
    for name, mask in slices.items():
        part = stream.select(mask)
        acted = actions[mask]
        rows[name] = {
            "events": int(mask.sum()),
            "bad_share": float(part.bad.mean()),
            "auc": roc_auc(part.score, part.bad),
            "brier": calibration(part.score, part.bad)[0],
            "action_precision": float((acted & part.bad).sum() / acted.sum())
            if acted.sum()
            else float("nan"),
        }
    worst = min((n for n in rows if not math.isnan(rows[n]["auc"])), key=lambda n: rows[n]["auc"])
    return {"rows": rows, "worst_by_auc": worst}


def _behaviour_checks(
    scorer: Scorer,
    sim: Simulated,
    stream: ScoredStream,
    threshold: float,
    memory: Memory,
    policy: MemoryPolicy,
    seed: int,
) -> dict[str, Any]:
    """Perturbation, invariance and directional-expectation checks (PROBLEM.md §3)."""
    rng = np.random.default_rng(seed)
    size = min(2000, len(sim.events))
    sample = [sim.events[i] for i in rng.choice(len(sim.events), size=size, replace=False)]
    base = np.array(scorer.score_many([e.features for e in sample]))
    noisy = np.array(
        scorer.score_many(
            [{k: v * (1 + rng.normal(0, 0.01)) for k, v in e.features.items()} for e in sample]
        )
    )
    riskier = np.array(
        scorer.score_many(
            [{**e.features, "country_risk": e.features["country_risk"] + 0.1} for e in sample]
        )
    )
    renamed = replace(
        stream, entity=np.array([f"renamed/{e}" for e in stream.entity], dtype=object)
    )
    same = apply_policy(stream, policy, memory) == apply_policy(renamed, policy, memory)
    return {
        "perturbation_1pct_noise_decisions_changed": float(
            ((base >= threshold) != (noisy >= threshold)).mean()
        ),
        "perturbation_mean_abs_score_change": float(np.abs(base - noisy).mean()),
        "invariance_entity_rename_actions_changed": int((~same).sum()),
        "directional_country_risk_plus_0.1_score_not_lower": float((riskier >= base).mean()),
        "sample": len(sample),
    }


def _alerts_summary(
    alerts: list[dict[str, Any]], sim: Simulated, scenario: Scenario
) -> dict[str, Any]:
    kinds = Counter(a["kind"] for a in alerts)
    per_entity = Counter(a["kind"] for a in alerts if a["entity_id"])
    summary: dict[str, Any] = {
        "by_kind": dict(kinds),
        "naming_an_entity": dict(per_entity),
        "flips": len(sim.flips_ts),
        "drift_ts": None,
    }
    if scenario.drift_day is not None:
        drift_ts = scenario.start_ts + scenario.drift_day * 86_400
        ts = np.array([e.ts for e in sim.events])
        summary["drift_ts"] = drift_ts
        first_after: dict[str, Any] = {}
        for a in alerts:
            if a["ts"] >= drift_ts and a["kind"] not in first_after and not a["entity_id"]:
                first_after[a["kind"]] = {
                    "hours_after_drift": (a["ts"] - drift_ts) / 3600,
                    "events_after_drift": int(((ts >= drift_ts) & (ts <= a["ts"])).sum()),
                    "feature": a["feature"],
                }
        summary["first_after_drift"] = first_after
        summary["before_drift"] = dict(
            Counter(a["kind"] for a in alerts if a["ts"] < drift_ts and not a["entity_id"])
        )
    return summary


def _plots(
    out_dir: Path,
    stream: ScoredStream,
    naive_curve,
    memory_curve,
    threshold: float,
    matched_t: float,
    naive,
    with_memory,
    memory: Memory,
    table,
    alerts,
    sim: Simulated,
    drift_day: float | None,
    scenario_start: float,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, curve in (("naive", naive_curve), ("entity memory", memory_curve)):
        ax.plot(
            [m.episode_recall for _, m in curve], [m.precision for _, m in curve], "o-", label=name
        )
    ax.set_xlabel("episode recall")
    ax.set_ylabel("precision of actions")
    ax.set_title("Precision-recall over thresholds 0.30-0.95")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "precision_recall.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.plot([r[0] for r in table], [r[1] for r in table], "o-")
    ax.set_xlabel("mean score")
    ax.set_ylabel("observed share of bad")
    ax.set_title("Reliability diagram")
    fig.tight_layout()
    fig.savefig(out_dir / "reliability.png", dpi=110)
    plt.close(fig)

    hours = (stream.ts - stream.ts[0]) // 3600
    fig, ax = plt.subplots(figsize=(8, 4))
    for name, policy in (
        (f"naive @ {threshold}", naive(threshold)),
        (f"entity memory @ {matched_t:.3f}", with_memory(matched_t)),
    ):
        acted = apply_policy(stream, policy, memory)
        ax.plot(np.bincount(hours[acted].astype(int), minlength=int(hours.max()) + 1), label=name)
    ax.set_xlabel("hour")
    ax.set_ylabel("actions per hour")
    ax.set_title("Actions over time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "actions_over_time.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4))
    start = stream.ts[0]
    result_drift_hour = (
        None if drift_day is None else (scenario_start + drift_day * 86_400 - start) / 3600
    )
    span = int((stream.ts[-1] - start) // 3600) + 1
    flips = np.bincount(((sim.flips_ts - start) // 3600).astype(int).clip(0), minlength=span)
    ax.bar(range(len(flips)), flips, color="lightgrey", label="true class flips per hour")
    ax2 = ax.twinx()
    for k, kind in enumerate(sorted({a["kind"] for a in alerts})):
        times = [(a["ts"] - start) / 3600 for a in alerts if a["kind"] == kind]
        ax2.plot(times, [k] * len(times), "|", markersize=12, label=kind)
    ax2.set_yticks([])
    if result_drift_hour is not None:
        ax.axvline(result_drift_hour, color="red", linestyle="--", label="injected drift")
        ax.legend(loc="upper left", fontsize=7)
    ax.set_xlabel("hour")
    ax.set_ylabel("flips per hour")
    ax.set_title("Alerts (ticks) against the simulator's true flips (bars)")
    if alerts:
        ax2.legend(loc="upper right", fontsize=7)
    else:
        ax2.text(0.99, 0.95, "no alerts", transform=ax2.transAxes, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "drift_timeline.png", dpi=110)
    plt.close(fig)


def _pct(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _report(result: EvaluationResult, threshold: float, matched_t: float) -> str:
    h = result.headline
    n, m = h["naive"], h["memory"]
    s = result.scenario
    lines = [
        "# vigil evaluation report",
        "",
        f"Scenario (seed {s['seed']}): {s['n_entities']} entities over {s['days']} days, "
        f"{s['events_per_day']} events per entity per day, long-run bad share "
        f"{s['bad_share']}, bad entities turn good at {s['bad_to_good_per_day']}/day, "
        f"features lag the class by {s['inertia_hours']} h, {100 * s['label_rate']:.0f} % "
        f"of events labelled after a median {s['label_delay_hours']} h. Reproduce with "
        f"`vigil evaluate --entities {s['n_entities']} --days {s['days']} --seed {s['seed']}`.",
        "",
        "## Headline: naive policy against entity memory, at equal recall",
        "",
        "| | naive | entity memory |",
        "|---|---|---|",
        f"| threshold | {threshold} | {matched_t:.4f} (found by bisection for equal recall) |",
        f"| episode recall | {_pct(n['episode_recall'])} | {_pct(m['episode_recall'])} |",
        f"| precision of actions | {_pct(n['precision'])} | {_pct(m['precision'])} |",
        f"| actions | {n['actions']} | {m['actions']} |",
        f"| duplicate actions | {n['duplicates']} | {m['duplicates']} |",
        f"| total action cost | {n['cost']:.0f} | {m['cost']:.0f} |",
        "",
        f"Precision ratio {h['precision_ratio']:.2f}× (goal ≥ 1.5×), duplicate actions cut by "
        f"{_pct(h['duplicates_cut'])} (goal ≥ 80 %), recall gap "
        f"{h['recall_gap_points']:+.1f} points (goal within 1 point).",
        "",
        _goal_verdict(h),
        "",
        "![precision-recall](precision_recall.png)",
        "![actions over time](actions_over_time.png)",
        "",
    ]
    sq = result.sections["status_quo"]
    lines += [
        "## The status quo: offline metrics lie",
        "",
        f"A gradient-boosted tree (scikit-learn's HistGradientBoostingClassifier) trained on "
        f"{sq['pairs']} (X(t), y) pairs of the first half, each event paired with its "
        f"entity's latest known label; {_pct(sq['pairs_contradicting_truth'])} of those "
        "pairs contradict the entity's true class at the event.",
        "",
        "| | precision @ 0.5 | recall @ 0.5 | AUC | rows |",
        "|---|---|---|---|---|",
        f"| offline (held-out pairs) | {_pct(sq['offline']['precision'])} | "
        f"{_pct(sq['offline']['recall'])} | {sq['offline']['auc']:.3f} | {sq['offline']['rows']} |",
        f"| live (second half, true class) | {_pct(sq['live']['precision'])} | "
        f"{_pct(sq['live']['recall'])} | {sq['live']['auc']:.3f} | {sq['live']['rows']} |",
        "",
        "## Learning only from unambiguous samples",
        "",
        "| labels learned | AUC (events vs true class) | Brier | precision (memory policy) "
        "| episode recall |",
        "|---|---|---|---|---|",
    ]
    for rule, row in result.sections["learning"].items():
        mp = row["memory_policy"]
        lines.append(
            f"| {rule} | {row['auc']:.3f} | {row['brier']:.4f} | "
            f"{_pct(mp['precision'])} | {_pct(mp['episode_recall'])} |"
        )
    c = result.sections["label_rule_counts"]
    lines += [
        "",
        f"Label rule: {c['samples_learned']} samples learned, {c['samples_ambiguous']} "
        f"ambiguous (not learned), {c['samples_stale']} stale, {c['label_flips']} label flips.",
        "",
    ]
    cal = result.sections["calibration"]
    lines += [
        "## Calibration",
        "",
        f"Brier score {cal['brier']:.4f}, expected calibration error {cal['ece']:.4f}.",
        "",
        "![reliability](reliability.png)",
        "",
        "## Slices",
        "",
        "| slice | events | bad share | AUC | Brier | precision of actions |",
        "|---|---|---|---|---|---|",
    ]
    sl = result.sections["slices"]
    for name, row in sl["rows"].items():
        lines.append(
            f"| {name} | {row['events']} | {_pct(row['bad_share'])} | {row['auc']:.3f} "
            f"| {row['brier']:.4f} | {_pct(row['action_precision'])} |"
        )
    ch = result.sections["checks"]
    lines += [
        "",
        f"Worst slice by AUC: **{sl['worst_by_auc']}**.",
        "",
        "## Behaviour checks",
        "",
        f"- Perturbation: 1 % multiplicative noise on every feature of {ch['sample']} sampled "
        f"events changes {_pct(ch['perturbation_1pct_noise_decisions_changed'])} of the "
        f"score ≥ threshold decisions (mean |Δscore| "
        f"{ch['perturbation_mean_abs_score_change']:.4f}).",
        f"- Invariance: renaming every entity changes "
        f"{ch['invariance_entity_rename_actions_changed']} actions.",
        f"- Directional expectation: raising country_risk by 0.1 leaves the score not lower "
        f"for {_pct(ch['directional_country_risk_plus_0.1_score_not_lower'])} of events.",
        "",
        "## Drift alerts",
        "",
    ]
    al = result.sections["alerts"]
    lines.append("| kind | alerts | of which naming an entity |")
    lines.append("|---|---|---|")
    for kind, count in sorted(al["by_kind"].items()):
        lines.append(f"| {kind} | {count} | {al['naming_an_entity'].get(kind, 0)} |")
    lines += [
        "",
        f"The simulator flipped {al['flips']} hidden classes.",
        "",
        *_drift_lines(al),
        "![drift timeline](drift_timeline.png)",
        "",
        f"Generated in {result.sections['seconds']} s.",
        "",
    ]
    return "\n".join(lines)


def _drift_lines(al: dict[str, Any]) -> list[str]:
    if al["drift_ts"] is None:
        return ["No drift was injected in this scenario.", ""]
    lines = [
        "A drift was injected (amounts grow for everyone; country risk says less about "
        "badness). Global alerts before it (false alarms on this stream): "
        + (", ".join(f"{k} {v}" for k, v in sorted(al["before_drift"].items())) or "none")
        + ". First global alert of each kind after it:",
        "",
        "| kind | hours after the drift | events after the drift | feature |",
        "|---|---|---|---|",
    ]
    for kind, row in sorted(al["first_after_drift"].items()):
        lines.append(
            f"| {kind} | {row['hours_after_drift']:.1f} | {row['events_after_drift']} "
            f"| {row['feature'] or ''} |"
        )
    return [*lines, ""]


def _goal_verdict(h: dict[str, Any]) -> str:
    met = [
        h["precision_ratio"] is not None and h["precision_ratio"] >= 1.5,
        h["duplicates_cut"] is not None and h["duplicates_cut"] >= 0.8,
        abs(h["recall_gap_points"]) <= 1.0,
    ]
    if all(met):
        return "**All three goals are met on this setting.**"
    names = ["precision ratio", "duplicates cut", "recall within 1 point"]
    missed = [name for name, ok in zip(names, met, strict=True) if not ok]
    return f"**Not met on this setting: {', '.join(missed)}.** The data says so plainly."


def headline_table(result: EvaluationResult) -> str:
    """A few lines for a terminal."""
    h = result.headline
    n, m = h["naive"], h["memory"]
    rows = [
        ("", "naive", "entity memory"),
        ("threshold", str(h["naive_threshold"]), f"{h['memory_threshold']:.4f}"),
        ("episode recall", _pct(n["episode_recall"]), _pct(m["episode_recall"])),
        ("precision", _pct(n["precision"]), _pct(m["precision"])),
        ("actions", str(n["actions"]), str(m["actions"])),
        ("duplicate actions", str(n["duplicates"]), str(m["duplicates"])),
        ("action cost", f"{n['cost']:.0f}", f"{m['cost']:.0f}"),
    ]
    text = "\n".join(f"    {a:<20} {b:>12} {c:>14}" for a, b, c in rows)
    return (
        text + f"\n    precision ×{h['precision_ratio']:.2f}, duplicates cut "
        f"{_pct(h['duplicates_cut'])}, recall gap {h['recall_gap_points']:+.1f} points"
    )
