"""The migration journal (``copy_artifacts(journal=PATH)``): what earlier runs verified.

A rerun of a migration to S3 must compare SHA-256s, and an S3 listing carries none:
without the journal, each artifact present on both sides costs a HEAD. The journal
is a local file of the operator's, JSON Lines: a header naming the two stores, then
one line per artifact found or made identical on both sides::

    {"artifactstore": "transfer-journal", "version": 1, "source": URL, "destination": URL}
    {"key": K, "sha256": S, "size": N, "src": ETAG or null, "dst": ETAG or null}

``src`` and ``dst`` are the ETags of the two versions that were compared (S3 gives
every listed object one; ``None`` for a store whose listings carry the SHA-256). On
a rerun, an artifact's SHA-256 is taken from its line only for a side whose listing
shows the very ETag and size the line recorded, and the artifact is skipped only
if the SHA-256s of both sides (one listed, one from the journal, or both from it)
are equal. Anything else (no line, another ETag: the object was replaced, another
size, another source SHA-256) goes the usual way, a HEAD. The ETag names a version
as the S3 backend's own cache of SHA-256s does (``Version``: key, ETag, size): an
object replaced gets another ETag, so a changed destination is never called the
same.

Trust: the journal is believed no more than the destination's own metadata (which
anyone who can write the bucket can write). A journal is refused (``ValueError``,
nothing copied) if it is not a regular file owned by the user running the copy,
is writable by group or others, is not a journal, or another run has it open; it
is created ``0600``. A journal written for another pair of stores (store URLs,
prefix of an S3 store included) is ignored and started afresh. Lines that do not
parse (a run killed mid-write) are skipped. It names every artifact copied: keep
it as private as the stores' listings.

Writes are buffered and appended by a worker thread, at most every second or every
thousand lines, and at the end of the run (even a cancelled one): a killed run
loses at most its last lines, which only costs HEADs. A write that fails stops the
journal (logged), never the copy.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from typing import Any

import anyio

from ..metadata import ArtifactMetadata
from ..store import ArtifactStore

__all__ = ["Journal"]

log = logging.getLogger("artifactstore")

KIND = "transfer-journal"
VERSION = 1
#: Buffered lines are appended after this many seconds, or this many lines.
FLUSH_SECONDS = 1.0
FLUSH_LINES = 1000
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Entry:
    """One artifact found identical on both sides: its SHA-256, size and the two ETags."""

    sha256: str
    size: int
    src: str | None
    dst: str | None


def _entry(line: str) -> tuple[str, Entry] | None:
    """A journal line as ``(key, entry)``; ``None`` if it is not a sound one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    key, sha256, size = value.get("key"), value.get("sha256"), value.get("size")
    src, dst = value.get("src"), value.get("dst")
    if not (isinstance(key, str) and isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        return None
    if not all(etag is None or (isinstance(etag, str) and etag) for etag in (src, dst)):
        return None
    return key, Entry(sha256, size, src, dst)


def _line(key: str, entry: Entry) -> str:
    fields = {"key": key, "sha256": entry.sha256, "size": entry.size}
    return json.dumps({**fields, "src": entry.src, "dst": entry.dst}) + "\n"


class Journal:
    """A migration journal, open for one run of ``copy_artifacts``."""

    def __init__(self, path: str, header: dict[str, Any], writable: bool) -> None:
        self.path = path
        self.entries: dict[str, Entry] = {}
        self._header = header
        self._writable = writable
        self._fd: int | None = None
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        self._writing = anyio.Lock()  # one append at a time: lines never interleave

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], src: ArtifactStore, dst: ArtifactStore, *, write: bool
    ) -> Journal:
        """Read the journal at ``path`` (``write``: open it for appending, locked).

        :raises ValueError: it cannot be used (see the module's docstring).
        """
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"journal must be a path, not {type(path).__name__}")
        header = {"artifactstore": KIND, "version": VERSION, "source": src.url}
        header["destination"] = dst.url
        journal = cls(os.fspath(path), header, write)
        await anyio.to_thread.run_sync(journal._load)
        return journal

    # ---- reading, on a worker thread

    def _refuse(self, why: str) -> ValueError:
        return ValueError(f"the journal {self.path!r} {why}; nothing was copied")

    def _load(self) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND if self._writable else os.O_RDONLY
        try:
            fd = os.open(self.path, flags | os.O_CLOEXEC | os.O_NONBLOCK, 0o600)
        except FileNotFoundError:
            if self._writable:
                raise self._refuse("cannot be created: its folder does not exist") from None
            return  # a dry run, and no journal yet
        except OSError as exc:
            raise self._refuse(f"cannot be opened ({exc.strerror or exc})") from None
        try:
            self._check(fd)
            with os.fdopen(os.dup(fd), "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            self._read(text)
            if self._writable:
                self._fd = fd
                if not self.entries and os.fstat(fd).st_size:
                    self._restart()
        finally:
            if self._fd is None:
                os.close(fd)

    def _check(self, fd: int) -> None:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise self._refuse("is not a regular file")
        if info.st_uid != os.geteuid():
            raise self._refuse("belongs to another user")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise self._refuse("is writable by others (chmod go-w it, or start another)")
        if self._writable:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise self._refuse("is in use by another run") from None

    def _read(self, text: str) -> None:
        if not text:
            return
        first, _, rest = text.partition("\n")
        try:
            header = json.loads(first)
        except ValueError:
            header = None
        if not isinstance(header, dict) or header.get("artifactstore") != KIND:
            raise self._refuse("is not a transfer journal (left as it is)")
        if header != self._header:
            log.warning(
                "artifactstore: the journal %s is for other stores (or another version); "
                "ignored, and started afresh for these",
                self.path,
            )
            return
        for line in rest.splitlines():
            found = _entry(line)
            if found is not None:
                self.entries[found[0]] = found[1]

    def _restart(self) -> None:
        """Replace a journal of other stores by this run's header."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, (json.dumps(self._header) + "\n").encode())

    # ---- during the run, on the event loop

    def same(self, item: ArtifactMetadata, existing: ArtifactMetadata) -> bool:
        """Whether the source's ``item`` and the destination's ``existing`` are the same bytes.

        ``False`` means "not known from the listings and the journal": look (a HEAD).
        """
        entry = self.entries.get(item.storage_key)
        if entry is None or item.size_bytes != entry.size or existing.size_bytes != entry.size:
            return False
        src_sha = item.sha256
        if src_sha is None and item.etag is not None and item.etag == entry.src:
            src_sha = entry.sha256
        dst_sha = existing.sha256
        if dst_sha is None and existing.etag is not None and existing.etag == entry.dst:
            dst_sha = entry.sha256
        return src_sha is not None and src_sha == dst_sha

    def seen(self, src: ArtifactMetadata, dst: ArtifactMetadata) -> None:
        """Both versions hold the bytes of SHA-256 ``dst.sha256`` (compared, or copied)."""
        if not self._writable or dst.sha256 is None or (src.etag is None and dst.etag is None):
            return
        entry = Entry(dst.sha256, dst.size_bytes, src.etag, dst.etag)
        self.entries[dst.storage_key] = entry
        self._pending.append(_line(dst.storage_key, entry))

    async def flush_if_due(self) -> None:
        """Append the buffered lines if enough time passed or enough piled up."""
        if self._pending and (
            len(self._pending) >= FLUSH_LINES
            or time.monotonic() - self._last_flush >= FLUSH_SECONDS
        ):
            await self.flush()

    async def flush(self) -> None:
        """Append the buffered lines (a failure stops the journal, not the run)."""
        lines, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if self._fd is None or not lines:
            return
        try:
            async with self._writing:
                if self._fd is not None:
                    await anyio.to_thread.run_sync(self._append, "".join(lines).encode())
        except OSError as exc:
            log.warning(
                "artifactstore: the journal %s could not be written (%s); it is not "
                "kept for the rest of this run",
                self.path,
                exc.strerror or exc,
            )
            self._pending.clear()
            await self.aclose()

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        if os.fstat(self._fd).st_size == 0:
            data = (json.dumps(self._header) + "\n").encode() + data
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    async def aclose(self) -> None:
        """Append what is buffered, then close (shielded: a cancelled run keeps its lines)."""
        with anyio.CancelScope(shield=True):
            if self._pending and self._fd is not None:
                await self.flush()
            async with self._writing:
                fd, self._fd = self._fd, None
                if fd is not None:
                    await anyio.to_thread.run_sync(os.close, fd)
