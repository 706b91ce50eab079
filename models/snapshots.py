"""Signed, chunked model snapshots: safe to ship through Kafka, refused when tampered with.

A snapshot is the bundle's bytes, signed with HMAC-SHA256 under a key from the
environment and cut into chunks below Kafka's default 1 MB message limit. The
signature is checked before anything is unpickled: a snapshot that is corrupt,
incomplete or signed with another key is rejected, and the caller keeps the
model it has.

>>> key = b"k" * 32
>>> chunks = split_snapshot(b"model bytes" * 1000, version=7, key=key, chunk_size=4096)
>>> len(chunks), chunks[0].parts
(3, 3)
>>> join_snapshot(chunks, key=key) == b"model bytes" * 1000
True
>>> tampered = [chunks[0], chunks[1]._replace(data=b"x" + chunks[1].data[1:]), chunks[2]]
>>> try:
...     join_snapshot(tampered, key=key)
... except SnapshotRejected as rejected:
...     print(rejected)
snapshot 7: signature does not match (tampered, corrupt or another key)
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import NamedTuple

from crmstream.errors import CrmstreamError

DEFAULT_CHUNK_SIZE = 512 * 1024


class SnapshotRejected(CrmstreamError, ValueError):
    """A snapshot that must not be loaded."""


class SnapshotChunk(NamedTuple):
    version: int
    part: int
    parts: int
    signature: str  # hex HMAC-SHA256 of the whole snapshot
    data: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("version", str(self.version).encode()),
            ("part", str(self.part).encode()),
            ("parts", str(self.parts).encode()),
            ("signature", self.signature.encode()),
        ]

    @classmethod
    def from_message(cls, headers: Sequence[tuple[str, bytes]], data: bytes) -> SnapshotChunk:
        fields = {name: value.decode() for name, value in headers}
        try:
            return cls(
                int(fields["version"]), int(fields["part"]), int(fields["parts"]),
                fields["signature"], data,
            )  # fmt: skip
        except (KeyError, ValueError) as error:
            raise SnapshotRejected(f"not a snapshot chunk: {error!r}") from None


def sign(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def split_snapshot(
    data: bytes, *, version: int, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE
) -> list[SnapshotChunk]:
    """Sign ``data`` and cut it into chunks."""
    signature = sign(data, key)
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    return [SnapshotChunk(version, i, len(pieces), signature, p) for i, p in enumerate(pieces)]


def join_snapshot(chunks: Sequence[SnapshotChunk], *, key: bytes) -> bytes:
    """Reassemble and verify; raise :class:`SnapshotRejected` unless complete and authentic."""
    if not chunks:
        raise SnapshotRejected("no chunks")
    version, count, signature = chunks[0].version, chunks[0].parts, chunks[0].signature
    by_index = {
        c.part: c
        for c in chunks
        if (c.version, c.parts, c.signature) == (version, count, signature)
    }
    if sorted(by_index) != list(range(count)) or len(by_index) != len(chunks):
        raise SnapshotRejected(f"snapshot {version}: incomplete or inconsistent chunks")
    data = b"".join(by_index[i].data for i in range(count))
    if not hmac.compare_digest(sign(data, key), signature):
        raise SnapshotRejected(
            f"snapshot {version}: signature does not match (tampered, corrupt or another key)"
        )
    return data
