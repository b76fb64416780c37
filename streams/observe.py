"""What the worker tells operators: Prometheus metrics, liveness and readiness, JSON logs.

One small HTTP server (a thread, ``VIGIL_METRICS_PORT``; 0 turns it off) answers:

- ``/metrics``: Prometheus text format (``prometheus_client``);
- ``/healthz``: 200 while the worker's loop has shown a sign of life in the last
  ``stall_seconds`` (a batch handled, or the worker's idle tick), else 503;
- ``/readyz``: 200 once the worker has created its topics and its app has started.

Examples
--------
>>> from collections import Counter
>>> metrics = WorkerMetrics()
>>> metrics.record_batch(3, Counter({"events": 2, "reason.below_threshold": 2,
...                                  "dead_letter.decode": 1}), seconds=0.001)
>>> metrics.events._value.get(), metrics.dead_letters.labels(stage="decode")._value.get()
(2.0, 1.0)
>>> metrics.clock = lambda: 1_700_000_000.0
>>> metrics.record_batch(1, Counter(), seconds=0.001, oldest_timestamp=1_699_999_999.8)
>>> [metrics.registry.get_sample_value("vigil_input_age_seconds_bucket", {"le": le})
...  for le in ("0.1", "0.25")]
[0.0, 1.0]
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import (
    Counter as PromCounter,
)

__all__ = ["JsonFormatter", "WorkerMetrics", "redact_secrets", "serve"]


class WorkerMetrics:
    """The worker's metrics, in a registry of their own (so tests can make several)."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        #: Epoch seconds now, to age inputs by their Kafka timestamps.
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = PromCounter("vigil_events", "Valid events scored", registry=r)
        self.labels = PromCounter("vigil_labels", "Valid labels applied", registry=r)
        self.decisions = PromCounter(
            "vigil_decisions", "Decisions by reason", ["reason"], registry=r
        )
        self.actions = PromCounter("vigil_actions", "Decisions that act", registry=r)
        self.dead_letters = PromCounter(
            "vigil_dead_letters", "Inputs dead-lettered, by stage", ["stage"], registry=r
        )
        self.alerts = PromCounter("vigil_alerts", "Alerts published, by kind", ["kind"], registry=r)
        self.batch_size = Histogram(
            "vigil_batch_size",
            "Input records per batch (one fetch)",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "vigil_batch_seconds",
            "Seconds to score one batch (engine only)",
            buckets=(1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1.0),
            registry=r,
        )
        self.input_age = Histogram(
            "vigil_input_age_seconds",
            "Per batch, how old its oldest input is once the batch is scored: now minus "
            "the record's Kafka timestamp (the producer's clock, or the broker's with "
            "LogAppendTime)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0),
            registry=r,
        )
        self.model_version = Gauge("vigil_model_version", "Model version in use", registry=r)
        self.lag = Gauge(
            "vigil_consumer_lag",
            "Records behind the end of the partition",
            ["topic", "partition"],
            registry=r,
        )
        self.last_alive = time.monotonic()
        self.ready = False

    def alive(self) -> None:
        self.last_alive = time.monotonic()

    def record_batch(
        self,
        n_records: int,
        counts: Counter[str],
        *,
        seconds: float,
        oldest_timestamp: float | None = None,
    ) -> None:
        """Add one batch's worth: ``counts`` are the processor's counters for the batch,
        ``oldest_timestamp`` the earliest Kafka timestamp of its records (epoch seconds)."""
        self.alive()
        self.batch_size.observe(n_records)
        self.batch_seconds.observe(seconds)
        if oldest_timestamp is not None:
            self.input_age.observe(max(0.0, self.clock() - oldest_timestamp))
        for key, value in counts.items():
            if not value:
                continue
            if key == "events":
                self.events.inc(value)
            elif key == "labels":
                self.labels.inc(value)
            elif key == "actions":
                self.actions.inc(value)
            elif key.startswith("reason."):
                self.decisions.labels(reason=key.removeprefix("reason.")).inc(value)
            elif key.startswith("dead_letter."):
                self.dead_letters.labels(stage=key.removeprefix("dead_letter.")).inc(value)
            elif key.startswith("alert."):
                self.alerts.labels(kind=key.removeprefix("alert.")).inc(value)


def serve(
    metrics: WorkerMetrics, *, port: int, host: str = "0.0.0.0", stall_seconds: float = 60.0
) -> ThreadingHTTPServer:
    """Start the HTTP server in a daemon thread; return it (``shutdown()`` stops it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                stalled = time.monotonic() - metrics.last_alive > stall_seconds
                self._send(503 if stalled else 200, b"stalled\n" if stalled else b"ok\n")
            elif self.path == "/readyz":
                self._send(
                    200 if metrics.ready else 503, b"ready\n" if metrics.ready else b"starting\n"
                )
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="vigil-http", daemon=True).start()
    return server


class JsonFormatter(logging.Formatter):
    """One JSON object per log line: ts, level, logger, message (and the exception type)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["error"] = str(record.exc_info[1])
        return json.dumps(entry)


def redact_secrets(secrets: list[str | None]) -> None:
    """Replace every secret in every log record of this process by ``***``.

    At debug level aiokafka logs each request it sends, the SASL handshake with the
    password included; a record factory catches that, and anything else, whatever the
    logger or handler (Faust installs its own handlers after ours).

    >>> redact_secrets(["hunter2"])
    >>> logging.getLogRecordFactory()("x", logging.INFO, "f", 1, "pw=%s", ("hunter2",), None
    ...                               ).getMessage()
    'pw=***'
    >>> redact_secrets([])  # back to the plain factory
    """
    texts = set()
    for secret in secrets:
        if secret:
            texts |= {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    factory = _PLAIN_FACTORY
    if not texts:
        logging.setLogRecordFactory(factory)
        return

    def redacting(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        message = record.getMessage()
        if any(text in message for text in texts):
            for text in sorted(texts, key=len, reverse=True):
                message = message.replace(text, "***")
            record.msg, record.args = message, None
        return record

    logging.setLogRecordFactory(redacting)


_PLAIN_FACTORY = logging.getLogRecordFactory()
