"""The worker's consumer, as Faust builds it, against the real broker: its fetch wait."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from streams.app import create_app
from streams.brokers import BrokerInfo
from streams.ingest import BatchConsumerThread
from streams.settings import Settings

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("wait_ms", [50, 7])
def test_the_workers_fetches_wait_at_the_broker_as_long_as_the_setting_says(
    kafka: BrokerInfo, tmp_path: Path, wait_ms: int
) -> None:
    run = uuid.uuid4().hex[:8]
    settings = Settings(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"fetch-{run}",
        data_dir=tmp_path / "data",
        metrics_port=0,
        fetch_max_wait_ms=wait_ms,
    ).with_topic_prefix(f"f-{run}.")
    app = create_app(settings)

    async def started_fetch_wait() -> int:
        thread = app.consumer._thread
        assert isinstance(thread, BatchConsumerThread)
        consumer = thread._create_worker_consumer(app.transport)
        await consumer.start()  # builds the fetcher that sends the fetch requests
        try:
            return consumer._fetcher._fetch_max_wait_ms
        finally:
            await consumer.stop()

    assert asyncio.run(started_fetch_wait()) == wait_ms  # Faust alone: 1,500
