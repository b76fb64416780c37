"""Entity states in a Faust table, backed by a changelog topic, as the Scorer's ``states``.

The Scorer reads a state, changes it and writes it back explicitly (``states[entity] =
state``). Decoding a state from JSON costs more than scoring it, so the states read
recently are kept decoded (at most ``max_cached`` of them, the least recently used go
first; :meth:`TableStates.forget` drops them all, at each rebalance).

A state's life after a write, once per input batch:

1. :meth:`TableStates.flush` serializes each entity changed in the batch once (its JSON
   snapshot) and returns the records, which the worker produces to the changelog, to the
   input's partition;
2. :meth:`TableStates.settle_when_sent` writes them into the table's local store only
   once the broker has acknowledged them (:meth:`TableStates.settle`), together with the
   changelog offset they reached. Until then they are read from memory.

So the local store only ever holds a prefix of the changelog, and with the RocksDB store
(``VIGIL_STATE_STORE=rocksdb``, the default) it knows how far that prefix goes: a
restarted worker recovers only the changelog records written after it, through Faust's
table recovery, instead of the whole changelog. Faust's RocksDB store picks a partition's
database from the event being processed, which a batch does not have; here each batch's
records go to their partition's database in one write batch, with the offset.

Keys are the entity id as UTF-8, as on the input topics, so an entity's changelog
partition is its input partition.

Examples
--------
>>> from engine.state import EntityState
>>> class Table(dict):  # the part of a Faust table that is used: its store
...     @property
...     def data(self):
...         return self
>>> table = Table()
>>> states = TableStates(table)
>>> states["a"] = EntityState()
>>> records = states.flush()
>>> "a" in states, len(states), [key for key, _ in records], list(table)
(True, 1, [b'a'], [])
>>> states.settle(0, records, changelog_offset=41)  # the broker acknowledged them
>>> list(table), states.flush()  # in the store now; nothing changed since
([b'a'], [])
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Any

from engine.state import EntityState

__all__ = ["TableStates"]

#: A changelog record: the entity id as UTF-8 and its state's JSON, ``None`` when deleted.
Record = tuple[bytes, bytes | None]


class TableStates(MutableMapping[str, EntityState]):
    """A ``MutableMapping[str, EntityState]`` over a Faust table of bytes to bytes.

    States written since the last :meth:`flush` are kept as objects (``None`` for a
    deleted one), and so are those flushed but not yet acknowledged by the changelog;
    reads look there first, then in the cache of decoded states, then in the store.
    """

    def __init__(self, table: Any, *, max_cached: int = 100_000) -> None:
        self.table = table
        self.max_cached = max_cached
        self._cache: OrderedDict[str, EntityState] = OrderedDict()
        self._changed: dict[str, EntityState | None] = {}
        # Flushed, not yet in the store: entity -> (state, the record's value).
        self._unsettled: dict[str, tuple[EntityState | None, bytes | None]] = {}
        self._count: int | None = None  # entities; counted from the store when needed

    def __getitem__(self, entity: str) -> EntityState:
        state = self.get(entity)
        if state is None:
            raise KeyError(entity)
        return state

    def get(self, entity: str, default: Any = None) -> Any:
        found, state = self._pending(entity)
        if found:
            return default if state is None else state
        state = self._cache.get(entity)
        if state is not None:
            self._cache.move_to_end(entity)
            return state
        raw = self.table.data.get(entity.encode("utf-8"))
        if raw is None:
            return default
        state = EntityState.from_json(raw)
        self._cache_state(entity, state)
        return state

    def _pending(self, entity: str) -> tuple[bool, EntityState | None]:
        """Whether ``entity`` was written and is not in the store yet, and its state."""
        if entity in self._changed:
            return True, self._changed[entity]
        if entity in self._unsettled:
            return True, self._unsettled[entity][0]
        return False, None

    def _all_pending(self) -> dict[str, EntityState | None]:
        """Every entity written and not in the store yet, with its latest state."""
        pending = {entity: state for entity, (state, _) in self._unsettled.items()}
        pending.update(self._changed)
        return pending

    def _cache_state(self, entity: str, state: EntityState) -> None:
        self._cache[entity] = state
        self._cache.move_to_end(entity)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the decoded states and the count (the store is what a rebalance recovers)."""
        self._cache.clear()
        self._count = None

    def __setitem__(self, entity: str, state: EntityState) -> None:
        changed = self._changed
        if self._count is not None:
            # Usually written already in this batch: then the dict alone says if it is new.
            new = changed[entity] is None if entity in changed else entity not in self
            self._count += new
        changed[entity] = state

    def __delitem__(self, entity: str) -> None:
        if entity not in self:
            raise KeyError(entity)
        if self._count is not None:
            self._count -= 1
        self._changed[entity] = None

    def __contains__(self, entity: object) -> bool:
        if not isinstance(entity, str):
            return False
        found, state = self._pending(entity)
        if found:
            return state is not None
        return entity in self._cache or entity.encode("utf-8") in self.table.data

    def __iter__(self) -> Iterator[str]:
        pending = self._all_pending()
        stored = (key.decode("utf-8") for key in list(self.table.data))
        yield from (entity for entity in stored if entity not in pending)
        yield from (entity for entity, state in pending.items() if state is not None)

    def __len__(self) -> int:
        if self._count is None:  # once after a rebalance: the store's size is a scan
            pending = self._all_pending()
            stored = self.table.data
            self._count = len(stored) + sum(
                (state is not None) - (entity.encode("utf-8") in stored)
                for entity, state in pending.items()
            )
        return self._count

    def flush(
        self, *, replayable_from: Callable[[bytes], int | None] | None = None
    ) -> list[Record]:
        """The states changed since the last flush, as changelog records, in write order.

        Each record is ``(key, value)``, the value ``None`` for a deleted entity (a
        tombstone). They reach the store through :meth:`settle`. ``replayable_from``
        gives, for a key, the first input position that may still be processed again
        (online: its partition's committed offset), or ``None``; the decisions a state
        remembers for positions below it are forgotten first, as no replay can ask for
        them (:meth:`~engine.state.EntityState.forget_decisions`).
        """
        records: list[Record] = []
        for entity, state in self._changed.items():
            key = entity.encode("utf-8")
            if state is None:
                self._cache.pop(entity, None)
                value = None
            else:
                if replayable_from is not None:
                    first = replayable_from(key)
                    if first is not None:
                        state.forget_decisions(before=first)
                value = state.to_json()
                self._cache_state(entity, state)
            self._unsettled[entity] = (state, value)
            records.append((key, value))
        self._changed.clear()
        return records

    def settle_when_sent(
        self, partition: int, records: Sequence[Record], sent: Sequence[asyncio.Future]
    ) -> None:
        """:meth:`settle` ``records`` once every future in ``sent`` (their produce) is done.

        ``sent`` are the batch futures of :meth:`streams.output.BatchSender.send`, in order;
        each resolves to the metadata of its batch's first record. Nothing is settled if
        one fails: the records stay in memory, and the inputs that made them are not
        acknowledged either.
        """

        def settle(done: asyncio.Future) -> None:
            if not done.cancelled() and done.exception() is None:
                # The last batch's first offset: a conservative "applied up to" mark.
                self.settle(partition, records, changelog_offset=done.result()[-1].offset)

        asyncio.gather(*sent).add_done_callback(settle)

    def settle(self, partition: int, records: Sequence[Record], *, changelog_offset: int) -> None:
        """Write acknowledged changelog ``records`` of ``partition`` into the store.

        With the RocksDB store, the records and ``changelog_offset`` (how far the store
        now follows the changelog partition) go into the partition's database in one
        atomic write, which is what Faust's recovery starts from.
        """
        store = self.table.data
        write_partition = getattr(store, "_db_for_partition", None)
        if write_partition is None:  # the memory store: a dict
            for key, value in records:
                if value is None:
                    store.pop(key, None)
                else:
                    store[key] = value
        else:
            from rocksdict import WriteBatch

            batch = WriteBatch(raw_mode=True)
            for key, value in records:
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)
                store._key_index[key] = partition
            batch.put(store.offset_key, str(changelog_offset).encode())
            write_partition(partition).write(batch)
        for key, value in records:
            entity = key.decode("utf-8")
            if entity in self._unsettled and self._unsettled[entity][1] is value:
                del self._unsettled[entity]  # else written again since: still pending
