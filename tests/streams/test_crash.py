"""kill -9 the worker mid-stream, again and again: nothing lost, nothing applied twice
(every entity's state equals the offline replay of the same input, the oracle), and the
duplicates reported."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess
from tests.streams.restarts import (
    decided,
    produce_events,
    read_when_done,
    run_settings,
    verify,
)

pytestmark = pytest.mark.kafka

#: The short form runs in CI; the long form is ``VIGIL_CRASH_EVENTS=100000
#: VIGIL_CRASH_KILLS=10 .venv/bin/pytest tests/streams/test_crash.py -s``.
N_EVENTS = int(os.environ.get("VIGIL_CRASH_EVENTS", "3000"))
KILLS = int(os.environ.get("VIGIL_CRASH_KILLS", "2"))


def test_kill_9_during_the_stream_loses_nothing_and_states_equal_the_oracle(
    kafka: BrokerInfo, tmp_path: Path
) -> None:
    settings = run_settings(kafka, tmp_path, "crash")
    events, _ = synthetic_stream(n_entities=max(60, N_EVENTS // 50), n_events=N_EVENTS, seed=21)
    produce_events(settings, events)

    kills = 0
    for round_ in range(KILLS):
        worker = WorkerProcess(settings, log_path=tmp_path / f"worker-{round_}.log").start()
        target = N_EVENTS * (round_ + 1) // (KILLS + 1)
        deadline = time.monotonic() + 120 + N_EVENTS / 100
        while decided(settings) < target and time.monotonic() < deadline:
            assert worker.alive, worker.log_tail()
        worker.kill()  # SIGKILL: no flush, no commit
        kills += 1
    with WorkerProcess(settings, log_path=tmp_path / "worker-last.log") as worker:
        decisions = read_when_done(settings, events, [worker], timeout=180 + N_EVENTS / 100)
    outcome = verify(settings, events, decisions)
    print(outcome.line(f"crash test, {kills} kills"))
    assert kills == KILLS
    assert outcome.lost == 0
    assert outcome.dead_letters == 0, "no valid event may be dead-lettered"
    # Duplicates are expected (at least once); they are identical while the entity's state
    # still remembers the decision (its last Memory.max_decisions).
    assert outcome.differing_duplicates == 0
    # What each crash replays is bounded: per partition, what was handed over past the
    # last accepted commit, under two commit intervals plus one batch (streams/ingest.py).
    assert outcome.duplicates <= KILLS * settings.partitions * 3 * settings.batch_max
    assert outcome.mismatched == [], f"{len(outcome.mismatched)} entities differ from the oracle"
