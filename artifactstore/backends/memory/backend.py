"""``MemoryArtifactStore``: artifacts held in this process's memory, for tests and scratch work.

The whole ``ArtifactStore`` contract (the conformance suite), without a disk, a
server or a thread of its own:

* every artifact is one immutable ``bytes`` object with its ``ArtifactMetadata``
  (SHA-256, mime type, user metadata, time of the put), in a ``dict`` by key, beside
  a sorted list of the keys for listings; a ``threading.Lock`` guards both, held
  only for dictionary and list operations (never while hashing or reading data);
* puts are atomic: the data is gathered and hashed first, then stored under the
  lock in one step, so a failed or cancelled put leaves the key as it was, and of
  concurrent ``if_not_exists`` puts exactly one wins;
* like S3, ``a/b`` and ``a/b/c`` may both be artifacts;
* its operations await nothing (but the caller's file objects and paths, read on
  the ``SOURCE_READERS`` threads), so the sync facade runs them in the calling
  thread (``runs_without_event_loop``).

Each instance holds its own artifacts (and audit trail), shared with no other
store, even of the same ``name``: a label in the store's URL (``memory://name``)
and its artifacts' ``storage_uri`` (``memory://name/DEAL-1/a%20b.pdf``).
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import re
import threading
import weakref
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from ..._sources import BytesSource, Source, chunks_of, sha256_hex
from ...backend import Backend, BackendInfo, Listing
from ...errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    InvalidKeyError,
    StorageConfigError,
    StoreClosedError,
)
from ...holds import MemoryHoldRegistry
from ...metadata import ArtifactMetadata
from ...options import DEFAULT_CHUNK_SIZE, PutOptions, ReadOptions

if TYPE_CHECKING:
    from ...audit import MemoryAuditSink

__all__ = ["MemoryBackend"]

#: What a store name may look like: it has to fit the host part of ``memory://name``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
#: Listing entries gathered per hold of the lock.
_PAGE = 1000
_Entry = tuple[bytes, ArtifactMetadata]


def _not_found(key: str) -> ArtifactNotFoundError:
    return ArtifactNotFoundError(
        f"no artifact at {key!r}; check the key, or list the folder to see what is there",
        key=key,
    )


def _exists(key: str) -> ArtifactExistsError:
    return ArtifactExistsError(f"artifact {key!r} already exists", key=key)


async def _gather(source: Source) -> bytes:
    """All the bytes of ``source``, as an immutable copy (the caller may reuse its buffer)."""
    if isinstance(source, BytesSource):
        whole = source.data.obj
        if isinstance(whole, bytes) and len(whole) == source.data.nbytes:
            return whole  # already immutable: kept as is, not copied
        return bytes(source.data)
    # Anything else is read as the local backend reads it: off the event loop, a
    # chunk per hop (a cancelled put stops after the chunk in progress).
    return b"".join([bytes(chunk) async for chunk in chunks_of(source, DEFAULT_CHUNK_SIZE)])


_live_stores: weakref.WeakSet[MemoryBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # Another thread of the parent may have held a store's lock at the fork: that
    # thread does not exist here, and would never release it.
    for store in list(_live_stores):
        store._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _MemoryOpened:
    """An artifact opened for reading: slices of its bytes, a chunk at a time."""

    def __init__(self, store: MemoryBackend, entry: _Entry, options: ReadOptions) -> None:
        data, self.metadata = entry
        self._store = store
        self._view: memoryview | None = memoryview(data)
        end = options.end
        self._end = len(data) if end is None else min(end, len(data))
        self._offset = min(options.start, self._end)
        self._chunk = options.chunk_size

    async def read(self) -> bytes:
        self._store._check_open()
        view = self._view
        if view is None or self._offset >= self._end:
            return b""
        stop = min(self._offset + self._chunk, self._end)
        chunk = bytes(view[self._offset : stop])
        self._offset = stop
        return chunk

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        self._view = None


class MemoryBackend(Backend):
    """The memory backend: artifacts in a ``dict``, under a lock (see the module docstring)."""

    info = BackendInfo(
        name="memory",
        scheme="memory",
        sha256_in_listings=True,
        runs_without_event_loop=True,
        staged_puts=True,
        holds=True,
        keeps_data=False,
    )

    def __init__(self, name: str = "") -> None:
        if not isinstance(name, str) or (name and not _NAME.fullmatch(name)):
            raise StorageConfigError(
                f"a memory store name is up to 63 letters, digits, '.', '_' or '-' "
                f"(starting with a letter or digit), not {name!r}",
                setting="name",
            )
        self._name = name
        self._lock = threading.Lock()
        self._items: dict[str, _Entry] = {}
        self._keys: list[str] = []  # sorted: str order is UTF-8 byte order
        self._audit: MemoryAuditSink | None = None
        self._holds = MemoryHoldRegistry()
        self._closed = False
        _live_stores.add(self)

    @property
    def name(self) -> str:
        """The store's label (``""`` by default)."""
        return self._name

    def url(self) -> str:
        """``memory://name``."""
        return f"memory://{self._name}"

    def _uri(self, key: str) -> str:
        return f"memory://{self._name}/{quote(key, safe='/')}"

    def key_from_location(self, key: str) -> str | None:
        """A ``memory://name/...`` URI of this store, as a key."""
        if not key.startswith("memory://"):
            return None
        own = f"memory://{self._name}/"
        if not key.startswith(own):
            raise InvalidKeyError(f"{key!r} is not in the memory store {self.url()!r}", key=key)
        return unquote(key[len(own) :])

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    # ------------------------------------------------------- under the lock only

    def _entry(self, key: str) -> _Entry:
        self._check_open()
        entry = self._items.get(key)
        if entry is None:
            raise _not_found(key)
        return entry

    def _store(self, key: str, entry: _Entry) -> None:
        if key not in self._items:
            bisect.insort(self._keys, key)
        self._items[key] = entry

    def _remove(self, key: str) -> bool:
        if self._items.pop(key, None) is None:
            return False
        del self._keys[bisect.bisect_left(self._keys, key)]
        return True

    # ------------------------------------------------------------------- writing

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        """Gather and hash the data, then store it under the lock in one step."""
        if_not_exists = options.if_not_exists
        with self._lock:
            self._check_open()
            if if_not_exists and key in self._items:  # refused before reading the data
                raise _exists(key)
        data = await _gather(source)
        meta = ArtifactMetadata(
            storage_backend=self.info.name,
            storage_key=key,
            storage_uri=self._uri(key),
            sha256=await sha256_hex(data),
            size_bytes=len(data),
            mime_type=options.mime_type,
            last_modified=datetime.now(timezone.utc),
            metadata=options.metadata,
        )
        if options.before_commit is not None:
            await options.before_commit(meta.sha256 or "", len(data), key in self._items)
        with self._lock:  # the check and the store in one step: exactly one writer wins
            self._check_open()
            if if_not_exists and key in self._items:
                raise _exists(key)
            self._store(key, (data, meta))
        return meta

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """The same bytes object under a second key (no copy of the data)."""
        return self._relocate(src, dst, if_not_exists=if_not_exists, move=False)

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """A rename: atomic, and the artifact keeps its ``last_modified``."""
        return self._relocate(src, dst, if_not_exists=if_not_exists, move=True)

    def _relocate(self, src: str, dst: str, *, if_not_exists: bool, move: bool) -> ArtifactMetadata:
        with self._lock:
            data, meta = self._entry(src)
            if if_not_exists and dst in self._items:
                raise _exists(dst)
            moved = dataclasses.replace(
                meta,
                storage_key=dst,
                storage_uri=self._uri(dst),
                last_modified=meta.last_modified if move else datetime.now(timezone.utc),
            )
            self._store(dst, (data, moved))
            if move:
                self._remove(src)
        return moved

    async def delete(self, key: str) -> bool:
        """Remove the entry."""
        with self._lock:
            self._check_open()
            return self._remove(key)

    async def delete_prefix(self, prefix: str) -> int:
        """Remove the sorted run of keys under ``prefix`` in one step."""
        with self._lock:
            self._check_open()
            keys = self._keys
            # The keys under "p/" are exactly those in ["p/", "p0"): '0' follows '/'.
            first = bisect.bisect_left(keys, f"{prefix}/")
            stop = bisect.bisect_left(keys, f"{prefix}0")
            for key in keys[first:stop]:
                del self._items[key]
            del keys[first:stop]
        return stop - first

    # ------------------------------------------------------------------- reading

    async def open(self, key: str, options: ReadOptions) -> _MemoryOpened:
        """Slices of the stored bytes."""
        with self._lock:
            entry = self._entry(key)
        return _MemoryOpened(self, entry, options)

    async def head(self, key: str) -> ArtifactMetadata:
        """The stored metadata."""
        with self._lock:
            return self._entry(key)[1]

    async def read(self, key: str) -> tuple[bytes, ArtifactMetadata]:
        """The stored ``bytes`` object itself (no copy) and its metadata."""
        with self._lock:
            return self._entry(key)

    async def exists(self, key: str) -> bool:
        """A look in the ``dict``."""
        with self._lock:
            self._check_open()
            return key in self._items

    async def get_url(self, key: str, expires_in: int) -> str:
        """The artifact's ``memory://`` URI (an identifier, not readable elsewhere)."""
        self._check_open()
        return self._uri(key)

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        """Pages of the sorted keys, a thousand entries each."""
        base = f"{prefix}/" if prefix else ""
        bound = f"{prefix}0" if prefix else None  # the keys under base are below it
        resume = base  # the next page starts at the first key >= resume
        while True:
            artifacts: list[ArtifactMetadata] = []
            folders: list[str] = []
            with self._lock:
                self._check_open()
                keys = self._keys
                i = bisect.bisect_left(keys, resume)
                while i < len(keys) and len(artifacts) + len(folders) < _PAGE:
                    key = keys[i]
                    if bound is not None and key >= bound:
                        i = len(keys)
                        break
                    slash = -1 if recursive else key.find("/", len(base))
                    if slash < 0:
                        artifacts.append(self._items[key][1])
                        resume = key + "\x00"  # the least string after key
                        i += 1
                    else:  # a folder: report it once, then skip what it holds
                        folder = key[:slash]
                        folders.append(folder)
                        resume = folder + "0"
                        i = bisect.bisect_left(keys, resume)
                finished = i >= len(keys) or (bound is not None and keys[i] >= bound)
            if artifacts or folders:
                yield Listing(artifacts, folders)
            if finished:
                return

    def hold_registry(self) -> MemoryHoldRegistry:
        """The holds and retentions, in memory."""
        return self._holds

    def audit_sink(self) -> MemoryAuditSink:
        """The events of this store, in memory (one record per backend)."""
        from ...audit import MemoryAuditSink

        with self._lock:
            if self._audit is None:
                self._audit = MemoryAuditSink()
            return self._audit

    # ------------------------------------------------------------------- closing

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Nothing is ever left behind in memory: returns 0."""
        self._check_open()
        return 0

    async def aclose(self) -> None:
        """Drop every artifact; later calls raise ``StoreClosedError``. Idempotent."""
        with self._lock:
            self._closed = True
            self._items.clear()
            self._keys.clear()
