"""The broker stopped (SIGTERM) and later killed (SIGKILL) mid-stream, each time started
again on the same data: the worker survives, catches up, and loses nothing.

This test runs its own local broker (the session's is shared by the other tests).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess
from streams.local_kafka import LocalKafka
from tests.streams.restarts import (
    produce_events,
    read_when_done,
    run_settings,
    verify,
    wait_for_decisions,
)

pytestmark = pytest.mark.kafka

N_EVENTS = 3000
DOWN_SECONDS = 5.0


def test_the_worker_survives_the_broker_stopping_and_dying(tmp_path: Path) -> None:
    with LocalKafka() as broker:
        info = BrokerInfo(broker.bootstrap_servers, "local", broker.version, broker.start_seconds)
        settings = run_settings(info, tmp_path, "broker")
        events, _ = synthetic_stream(n_entities=60, n_events=N_EVENTS, seed=13)
        produce_events(settings, events)
        with WorkerProcess(settings, log_path=tmp_path / "worker.log") as worker:
            wait_for_decisions(settings, N_EVENTS // 3, [worker])
            broker.halt()  # SIGTERM: the broker shuts down cleanly
            time.sleep(DOWN_SECONDS)
            assert worker.alive, worker.log_tail()
            broker.resume()
            wait_for_decisions(settings, 2 * N_EVENTS // 3, [worker])
            broker.kill()  # SIGKILL: no clean shutdown
            time.sleep(DOWN_SECONDS)
            assert worker.alive, worker.log_tail()
            broker.resume()
            decisions = read_when_done(settings, events, [worker], timeout=240)
        outcome = verify(settings, events, decisions)
    print(outcome.line("broker restart test"))
    assert outcome.lost == 0
    assert outcome.dead_letters == 0
    assert outcome.differing_duplicates == 0
    assert outcome.mismatched == []
