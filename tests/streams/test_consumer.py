"""The commit rule of :class:`streams.consumer.ReliableConsumer`, without Kafka."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.consumer import committable_run


def test_a_missing_message_at_the_committed_offset_holds_the_commit() -> None:
    # Faust 0.15.3 tests `min(acked) - committed > 1` and would commit 8 here, over 5.
    assert committable_run([6, 7], committed=5) == []


def test_the_run_stops_at_the_first_gap() -> None:
    assert committable_run([5, 6, 8, 9], committed=5) == [5, 6]


def test_offsets_below_the_committed_one_are_done_already() -> None:
    assert committable_run([1, 2, 5, 6], committed=5) == [5, 6]
    assert committable_run([1, 2], committed=5) == []


def test_with_nothing_committed_the_run_starts_at_the_first_ack() -> None:
    assert committable_run([3, 4, 6], committed=None) == [3, 4]
    assert committable_run([], committed=None) == []


@given(
    processed=st.sets(st.integers(min_value=0, max_value=60)),
    committed=st.integers(min_value=0, max_value=40),
)
def test_never_commits_over_an_unacknowledged_offset(processed: set[int], committed: int) -> None:
    run = committable_run(sorted(processed), committed)
    if run:
        new_commit = run[-1] + 1
        # every offset between the old and the new commit was acknowledged
        assert set(range(committed, new_commit)) <= processed
    else:
        assert committed not in processed
