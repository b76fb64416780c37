"""TableStates: reads see every write; the store gets only what the changelog acknowledged."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import faust
from faust.types import TP

from engine.state import EntityState
from streams.state_table import TableStates


class DictTable(dict):
    """The part of a Faust table TableStates uses, over a memory store (a dict)."""

    @property
    def data(self) -> dict:
        return self


def state(n_events: int) -> EntityState:
    return EntityState(n_events=n_events)


def rocksdb_table(datadir: Path) -> faust.Table:
    app = faust.App("vigil-test", store="rocksdb://", datadir=str(datadir))
    return app.Table(
        "entity-state", partitions=4, key_type=bytes, value_type=bytes, use_partitioner=True
    )


def test_unsettled_states_are_read_from_memory_and_reach_the_store_when_settled() -> None:
    table = DictTable()
    states = TableStates(table)
    states["a"] = state(5)
    records = states.flush()
    states.forget()  # a rebalance drops decoded states, not unsettled ones
    assert table == {} and states["a"].n_events == 5
    states.settle(0, records, changelog_offset=3)
    assert EntityState.from_json(table[b"a"]).n_events == 5


def test_flush_forgets_the_decisions_no_replay_can_ask_for() -> None:
    from engine.state import Memory

    states = TableStates(DictTable())
    for key, positions in {"a": range(10, 15), "b": range(3)}.items():
        entity = EntityState()
        for position in positions:
            entity.remember_decision(position, (0.5, False, "rise", 0, None, None, ()), Memory())
        states[key] = entity
    first = {b"a": 13, b"b": None}  # b's partition: nothing committed yet
    records = dict(states.flush(replayable_from=first.get))
    assert [p for p, _ in EntityState.from_json(records[b"a"]).decisions] == [13, 14]
    assert [p for p, _ in EntityState.from_json(records[b"b"]).decisions] == [0, 1, 2]
    assert [p for p, _ in states["a"].decisions] == [13, 14]


def test_an_older_batch_settling_does_not_hide_a_newer_write() -> None:
    table = DictTable()
    states = TableStates(table)
    states["a"] = state(5)
    first = states.flush()
    states["a"] = state(9)
    second = states.flush()
    states.settle(0, first, changelog_offset=1)
    states.forget()
    assert states["a"].n_events == 9  # still pending: read from memory, not the store
    states.settle(0, second, changelog_offset=2)
    states.forget()
    assert states["a"].n_events == 9
    assert EntityState.from_json(table[b"a"]).n_events == 9


def test_deletions_and_the_count() -> None:
    table = DictTable({b"old": state(1).to_json()})
    states = TableStates(table)
    assert len(states) == 1
    states["a"] = state(2)
    states["b"] = state(3)
    del states["old"]
    assert len(states) == 2 and sorted(states) == ["a", "b"]
    records = states.flush()
    assert (b"old", None) in records
    states.forget()  # counted again from the store and what is pending
    assert len(states) == 2 and "old" not in states
    states.settle(0, records, changelog_offset=0)
    assert sorted(table) == [b"a", b"b"] and len(states) == 2
    states["a"] = state(4)  # written twice in one batch: counted once
    states["a"] = state(5)
    del states["b"]
    states["b"] = state(6)  # deleted, then written again in the same batch
    states["c"] = state(7)
    assert len(states) == 3
    states.forget()
    assert len(states) == 3 and sorted(states) == ["a", "b", "c"]


def test_settle_when_sent_waits_for_every_batch_and_skips_failures() -> None:
    async def run() -> tuple[dict, dict]:
        loop = asyncio.get_running_loop()
        ok, failed = DictTable(), DictTable()
        for table, error in ((ok, None), (failed, RuntimeError("not acknowledged"))):
            states = TableStates(table)
            states["a"] = state(4)
            sent = [loop.create_future(), loop.create_future()]
            states.settle_when_sent(1, states.flush(), sent)
            sent[0].set_result(SimpleNamespace(offset=10))
            await asyncio.sleep(0)
            assert table == {}  # one batch of two acknowledged: not yet
            if error is None:
                sent[1].set_result(SimpleNamespace(offset=11))
            else:
                sent[1].set_exception(error)
            await asyncio.sleep(0.01)
        return ok, failed

    ok, failed = asyncio.run(run())
    assert list(ok) == [b"a"] and failed == {}


def test_rocksdb_keeps_states_and_the_changelog_offset_per_partition(tmp_path: Path) -> None:
    table = rocksdb_table(tmp_path)
    states = TableStates(table)
    states["a"] = state(7)
    states["b"] = state(8)
    states.settle(2, states.flush(), changelog_offset=41)
    store = table.data
    changelog = table.changelog_topic.get_topic_name()
    assert store.persisted_offset(TP(changelog, 2)) == 41
    assert store.persisted_offset(TP(changelog, 1)) is None
    assert store._db_for_partition(2)[b"a"] == states["a"].to_json()
    for db in store._dbs.values():
        db.close()

    reopened = TableStates(rocksdb_table(tmp_path))  # as a restarted worker finds it
    reopened.table.data._db_for_partition(2)  # opened when the partition is assigned
    assert reopened["b"].n_events == 8 and "c" not in reopened
    assert reopened.table.data.persisted_offset(TP(changelog, 2)) == 41
