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
>>> chunks[0].runtime == runtime()  # what reading it back depends on
True
>>> tampered = [chunks[0], chunks[1]._replace(data=b"x" + chunks[1].data[1:]), chunks[2]]
>>> try:
...     join_snapshot(tampered, key=key)
... except SnapshotRejected as rejected:
...     print(rejected)
snapshot 7: signature does not match (tampered, corrupt or another key)

Each chunk also names the snapshot's format and the runtime that wrote it (Python,
River and numpy versions: the pickled models are their classes and arrays). A reader
whose runtime differs refuses the snapshot before joining or unpickling it
(:meth:`SnapshotChunk.refusal`): a pickle of another River release may load and then
score wrongly, or not load at all. Chunks of learners older than these headers name
neither and are judged by the format tag inside the snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import platform
from collections.abc import Sequence
from functools import cache
from importlib.metadata import version
from typing import NamedTuple

from crmstream.errors import CrmstreamError

DEFAULT_CHUNK_SIZE = 512 * 1024


@cache
def runtime() -> str:
    """The versions a pickled bundle depends on, as precise as pickles need them: Python
    and River by minor release (River's classes change between them), numpy by major
    (numpy 2 moved its internal modules)."""
    python = ".".join(platform.python_version_tuple()[:2])
    river_minor = ".".join(version("river").split(".")[:2])
    numpy_major = version("numpy").split(".")[0]
    return f"python={python} river={river_minor} numpy={numpy_major}"


class SnapshotRejected(CrmstreamError, ValueError):
    """A snapshot that must not be loaded."""


class SnapshotChunk(NamedTuple):
    version: int
    part: int
    parts: int
    signature: str  # hex HMAC-SHA256 of the whole snapshot
    data: bytes
    format: str = ""  # the bundle's snapshot format ("" from learners older than the header)
    runtime: str = ""  # :func:`runtime` of the writer ("" likewise)

    def headers(self) -> list[tuple[str, bytes]]:
        headers = [
            ("version", str(self.version).encode()),
            ("part", str(self.part).encode()),
            ("parts", str(self.parts).encode()),
            ("signature", self.signature.encode()),
        ]
        if self.format:
            headers.append(("format", self.format.encode()))
        if self.runtime:
            headers.append(("runtime", self.runtime.encode()))
        return headers

    def refusal(self, expected_format: str) -> str | None:
        """Why this reader must not load the snapshot, or None: another format, or a
        runtime other than this process's (:func:`runtime`).

        >>> chunk = SnapshotChunk(3, 0, 1, "s", b"", "bundle/2", "python=3.11 river=0.1 numpy=2")
        >>> print(chunk.refusal("bundle/2"))  # doctest: +ELLIPSIS
        snapshot 3 was written by python=3.11 river=0.1 numpy=2; this process runs python=...
        >>> print(chunk._replace(format="bundle/3").refusal("bundle/2"))
        snapshot 3 has format bundle/3; this process reads bundle/2
        >>> chunk._replace(format="", runtime="").refusal("bundle/2") is None  # an older learner
        True
        """
        name = f"snapshot {self.version}"
        if self.format and self.format != expected_format:
            return f"{name} has format {self.format}; this process reads {expected_format}"
        if self.runtime and self.runtime != runtime():
            return f"{name} was written by {self.runtime}; this process runs {runtime()}"
        return None

    @classmethod
    def from_message(cls, headers: Sequence[tuple[str, bytes]], data: bytes) -> SnapshotChunk:
        fields = {name: value.decode() for name, value in headers}
        try:
            return cls(
                int(fields["version"]), int(fields["part"]), int(fields["parts"]),
                fields["signature"], data, fields.get("format", ""), fields.get("runtime", ""),
            )  # fmt: skip
        except (KeyError, ValueError) as error:
            raise SnapshotRejected(f"not a snapshot chunk: {error!r}") from None


def sign(data: bytes, key: bytes) -> str:
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def split_snapshot(
    data: bytes,
    *,
    version: int,
    key: bytes,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    format: str = "",
) -> list[SnapshotChunk]:
    """Sign ``data`` and cut it into chunks, each naming ``format`` and this runtime."""
    signature = sign(data, key)
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] or [b""]
    made_by = runtime()
    return [
        SnapshotChunk(version, i, len(pieces), signature, p, format, made_by)
        for i, p in enumerate(pieces)
    ]


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
