"""The batch-native path from Kafka to the engine: one fetched batch per partition, one step.

Faust hands an agent its input one message at a time: per message the fetch loop creates
two tasks and an ``asyncio.wait``, the conductor takes a lock, the stream queues it, and
``stream.take()`` rebuilds batches from that per-message iterator. We measured ~280 µs of
CPU per event there (issue #8), and the kill -9 test found inputs that were fetched but
never reached the agent (issue #9). This module replaces that hand-over for the worker's
input topics and keeps the rest of Faust: the consumer group and its rebalances, the
tables and their changelog recovery, the commit loop, the producer.

How it works
------------
:class:`BatchConsumer` is Faust's aiokafka consumer (through :class:`streams.consumer.
ReliableConsumer`, whose commit rule is fixed) with its own fetch loop. Each ``getmany``
result is a dict from partition to records. Each partition's records of the topics
registered with :func:`consume_batches` are checked (below), then all of them are merged
by their Kafka timestamps, the order in which they reached the broker, each partition's
in offset order (the worker's ``events`` and ``labels`` share their keys and partition
count, so an entity's events and labels come from partitions of the same number). The
loop calls the :data:`BatchHandler` once with that list: one call per fetch, however many
partitions it holds, so that the costs paid per batch are paid once. The handler
processes it synchronously and returns the futures of what it produced. One task per
batch waits for those futures and then acknowledges the batch's offsets. Records of any
other topic (the tables' changelogs during recovery) take Faust's own per-message path
to the conductor.

Invariants
----------
- **Order.** A partition's records reach the handler in offset order, each once per
  fetch: the loop knows the offset each partition expects next (one past the last batch
  handed over, or the offset sought), drops records below it (a refetch overlap), and
  when a batch starts above it (records fetched and lost before the hand-over), seeks
  back and fetches again; only a gap that comes back the same is taken as absent from
  the log (transaction markers, compaction) and counted as acknowledged, as Faust does.
- **Acknowledgement.** An offset is acknowledged only after every record its batch
  produced (decisions, alerts, dead letters, changelog writes) is acknowledged by the
  broker (``acks=all``). A failed produce leaves the batch unacknowledged; the commit
  holds and the partition is fetched again from the committed offset after
  ``heal_after`` seconds.
- **Commit.** Faust's commit loop commits, per partition, one past the run of
  acknowledged offsets that starts at the committed offset, or before a partition's
  first commit at the first offset handed over (:func:`streams.consumer.committable_run`);
  it never passes an unacknowledged offset, even when batches are acknowledged out of
  order.
- **Time order across topics.** The merge by timestamp spans fetches: a partition's
  records are handed over only up to the newest timestamp the partitions of the same
  number of the other registered topics have reached, while those still have records
  to come (their broker high watermark is past what was handed over); the rest is
  held for a later fetch (beyond ``max_held`` records, fetched again). So in a backlog,
  labels do not overtake the events they are about (fetched in bulk ahead of them,
  they would find nothing to learn), nor events the labels before them. A partition
  that hands nothing over waits at most ``time_sync_timeout`` seconds for the others;
  then its records go as they are.
- **Bounded replay.** Before a fetch is handed over, each of its partitions must be
  less than ``max_uncommitted`` offsets (two commit intervals) past its confirmed
  commit, the last one the broker accepted; otherwise the loop waits for the outputs in
  flight and commits first. Commits lag behind a fast loop on a busy machine; this
  bounds what a crash replays to ``max_uncommitted`` plus one batch per partition.
- **Rebalance.** While Faust's flow control is suspended (a rebalance or a table
  recovery), no batch is handed over: the partition is sought back to the batch's first
  offset and fetched again once the flow resumes. A batch fetched in an older consumer
  generation is dropped; the new generation seeks each input partition, in the consumer
  thread, to its committed offset, or to its log start when the group committed none
  (Faust alone leaves those where the fetcher was, past what was dropped: they were
  never scored), and its partitions are handed over only from that seek on (records
  fetched before it would come again after it, and be scored twice). Records of a
  partition paused meanwhile are sought back. So every partition handed over has an
  offset it expects, and no record dropped before the hand-over is taken past. When
  partitions are revoked, the batch in progress and the acknowledgements in flight
  finish, and the offsets are committed, before Faust's own revocation runs.
- **Fetch wait.** A fetch waits at the broker at most ``VIGIL_FETCH_MAX_WAIT_MS``
  (50 ms; Faust fixes 1,500): aiokafka keeps one fetch in flight per broker, and one
  sent while a long batch is handed over leaves out the partitions still holding
  records, so it may ask only for partitions with nothing new and be held the whole
  wait while events queue (:class:`BatchConsumerThread`).
- **Stop.** On SIGTERM the batch in progress finishes, its outputs are awaited and
  acknowledged, and the final commit covers them.

At least once: a crash between the outputs and the commit replays the uncommitted
inputs (bounded, above); the worker's entity states keep the last applied position and
the decisions of inputs not yet committed (at most the last
:attr:`engine.state.Memory.max_decisions` of each), so a replayed input is not applied
twice and gets the same decision again while its entity has no more inputs than that in
the replayed span.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

from streams.consumer import ReliableConsumer
from streams.process import InputRecord

__all__ = [
    "BatchConsumer",
    "BatchConsumerThread",
    "BatchHandler",
    "BatchTransport",
    "consume_batches",
]

#: Processes one fetch's records, in order, and returns the futures of the records it
#: produced; the records are acknowledged when they are all done.
BatchHandler = Callable[[list[InputRecord]], Awaitable[Sequence[Awaitable[Any]]]]


def _log_commit_failure(log: Any) -> Callable[[asyncio.Future], None]:
    def done(commit: asyncio.Future) -> None:
        if not commit.cancelled() and commit.exception() is not None:
            log.warning("commit failed (the next one retries): %r", commit.exception())

    return done


def _timestamp(record: Any) -> int:
    return record.timestamp if record.timestamp is not None else -1


def to_input_records(records: Iterable[Any]) -> list[InputRecord]:
    """aiokafka's consumer records as the engine's :class:`InputRecord` (timestamps in s).

    Examples
    --------
    >>> from aiokafka.structs import ConsumerRecord
    >>> raw = ConsumerRecord("events", 1, 7, 1500, 0, b"a", b"{}", None, 1, 2, ())
    >>> to_input_records([raw])
    [InputRecord(topic='events', partition=1, offset=7, timestamp=1.5, key=b'a', value=b'{}')]
    """
    return [
        InputRecord(
            r.topic,
            r.partition,
            r.offset,
            None if r.timestamp is None else r.timestamp / 1000.0,
            r.key,
            r.value,
        )
        for r in records
    ]


def offset_gaps(offsets: Sequence[int]) -> list[tuple[int, int]]:
    """The ranges ``(first, last)`` missing between consecutive ``offsets`` (sorted).

    Examples
    --------
    >>> offset_gaps([3, 4, 5])
    []
    >>> offset_gaps([3, 6, 7, 9])
    [(4, 5), (8, 8)]
    """
    if not offsets or offsets[-1] - offsets[0] + 1 == len(offsets):
        return []
    return [(a + 1, b - 1) for a, b in itertools.pairwise(offsets) if b > a + 1]


class BatchConsumer(ReliableConsumer):
    """Faust's consumer with a fetch loop that hands each fetch's input over in one call."""

    #: Batches handed over.
    batches: int = 0
    #: Batches dropped because they were fetched in an older consumer generation.
    stale_batches: int = 0
    #: Batches dropped because their partition's assignment had not been sought yet.
    unsought_batches: int = 0
    #: Batches dropped (and sought back) because their partition was paused meanwhile.
    paused_batches: int = 0
    #: Times a partition was sought back because a fetch started past the expected offset.
    refetches: int = 0
    #: Times a partition was fetched again because its commit stayed held.
    heals: int = 0
    #: Batches whose outputs failed to be produced (left unacknowledged).
    failed_batches: int = 0
    #: Times the fetch loop waited for a commit before handing a batch over, because a
    #: partition was ``max_uncommitted`` offsets or more past its confirmed commit.
    commit_waits: int = 0
    #: Times a partition's records were held back for a later fetch, because a partition
    #: of the same number of another input topic had older records to come.
    time_holds: int = 0
    #: Seconds a partition waits at most for the others to reach its records' timestamps.
    time_sync_timeout: float = 5.0
    #: Records a partition holds at most while it waits; the rest is fetched again later.
    max_held: int = 10_000
    #: How far a partition may be handed over past its confirmed commit (in offsets)
    #: before the fetch loop waits for a commit; ``None``: no limit. Two commit intervals
    #: (``2 * broker_commit_every``) unless set. It bounds what a crash replays.
    max_uncommitted: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._expected: dict[TP, int] = {}
        self._sought: set[TP] = set()  # input partitions sought since their assignment
        self._first_handed: dict[TP, int] = {}  # first offset handed over, per partition
        self._refetched: dict[TP, tuple[int, int]] = {}
        self._in_flight: set[asyncio.Future] = set()
        self._handing_over = asyncio.Lock()
        self._committing: asyncio.Future | None = None
        self._handed_timestamp: dict[TP, int] = {}  # of the last record handed over
        self._held: dict[TP, list[Any]] = {}  # checked, kept back for the time order
        self._waiting_since: dict[TP, float] = {}  # for the time order, per partition
        super().__init__(*args, **kwargs)
        if self.max_uncommitted is None and self._commit_every:
            self.max_uncommitted = 2 * self._commit_every

    def _new_consumer_thread(self) -> BatchConsumerThread:
        return BatchConsumerThread(self, loop=self.loop, beacon=self.beacon)

    # --- seeks, rebalances, stop --------------------------------------------------------

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        """A new assignment: its partitions wait for the seek that ends its recovery."""
        self._sought.clear()
        await super().on_partitions_assigned(assigned, generation_id)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, which ends each rebalance's recovery.

        Every assigned input partition is then sought where it must start: its committed
        offset, or its log start when the group committed none (the offset reset is
        "earliest"). Faust seeks only the committed ones; an uncommitted one would stay
        where the fetcher is, past any records fetched and dropped before (fetched while
        paused, or before this seek), and, with no offset to expect, take the next fetch
        as its start: those records were never scored, and were committed over.
        The seeks run in the consumer thread, not while it hands out fetched records: made
        from the event loop, a seek can be overwritten by the position of the records the
        thread is handing out at that moment. From then on the partitions are handed
        over: a batch fetched before would be fetched and handed over again after it (a
        restarted worker's first batch, scored twice); one fetched between the seek and
        this method's end is sought back as one fetched before.
        """
        generation = self.app.consumer_generation_id
        await super().perform_seek()
        inputs = [tp for tp in self.assignment() if tp.topic in self.transport.batch_handlers]
        starts = {tp: self._read_offset.get(tp) for tp in inputs}
        uncommitted = [tp for tp, offset in starts.items() if offset is None]
        if uncommitted:
            starts.update(await self.earliest_offsets(*uncommitted))
        consumer = self._thread._ensure_consumer()

        async def seek_inputs() -> dict[TP, int]:  # run by the consumer thread
            assigned = consumer.assignment()  # (a rebalance may have come meanwhile)
            sought = {tp: offset for tp, offset in starts.items() if tp in assigned}
            for tp, offset in sought.items():
                consumer.seek(tp, offset)
            return sought

        sought = await self._thread.call_thread(seek_inputs)
        if self.app.consumer_generation_id != generation:
            return  # a rebalance meanwhile: its own recovery ends with its own seek
        self._held.clear()
        self._refetched.clear()
        self._expected.clear()
        for tp, offset in sought.items():
            self._read_offset[tp] = offset if offset else None  # as Faust's seek sets it
            self._expected[tp] = offset
        self._sought.update(sought)

    async def _fetch_again(self, tp: TP, offset: int) -> None:
        """Seek ``tp`` back to ``offset``, a batch's first, if it is still assigned; or to
        the offset it expects, if that is lower (the batch started past it)."""
        want = self._expected.get(tp)
        if want is not None and want < offset:
            offset = want
        if tp in self.assignment():
            with contextlib.suppress(Exception):  # revoked meanwhile: its next owner has it
                await self.seek(tp, offset)

    def _commit_base(self, tp: TP) -> int | None:
        """The committed offset; before the first commit, the first offset handed over.

        Faust's committed offset is ``None`` both with no commit and with a commit at 0.
        Either way the commit must start at the first offset handed over, not at the
        first acknowledged: a later batch can be acknowledged before an earlier one.
        """
        committed = super()._commit_base(tp)
        return committed if committed is not None else self._first_handed.get(tp)

    async def seek(self, partition: TP, offset: int) -> None:
        """Seek ``partition`` to ``offset``, which is then the next offset it expects.

        Records held back for the time order are dropped, and fetched again: the seek goes
        to the first of them if it is below ``offset``.
        """
        held = self._held.pop(partition, None)
        if held and held[0].offset < offset:
            offset = held[0].offset
        await super().seek(partition, offset)
        self._expected[partition] = offset

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Finish the batch in progress and its acknowledgements, commit, then revoke."""
        async with self._handing_over:
            await self.outputs_done()
        if revoked:
            try:
                await self.commit()
            except Exception as exc:  # the next owner replays from the last commit
                self.log.warning("commit before revoking %s failed: %r", sorted(revoked), exc)
        for tp in revoked:
            self._expected.pop(tp, None)
            self._first_handed.pop(tp, None)
            self._refetched.pop(tp, None)
            self._handed_timestamp.pop(tp, None)
            self._held.pop(tp, None)
            self._waiting_since.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    async def on_stop(self) -> None:
        """Finish the batch in progress and its acknowledgements before the last commit."""
        async with self._handing_over:
            await self.outputs_done()
        await super().on_stop()

    async def outputs_done(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout`` s) for the batches whose outputs are still in flight,
        and for a commit under way (Faust's next commit would otherwise only wait for it
        and commit nothing new)."""
        pending = [*self._in_flight, *([self._committing] if self._committing else [])]
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    # --- the fetch loop -----------------------------------------------------------------

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - run by Faust
        """Fetch, and hand each partition's records to its topic's handler in one call."""
        handlers: dict[str, BatchHandler] = self.transport.batch_handlers
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        app = self.app
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                await self._heal_held_partitions()
                records, active = await self._wait_next_records(1.0)
                if self.should_stop or not (records or self._held):
                    continue
                if not self.flow_active:
                    # What was fetched while the flow was stopped is fetched again later.
                    for tp, batch in records.items():
                        await self._fetch_again(tp, batch[0].offset)
                    continue
                generation = app.consumer_generation_id  # a rebalance meanwhile: stale
                await self._commit_if_too_far(records)
                groups: dict[int, tuple[BatchHandler, list[tuple[TP, list[Any]]]]] = {}
                for tp, batch in records.items():
                    handler = handlers.get(tp.topic)
                    if active is not None and tp not in active | self._buffered_partitions:
                        # Paused (aiokafka returns every buffered partition when Faust's set
                        # of active ones, which it reads during the fetch, is empty, as at
                        # the end of a table recovery). Faust drops such records; an input
                        # partition is sought back, and fetched again when it resumes.
                        if handler is None:
                            continue  # a changelog: Faust's recovery seeks those itself
                        self.paused_batches += 1
                        self.log.info(
                            "%r: fetched from %d while paused; fetched again when it resumes",
                            tp,
                            batch[0].offset,
                        )
                        await self._fetch_again(tp, batch[0].offset)
                        continue
                    if handler is None:
                        await self._deliver_each(tp, batch, generation)
                    else:
                        groups.setdefault(id(handler), (handler, []))[1].append((tp, batch))
                for tp in self._held:  # records held for the time order may go now
                    handler = handlers[tp.topic]
                    groups.setdefault(id(handler), (handler, []))
                for handler, group in groups.values():
                    if app.consumer_generation_id != generation:
                        self.stale_batches += 1
                        break
                    # Shielded: a stop (SIGTERM) cancels the fetch loop, not a batch half
                    # produced; on_stop waits for it through the lock.
                    await asyncio.shield(self._hand_over(group, handler, generation))
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    # In the background: a commit waits for the producer to flush, which
                    # the next batch need not wait for. Faust lets one commit run at a time.
                    self._n_acked = 0
                    self._start_commit()
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

    async def _deliver_each(self, tp: TP, batch: list[Any], generation: int) -> None:
        """Faust's own hand-over, one message at a time (changelogs during recovery)."""
        for record in batch:
            if self.app.consumer_generation_id != generation:
                return
            message = self._to_message(tp, record)
            await self.wait_first(self.callback(message), self.suspend_flow.wait())
            self._read_offset[tp] = record.offset

    async def _hand_over(
        self, group: list[tuple[TP, list[Any]]], handler: BatchHandler, generation: int
    ) -> None:
        async with self._handing_over:
            if self.app.consumer_generation_id != generation:
                self.stale_batches += 1
                return
            checked = [(tp, await self._check(tp, batch)) for tp, batch in group]
            checked = [(tp, fresh) for tp, fresh in checked if fresh]
            checked = await self._in_time_order(checked, handler)
            if not checked:
                return
            now = time.monotonic()
            for tp, _ in checked:
                self.app.monitor.stream_inbound_time[tp] = now
            self.batches += 1
            merged = heapq.merge(*(fresh for _, fresh in checked), key=_timestamp)
            futures = await handler(to_input_records(merged))
            offsets = {tp: [r.offset for r in fresh] for tp, fresh in checked}
            done = asyncio.ensure_future(self._acknowledge_when_produced(offsets, futures))
            self._in_flight.add(done)
            done.add_done_callback(self._in_flight.discard)

    async def _check(self, tp: TP, batch: list[Any]) -> list[Any]:
        """The records of ``batch`` to hand over: checked against the offset ``tp`` expects.

        Empty when the partition is to be fetched again (a flow stopped for a rebalance or
        a recovery; records fetched past a hole) or when everything was handed over before.
        """
        if not self.app.flow_control.is_active():
            # A rebalance or a recovery is under way: fetch it again once it is over.
            await self._fetch_again(tp, batch[0].offset)
            return []
        if tp not in self._sought:
            # Fetched before the seek that ends the recovery (perform_seek), which is still
            # to come and seeks every input partition: fetched again from there. Sought
            # back meanwhile, so that a long recovery does not read ahead and drop.
            self.unsought_batches += 1
            self.log.info(
                "%r: fetched from %d before the end of recovery; fetched again after it",
                tp,
                batch[0].offset,
            )
            await self._fetch_again(tp, batch[0].offset)
            return []
        want = self._expected.get(tp)
        first = batch[0].offset
        if want is not None and first > want:
            if self._refetched.get(tp) != (want, first):
                self.refetches += 1
                self.log.warning(
                    "%r: expected offset %d, fetched %d; fetching again from %d",
                    tp,
                    want,
                    first,
                    want,
                )
                self._refetched[tp] = (want, first)
                await self.seek(tp, want)
                return []
            self.log.info("%r: offsets %d..%d are not in the log", tp, want, first - 1)
            await self._add_gap(tp, want, first - 1)
        self._refetched.pop(tp, None)  # a later refetch of the same offsets is checked anew
        acked_already = self._acked_index[tp]
        fresh = [
            r for r in batch if (want is None or r.offset >= want) and r.offset not in acked_already
        ]
        if fresh:
            self._first_handed.setdefault(tp, fresh[0].offset)
        # (A batch wholly below the offset expected, fetched before a seek back, leaves it.)
        self._expected[tp] = max(batch[-1].offset + 1, want if want is not None else 0)
        self._read_offset[tp] = self._expected[tp] - 1
        for first_missing, last_missing in offset_gaps([r.offset for r in batch]):
            await self._add_gap(tp, first_missing, last_missing)
        return fresh

    async def _in_time_order(
        self, checked: list[tuple[TP, list[Any]]], handler: BatchHandler
    ) -> list[tuple[TP, list[Any]]]:
        """What may go now of ``checked`` and of the records held before: in time order with
        the handler's other topics.

        A partition's records go up to the frontier of its number: the lowest, over the
        assigned partitions of that number of the topics that share ``handler``, of the
        newest timestamp each reached (fetched, else handed over), or no limit for a
        partition with nothing more to come. The rest is held for a later fetch (at most
        ``max_held`` records a partition; beyond, fetched again), unless the partition has
        handed nothing over for ``time_sync_timeout`` seconds.
        """
        topics = [t for t, h in self.transport.batch_handlers.items() if h is handler]
        if len(topics) < 2:
            return checked
        pending = {tp: self._held.pop(tp) for tp in list(self._held) if tp.topic in topics}
        for tp, fresh in checked:
            pending[tp] = [*pending.get(tp, ()), *fresh]
        assigned = self.assignment()
        frontiers = {
            number: min(
                (
                    self._frontier(tp, pending.get(tp))
                    for tp in (TP(topic, number) for topic in topics)
                    if tp in assigned
                ),
                default=math.inf,
            )
            for number in {tp.partition for tp in pending}
        }
        ready: list[tuple[TP, list[Any]]] = []
        now = time.monotonic()
        for tp, records in pending.items():
            frontier = frontiers[tp.partition]
            cut = len(records)
            if _timestamp(records[-1]) > frontier:
                cut = next(i for i, r in enumerate(records) if _timestamp(r) > frontier)
                if not cut and now - self._waiting_since.get(tp, now) > self.time_sync_timeout:
                    self.log.warning(
                        "%r: waited %.0f s for the other input topics to reach timestamp %d;"
                        " going on without them",
                        tp,
                        self.time_sync_timeout,
                        _timestamp(records[0]),
                    )
                    cut = len(records)
            if cut:
                ready.append((tp, records[:cut]))
                self._handed_timestamp[tp] = _timestamp(records[cut - 1])
            if cut == len(records):
                self._waiting_since.pop(tp, None)
            elif cut:  # it moves on: it waits from now
                self._waiting_since[tp] = now
            else:
                self._waiting_since.setdefault(tp, now)
            if cut < len(records):
                self.time_holds += 1
                held = records[cut:]
                if len(held) > self.max_held:
                    await self._fetch_again(tp, held[self.max_held].offset)
                    held = held[: self.max_held]
                    self._read_offset[tp] = held[-1].offset
                self._held[tp] = held
        return ready

    def _frontier(self, tp: TP, pending: list[Any] | None) -> float:
        """The newest timestamp ``tp`` reached, or infinity if it has no more records now."""
        if self._records_to_come(tp) == 0:
            return math.inf
        if pending:
            return _timestamp(pending[-1])
        return self._handed_timestamp.get(tp, -math.inf)

    def _records_to_come(self, tp: TP) -> int | None:
        """Records of ``tp`` on the broker past what the fetcher handed out (None: unknown)."""
        try:
            consumer = self._thread._ensure_consumer()
            state = consumer._subscription.subscription.assignment.state_value(tp)
            if state is None or state.highwater is None or not state.has_valid_position:
                return None
            return max(0, state.highwater - state.position)
        except Exception:  # not assigned, not started: unknown
            return None

    async def _acknowledge_when_produced(
        self, offsets: dict[TP, list[int]], futures: Sequence[Awaitable[Any]]
    ) -> None:
        try:
            await asyncio.gather(*futures)
        except Exception as exc:
            self.failed_batches += 1
            self.log.error(
                "producing the outputs of %s failed (%r); they stay unacknowledged and are"
                " fetched again",
                {tp: (o[0], o[-1]) for tp, o in offsets.items()},
                exc,
            )
            return
        for tp, done in offsets.items():
            self.acknowledge(tp, done)

    def acknowledge(self, tp: TP, offsets: Iterable[int]) -> int:
        """Mark ``offsets`` of ``tp`` as done (Faust's ``ack``, for a batch); how many were new.

        Offsets below the committed one, already acknowledged, or of a partition no longer
        assigned are ignored.
        """
        if tp not in self.assignment():
            return 0
        committed = self._committed_offset[tp]
        index = self._acked_index[tp]
        acked = self._acked[tp]
        new = 0
        for offset in offsets:
            if (committed is None or offset >= committed) and offset not in index:
                index.add(offset)
                acked.append(offset)
                new += 1
        self._n_acked += new
        return new

    def uncommitted(self, tp: TP) -> int:
        """How many offsets of ``tp`` were handed over past its confirmed commit.

        Before the first confirmed commit, counted from the first offset handed over.
        """
        base = self.confirmed(tp)
        if base is None:
            base = self._first_handed.get(tp)
        held = self._held.get(tp)
        expected = held[0].offset if held else self._expected.get(tp)
        return 0 if base is None or expected is None else max(0, expected - base)

    async def _commit_if_too_far(self, tps: Iterable[TP]) -> None:
        """Wait for the outputs in flight and commit, if a partition of ``tps`` is
        ``max_uncommitted`` offsets or more past its confirmed commit.

        What a crash replays is what was handed over past the commit; this keeps it under
        ``max_uncommitted`` plus one batch per partition, however far commits lag behind
        a fast fetch loop (a backlog on a busy machine).
        """
        limit = self.max_uncommitted
        if limit is None or not any(self.uncommitted(tp) >= limit for tp in tps):
            return
        self.commit_waits += 1
        await self.outputs_done()
        self._start_commit()
        if self._committing is not None:
            # Bounded, as outputs_done is: a commit that hangs must not stop the fetch loop.
            done, _ = await asyncio.wait([self._committing], timeout=30.0)
            if not done:
                self.log.warning("a commit has not finished in 30 s; fetching goes on")

    def _start_commit(self) -> None:
        if self._committing is None or self._committing.done():
            self._committing = asyncio.ensure_future(self.commit())
            self._committing.add_done_callback(_log_commit_failure(self.log))

    async def _heal_held_partitions(self) -> None:
        """Fetch again, from its committed offset, each partition whose commit stays held."""
        while self._heal:
            tp = self._heal.pop()
            committed = self._committed_offset.get(tp)
            if committed is not None and tp in self.assignment():
                self.heals += 1
                with contextlib.suppress(Exception):
                    await self.seek(tp, committed)


class BatchConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka consumer thread, whose consumer's fetches wait at the broker at
    most the transport's ``fetch_max_wait_ms`` (Faust fixes 1,500 ms).

    aiokafka keeps one fetch in flight per broker, and leaves out of it the partitions
    whose records are still waiting to be handed over. When handing a batch over takes
    longer than aiokafka's prefetch backoff (0.1 s), the fetch it sends meanwhile asks only
    for the other partitions, often the labels' with nothing new, and the broker holds it
    for the whole wait: the events fetched next waited behind it.
    """

    def _create_worker_consumer(self, transport: BatchTransport) -> Any:
        consumer = super()._create_worker_consumer(transport)
        if transport.fetch_max_wait_ms is not None:
            # Read by AIOKafkaConsumer.start(), which builds its fetcher with it.
            consumer._fetch_max_wait_ms = transport.fetch_max_wait_ms
        return consumer


class BatchTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`BatchConsumer`; holds the batch handlers."""

    Consumer: ClassVar[type] = BatchConsumer
    #: Longest a fetch waits at the broker (ms); ``None`` keeps Faust's 1,500.
    fetch_max_wait_ms: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_handlers: dict[str, BatchHandler] = {}


def consume_batches(
    app: faust.App,
    topics: Sequence[str],
    handler: BatchHandler,
    *,
    fetch_max_wait_ms: int | None = None,
) -> None:
    """Subscribe ``app`` to ``topics`` and hand their batches to ``handler``.

    Call before the app starts. The topics join the app's subscription (its consumer
    group and rebalances) like an agent's, but their records reach ``handler`` a
    partition's batch at a time instead of an agent's stream. ``fetch_max_wait_ms``: see
    :class:`BatchConsumerThread`.
    """
    if not isinstance(app.transport, BatchTransport):
        app.transport = BatchTransport(app.conf.broker_consumer, app)
    if fetch_max_wait_ms is not None:
        app.transport.fetch_max_wait_ms = fetch_max_wait_ms
    for name in topics:
        app.topics.add(app.topic(name, key_type=bytes, value_type=bytes))
        app.transport.batch_handlers[name] = handler
