"""Faust's aiokafka consumer with two offset bugs fixed, so that a rebalance loses nothing.

faust-streaming 0.15.3 can commit the offset of an input it never handed to an agent. We
saw it in our kill -9 test (2 of 3,000 events without a decision in 3 of 4 runs, their
offsets committed), and it is reported upstream (robinhood/faust#115,
faust-streaming/faust#216, #221, #312, #606). Two defects combine:

1. **A stale read offset after a rebalance.** The fetch loop (``_drain_messages``) hands
   one message at a time to the agent's queue and, once it is queued, records its offset
   as the partition's read offset. When a rebalance happens while a message of the old
   generation is being handed over, the rebalance seeks the partition back to its
   committed offset ``C`` and sets the read offset to ``C``, and *then* the fetch loop
   resumes and overwrites it with the old message's offset ``X ≥ C``. The stream skips
   that old-generation message, and when the partition is fetched again from ``C`` every
   offset up to ``X`` is below the read offset and dropped ("DROPPED MESSAGE ROFF").
2. **An off-by-one in the commit rule.** ``_new_offset`` refuses to commit when the acked
   offsets do not start at the committed offset, but tests ``min(acked) - committed > 1``
   where ``committed`` is already the *next* offset to read; so exactly one missing message
   at the head (the case ``X == C`` above) is committed over. With ``X > C`` the partition
   stops committing instead, and the next restart replays everything since ``C``.

:class:`ReliableConsumer` fixes both: the fetch loop neither hands over nor records a
message fetched in an older generation, and a partition commits only while its acked
offsets continue exactly from its committed offset. :func:`use_reliable_consumer` puts it
into a Faust app through the app's ``transport`` (Faust's transport-driver extension point).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

__all__ = ["ReliableConsumer", "ReliableTransport", "use_reliable_consumer"]


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
    """Faust's aiokafka consumer; its fetch loop and its commit rule are the fixed ones."""

    #: Messages of an older generation the fetch loop stopped at (refetched after the seek).
    stale_messages: int = 0
    #: Times a partition held its commit because its acked offsets had a gap at the head.
    held_commits: int = 0
    #: Times a partition was sought back because offsets were fetched but not handed over.
    refetches: int = 0
    #: Times a partition was fetched again because its commit stayed held.
    heals: int = 0
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
        committed = self._committed_offset[tp]
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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._expected: dict[TP, int] = {}
        self._refetched: dict[TP, tuple[int, int]] = {}
        self._seeks = 0  # seeks so far: a handover that overlapped one is not recorded
        self._held_since: dict[TP, float] = {}
        self._heal: set[TP] = set()
        super().__init__(*args, **kwargs)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets; the next offset each partition expects is that."""
        self._seeks += 1
        await super().perform_seek()
        self._expected.clear()  # in place: the fetch loop holds this dict
        self._expected.update(
            {tp: offset for tp, offset in self._read_offset.items() if offset is not None}
        )

    async def seek(self, partition: TP, offset: int) -> None:
        """Seek ``partition`` to ``offset``, which is then the next offset it expects."""
        self._seeks += 1
        await super().seek(partition, offset)
        self._expected[partition] = offset

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._expected.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        """Faust's fetch loop, with what it hands over checked against the offsets expected.

        Each partition expects the offset after the last one handed over (or, after a seek,
        the offset sought). An older offset is a refetch and is dropped. A newer one means
        offsets were fetched that nobody handed over: the partition is sought back and
        fetched again, and only if the same gap comes back (offsets the log really lacks,
        such as transaction markers) does it count as committable, as in Faust. A message
        of an older generation stops the batch: the stream would skip it, and the
        partition is sought back to its committed offset by the rebalance. An input
        message that arrives while Faust's flow control is off (the stream would skip it)
        is not handed over but fetched again.
        """
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        expected = self._expected
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        app = self.app
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                messages = cast(AsyncIterator, getmany(timeout=1.0))
                await self.sleep(0)
                if self.should_stop:
                    continue
                refetching: set[TP] = set()
                while self._heal:
                    tp = self._heal.pop()
                    committed = self._committed_offset.get(tp)
                    if committed is not None and tp in self.assignment():
                        self.heals += 1
                        refetching.add(tp)
                        await self.seek(tp, committed)
                async for tp, message in messages:
                    since_yield += 1
                    if since_yield > 100:
                        await asyncio.sleep(0)
                        since_yield = 0
                    if message.generation_id != app.consumer_generation_id:
                        self.stale_messages += 1
                        break
                    if tp in refetching:
                        continue
                    offset = message.offset
                    if not app.flow_control.is_active() and not self._is_changelog_tp(tp):
                        # The stream would skip it (Faust resumes its flow control only
                        # after the seek that ends a recovery): fetch it again later.
                        refetching.add(tp)
                        await self.seek(tp, offset)
                        await asyncio.sleep(0.01)
                        continue
                    want = expected.get(tp)
                    if want is not None and offset < want:
                        self.log.dev("dropped a refetched message %r at %d", tp, offset)
                        continue
                    if offset in self._acked_index[tp]:
                        expected[tp] = offset + 1  # refetched while healing: done already
                        continue
                    if want is not None and offset > want:
                        if self._refetched.get(tp) == (want, offset):
                            self.log.info(
                                "%r: offsets %d..%d are not in the log", tp, want, offset - 1
                            )
                            if acks_enabled_for(message.topic):
                                await self._add_gap(tp, want, offset - 1)
                        else:
                            self.refetches += 1
                            self.log.warning(
                                "%r: expected offset %d, fetched %d; fetching again from %d",
                                tp,
                                want,
                                offset,
                                want,
                            )
                            self._refetched[tp] = (want, offset)
                            refetching.add(tp)
                            await self.seek(tp, want)
                            continue
                    if commit_every is not None and self._n_acked >= commit_every:
                        self._n_acked = 0
                        await self.commit()
                    seeks = self._seeks
                    await self.wait_first(callback(message), self.suspend_flow.wait())
                    if message.generation_id != app.consumer_generation_id:
                        # A rebalance happened while it was handed over: the stream skips
                        # it and the partition is refetched from its committed offset.
                        self.stale_messages += 1
                        break
                    if seeks != self._seeks:
                        continue  # the partition was sought meanwhile: that sets what it expects
                    if want is None:
                        self.log.info("%r: handing over from offset %d", tp, offset)
                    expected[tp] = offset + 1
                    self._read_offset[tp] = offset
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise


class ReliableTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport, with :class:`ReliableConsumer` as its consumer."""

    Consumer: ClassVar[type] = ReliableConsumer


def use_reliable_consumer(app: faust.App) -> faust.App:
    """Make ``app`` consume through :class:`ReliableConsumer`; call before it starts."""
    app.transport = ReliableTransport(app.conf.broker_consumer, app)
    return app
