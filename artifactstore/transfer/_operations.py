"""The three operations of :mod:`artifactstore.transfer`: copy, check and scrub.

Their behaviour, and the memory a migration holds, are described in
:mod:`artifactstore.transfer`; the reports are in ``_reports``, the worker pool and
the memory budget in ``_concurrency``, one artifact's copy and hashing in
``_artifact``, holds and retentions in ``_holds``.
"""

from __future__ import annotations

import logging
import os
from typing import Literal

from .. import keys as _keys
from ..errors import ArtifactHeldError, ArtifactStoreError
from ..metadata import ArtifactMetadata
from ..store import ArtifactStore
from ._artifact import PART_SIZE, copy_one, corrupt_message, difference, hash_stream, message
from ._concurrency import Budget, for_each, task_group
from ._holds import (
    HeldScrub,
    HoldPlan,
    hold_differences,
    place_holds,
    plan_holds,
    read_holds,
    why_held,
)
from ._invalid import list_all
from ._journal import Journal
from ._reports import CheckReport, Progress, Tally, TransferReport, VerifyReport

__all__ = ["check_artifacts", "copy_artifacts", "verify_artifacts"]

log = logging.getLogger("artifactstore")


#: What streaming one large artifact into S3 may hold (measured: about 80 MiB of
#: objects at the peak): ``parts_in_flight`` (4) parts, each also copied into a
#: file-like request body, and the parts being read.
STREAM_COST = 12 * PART_SIZE
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
    copy_holds: bool = True,
    journal: str | os.PathLike[str] | None = None,
) -> TransferReport:
    """Copy every artifact under ``prefix`` from ``src`` to ``dst``, verified; resumable.

    Keys, bytes, SHA-256, mime type and user metadata are preserved. A destination
    artifact with the source's SHA-256 is skipped; one with another SHA-256 is a
    conflict, left untouched unless ``overwrite=True``. New keys are written with
    ``if_not_exists``, so a concurrent or earlier writer is never clobbered.

    The source's holds and retentions on the prefix, under it and above it are
    placed at the destination first, before any artifact is copied, so that no
    copied artifact is ever unprotected there (a hold the destination already has,
    by target and name, is kept; a retention only ever extended). A destination
    artifact that a hold or retention covers is a conflict, even with
    ``overwrite=True``: it is never replaced.

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
    :param copy_holds: copy the holds and retentions (the default). ``False``
        copies the artifacts only: for a destination that is not meant to keep
        them (its backend keeps no holds).
    :param journal: a local file (created ``0600`` if missing) where each run notes
        the artifacts it found or made identical, with the ETags of both versions,
        so that a rerun skips them without a HEAD each where a listing carries no
        SHA-256 (S3). An artifact is skipped that way only if its listed ETag and
        size are those noted; anything else is looked at as without a journal. Not
        written in a dry run. One journal per pair of stores: another pair's is
        ignored and started afresh.
    :raises ValueError: ``src`` and ``dst`` are the same object, a bad argument, or
        a journal that cannot be used (not owned by this user, writable by others,
        not a journal, in use by another run, its folder missing).
    :raises StorageConfigError: the source has holds or retentions and the
        destination's backend keeps none (nothing was copied).
    :raises ArtifactStoreError: a listing, or placing a hold, failed (no artifact
        was copied then).
    """
    _check_stores(src, dst, same_allowed=False)
    _check_concurrency(concurrency)
    if verify not in ("metadata", "bytes"):
        raise ValueError(f"verify must be 'metadata' or 'bytes', not {verify!r}")
    noted = None if journal is None else await Journal.open(journal, src, dst, write=not dry_run)
    try:
        return await _copy(
            src, dst, prefix, concurrency, overwrite, verify, dry_run, progress, copy_holds, noted
        )
    finally:
        if noted is not None:
            await noted.aclose()


async def _copy(
    src: ArtifactStore,
    dst: ArtifactStore,
    prefix: str,
    concurrency: int,
    overwrite: bool,
    verify: str,
    dry_run: bool,
    progress: Progress | None,
    copy_holds: bool,
    journal: Journal | None,
) -> TransferReport:
    plan = await plan_holds(src, dst, prefix) if copy_holds else HoldPlan()
    (src_items, invalid), (dst_items, _) = await _list_both(src, dst, prefix)
    dst_index = {m.storage_key: m for m in dst_items}
    del dst_items
    if not dry_run:  # before any artifact: nothing copied is unprotected in between
        await place_holds(dst, plan)
    protected = plan.after
    tally = Tally(len(src_items), progress)
    budget = Budget(concurrency * PART_SIZE)
    seen = None if journal is None else journal.seen

    async def one(item: ArtifactMetadata) -> None:
        key = item.storage_key
        try:
            existing = dst_index.get(key)
            replace = False
            if existing is not None:
                if journal is not None and journal.same(item, existing):
                    return tally.add(tally.skipped, key)
                differs = await difference(src, item, dst, existing, seen)
                if differs is None:
                    return tally.add(tally.skipped, key)
                if not overwrite:
                    log.info("artifactstore: a conflict at the destination (listed in the report)")
                    return tally.add(tally.conflicts, (key, differs))
                replace = True
                held = why_held(protected, key) if protected else None
                if held is not None:
                    log.info("artifactstore: a held conflict at the destination (in the report)")
                    return tally.add(tally.conflicts, (key, _held_there(held)))
            if dry_run:
                return tally.copied_one(key, item.size_bytes, replace)
            cost = STREAM_COST if item.size_bytes > PART_SIZE else 3 * item.size_bytes
            async with budget.hold(cost):
                await copy_one(src, dst, verify, tally, key, item.size_bytes, replace, seen)
        except ArtifactHeldError as exc:  # held there since the plan: left as it is
            log.info("artifactstore: a held conflict at the destination (in the report)")
            tally.add(tally.conflicts, (key, message(exc)))
        except _ARTIFACT_ERRORS as exc:
            log.info("artifactstore: copying an artifact failed (%s)", type(exc).__name__)
            tally.add(tally.failures, (key, message(exc)))

    async def noted(item: ArtifactMetadata) -> None:
        await one(item)
        if journal is not None:
            await journal.flush_if_due()

    await tally.run(src_items, concurrency, noted)
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
        holds_copied=len(plan.holds),
        retentions_copied=len(plan.retentions),
        skipped_invalid=tuple(invalid),
    )


async def check_artifacts(
    src: ArtifactStore, dst: ArtifactStore, *, prefix: str = ""
) -> CheckReport:
    """Compare the artifacts under ``prefix`` of two stores by SHA-256, copying nothing.

    Like ``rclone check``, but by a hash both sides really have: where a listing
    does not carry the SHA-256 (S3), it is read from the artifact's metadata; a
    different size is a difference without any read. Holds (by target and name)
    and retentions (by target and date) on the prefix, under it and above it are
    compared too; a store whose backend keeps none has none.
    """
    _check_stores(src, dst, same_allowed=True)
    src_holds, dst_holds = await read_holds(src, prefix), await read_holds(dst, prefix)
    holds_different, retentions_different = hold_differences(src_holds, dst_holds)
    (src_items, src_invalid), (dst_items, dst_invalid) = await _list_both(src, dst, prefix)
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
            differs = await difference(src, item, dst, dst_index[key])
        except _ARTIFACT_ERRORS as exc:
            failures.append((key, message(exc)))
            return
        (same if differs is None else different).append(key)

    await for_each(common, CHECK_CONCURRENCY, one)
    return CheckReport(
        same=tuple(sorted(same)),
        missing_in_dst=tuple(sorted(missing_in_dst)),
        missing_in_src=tuple(sorted(k for k in dst_index if k not in src_keys)),
        different=tuple(sorted(different)),
        failures=tuple(sorted(failures)),
        holds_different=tuple(holds_different),
        retentions_different=tuple(retentions_different),
        skipped_invalid=tuple(
            sorted(
                [(name, f"in the source: {why}") for name, why in src_invalid]
                + [(name, f"in the destination: {why}") for name, why in dst_invalid]
            )
        ),
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

    Held and retained artifacts changed or removed behind the library's back are
    named in ``held_damaged``: one whose bytes no longer match; on the local
    backend, one whose file is not the version the library stored (it is then
    not read, which would record the new bytes' SHA-256 over the old); and a held
    key or prefix with nothing stored at or under it any more. Not seen: one file
    removed under a held prefix that still holds others.
    """
    if not isinstance(store, ArtifactStore):
        raise TypeError(f"store must be an ArtifactStore, not {type(store).__name__}")
    _check_concurrency(concurrency)
    scrub = HeldScrub(store, await read_holds(store, prefix), prefix)
    items, invalid = await list_all(store, prefix)
    tally = Tally(len(items), progress)
    checked = 0

    async def one(item: ArtifactMetadata) -> None:
        nonlocal checked
        key = item.storage_key
        if scrub.changed(item):
            return tally.add(tally.skipped, key)
        try:
            actual, expected, size = await hash_stream(store, key)
        except _ARTIFACT_ERRORS as exc:
            return tally.add(tally.failures, (key, message(exc)))
        checked += 1
        if expected is None:
            return tally.add(tally.failures, (key, "no SHA-256 is recorded for it"), size)
        if actual != expected:
            log.info("artifactstore: a corrupt artifact (listed in the report)")
            why = corrupt_message(actual, expected)
            scrub.corrupt(key, why)
            return tally.add(tally.corrupt, (key, why), size)
        tally.add(tally.copied, key, size)

    await tally.run(items, concurrency, one)
    recorded = await store.backend.recorded(_keys.normalize_prefix(prefix)) if scrub.held else None
    scrub.removed(items, recorded)
    return VerifyReport(
        checked=checked,
        bytes_checked=tally.bytes,
        corrupt=tuple(sorted(key for key, _ in tally.corrupt)),
        failures=tuple(sorted(tally.failures)),
        held_damaged=tuple(sorted(scrub.damaged)),
        skipped_invalid=tuple(invalid),
    )


Listed = tuple[list[ArtifactMetadata], list[tuple[str, str]]]


async def _list_both(src: ArtifactStore, dst: ArtifactStore, prefix: str) -> tuple[Listed, Listed]:
    """List both stores at once (recursively, under ``prefix``), names no key spells apart."""
    listed: dict[int, Listed] = {}

    async def one(index: int, store: ArtifactStore) -> None:
        listed[index] = await list_all(store, prefix)

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


def _held_there(why: str) -> str:
    return f"{why} at the destination: not replaced, even with overwrite"
