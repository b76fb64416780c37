"""Scaling 1 → 2 → 1 workers in one group mid-stream: each rebalance moves partitions and
their entity states; nothing lost, every state equal to the oracle, duplicates identical."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess
from tests.streams.restarts import (
    decided,
    group_members,
    produce_in_background,
    read_when_done,
    run_settings,
    verify,
    wait_for_decisions,
)

pytestmark = pytest.mark.kafka

N_EVENTS = 4000
RATE = 100.0  # events/s: the stream lasts 40 s, long enough for two rebalances


def wait_for_members(settings, n: int, workers: list[WorkerProcess], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while group_members(settings) != n:
        for worker in workers:
            assert worker.alive, worker.log_tail()
        assert time.monotonic() < deadline, f"the group did not reach {n} members"
        time.sleep(0.5)


def test_scaling_one_two_one_loses_nothing_and_states_equal_the_oracle(
    kafka: BrokerInfo, tmp_path: Path
) -> None:
    settings = run_settings(kafka, tmp_path, "scale", partitions=4)
    events, _ = synthetic_stream(n_entities=80, n_events=N_EVENTS, seed=17)
    producing = produce_in_background(settings, events, rate=RATE)
    with WorkerProcess(settings, log_path=tmp_path / "worker-a.log") as first:
        wait_for_decisions(settings, 200, [first])
        # Its own local state folder: two workers on one would share RocksDB files.
        elsewhere = replace(settings, data_dir=tmp_path / "data-b")
        second = WorkerProcess(elsewhere, log_path=tmp_path / "worker-b.log").start()
        wait_for_members(settings, 2, [first, second])
        during = decided(settings)
        wait_for_decisions(settings, during + 500, [first, second])  # two workers at work
        assert decided(settings) < N_EVENTS - 500, "the stream ended before scaling back"
        second.stop(timeout=60)  # back to one worker: its partitions move back
        wait_for_members(settings, 1, [first])
        producing.join()
        decisions = read_when_done(settings, events, [first], timeout=240)
    outcome = verify(settings, events, decisions)
    print(outcome.line(f"scaling test 1 → 2 → 1 (2 workers from decision {during})"))
    log_b = (tmp_path / "worker-b.log").read_text()
    assert "Traceback" not in log_b
    assert "entity-state" in log_b, "the second worker recovered no table partition"
    assert outcome.lost == 0
    assert outcome.dead_letters == 0
    assert outcome.differing_duplicates == 0
    assert outcome.mismatched == []
