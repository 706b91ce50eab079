"""Which messages a batch's transaction may take (streams.transactions.fresh_messages)."""

from __future__ import annotations

import random

from config.settings import Settings
from streams.pipeline import Incoming
from streams.transactions import ExactlyOnce, fresh_messages, transactional_id


def test_a_batch_that_continues_the_committed_offsets_is_taken_whole() -> None:
    positions = [(0, 10), (1, 3), (0, 11), (1, 4), (0, 12)]
    fresh = fresh_messages(positions, {0: 10, 1: 3})
    assert fresh.positions == [0, 1, 2, 3, 4]
    assert fresh.next_offsets == {0: 13, 1: 5}
    assert fresh.stale == 0


def test_copies_of_committed_messages_are_dropped_and_never_move_the_offset_back() -> None:
    # A batch read again after its handler failed, once partition 0's transaction had
    # committed 10..12 (next offset 13).
    positions = [(0, 10), (0, 11), (0, 12), (0, 13)]
    fresh = fresh_messages(positions, {0: 13})
    assert fresh.positions == [3]
    assert fresh.next_offsets == {0: 14}
    assert fresh.stale == 3


def test_a_partition_with_nothing_new_stores_no_offset() -> None:
    fresh = fresh_messages([(2, 5), (2, 6)], {2: 7})
    assert fresh.positions == []
    assert fresh.next_offsets == {}
    assert fresh.stale == 2


def test_offsets_that_skip_numbers_are_taken_as_they_come() -> None:
    # Transaction markers of a transactional producer upstream, or compaction.
    fresh = fresh_messages([(0, 10), (0, 12), (0, 13), (1, 0)], {0: 10})
    assert fresh.positions == [0, 1, 2, 3]
    assert fresh.next_offsets == {0: 14, 1: 1}


def test_twice_in_one_batch_is_taken_once() -> None:
    fresh = fresh_messages([(0, 4), (0, 4), (0, 5)], {0: 4})
    assert fresh.positions == [0, 2]
    assert fresh.next_offsets == {0: 6}
    assert fresh.stale == 1


def test_a_partition_never_committed_starts_at_its_first_message_in_the_batch() -> None:
    fresh = fresh_messages([(3, 0), (3, 1)], {})
    assert fresh.positions == [0, 1]
    assert fresh.next_offsets == {3: 2}


def test_batches_read_again_publish_every_offset_exactly_once() -> None:
    # Consecutive batches, some read again from an earlier offset (a failed handler):
    # what the transactions take is each offset once, and the stored offsets only grow.
    rng = random.Random(5)
    committed: dict[int, int] = {0: 100, 1: 50}
    taken: list[tuple[int, int]] = []
    for _ in range(200):
        positions = []
        for partition in (0, 1):
            start = committed[partition]
            low = start - rng.randint(0, 5)  # read again from before the stored offset
            positions += [(partition, o) for o in range(low, start + rng.randint(0, 8))]
        fresh = fresh_messages(positions, committed)
        taken += [positions[i] for i in fresh.positions]
        for partition, offset in fresh.next_offsets.items():
            assert offset > committed[partition]
            committed[partition] = offset
    for partition, start in ((0, 100), (1, 50)):
        offsets = sorted(o for p, o in taken if p == partition)
        assert offsets == list(range(start, committed[partition]))


def test_exactly_once_drops_what_its_own_transactions_committed() -> None:
    once = ExactlyOnce(Settings(namespace="t1"), "t1.crm.communications", "t1-crmstream-input")
    batch = [Incoming(b"{}", None, "t1.crm.communications", 0, o) for o in range(5)]
    taken, offsets = once.take(batch)
    assert [m.offset for m in taken] == [0, 1, 2, 3, 4] and offsets == {0: 5}
    once.output.on_committed(0, 5)
    taken, offsets = once.take([*batch, Incoming(b"{}", None, "t1.crm.communications", 0, 5)])
    assert [m.offset for m in taken] == [5] and offsets == {0: 6}


def test_each_input_partition_has_its_own_transactional_id() -> None:
    settings = Settings(namespace="t1")
    ids = {transactional_id(settings, "t1.crm.communications", p) for p in range(6)}
    assert len(ids) == 6
    assert transactional_id(settings, "t1.crm.communications", 0) == transactional_id(
        Settings(namespace="t1"), "t1.crm.communications", 0
    )
