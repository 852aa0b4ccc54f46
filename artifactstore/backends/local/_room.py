"""One DataRoom as the local backend's jobs see it: its tree, index and pending flush.

``Room`` is the state every job module (``_write``, ``_read``, ``_listing``,
``_manage``) works on. Jobs that touch the index run on the store's small lane (one
thread: the index is never used concurrently); ``flush`` runs at the end of each of
that lane's batches: the group commit.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import PurePosixPath
from urllib.parse import quote

from ... import _telemetry
from ...errors import StorageBackendError
from ...metadata import ArtifactMetadata, listed_metadata
from ._index import Fingerprint, IndexRow, LocalIndex, fingerprint
from ._temps import TempNames, sweep_quietly
from ._tree import Folder, Tree

__all__ = ["HOLDS_VERSION", "Room"]

#: In ``.artifactstore``: the version counter of the holds (``_holds``), 8 bytes.
HOLDS_VERSION = "holds.version"

_URI_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")


class Room:
    """The filesystem side of one local store (see the module docstring)."""

    def __init__(
        self,
        root: str,
        *,
        durable: bool,
        file_mode: int,
        dir_mode: int,
        create: bool,
        on_staged: Callable[[], None],
    ) -> None:
        self.root = os.path.realpath(root)
        self.durable = durable
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.temp_names = TempNames()
        self.on_staged = on_staged
        self._root_uri = PurePosixPath(self.root).as_uri().rstrip("/") + "/"
        self._dirty: dict[str, int] = {}  # folder path -> a descriptor to fsync at flush
        self._synced: dict[str, int] = {}  # the same, during the flush (after their fsync)
        self._hash_pool: tuple[int, ThreadPoolExecutor] | None = None
        self.tree = Tree(
            self.root,
            given_root=root,
            dir_mode=dir_mode,
            create=create,
            on_created=self.dirty,
            durable=durable,
        )
        self.index = LocalIndex(
            self._index_path,
            self.fingerprints,
            durable=durable,
            file_mode=file_mode,
        )
        self._swept = False

    def prepare(self) -> None:
        """Open the root (creating it if allowed); once per process, sweep leftovers."""
        if not self.tree.ready:
            self.tree.open_root()
        if not self._swept:
            self._swept = True
            # Temporary files of writers that died (a crash, SIGKILL) are swept once
            # per store, off the lanes so no put waits for a walk of the DataRoom.
            threading.Thread(
                target=sweep_quietly,
                args=(os.dup(self.tree.fd),),
                name="artifactstore-sweep",
                daemon=True,
            ).start()

    def _index_path(self, create: bool) -> str | None:
        """The index's path; ``None`` if there is no ``.artifactstore`` and no ``create``.

        A write makes the folder a DataRoom: ``.artifactstore`` with its index and
        the (empty) holds version file at once, so that its bookkeeping never
        changes again but by holds and index rows.
        """
        fresh = create and not self.tree.bookkeeping(create=False)
        path = self.tree.index_path("index.sqlite3", create=create)
        if fresh:
            flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(HOLDS_VERSION, flags, self.file_mode, dir_fd=self.tree.reserved_fd)
            try:
                os.fchmod(fd, self.file_mode)
            finally:
                os.close(fd)
        return path

    # ------------------------------------------------------------ names, metadata

    def uri_of(self, key: str) -> str:
        """The ``file://`` URI of ``key``: its ``storage_uri`` and local ``get_url``."""
        # What PurePosixPath.as_uri() gives, at a tenth of the cost (this is per put).
        return self._root_uri + (key if _URI_SAFE.fullmatch(key) else quote(key))

    def uri_maker(self, folder: str) -> Callable[[str, str], str]:
        """``uri_of`` for the files of one folder: ``(name, key) -> uri``, cheaper per file."""
        base = self._root_uri + (f"{self.uri_of(folder)[len(self._root_uri) :]}/" if folder else "")
        safe, uri_of = _URI_SAFE.fullmatch, self.uri_of

        def uri(name: str, key: str) -> str:
            return base + name if safe(name) else uri_of(key)

        return uri

    def metadata(
        self,
        key: str,
        st: os.stat_result,
        sha256: str | None,
        mime: str | None,
        meta: dict[str, str],
    ) -> ArtifactMetadata:
        """The metadata of the version of ``key`` that ``st`` describes."""
        # The values are canonical already: the dataclass's checks would only cost time
        # (this is per put and per head).
        return listed_metadata(
            "local",
            key,
            self.uri_of(key),
            sha256,
            st.st_size,
            mime,
            datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc),
            meta,
        )

    def fingerprints(self, keys: list[str]) -> dict[str, Fingerprint]:
        """The fingerprints of the files at ``keys`` now (the index's flush check).

        Keys whose file is missing (or unreachable) are left out. Each folder is
        looked up once, however many of the keys it holds; one this batch wrote to
        is not even looked up: its descriptor is still open (``flush``), found by
        the walk that wrote there, moments ago.
        """
        found: dict[str, Fingerprint] = {}
        by_folder: dict[str, list[str]] = {}
        for key in keys:
            by_folder.setdefault(key.rpartition("/")[0], []).append(key)
        for path, members in by_folder.items():
            synced = self._synced.get(path)
            try:
                folder = (
                    Folder(synced, path, False)
                    if synced is not None
                    else self.tree.folder(path, members[0])
                )
            except (OSError, ValueError):
                continue
            if folder is None:
                continue
            try:
                for key in members:
                    try:
                        st = os.stat(key.rpartition("/")[2], dir_fd=folder.fd)
                    except OSError:
                        continue
                    found[key] = fingerprint(st)
            finally:
                folder.close()
        return found

    # ---------------------------------------------------------- the group commit

    def record(
        self,
        key: str,
        st: os.stat_result,
        sha256: str,
        mime: str,
        meta: dict[str, str],
        *,
        required: bool = True,
    ) -> None:
        """Stage the index row for the version of ``key`` that ``st`` describes.

        ``required=False`` for a SHA-256 computed while reading: worth keeping,
        but a read must not fail because the index could not take it, nor create
        one in a folder that has none (a read creates nothing).
        """
        if not required and not self.index.exists():
            return
        self.index.stage(key, IndexRow(fingerprint(st), sha256, mime, meta))
        if required:
            self.on_staged()

    def dirty(self, folder: Folder, *, take: bool = False) -> None:
        """``folder``'s entries changed: fsync it at the end of the batch (if durable).

        ``take``: the caller is done with ``folder``; its descriptor may be kept
        rather than duplicated (its ``close`` is then a no-op).
        """
        if self.durable:
            if folder.path not in self._dirty:
                if take and folder.owned and folder.fd >= 0:
                    self._dirty[folder.path], folder.fd = folder.fd, -1
                else:
                    self._dirty[folder.path] = os.dup(folder.fd)
            self.on_staged()  # the job's success depends on that fsync

    def forget_dirty(self, path: str) -> None:
        """The folder at ``path`` was removed: nothing to fsync there, nor to keep open."""
        self.tree.cache.forget(path)
        fd = self._dirty.pop(path, None)
        if fd is not None:
            os.close(fd)

    def flush(self) -> None:
        """End of a batch: make its renames durable, then commit its index rows.

        A failure here fails every put of the batch with ``StorageBackendError``:
        their files may be in place, but durability or metadata was not secured.
        """
        dirty, self._dirty = self._dirty, {}
        self.tree.cache.expire()
        try:
            try:
                started = time.perf_counter()
                for fd in dirty.values():
                    os.fsync(fd)
                if dirty:
                    _telemetry.fsynced(time.perf_counter() - started)
                self._synced = dirty  # for the index's check of the files (fingerprints)
                self.index.flush()
            finally:
                self._synced = {}
                for fd in dirty.values():
                    os.close(fd)
        except (OSError, sqlite3.Error) as exc:
            raise StorageBackendError(
                f"could not make a batch of puts durable in the DataRoom ({exc}); the "
                "artifacts may be in place without their metadata: put them again. If the "
                "index (.artifactstore/index.sqlite3) is damaged, move it away: it is "
                "rebuilt from the files, losing only user metadata",
            ) from exc

    # ------------------------------------------------------------------ hashing

    def hasher(self) -> ThreadPoolExecutor:
        """A thread that hashes large chunks while they are written (started on first use)."""
        pool = self._hash_pool
        if pool is None or pool[0] != os.getpid():  # a forked child needs its own thread
            pool = self._hash_pool = (os.getpid(), ThreadPoolExecutor(1, "artifactstore-hash"))
        return pool[1]

    def after_fork(self) -> None:
        """In a forked child: the parent's index connection and pending work are not ours."""
        self.index.forget_connection()
        self._dirty = {}

    def shutdown(self) -> None:
        """Close everything (the store is closing; the index was closed before)."""
        for fd in self._dirty.values():
            os.close(fd)
        self._dirty = {}
        if self._hash_pool is not None and self._hash_pool[0] == os.getpid():
            self._hash_pool[1].shutdown(wait=False)
        self._hash_pool = None
        self.tree.close()
