"""The manifest of a migration: where each artifact lives now, for the database that records it.

A service's own ``artifacts`` table keeps each artifact's ``storage_backend`` and
``storage_uri`` (``ArtifactMetadata.to_db_row()``); after a copy to another store
they still name the old one. :func:`write_manifest` writes, for every artifact at
the destination after a :func:`~artifactstore.transfer.copy_artifacts` run (copied
or skipped), one JSON line with the key, the SHA-256 and both sides' rows, which
one ``UPDATE`` applies (the SQL is in ``docs/operations.md``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import anyio

from ..errors import ArtifactStoreError
from ..store import ArtifactStore
from ._concurrency import for_each
from ._reports import TransferReport

__all__ = ["write_manifest"]

#: Artifacts whose lines are gathered, then written, at a time: memory stays flat.
BATCH = 1000


async def write_manifest(
    src: ArtifactStore,
    dst: ArtifactStore,
    report: TransferReport,
    path: str | os.PathLike[str],
    *,
    concurrency: int = 16,
    mode: int = 0o600,
) -> int:
    """Write the manifest of ``report``'s copy from ``src`` to ``dst``; return its lines.

    One JSON object per line, in key order, for each artifact the destination has
    after the run (``copied_keys``, unless a dry run, and ``skipped_keys``):
    ``{"key", "sha256", "source": src row, "destination": dst row}``, the rows
    being ``ArtifactMetadata.to_db_row()`` of each side now. Each side's metadata
    is read once per artifact (a HEAD request on S3). The file is written beside
    ``path`` under a temporary name, synced, and renamed over ``path`` (``mode``,
    default ``0o600``): it appears whole or not at all, and an existing one is
    replaced only by a complete one.

    :raises ArtifactStoreError: an artifact is missing at the destination, or its
        SHA-256 differs between the two sides (changed since the copy: copy again);
        nothing is written then.
    :raises OSError: the file cannot be written (nothing is left behind).
    """
    keys = sorted({*report.skipped_keys, *(() if report.dry_run else report.copied_keys)})
    out = await anyio.to_thread.run_sync(_Output, os.fspath(path), mode)
    lines: dict[str, str] = {}

    async def one(key: str) -> None:
        lines[key] = await _line(src, dst, key)

    try:
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            lines.clear()
            await for_each(batch, concurrency, one)
            text = "".join(lines[key] + "\n" for key in batch)
            await anyio.to_thread.run_sync(out.write, text.encode())
        await anyio.to_thread.run_sync(out.commit)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(out.discard)
        raise
    return len(keys)


async def _line(src: ArtifactStore, dst: ArtifactStore, key: str) -> str:
    there = await dst.get_metadata(key)
    here = await src.get_metadata(key)
    if here.sha256 != there.sha256 or there.sha256 is None:
        raise ArtifactStoreError(
            f"{key!r} has the SHA-256 {here.sha256} at the source and {there.sha256} at "
            "the destination: it changed since it was copied; run the copy again"
        )
    line: dict[str, Any] = {
        "key": key,
        "sha256": there.sha256,
        "source": here.to_db_row(),
        "destination": there.to_db_row(),
    }
    return json.dumps(line, ensure_ascii=False)


class _Output:
    """A temporary file beside the target, renamed over it once complete (blocking calls)."""

    def __init__(self, target: str, mode: int) -> None:
        target = os.path.abspath(target)
        folder, name = os.path.split(target)
        self.target, self.folder = target, folder
        self.tmp = os.path.join(folder, f".{name}.{os.urandom(4).hex()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(self.tmp, flags, mode)
        try:
            os.fchmod(self.fd, mode)  # whatever the umask
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def commit(self) -> None:
        os.fsync(self.fd)
        fd, self.fd = self.fd, -1
        os.close(fd)
        os.replace(self.tmp, self.target)
        self.tmp = ""
        folder = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)

    def discard(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
        if self.tmp:
            tmp, self.tmp = self.tmp, ""
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
