"""Internal records packed per partition: routed where keyed records would go, read back whole."""

from __future__ import annotations

import pytest

from streams.aggregates import Aggregate
from streams.deltas import Delta, delta_from_dict, delta_key, encode_delta
from streams.kafka import partition_for
from streams.sinks import packed, unpacked

# murmur2 of these keys, from the Java client's own tests (UtilsTest.testMurmur2).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "murmur2"), sorted(JAVA_MURMUR2.items()))
@pytest.mark.parametrize("partitions", [1, 6, 7, 64])
def test_partitions_are_the_java_clients(key: bytes, murmur2: int, partitions: int) -> None:
    assert partition_for(key, partitions) == (murmur2 & 0x7FFFFFFF) % partitions


def deltas(count: int) -> list[Delta]:
    return [
        Delta("customer", f"c{i % 37}", 60_000 * (i % 5), Aggregate.for_rating(i / count))
        for i in range(count)
    ]


def test_every_record_lands_on_its_keys_partition_once_and_in_order() -> None:
    sent = deltas(500)
    messages = packed(((delta_key(d.dimension, d.key), encode_delta(d)) for d in sent), 6)
    assert len(messages) <= 6 and len({m.partition for m in messages}) == len(messages)
    received: list[Delta] = []
    for message in messages:
        assert message.partition is not None
        for raw in unpacked(message.value):
            delta = delta_from_dict(raw)
            assert partition_for(delta_key(delta.dimension, delta.key), 6) == message.partition
            received.append(delta)
    assert sorted(received, key=sent.index) == sent
    # Within a partition, records keep the order they were given in.
    for message in messages:
        mine = [
            d for d in sent if partition_for(delta_key(d.dimension, d.key), 6) == message.partition
        ]
        assert [delta_from_dict(r) for r in unpacked(message.value)] == mine


def test_nothing_to_pack_is_no_message() -> None:
    assert packed([], 6) == []


def test_a_message_of_the_single_record_format_reads_as_one_record() -> None:
    delta = deltas(1)[0]
    assert [delta_from_dict(r) for r in unpacked(encode_delta(delta))] == [delta]


@pytest.mark.parametrize("value", [b"", b"[", b"\xff", None])
def test_unreadable_messages_are_a_value_error(value: bytes | None) -> None:
    with pytest.raises(ValueError, match="not a JSON record"):
        unpacked(value)
