"""The three operations of :mod:`artifactstore.transfer`: copy, check and scrub.

Their behaviour, and the memory a migration holds, are described in
:mod:`artifactstore.transfer`; the reports are in ``_reports``, the worker pool and
the memory budget in ``_concurrency``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from typing import Literal

from ..errors import ArtifactExistsError, ArtifactIntegrityError, ArtifactStoreError
from ..metadata import ArtifactMetadata
from ..options import DEFAULT_CHUNK_SIZE
from ..store import ArtifactStore
from ._concurrency import Budget, for_each, hash_chunk, task_group
from ._reports import CheckReport, Progress, Tally, TransferReport, VerifyReport

__all__ = ["check_artifacts", "copy_artifacts", "verify_artifacts"]

log = logging.getLogger("artifactstore")


MiB = 1024 * 1024
#: S3's default part size: the unit of the memory budget.
PART_SIZE = 8 * MiB
#: What streaming one large artifact into S3 may hold (measured: about 80 MiB of
#: objects at the peak): ``parts_in_flight`` (4) parts, each also copied into a
#: file-like request body, and the parts being read.
STREAM_COST = 12 * PART_SIZE
#: Artifacts up to this size are read whole, checked, then put as bytes (one worker
#: hop on the local backend instead of three); larger ones are streamed.
WHOLE_LIMIT = DEFAULT_CHUNK_SIZE
#: Metadata reads in flight while ``check_artifacts`` compares.
CHECK_CONCURRENCY = 16

#: What fails one artifact without stopping the run.
_ARTIFACT_ERRORS = (ArtifactStoreError, OSError, ValueError)


async def copy_artifacts(
    src: ArtifactStore,
    dst: ArtifactStore,
    *,
    prefix: str = "",
    concurrency: int = 16,
    overwrite: bool = False,
    verify: Literal["metadata", "bytes"] = "metadata",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> TransferReport:
    """Copy every artifact under ``prefix`` from ``src`` to ``dst``, verified; resumable.

    Keys, bytes, SHA-256, mime type and user metadata are preserved. A destination
    artifact with the source's SHA-256 is skipped; one with another SHA-256 is a
    conflict, left untouched unless ``overwrite=True``. New keys are written with
    ``if_not_exists``, so a concurrent or earlier writer is never clobbered.

    :param prefix: copy only keys under it (whole segments, as in ``list``).
    :param concurrency: artifacts in flight at once (memory: see :mod:`artifactstore.transfer`).
    :param overwrite: replace conflicting destination artifacts.
    :param verify: ``"metadata"``: the SHA-256 the destination computed from the
        bytes it received must equal the source's; ``"bytes"``: the destination's
        bytes are also read back and re-hashed.
    :param dry_run: decide and report what would be copied; write nothing (a
        corrupt source is not detected without reading it).
    :param progress: called on the event loop after each artifact's outcome with
        (artifacts done, artifacts total, bytes copied); an exception it raises
        stops the run and propagates.
    :raises ValueError: ``src`` and ``dst`` are the same object, or a bad argument.
    :raises ArtifactStoreError: a listing failed (nothing was copied then).
    """
    _check_stores(src, dst, same_allowed=False)
    _check_concurrency(concurrency)
    if verify not in ("metadata", "bytes"):
        raise ValueError(f"verify must be 'metadata' or 'bytes', not {verify!r}")
    src_items, dst_items = await _list_both(src, dst, prefix)
    dst_index = {m.storage_key: m for m in dst_items}
    del dst_items
    tally = Tally(len(src_items), progress)
    budget = Budget(concurrency * PART_SIZE)

    async def one(item: ArtifactMetadata) -> None:
        key = item.storage_key
        try:
            existing = dst_index.get(key)
            replace = False
            if existing is not None:
                difference = await _difference(src, item, dst, existing)
                if difference is None:
                    return tally.add(tally.skipped, key)
                if not overwrite:
                    log.info("artifactstore: a conflict at the destination (listed in the report)")
                    return tally.add(tally.conflicts, (key, difference))
                replace = True
            if dry_run:
                return tally.copied_one(key, item.size_bytes, replace)
            cost = STREAM_COST if item.size_bytes > PART_SIZE else 3 * item.size_bytes
            async with budget.hold(cost):
                await _copy_one(src, dst, verify, tally, key, item.size_bytes, replace)
        except _ARTIFACT_ERRORS as exc:
            log.info("artifactstore: copying an artifact failed (%s)", type(exc).__name__)
            tally.add(tally.failures, (key, _message(exc)))

    await tally.run(src_items, concurrency, one)
    return TransferReport(
        total=tally.total,
        copied=len(tally.copied),
        skipped=len(tally.skipped),
        conflicts=len(tally.conflicts),
        failed=len(tally.failures),
        corrupt=len(tally.corrupt),
        bytes_copied=tally.bytes,
        dry_run=dry_run,
        copied_keys=tuple(sorted(tally.copied)),
        replaced_keys=tuple(sorted(tally.replaced)),
        skipped_keys=tuple(sorted(tally.skipped)),
        conflict_keys=tuple(sorted(tally.conflicts)),
        failures=tuple(sorted(tally.failures)),
        corrupt_keys=tuple(sorted(tally.corrupt)),
    )


async def check_artifacts(
    src: ArtifactStore, dst: ArtifactStore, *, prefix: str = ""
) -> CheckReport:
    """Compare the artifacts under ``prefix`` of two stores by SHA-256, copying nothing.

    Like ``rclone check``, but by a hash both sides really have: where a listing
    does not carry the SHA-256 (S3), it is read from the artifact's metadata; a
    different size is a difference without any read.
    """
    _check_stores(src, dst, same_allowed=True)
    src_items, dst_items = await _list_both(src, dst, prefix)
    dst_index = {m.storage_key: m for m in dst_items}
    src_keys = {m.storage_key for m in src_items}
    missing_in_dst = [m.storage_key for m in src_items if m.storage_key not in dst_index]
    common = [m for m in src_items if m.storage_key in dst_index]
    same: list[str] = []
    different: list[str] = []
    failures: list[tuple[str, str]] = []

    async def one(item: ArtifactMetadata) -> None:
        key = item.storage_key
        try:
            difference = await _difference(src, item, dst, dst_index[key])
        except _ARTIFACT_ERRORS as exc:
            failures.append((key, _message(exc)))
            return
        (same if difference is None else different).append(key)

    await for_each(common, CHECK_CONCURRENCY, one)
    return CheckReport(
        same=tuple(sorted(same)),
        missing_in_dst=tuple(sorted(missing_in_dst)),
        missing_in_src=tuple(sorted(k for k in dst_index if k not in src_keys)),
        different=tuple(sorted(different)),
        failures=tuple(sorted(failures)),
    )


async def verify_artifacts(
    store: ArtifactStore,
    *,
    prefix: str = "",
    concurrency: int = 4,
    progress: Progress | None = None,
) -> VerifyReport:
    """The scrub: re-hash every artifact's bytes under ``prefix``; name the corrupt ones.

    Each artifact is streamed (memory stays flat) and its bytes hashed; the result
    is compared with the SHA-256 recorded when it was stored (as the stream saw it
    when it opened). An artifact that cannot be read is reported in ``failures``.
    ``progress`` is called as in :func:`copy_artifacts`, with bytes checked.
    """
    if not isinstance(store, ArtifactStore):
        raise TypeError(f"store must be an ArtifactStore, not {type(store).__name__}")
    _check_concurrency(concurrency)
    items = [item async for item in store.list(prefix)]
    tally = Tally(len(items), progress)
    checked = 0

    async def one(item: ArtifactMetadata) -> None:
        nonlocal checked
        key = item.storage_key
        try:
            actual, expected, size = await _hash_stream(store, key)
        except _ARTIFACT_ERRORS as exc:
            return tally.add(tally.failures, (key, _message(exc)))
        checked += 1
        if expected is None:
            return tally.add(tally.failures, (key, "no SHA-256 is recorded for it"), size)
        if actual != expected:
            log.info("artifactstore: a corrupt artifact (listed in the report)")
            return tally.add(tally.corrupt, (key, _corrupt_message(actual, expected)), size)
        tally.add(tally.copied, key, size)

    await tally.run(items, concurrency, one)
    return VerifyReport(
        checked=checked,
        bytes_checked=tally.bytes,
        corrupt=tuple(sorted(key for key, _ in tally.corrupt)),
        failures=tuple(sorted(tally.failures)),
    )


# ------------------------------------------------------------------- one artifact


class _Hashing:
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
        return _corrupt_message(self.actual, self.expected)

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


async def _copy_one(
    src: ArtifactStore,
    dst: ArtifactStore,
    verify: str,
    tally: Tally,
    key: str,
    size: int,
    replace: bool,
) -> None:
    """Copy ``key``, then record its outcome (errors other than corruption propagate)."""
    # Large artifacts are read a part at a time: S3 uploads such chunks as they are,
    # without re-cutting them (a copy, and a part-sized buffer, saved per upload).
    chunk_size = PART_SIZE if size > PART_SIZE else DEFAULT_CHUNK_SIZE
    async with src.stream(key, chunk_size=chunk_size) as stream:
        meta = stream.metadata
        check = _Hashing(key, stream, meta.sha256)
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
        actual, _, _ = await _hash_stream(dst, key)
        if actual != expected:
            why = f"read back from the destination, its bytes hash to {actual}, not {expected}"
            if not replace:
                # This run created it: remove it, or the next run would trust its
                # recorded SHA-256 and skip it as copied.
                await dst.delete(key)
                why += "; the bad copy was deleted"
            else:
                why += "; the destination's previous artifact was already replaced"
            return tally.add(tally.failures, (key, why))
    tally.copied_one(key, written.size_bytes, replace)


async def _difference(
    src: ArtifactStore, item: ArtifactMetadata, dst: ArtifactStore, existing: ArtifactMetadata
) -> str | None:
    """``None`` when both sides hold the same bytes (by SHA-256), else how they differ."""
    if item.size_bytes != existing.size_bytes:
        return f"the destination has {existing.size_bytes} bytes, the source {item.size_bytes}"
    src_sha = item.sha256 or (await src.get_metadata(item.storage_key)).sha256
    dst_sha = existing.sha256 or (await dst.get_metadata(existing.storage_key)).sha256
    if src_sha == dst_sha:
        return None
    return f"the destination's SHA-256 is {dst_sha}, the source's {src_sha}"


async def _hash_stream(store: ArtifactStore, key: str) -> tuple[str, str | None, int]:
    """Read ``key`` through: (SHA-256 of its bytes, SHA-256 recorded when opened, size)."""
    hasher = hashlib.sha256()
    size = 0
    async with store.stream(key) as stream:
        recorded = stream.metadata.sha256
        async for chunk in stream:
            await hash_chunk(hasher, chunk)
            size += len(chunk)
    return hasher.hexdigest(), recorded, size


async def _list_both(
    src: ArtifactStore, dst: ArtifactStore, prefix: str
) -> tuple[list[ArtifactMetadata], list[ArtifactMetadata]]:
    """List both stores at once (recursively, under ``prefix``)."""
    listed: dict[int, list[ArtifactMetadata]] = {}

    async def one(index: int, store: ArtifactStore) -> None:
        listed[index] = [item async for item in store.list(prefix)]

    async with task_group() as group:
        group.start_soon(one, 0, src)
        group.start_soon(one, 1, dst)
    return listed[0], listed[1]


def _check_stores(src: object, dst: object, *, same_allowed: bool) -> None:
    for name, store in (("src", src), ("dst", dst)):
        if not isinstance(store, ArtifactStore):
            raise TypeError(f"{name} must be an ArtifactStore, not {type(store).__name__}")
    if src is dst and not same_allowed:
        raise ValueError(
            "src and dst are the same store; to copy within one store use store.copy()"
        )


def _check_concurrency(concurrency: int) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be an int >= 1, not {concurrency!r}")


def _corrupt_message(actual: str, expected: str) -> str:
    return f"its bytes hash to {actual}, but {expected} was recorded when it was stored"


def _message(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
