"""SIGTERM mid-stream, then a restart: nothing lost, and every duplicate identical.

A graceful stop finishes the batch in progress, waits for its outputs to be acknowledged
and commits them (streams/ingest.py), so the restarted worker starts where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.simulate import synthetic_stream
from streams.brokers import BrokerInfo
from streams.clients import WorkerProcess
from tests.streams.restarts import (
    produce_events,
    read_when_done,
    run_settings,
    verify,
    wait_for_decisions,
)

pytestmark = pytest.mark.kafka


def test_sigterm_mid_stream_then_restart_loses_nothing_and_repeats_nothing(
    kafka: BrokerInfo, tmp_path: Path
) -> None:
    settings = run_settings(kafka, tmp_path, "term")
    events, _ = synthetic_stream(n_entities=40, n_events=3000, seed=8)
    produce_events(settings, events)

    worker = WorkerProcess(settings, log_path=tmp_path / "worker-1.log").start()
    wait_for_decisions(settings, 1000, [worker])
    code = worker.stop(timeout=60)  # SIGTERM, a graceful stop
    assert code is not None and worker.returncode is not None
    assert "Traceback" not in (tmp_path / "worker-1.log").read_text()

    with WorkerProcess(settings, log_path=tmp_path / "worker-2.log") as second:
        decisions = read_when_done(settings, events, [second], timeout=180)
    outcome = verify(settings, events, decisions)
    print(outcome.line("sigterm test"))
    assert outcome.lost == 0
    # A graceful stop commits everything it decided, and the restarted worker hands over
    # nothing before the seek that ends its recovery: no input is decided twice.
    assert outcome.duplicates == 0
    assert outcome.differing_duplicates == 0
    assert outcome.mismatched == []
