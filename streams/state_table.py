"""Entity states in a Faust table, backed by a changelog topic, as the Scorer's ``states``.

The Scorer reads a state, changes it and writes it back explicitly (``states[entity] =
state``); here each write becomes one changelog record (the state's JSON snapshot), so
that a restarted or rebalanced worker recovers every entity as it was. The table uses
the producer's partitioner for its changelog: keys are the entity id as UTF-8, as on the
input topics, so an entity's changelog partition is its input partition.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import orjson

from engine.state import EntityState

__all__ = ["TableStates"]


class TableStates(MutableMapping[str, EntityState]):
    """A ``MutableMapping[str, EntityState]`` over a Faust table of bytes to bytes."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __getitem__(self, entity: str) -> EntityState:
        raw = self.table.get(entity.encode("utf-8"))
        if raw is None:
            raise KeyError(entity)
        return EntityState.restore(orjson.loads(raw))

    def get(self, entity: str, default: Any = None) -> Any:
        raw = self.table.get(entity.encode("utf-8"))
        return default if raw is None else EntityState.restore(orjson.loads(raw))

    def __setitem__(self, entity: str, state: EntityState) -> None:
        self.table[entity.encode("utf-8")] = orjson.dumps(state.snapshot())

    def __delitem__(self, entity: str) -> None:
        del self.table[entity.encode("utf-8")]

    def __contains__(self, entity: object) -> bool:
        return isinstance(entity, str) and entity.encode("utf-8") in self.table

    def __iter__(self) -> Iterator[str]:
        return (key.decode("utf-8") for key in self.table)

    def __len__(self) -> int:
        return len(self.table)
