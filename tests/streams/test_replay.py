"""vigil replay: files in, the same engine, files out, byte for byte the same each time."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.simulate import synthetic_stream
from streams.cli import main
from streams.process import build_scorer
from streams.replay import replay_files
from streams.settings import Settings


def write_inputs(tmp_path: Path, *, bad_lines: bool = True) -> tuple[Path, Path]:
    events, labels = synthetic_stream(n_entities=50, n_events=2000, seed=9)
    events_path, labels_path = tmp_path / "events.jsonl", tmp_path / "labels.jsonl"
    lines = [orjson.dumps(e) for e in events]
    if bad_lines:
        lines.insert(10, b'{"event_id": "x", "entity_id": "", "ts": 1}')
        lines.insert(20, b"\xff\xfe")
    events_path.write_bytes(b"\n".join(lines) + b"\n\n")
    labels_path.write_bytes(b"\n".join(orjson.dumps(lb) for lb in labels) + b"\n")
    return events_path, labels_path


def test_replaying_twice_gives_byte_identical_output(tmp_path: Path) -> None:
    events_path, labels_path = write_inputs(tmp_path)
    for out in ("one", "two"):
        assert (
            main(
                [
                    "replay",
                    "--events",
                    str(events_path),
                    "--labels",
                    str(labels_path),
                    "--out",
                    str(tmp_path / out),
                ]
            )
            == 0
        )
    for name in ("decisions.jsonl", "alerts.jsonl", "dead-letter.jsonl"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    decisions = (tmp_path / "one" / "decisions.jsonl").read_bytes().splitlines()
    assert len(decisions) == 2000
    assert len({orjson.loads(d)["event_id"] for d in decisions}) == 2000


def test_bad_lines_go_to_the_dead_letter_file_with_their_line_numbers(tmp_path: Path) -> None:
    events_path, labels_path = write_inputs(tmp_path)
    summary = replay_files(
        events_path=events_path,
        labels_path=labels_path,
        out_dir=tmp_path / "out",
        scorer=build_scorer(Settings()),
        max_message_bytes=1_000_000,
        progress=False,
    )
    letters = [
        orjson.loads(x) for x in (tmp_path / "out" / "dead-letter.jsonl").read_bytes().splitlines()
    ]
    assert summary.dead_letters == 2
    assert [(x["offset"], x["stage"], x["raw_encoding"]) for x in letters] == [
        (11, "validate", "utf-8"),
        (21, "decode", "base64"),
    ]
    assert all(x["source_topic"] == "events.jsonl" for x in letters)


def test_policies_differ_as_documented(tmp_path: Path) -> None:
    events_path, labels_path = write_inputs(tmp_path, bad_lines=False)
    runs = {}
    for policy in ("memory", "naive"):
        runs[policy] = replay_files(
            events_path=events_path,
            labels_path=labels_path,
            out_dir=tmp_path / policy,
            scorer=build_scorer(Settings(), policy=policy),
            max_message_bytes=1_000_000,
            progress=False,
        )
    assert set(runs["naive"].reasons) <= {"below_threshold", "above_threshold"}
    assert runs["memory"].actions < runs["naive"].actions
    assert runs["memory"].reasons["below_threshold"] == runs["naive"].reasons["below_threshold"]


def test_a_missing_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["replay", "--events", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
