"""``vigil produce``: a JSONL file to a topic, keyed by ``entity_id``, at a target rate.

Each line is sent as it is (the bytes of the line), so invalid lines reach the worker
and its dead-letter topic exactly as a misbehaving producer would send them; the key is
the line's ``entity_id`` when the line is a JSON object that has one.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

from streams.clients import make_producer
from streams.settings import Settings

__all__ = ["produce_file"]


def produce_file(
    path: Path,
    *,
    settings: Settings,
    topic: str,
    rate: float | None = None,
    progress: bool | None = None,
) -> int:
    """Send every non-empty line of ``path`` to ``topic``; return how many were sent."""
    if progress is None:
        progress = sys.stderr.isatty()
    producer = make_producer(settings)
    sent = 0
    began = time.monotonic()
    try:
        with open(path, "rb") as lines:
            for line in lines:
                value = line.rstrip(b"\r\n")
                if not value.strip():
                    continue
                producer.send(topic, key=_key(value), value=value)
                sent += 1
                if rate:
                    ahead = sent / rate - (time.monotonic() - began)
                    if ahead > 0:
                        time.sleep(ahead)
                if progress and sent % 1000 == 0:
                    elapsed = time.monotonic() - began
                    sys.stderr.write(f"\r  {sent} records, {sent / elapsed:.0f}/s")
        producer.flush()
    finally:
        producer.close()
    if progress:
        sys.stderr.write(f"\r  {sent} records in {time.monotonic() - began:.1f} s\n")
    return sent


def _key(value: bytes) -> bytes | None:
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    entity = obj.get("entity_id") if isinstance(obj, dict) else None
    return entity.encode("utf-8") if isinstance(entity, str) else None
