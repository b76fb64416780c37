"""vigil evaluate end to end on a small scenario: the report, its plots and its numbers."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.simulate import Scenario
from streams.cli import main
from streams.evaluate import headline_table, run_evaluation


def test_the_report_has_its_sections_plots_and_numbers(tmp_path: Path) -> None:
    scenario = Scenario(n_entities=300, days=3, seed=7, drift_day=2.0)
    result = run_evaluation(scenario=scenario, out_dir=tmp_path)
    report = (tmp_path / "report.md").read_text()
    for heading in (
        "## Headline",
        "## The status quo",
        "## Learning only from unambiguous",
        "## Calibration",
        "## Slices",
        "## Behaviour checks",
        "## Drift alerts",
    ):
        assert heading in report
    for png in (
        "precision_recall.png",
        "reliability.png",
        "actions_over_time.png",
        "drift_timeline.png",
    ):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = orjson.loads((tmp_path / "results.json").read_bytes())
    assert saved["headline"]["naive"]["actions"] == result.headline["naive"]["actions"]
    h = result.headline
    assert abs(h["recall_gap_points"]) < 5
    assert h["memory"]["duplicates"] < h["naive"]["duplicates"]
    assert result.sections["checks"]["invariance_entity_rename_actions_changed"] == 0
    assert "precision" in headline_table(result)


def test_the_same_seed_gives_the_same_report_numbers(tmp_path: Path) -> None:
    scenario = Scenario(n_entities=150, days=2, seed=8)
    one = run_evaluation(scenario=scenario, out_dir=tmp_path / "one")
    two = run_evaluation(scenario=scenario, out_dir=tmp_path / "two")
    assert one.headline == two.headline


def test_vigil_simulate_writes_files_replay_can_read(tmp_path: Path) -> None:
    assert main(["simulate", "--entities", "100", "--days", "1", "--out", str(tmp_path)]) == 0
    events = (tmp_path / "events.jsonl").read_bytes().splitlines()
    truth = (tmp_path / "truth.jsonl").read_bytes().splitlines()
    assert len(events) == len(truth) > 0
    assert (
        main(
            [
                "replay",
                "--events",
                str(tmp_path / "events.jsonl"),
                "--labels",
                str(tmp_path / "labels.jsonl"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert len((tmp_path / "out" / "decisions.jsonl").read_bytes().splitlines()) == len(events)
