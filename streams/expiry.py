"""Which keys of a table have gone silent, in event time, so their state can be dropped.

The alert state and the conversations table are keyed by customer, agent, channel,
need and conversation: millions of keys a month, most of which fall silent for good.
:class:`IdleKeys` remembers, per table partition, each key's newest event time and the
partition's watermark (the newest event time seen on it), and names the keys whose
last event is older than their idle time. It is a hint kept in memory: the caller
checks the stored state before dropping anything, and rebuilds it from the table
after a restart or a rebalance (:meth:`IdleKeys.needs_rebuild`).

Event time, not the clock: a replay of last month evicts the same keys at the same
points as the live stream did, and a stream that stops altogether evicts nothing (a
stalled stream is the worker's metrics' business, not the alerts').

A key can arrive already idle: a partition's watermark runs ahead when the inputs
feeding it are consumed unevenly (a backlog drained one partition at a time), and the
lagging ones then bring keys older than the watermark minus their idle time. Such a key
is due at once, not at the next scheduled sweep: that sweep waits for the watermark to
move on, and when the stream ends or pauses it never comes, which left hours of keys
behind in a soak (CI, 2026-11-30).

>>> idle = IdleKeys(idle_ms=lambda key: 60_000)
>>> idle.seen(0, "agent:a1", 0)
>>> idle.seen(0, "agent:a2", 50_000)
>>> idle.due(0)            # the watermark (50 s) is not past a1's idle time yet
[]
>>> idle.seen(0, "agent:a2", 70_000)
>>> idle.due(0)
['agent:a1']
>>> idle.forget(0, "agent:a1"); idle.size()
1
>>> idle.seen(0, "agent:a3", 1_000)  # arrives idle: due without waiting for a sweep
>>> idle.due(0)
['agent:a3']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class IdleKeys:
    """Per partition: each key's newest event time, and which keys are idle.

    ``idle_ms(key)`` is how long a key may stay silent. :meth:`due` sweeps a partition at
    most once per ``sweep_every_ms`` of its event time (default: a tenth of the shortest
    idle time seen), so its cost is spread thin however fast the stream runs.
    """

    def __init__(self, idle_ms: Callable[[str], int], sweep_every_ms: int | None = None) -> None:
        self.idle_ms = idle_ms
        self.sweep_every_ms = sweep_every_ms
        self._last: dict[int, dict[str, int]] = {}
        self._watermark: dict[int, int] = {}
        self._next_sweep: dict[int, int] = {}
        self._rebuilt: set[int] = set()
        self._late: dict[int, set[str]] = {}  # keys that arrived idle, since the last due()

    def seen(self, partition: int, key: str, at_ms: int) -> None:
        """Record that ``key`` (on ``partition``) had an event at ``at_ms``."""
        last = self._last.setdefault(partition, {})
        if at_ms > last.get(key, at_ms - 1):
            last[key] = at_ms
        watermark = self._watermark.get(partition, at_ms - 1)
        if at_ms > watermark:
            self._watermark[partition] = at_ms
        elif last[key] + self.idle_ms(key) <= watermark:
            self._late.setdefault(partition, set()).add(key)

    def advance(self, partition: int, at_ms: int) -> None:
        """Move ``partition``'s watermark to ``at_ms`` (an event of a key not tracked)."""
        if at_ms > self._watermark.get(partition, at_ms - 1):
            self._watermark[partition] = at_ms

    def forget(self, partition: int, key: str) -> None:
        """Stop tracking ``key`` (its state was dropped, or it went elsewhere)."""
        self._last.get(partition, {}).pop(key, None)

    def watermark(self, partition: int) -> int | None:
        """The newest event time seen on ``partition`` since this process took it."""
        return self._watermark.get(partition)

    def due(self, partition: int) -> list[str]:
        """The keys of ``partition`` silent for longer than their idle time, if a sweep is due;
        those that arrived idle since the last call in any case."""
        watermark = self._watermark.get(partition)
        late = self._late.pop(partition, ())
        if watermark is None:
            return []
        last = self._last.get(partition, {})
        if watermark < self._next_sweep.get(partition, watermark):
            return [key for key in sorted(late) if self._idle(last, key, watermark)]
        idle = [key for key, at in last.items() if at + self.idle_ms(key) <= watermark]
        step = self.sweep_every_ms
        if step is None:
            step = min((self.idle_ms(key) for key in last), default=60_000) // 10
        self._next_sweep[partition] = watermark + max(step, 1)
        return idle

    def _idle(self, last: dict[str, int], key: str, watermark: int) -> bool:
        at = last.get(key)
        return at is not None and at + self.idle_ms(key) <= watermark

    def needs_rebuild(self, partition: int) -> bool:
        """Whether ``partition`` came to this process since its keys were last loaded."""
        return partition not in self._rebuilt

    def rebuilt(self, partition: int, keys: Iterable[tuple[str, int]]) -> None:
        """Load ``partition``'s keys (with their newest event times) from its table."""
        self._rebuilt.add(partition)
        for key, at_ms in keys:
            last = self._last.setdefault(partition, {})
            last[key] = max(at_ms, last.get(key, at_ms))

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        """Forget partitions this process gave up (they are rebuilt if they come back)."""
        for partition in partitions:
            self._last.pop(partition, None)
            self._watermark.pop(partition, None)
            self._next_sweep.pop(partition, None)
            self._late.pop(partition, None)
            self._rebuilt.discard(partition)

    def size(self, partition: int | None = None) -> int:
        """Keys tracked (on one partition, or on all)."""
        if partition is not None:
            return len(self._last.get(partition, {}))
        return sum(len(keys) for keys in self._last.values())
