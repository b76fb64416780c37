"""Faust's aiokafka consumer with its commit rule fixed, so that no offset is committed over.

faust-streaming 0.15.3 can commit the offset of an input it never handed to an agent
(robinhood/faust#115, faust-streaming/faust#216, #221, #312, #606). One of the causes is
in its commit rule: ``_new_offset`` refuses to commit when the acked offsets do not start
at the committed offset, but tests ``min(acked) - committed > 1`` where ``committed`` is
already the *next* offset to read; so exactly one missing message at the head is
committed over.

:class:`ReliableConsumer` commits a partition only while its acked offsets continue
exactly from its committed offset (:func:`committable_run`), and asks for a partition to
be fetched again from its committed offset when that offset stays unacknowledged for
``heal_after`` seconds. The fetch loop that delivers input in batches, and acknowledges
it only once its outputs are durable, is :class:`streams.ingest.BatchConsumer`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["ReliableConsumer", "committable_run"]


def committable_run(acked: Sequence[int], committed: int | None) -> list[int]:
    """The acknowledged offsets a partition may commit: the run that starts at ``committed``.

    ``acked`` is sorted; ``committed`` is the partition's committed offset, the next one
    to read (``None`` when nothing was committed yet: the run then starts at the first
    acked offset). Offsets below ``committed`` are done already. The commit moves to one
    past the run's last offset; an empty run means the message at ``committed`` is not
    acknowledged yet, and nothing may be committed.

    Examples
    --------
    >>> committable_run([5, 6, 7, 9], committed=5)
    [5, 6, 7]
    >>> committable_run([6, 7], committed=5)  # offset 5 is still being processed
    []
    >>> committable_run([3, 4, 5, 6], committed=5)
    [5, 6]
    >>> committable_run([0, 1, 3], committed=None)
    [0, 1]
    """
    run: list[int] = []
    for offset in acked:
        if committed is not None and offset < committed:
            continue
        if run and offset != run[-1] + 1:
            break
        if not run and committed is not None and offset != committed:
            break
        run.append(offset)
    return run


class ReliableConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer with the commit rule of :func:`committable_run`."""

    #: Times a partition held its commit because its acked offsets had a gap at the head.
    held_commits: int = 0
    #: Seconds a commit may stay held (the message at the committed offset not acknowledged)
    #: before the partition is fetched again from there.
    heal_after: float = 5.0

    def _new_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp``: one past :func:`committable_run`, if any."""
        acked = self._acked[tp]
        if not acked:
            return None
        gaps = self._gap[tp]
        if gaps:  # offsets known to be absent from the log count as acked (Faust's rule)
            max_offset = max(acked)
            present = sorted(gaps.overlap(0, max_offset), key=lambda interval: interval.begin)
            if present:
                absent = [o for interval in present for o in range(interval.begin, interval.end)]
                acked.extend(absent)
                gaps.chop(0, max(absent[-1], max_offset + 1))
        acked.sort()
        committed = self._commit_base(tp)
        run = committable_run(acked, committed)
        last = run[-1] if run else (committed if committed is not None else 0) - 1
        done = [offset for offset in acked if offset <= last]  # a prefix: acked is sorted
        if done:
            acked[: len(done)] = []
            self._acked_index[tp].difference_update(done)
        if not run:
            self.held_commits += 1
            held_since = self._held_since.setdefault(tp, time.monotonic())
            if committed is not None and time.monotonic() - held_since > self.heal_after:
                self.log.warning(
                    "%r: offset %d still not acknowledged after %.0f s (first acknowledged"
                    " %s): fetching the partition again from %d",
                    tp,
                    committed,
                    self.heal_after,
                    acked[0] if acked else None,
                    committed,
                )
                self._heal.add(tp)
                del self._held_since[tp]
            return None
        self._held_since.pop(tp, None)
        return last + 1

    def _commit_base(self, tp: TP) -> int | None:
        """Where ``tp``'s committable run must start: its committed offset, if known."""
        return self._committed_offset[tp]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._held_since: dict[TP, float] = {}
        self._heal: set[TP] = set()
        self._confirmed: dict[TP, int] = {}
        super().__init__(*args, **kwargs)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        """Faust's commit; the offsets the broker accepted are kept (:meth:`confirmed`)."""
        assigned = self.assignment()
        done = await super()._commit(offsets)
        if done:
            confirmed = self._confirmed
            for tp, offset in offsets.items():
                if tp in assigned and offset > confirmed.get(tp, -1):
                    confirmed[tp] = offset
        return done

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, which are also the confirmed ones now."""
        await super().perform_seek()
        confirmed = self._confirmed
        for tp in self.assignment():
            offset = self._committed_offset.get(tp)
            if offset is not None and offset > confirmed.get(tp, -1):
                confirmed[tp] = offset

    def confirmed(self, tp: TP) -> int | None:
        """The group's committed offset of ``tp`` as the broker holds it, as last known.

        Read from the broker at each assignment, then moved by the commits of this
        consumer that the broker accepted. Inputs below it are never fetched again by
        this group (committed offsets only move forward), so what they left behind for a
        replay may be forgotten. Unlike Faust's own committed offset, which it moves even
        when a commit fails, this is only moved by accepted commits; ``None`` before the
        first (or while the group has committed nothing, or only offset 0).
        """
        return self._confirmed.get(tp)
