"""Entity states in a Faust table, backed by a changelog topic, as the Scorer's ``states``.

The Scorer reads a state, changes it and writes it back explicitly (``states[entity] =
state``). Decoding a state from JSON costs more than scoring it, so the states read
recently are kept decoded (at most ``max_cached`` of them, the least recently used go
first; :meth:`TableStates.forget` drops them all, at each rebalance). A write is kept as
the object until :meth:`TableStates.flush`, called once per input batch: each entity
changed in the batch is then serialized once (its JSON snapshot) into the table's store
and returned, so that the worker produces one changelog record per entity and batch, to
the batch's partition, and acknowledges the batch's inputs only when those records are
acknowledged too. A restarted or rebalanced worker recovers every entity from the
changelog, through Faust's table recovery.

Keys are the entity id as UTF-8, as on the input topics, so an entity's changelog
partition is its input partition.

Examples
--------
>>> from engine.state import EntityState
>>> class Table(dict):  # the part of a Faust table that is used: its store
...     @property
...     def data(self):
...         return self
>>> states = TableStates(Table())
>>> states["a"] = EntityState()
>>> "a" in states, len(states), [key for key, _ in states.flush()]
(True, 1, [b'a'])
>>> states.flush()  # nothing changed since
[]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from typing import Any

from engine.state import EntityState

__all__ = ["TableStates"]


class TableStates(MutableMapping[str, EntityState]):
    """A ``MutableMapping[str, EntityState]`` over a Faust table of bytes to bytes.

    States written since the last :meth:`flush` are kept as objects (``None`` for a
    deleted one) and read back from there; others come from the cache of decoded states,
    else are decoded from the table's store.
    """

    def __init__(self, table: Any, *, max_cached: int = 100_000) -> None:
        self.table = table
        self.max_cached = max_cached
        self._cache: OrderedDict[str, EntityState] = OrderedDict()
        self._changed: dict[str, EntityState | None] = {}
        self._size_change = 0  # entities added minus deleted since the last flush

    def __getitem__(self, entity: str) -> EntityState:
        state = self.get(entity)
        if state is None:
            raise KeyError(entity)
        return state

    def get(self, entity: str, default: Any = None) -> Any:
        if entity in self._changed:
            state = self._changed[entity]
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

    def _cache_state(self, entity: str, state: EntityState) -> None:
        self._cache[entity] = state
        self._cache.move_to_end(entity)
        while len(self._cache) > self.max_cached:
            self._cache.popitem(last=False)

    def forget(self) -> None:
        """Drop the decoded states (the store is what a rebalance recovers)."""
        self._cache.clear()

    def __setitem__(self, entity: str, state: EntityState) -> None:
        if entity not in self:
            self._size_change += 1
        self._changed[entity] = state

    def __delitem__(self, entity: str) -> None:
        if entity not in self:
            raise KeyError(entity)
        self._size_change -= 1
        self._changed[entity] = None

    def __contains__(self, entity: object) -> bool:
        if not isinstance(entity, str):
            return False
        if entity in self._changed:
            return self._changed[entity] is not None
        return entity.encode("utf-8") in self.table.data

    def __iter__(self) -> Iterator[str]:
        self.flush()
        return (key.decode("utf-8") for key in list(self.table.data))

    def __len__(self) -> int:
        return len(self.table.data) + self._size_change

    def flush(self) -> list[tuple[bytes, bytes | None]]:
        """Write the states changed since the last flush to the store; return the records.

        Each record is ``(key, value)``, the value ``None`` for a deleted entity (a
        tombstone), for the caller to produce to the table's changelog.
        """
        store = self.table.data
        records: list[tuple[bytes, bytes | None]] = []
        for entity, state in self._changed.items():
            key = entity.encode("utf-8")
            if state is None:
                store.pop(key, None)
                self._cache.pop(entity, None)
                records.append((key, None))
            else:
                value = state.to_json()
                store[key] = value
                self._cache_state(entity, state)
                records.append((key, value))
        self._changed.clear()
        self._size_change = 0
        return records
