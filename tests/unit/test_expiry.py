"""The index of idle keys: sweeps in event time, rebuilt after a restart or rebalance."""

from __future__ import annotations

from streams.expiry import IdleKeys

MIN = 60_000


def test_each_key_has_its_own_idle_time_and_partitions_are_apart() -> None:
    idle = IdleKeys(lambda key: 10 * MIN if key.startswith("customer:") else 60 * MIN, 1)
    idle.seen(0, "customer:c1", 0)
    idle.seen(0, "agent:a1", 0)
    idle.seen(1, "customer:c2", 0)
    idle.advance(0, 30 * MIN)
    assert idle.due(0) == ["customer:c1"]
    assert idle.due(1) == []  # partition 1's event time has not moved
    idle.advance(1, 10 * MIN)
    assert idle.due(1) == ["customer:c2"]


def test_a_key_seen_again_is_not_due_and_older_events_do_not_rewind_it() -> None:
    idle = IdleKeys(lambda key: 10 * MIN, 1)
    idle.seen(0, "k", 0)
    idle.seen(0, "k", 8 * MIN)
    idle.seen(0, "k", 1 * MIN)  # late event
    idle.advance(0, 12 * MIN)
    assert idle.due(0) == []
    idle.advance(0, 18 * MIN)
    assert idle.due(0) == ["k"]


def test_sweeps_are_spread_over_event_time() -> None:
    idle = IdleKeys(lambda key: 10 * MIN)  # sweeps every tenth of the idle time
    idle.seen(0, "k", 0)
    idle.advance(0, 9 * MIN)
    assert idle.due(0) == []  # swept: nothing idle; the next sweep is a minute on
    idle.advance(0, 10 * MIN - 1)
    assert idle.due(0) == []  # not swept: not due yet, although k is idle at 10 min
    idle.advance(0, 10 * MIN)
    assert idle.due(0) == ["k"]


def test_rebuilt_after_a_restart_and_forgotten_when_revoked() -> None:
    idle = IdleKeys(lambda key: 10 * MIN, 1)
    assert idle.needs_rebuild(3)
    idle.rebuilt(3, [("a", 0), ("b", 5 * MIN)])
    assert not idle.needs_rebuild(3) and idle.size(3) == 2
    idle.advance(3, 12 * MIN)
    assert idle.due(3) == ["a"]
    idle.forget(3, "a")
    idle.drop_partitions([3])
    assert idle.needs_rebuild(3) and idle.size() == 0 and idle.watermark(3) is None


def test_a_key_that_arrives_idle_is_due_without_waiting_for_the_watermark() -> None:
    # A partition fed by unevenly drained inputs: its watermark ran ahead, then a lagging
    # input brings keys older than the idle time, and the stream goes quiet.
    idle = IdleKeys(lambda key: 10 * MIN)
    idle.seen(0, "fresh", 60 * MIN)
    assert idle.due(0) == []  # swept at 60 min; the next sweep waits for 61 min
    idle.seen(0, "old-1", 20 * MIN)
    idle.seen(0, "old-2", 55 * MIN)  # not idle yet
    idle.seen(0, "old-3", 30 * MIN)
    idle.seen(0, "old-3", 52 * MIN)  # seen again since: not idle
    assert idle.due(0) == ["old-1"]
    assert idle.due(0) == []  # each late key is named once
    idle.forget(0, "old-1")
    assert idle.size(0) == 3
