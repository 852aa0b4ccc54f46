"""One artifact of :mod:`artifactstore.transfer`: copied (hashed as read), compared, re-hashed."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable

from ..errors import ArtifactExistsError, ArtifactHeldError, ArtifactIntegrityError
from ..metadata import ArtifactMetadata
from ..options import DEFAULT_CHUNK_SIZE
from ..store import ArtifactStore
from ._concurrency import hash_chunk
from ._reports import Tally

__all__ = [
    "PART_SIZE",
    "WHOLE_LIMIT",
    "Hashing",
    "Seen",
    "copy_one",
    "corrupt_message",
    "difference",
    "hash_stream",
    "message",
]

log = logging.getLogger("artifactstore")

MiB = 1024 * 1024
#: S3's default part size: the unit of the memory budget.
PART_SIZE = 8 * MiB
#: Artifacts up to this size are read whole, checked, then put as bytes (one worker
#: hop on the local backend instead of three); larger ones are streamed.
WHOLE_LIMIT = DEFAULT_CHUNK_SIZE

#: Told that both versions (source, destination) hold the same bytes (the journal).
Seen = Callable[[ArtifactMetadata, ArtifactMetadata], None]


class Hashing:
    """Pass a stream's chunks on, hashing them; at its end, refuse bytes that do not match."""

    def __init__(self, key: str, chunks: AsyncIterator[bytes], expected: str | None) -> None:
        self.key = key
        self.expected = expected
        self.actual: str | None = None
        self._chunks = chunks

    @property
    def corruption(self) -> str | None:
        """What was wrong with the bytes, once they were all read and did not match."""
        if self.actual is None or self.expected is None or self.actual == self.expected:
            return None
        return corrupt_message(self.actual, self.expected)

    async def chunks(self) -> AsyncIterator[bytes]:
        hasher = hashlib.sha256()
        async for chunk in self._chunks:
            await hash_chunk(hasher, chunk)
            yield chunk
        self.actual = hasher.hexdigest()
        if self.expected is not None and self.actual != self.expected:
            # Raised inside the put, before it commits: nothing lands at the destination.
            raise ArtifactIntegrityError(
                f"artifact {self.key!r} is corrupt at the source; it was not copied",
                key=self.key,
                expected=self.expected,
                actual=self.actual,
            )


async def copy_one(
    src: ArtifactStore,
    dst: ArtifactStore,
    verify: str,
    tally: Tally,
    key: str,
    size: int,
    replace: bool,
    seen: Seen | None = None,
) -> None:
    """Copy ``key``, then record its outcome (errors other than corruption propagate).

    ``seen(source, written)`` is told of a copy that verified.
    """
    # Large artifacts are read a part at a time: S3 uploads such chunks as they are,
    # without re-cutting them (a copy, and a part-sized buffer, saved per upload).
    chunk_size = PART_SIZE if size > PART_SIZE else DEFAULT_CHUNK_SIZE
    async with src.stream(key, chunk_size=chunk_size) as stream:
        meta = stream.metadata
        check = Hashing(key, stream, meta.sha256)
        chunks = check.chunks()
        try:
            source: bytes | AsyncIterator[bytes] = chunks
            if meta.size_bytes <= WHOLE_LIMIT:  # small: read whole (checked), put as bytes
                source = b"".join([chunk async for chunk in chunks])
            written = await dst.put(
                key,
                source,
                mime_type=meta.mime_type,
                metadata=meta.metadata,
                if_not_exists=not replace,
            )
        except ArtifactExistsError:
            # Absent from the listing, but written since (another run, another writer).
            current = await dst.get_metadata(key)
            if current.sha256 == (check.expected or check.actual):
                return tally.add(tally.skipped, key)
            why = f"written at the destination during the copy, with SHA-256 {current.sha256}"
            return tally.add(tally.conflicts, (key, why))
        except Exception:
            corruption = check.corruption
            if corruption is None:
                raise
            log.info("artifactstore: an artifact corrupt at the source was not copied")
            return tally.add(tally.corrupt, (key, corruption))
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
    expected = check.expected or check.actual
    if written.sha256 != expected:
        why = f"the destination recorded SHA-256 {written.sha256}, the source {expected}"
        return tally.add(tally.failures, (key, why))
    if verify == "bytes":
        actual, _, _ = await hash_stream(dst, key)
        if actual != expected:
            why = f"read back from the destination, its bytes hash to {actual}, not {expected}"
            if not replace:
                # This run created it: remove it, or the next run would trust its
                # recorded SHA-256 and skip it as copied.
                try:
                    await dst.delete(key)
                    why += "; the bad copy was deleted"
                except ArtifactHeldError as exc:
                    why += f"; the bad copy could not be deleted ({exc}): check it by hand"
            else:
                why += "; the destination's previous artifact was already replaced"
            return tally.add(tally.failures, (key, why))
    if seen is not None:
        seen(meta, written)
    tally.copied_one(key, written.size_bytes, replace)


async def difference(
    src: ArtifactStore,
    item: ArtifactMetadata,
    dst: ArtifactStore,
    existing: ArtifactMetadata,
    seen: Seen | None = None,
) -> str | None:
    """``None`` when both sides hold the same bytes (by SHA-256), else how they differ.

    ``seen(source, destination)`` is told of the same bytes, with the metadata
    (listed, or read) that gave each side's SHA-256.
    """
    if item.size_bytes != existing.size_bytes:
        return f"the destination has {existing.size_bytes} bytes, the source {item.size_bytes}"
    src_meta = item if item.sha256 else await src.get_metadata(item.storage_key)
    dst_meta = existing if existing.sha256 else await dst.get_metadata(existing.storage_key)
    src_sha, dst_sha = src_meta.sha256, dst_meta.sha256
    if src_sha == dst_sha:
        if seen is not None:
            seen(src_meta, dst_meta)
        return None
    return f"the destination's SHA-256 is {dst_sha}, the source's {src_sha}"


async def hash_stream(store: ArtifactStore, key: str) -> tuple[str, str | None, int]:
    """Read ``key`` through: (SHA-256 of its bytes, SHA-256 recorded when opened, size)."""
    hasher = hashlib.sha256()
    size = 0
    async with store.stream(key) as stream:
        recorded = stream.metadata.sha256
        async for chunk in stream:
            await hash_chunk(hasher, chunk)
            size += len(chunk)
    return hasher.hexdigest(), recorded, size


def corrupt_message(actual: str, expected: str) -> str:
    return f"its bytes hash to {actual}, but {expected} was recorded when it was stored"


def message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
