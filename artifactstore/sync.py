"""``SyncArtifactStore``: every operation of an ``ArtifactStore``, callable from sync code.

Legacy executors are synchronous and run in plain scripts, worker threads, and
synchronous functions called from inside async services. Two ways to run a call:

* A store whose operations wait for nothing but its own worker thread (the local
  backend: ``BackendInfo.runs_without_event_loop``) is driven in the calling thread
  (``artifactstore._drive.drive``): the thread blocks on each worker job, one hop
  each way, as cheap as awaiting the store, and calling threads run in parallel.
* Any other store (S3, or a put from an async iterable) runs on one event-loop
  thread of its own (an anyio blocking portal), started on first use, shared by
  every facade in the process, stopped at interpreter exit, and started afresh in
  a child after ``os.fork()``.

Either way it works from any thread, including one whose own event loop is
running (a sync helper called inside async code): the call blocks that thread and
nothing else, so there is no deadlock and no "event loop is already running".
From the portal's own thread (a coroutine running on it calling the facade),
blocking would deadlock: a ``RuntimeError`` says so instead, on every backend.
"""

from __future__ import annotations

import functools
import io
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from ._portal import call_on_loop, drive_here
from ._sources import PutData
from .factory import get_artifact_store
from .metadata import ArtifactMetadata
from .options import DEFAULT_CHUNK_SIZE
from .store import ArtifactStore, ArtifactStream

if TYPE_CHECKING:
    from datetime import datetime

    from .audit import SyncAuditLog
    from .holds import Hold, Retention

__all__ = ["SyncArtifactStore", "get_sync_artifact_store", "reset_sync_artifact_store"]

T = TypeVar("T")
_LIST_BATCH = 1000  # list items fetched per trip to the loop thread


class _Caller(Protocol):
    def __call__(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T: ...


async def _pull(iterator: AsyncIterator[T], limit: int) -> list[T]:
    items: list[T] = []
    async for item in iterator:
        items.append(item)
        if len(items) >= limit:
            break
    return items


def _iterate(call: _Caller, iterator: AsyncIterator[T], batch: int) -> Iterator[T]:
    """A sync iterator over an async one, fetching ``batch`` items per trip."""
    try:
        while True:
            items = call(_pull, iterator, batch)
            yield from items
            if len(items) < batch:
                return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            call(aclose)


class _StreamReader(io.RawIOBase):
    """A lazily read artifact as a raw binary file (wrapped in a BufferedReader)."""

    def __init__(self, call: _Caller, stream: ArtifactStream) -> None:
        self._call = call
        self._stream = stream
        self._pending = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending and not self._eof:
            self._pending = self._call(_next_chunk, self._stream)
            self._eof = not self._pending
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._call(self._stream.aclose)
        super().close()


async def _next_chunk(stream: ArtifactStream) -> bytes:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return b""


async def _open(stream: ArtifactStream) -> ArtifactStream:
    await stream.open()
    return stream


class SyncArtifactStore:
    """The synchronous face of an ``ArtifactStore``: same names, same arguments."""

    def __init__(self, store: ArtifactStore) -> None:
        if not isinstance(store, ArtifactStore):
            raise TypeError(f"SyncArtifactStore wraps an ArtifactStore, not {type(store).__name__}")
        self._store = store
        # A store whose operations only wait for its own worker thread (local) is
        # driven right here, in the calling thread: one hop each way, and the
        # calling threads run in parallel. Others go through the loop thread.
        self._call: _Caller = drive_here if store.info.runs_without_event_loop else call_on_loop

    @property
    def async_store(self) -> ArtifactStore:
        """The async store this facade drives."""
        return self._store

    def __repr__(self) -> str:
        return f"SyncArtifactStore({self._store!r})"

    def put(
        self,
        key: str,
        data: PutData,
        *,
        mime_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_not_exists: bool = False,
    ) -> ArtifactMetadata:
        """Store ``data``: bytes, a binary file object, or an ``os.PathLike``.

        A binary file is read in chunks, on a worker thread: the way to stream a
        large artifact from sync code.
        """
        source: Any = data
        store = self._store

        async def put() -> ArtifactMetadata:
            return await store.put(
                key, source, mime_type=mime_type, metadata=metadata, if_not_exists=if_not_exists
            )

        if hasattr(data, "__aiter__"):  # an async iterable needs an event loop
            return call_on_loop(put)
        return self._call(put)

    def get(self, key: str, *, verify: bool = False) -> bytes:
        """Return the artifact's bytes; ``verify=True`` re-hashes them first."""
        store = self._store

        async def get() -> bytes:
            return await store.get(key, verify=verify)

        return self._call(get)

    def get_stream(self, key: str, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> IO[bytes]:
        """A readable binary file object over the artifact, read lazily in chunks."""
        stream = self._call(_open, self._store.stream(key, chunk_size=chunk_size))
        return io.BufferedReader(_StreamReader(self._call, stream), buffer_size=chunk_size)

    def stream(
        self,
        key: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[bytes]:
        """The artifact's bytes (or ``[start, end)``) as an iterator of chunks."""
        stream = self._store.stream(key, chunk_size=chunk_size, start=start, end=end)
        return _iterate(self._call, stream, 1)

    def delete(self, key: str) -> bool:
        """Delete the artifact; return ``True`` if there was one."""
        return self._call(self._store.delete, key)

    def copy(self, src_key: str, dst_key: str, *, if_not_exists: bool = False) -> ArtifactMetadata:
        """Copy an artifact within the store (see ``ArtifactStore.copy``)."""
        store = self._store

        async def copy() -> ArtifactMetadata:
            return await store.copy(src_key, dst_key, if_not_exists=if_not_exists)

        return self._call(copy)

    def move(self, src_key: str, dst_key: str, *, if_not_exists: bool = False) -> ArtifactMetadata:
        """Move an artifact within the store (see ``ArtifactStore.move``)."""
        store = self._store

        async def move() -> ArtifactMetadata:
            return await store.move(src_key, dst_key, if_not_exists=if_not_exists)

        return self._call(move)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under ``prefix``; return how many."""
        return self._call(self._store.delete_prefix, prefix)

    def hold(self, key_or_prefix: str, name: str, reason: str = "") -> Hold:
        """Place a named hold (see ``ArtifactStore.hold``)."""
        return self._call(self._store.hold, key_or_prefix, name, reason)

    def release(self, key_or_prefix: str, name: str) -> bool:
        """Release a named hold; whether there was one."""
        return self._call(self._store.release, key_or_prefix, name)

    def holds(self, prefix: str = "") -> list[Hold]:
        """The holds on ``prefix`` and under it."""

        async def collect() -> list[Hold]:
            return [hold async for hold in self._store.holds(prefix)]

        return self._call(collect)

    def retain(self, key_or_prefix: str, *, until: datetime) -> Retention:
        """Set or extend a retention (see ``ArtifactStore.retain``)."""
        return self._call(functools.partial(self._store.retain, key_or_prefix, until=until))

    def retentions(self, prefix: str = "") -> list[Retention]:
        """The retentions on ``prefix`` and under it."""

        async def collect() -> list[Retention]:
            return [retention async for retention in self._store.retentions(prefix)]

        return self._call(collect)

    def covering(self, key: str) -> tuple[list[Hold], datetime | None]:
        """What keeps ``key``: its holds and the retention date in force (or None)."""
        return self._call(self._store.covering, key)

    def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove what interrupted writes left behind; return how many (see ``cleanup``)."""
        return self._call(functools.partial(self._store.cleanup, older_than=older_than))

    @property
    def url(self) -> str:
        """The store's URL (no secret); ``str()`` of the facade is the same."""
        return self._store.url

    def __str__(self) -> str:
        return self._store.url

    def exists(self, key: str) -> bool:
        """Return whether an artifact is stored at ``key``."""
        return self._call(self._store.exists, key)

    def get_url(self, key: str, expires_in: int = 3600) -> str:
        """Return a URL for the artifact (see ``ArtifactStore.get_url``)."""
        return self._call(self._store.get_url, key, expires_in)

    def get_metadata(self, key: str) -> ArtifactMetadata:
        """Return the artifact's metadata."""
        return self._call(self._store.get_metadata, key)

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ArtifactMetadata]:
        """The artifacts under ``prefix`` in key order, fetched in batches."""
        return _iterate(self._call, self._store.list(prefix, recursive=recursive), _LIST_BATCH)

    def list_prefixes(self, prefix: str = "") -> Iterator[str]:
        """The folders directly under ``prefix`` that hold artifacts."""
        return _iterate(self._call, self._store.list_prefixes(prefix), _LIST_BATCH)

    def normalize_key(self, key: str) -> str:
        """Return the canonical key (no I/O)."""
        return self._store.normalize_key(key)

    def build_key(
        self, deal_id: str, category: str, filename: str, subcategory: str | None = None
    ) -> str:
        """Build a conventional key (no I/O)."""
        return self._store.build_key(deal_id, category, filename, subcategory)

    def audit_log(self) -> SyncAuditLog:
        """The store's audit trail, for synchronous code (see ``ArtifactStore.audit_log``)."""
        from .audit import SyncAuditLog

        return SyncAuditLog(self._store.audit_log())

    def close(self) -> None:
        """Close the async store (its worker thread or connections)."""
        self._call(self._store.aclose)

    def __enter__(self) -> SyncArtifactStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_singleton: SyncArtifactStore | None = None
_singleton_lock = threading.Lock()


def get_sync_artifact_store() -> SyncArtifactStore:
    """The process-wide facade over ``get_artifact_store()``."""
    global _singleton
    with _singleton_lock:
        store = get_artifact_store()
        if _singleton is None or _singleton.async_store is not store:
            _singleton = SyncArtifactStore(store)
        return _singleton


def reset_sync_artifact_store() -> None:
    """Forget the sync singleton (``reset_artifact_store`` does this too)."""
    global _singleton
    with _singleton_lock:
        _singleton = None
