"""Which messages a batch's transaction may take (streams.transactions.in_order)."""

from __future__ import annotations

import random

from config.settings import Settings
from streams.transactions import in_order, transactional_id


def test_a_batch_that_continues_the_committed_offsets_is_taken_whole() -> None:
    positions = [(0, 10), (1, 3), (0, 11), (1, 4), (0, 12)]
    order = in_order(positions, {0: 10, 1: 3})
    assert order.fresh == [0, 1, 2, 3, 4]
    assert order.next_offsets == {0: 13, 1: 5}
    assert (order.stale, order.gaps) == (0, {})


def test_copies_of_committed_messages_are_dropped_and_never_move_the_offset_back() -> None:
    # Faust read partition 0 again from its committed offset (10) while 10..12 were
    # already committed by a transaction (next offset 13).
    positions = [(0, 10), (0, 11), (0, 12), (0, 13)]
    order = in_order(positions, {0: 13})
    assert order.fresh == [3]
    assert order.next_offsets == {0: 14}
    assert order.stale == 3


def test_a_partition_with_nothing_new_stores_no_offset() -> None:
    order = in_order([(2, 5), (2, 6)], {2: 7})
    assert order.fresh == []
    assert order.next_offsets == {}
    assert order.stale == 2


def test_a_gap_holds_back_what_follows_it_and_is_read_again_from_its_start() -> None:
    positions = [(0, 10), (0, 12), (0, 13), (1, 0)]
    order = in_order(positions, {0: 10, 1: 0})
    assert order.fresh == [0, 3]
    assert order.next_offsets == {0: 11, 1: 1}
    assert order.gaps == {0: (11, 12)}


def test_twice_in_one_batch_is_taken_once() -> None:
    order = in_order([(0, 4), (0, 4), (0, 5)], {0: 4})
    assert order.fresh == [0, 2]
    assert order.next_offsets == {0: 6}
    assert order.stale == 1


def test_a_partition_never_committed_starts_at_its_first_message_in_the_batch() -> None:
    order = in_order([(3, 0), (3, 1)], {3: None})
    assert order.fresh == [0, 1]
    assert order.next_offsets == {3: 2}


def test_every_offset_below_the_next_one_is_taken_exactly_once_in_any_order() -> None:
    # Shuffled batches with copies: what the transactions take over consecutive
    # batches is each offset once, and the stored offsets only move forward.
    rng = random.Random(5)
    committed: dict[int, int | None] = {0: 100, 1: 50}
    taken: list[tuple[int, int]] = []
    for _ in range(200):
        positions = []
        for partition in (0, 1):
            start = committed[partition] or 0
            low = start - rng.randint(0, 5)  # copies of committed messages
            positions += [(partition, o) for o in range(low, start + rng.randint(0, 8))]
        positions += rng.sample(positions, k=min(3, len(positions)))  # copies in the batch
        rng.shuffle(positions)
        order = in_order(positions, committed)
        taken += [positions[i] for i in order.fresh]
        for partition, offset in order.next_offsets.items():
            assert offset > (committed[partition] or 0)
            committed[partition] = offset
    for partition, start in ((0, 100), (1, 50)):
        offsets = sorted(o for p, o in taken if p == partition)
        assert offsets == list(range(start, committed[partition] or 0))


def test_each_input_partition_has_its_own_transactional_id() -> None:
    settings = Settings(namespace="t1")
    ids = {transactional_id(settings, "t1.crm.communications", p) for p in range(6)}
    assert len(ids) == 6
    assert transactional_id(settings, "t1.crm.communications", 0) == transactional_id(
        Settings(namespace="t1"), "t1.crm.communications", 0
    )
