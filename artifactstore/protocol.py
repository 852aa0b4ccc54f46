"""The async ``ArtifactStore`` interface every backend implements.

The public methods live here, once: they check and normalize their arguments, then
call a few primitives a backend provides (``_put``, ``_open``, ``_head``,
``_delete``, ``_list_dir``, ``_get_url``). Conveniences (``get``, ``exists``,
``list``, ``list_prefixes``, ``async with``) are derived from those, so every
backend behaves the same and the conformance suite (``artifactstore.testing``)
can hold each one to the same contract.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar, Protocol

from . import keys as _keys
from ._sources import PutData, Source, as_source
from .errors import ArtifactExistsError, ArtifactIntegrityError, ArtifactNotFoundError
from .metadata import ArtifactMetadata, guess_mime_type, validate_user_metadata

__all__ = ["DEFAULT_CHUNK_SIZE", "ArtifactStore", "ArtifactStream", "Listing", "OpenedArtifact"]

#: Chunk size of reads and streamed writes: large enough to amortize a thread hop
#: or an HTTP read, small enough that memory stays flat.
DEFAULT_CHUNK_SIZE = 1024 * 1024
#: Longest ``get_url`` lifetime: 7 days, the S3 presigning limit.
MAX_URL_EXPIRY = 7 * 24 * 3600


class OpenedArtifact(Protocol):
    """An artifact opened for reading by a backend (see ``ArtifactStore._open``)."""

    metadata: ArtifactMetadata

    async def read(self) -> bytes:
        """Return the next chunk, or ``b""`` at the end of the selected range."""

    async def aclose(self) -> None:
        """Release the file or connection; idempotent."""

    def close_nowait(self) -> None:
        """Release without awaiting (from ``__del__``); idempotent."""


@dataclass(frozen=True)
class Listing:
    """One page of a folder listing from ``ArtifactStore._list_dir``."""

    artifacts: list[ArtifactMetadata]
    """Artifacts directly in the folder, in key order."""
    folders: list[str]
    """Sub-folders (keys without trailing ``/``) that hold at least one artifact."""


class ArtifactStream:
    """The chunks of one artifact (or a byte range of it), read lazily.

    Use it as ``async for chunk in store.stream(key)`` or, to release the file or
    connection deterministically, ``async with store.stream(key) as s:``. Leaving
    the loop early (``break``, an exception, a cancellation) releases it too, as
    soon as the stream is dropped.

    After opening (``async with``, ``await s.open()`` or the first chunk),
    ``s.metadata`` describes the whole artifact (``size_bytes`` is its full size,
    not the range's).
    """

    def __init__(self, store: ArtifactStore, key: str, start: int, end: int | None, chunk: int):
        self._store = store
        self._key = key
        self._start = start
        self._end = end
        self._chunk = chunk
        self._opened: OpenedArtifact | None = None
        self._done = False

    @property
    def key(self) -> str:
        """The normalized key being read."""
        return self._key

    @property
    def metadata(self) -> ArtifactMetadata:
        """The artifact's metadata; only after the stream is opened."""
        if self._opened is None:
            raise RuntimeError("open the stream first (async with, await open(), or iterate)")
        return self._opened.metadata

    async def open(self) -> ArtifactMetadata:
        """Open the artifact (raises ``ArtifactNotFoundError``) and return its metadata."""
        if self._done:
            raise RuntimeError(f"the stream of {self._key!r} is closed")
        if self._opened is None:
            self._opened = await self._store._open(self._key, self._start, self._end, self._chunk)
        return self._opened.metadata

    def __aiter__(self) -> ArtifactStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._opened is None:
            await self.open()
        assert self._opened is not None
        chunk = await self._opened.read()
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Release the file or connection; safe to call more than once."""
        self._done = True
        if self._opened is not None:
            await self._opened.aclose()

    async def __aenter__(self) -> ArtifactStream:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # An abandoned ``async for`` never calls aclose(): release here, at once.
        opened = getattr(self, "_opened", None)
        if opened is not None:
            opened.close_nowait()


def _check_range(start: int | None, end: int | None) -> tuple[int, int | None]:
    first = 0 if start is None else start
    if not isinstance(first, int) or first < 0:
        raise ValueError(f"start must be a non-negative int, not {start!r}")
    if end is not None and (not isinstance(end, int) or end < first):
        raise ValueError(f"end must be an int >= start ({first}), not {end!r}")
    return first, end


class ArtifactStore(abc.ABC):
    """Async storage of artifacts under ``/``-separated keys.

    Subclasses implement the primitives (the ``_``-prefixed abstract methods) for
    a backend; everything public is defined here.
    """

    #: ``ArtifactMetadata.storage_backend`` of this backend ("local", "s3").
    backend_name: ClassVar[str]
    #: Whether ``a/b`` and ``a/b/c`` can both be artifacts (not on a filesystem).
    supports_file_and_folder_at_same_key: ClassVar[bool] = True
    #: Whether its operations await nothing but its own worker thread, so that the
    #: sync facade may run them in the calling thread (``artifactstore._worker.drive``)
    #: rather than on its event-loop thread.
    runs_without_event_loop: ClassVar[bool] = False

    # ----------------------------------------------------------------- primitives

    @abc.abstractmethod
    async def _put(
        self,
        key: str,
        source: Source,
        *,
        mime_type: str,
        metadata: dict[str, str],
        if_not_exists: bool,
    ) -> ArtifactMetadata:
        """Store ``source`` at ``key`` atomically; return its full metadata."""

    @abc.abstractmethod
    async def _open(self, key: str, start: int, end: int | None, chunk: int) -> OpenedArtifact:
        """Open ``key`` for reading bytes ``[start, end)``; raise ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    async def _head(self, key: str) -> ArtifactMetadata:
        """Full metadata of ``key`` (sha256 and mime type filled in)."""

    @abc.abstractmethod
    async def _delete(self, key: str) -> bool:
        """Delete ``key``; return whether something was deleted."""

    @abc.abstractmethod
    def _list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        """Page through artifacts under ``prefix`` in key order, and its direct sub-folders.

        With ``recursive=True`` ``folders`` may be left empty.
        """

    @abc.abstractmethod
    async def _get_url(self, key: str, expires_in: int) -> str:
        """A URL to read ``key`` with."""

    async def _copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Copy ``src`` to ``dst`` (two different normalized keys) within this store.

        The default streams the bytes through ``_put``, carrying mime type and user
        metadata, and refuses a copy whose bytes did not hash to the recorded
        SHA-256. Backends override it with a server-side or kernel copy.
        """
        async with self.stream(src) as stream:
            meta = stream.metadata
            hasher = hashlib.sha256()

            async def checked() -> AsyncIterator[bytes]:
                async for chunk in stream:
                    hasher.update(chunk)
                    yield chunk
                # Raised before the put commits, so a corrupt source is never copied.
                actual = hasher.hexdigest()
                if meta.sha256 is not None and actual != meta.sha256:
                    raise ArtifactIntegrityError(
                        f"artifact {src!r} is corrupt: its bytes hash to {actual}, but "
                        f"{meta.sha256} was recorded; it was not copied",
                        key=src,
                        expected=meta.sha256,
                        actual=actual,
                    )

            return await self._put(
                dst,
                as_source(checked()),
                mime_type=meta.mime_type or guess_mime_type(dst),
                metadata=dict(meta.metadata),
                if_not_exists=if_not_exists,
            )

    async def _move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Move ``src`` to ``dst``; the default copies, then deletes the source."""
        meta = await self._copy(src, dst, if_not_exists=if_not_exists)
        await self._delete(src)
        return meta

    async def _delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under ``prefix`` (non-empty, normalized); return how many.

        The default lists, then deletes one by one; backends override it with a
        batch operation.
        """
        count = 0
        batch: list[str] = []
        pages = self._list_dir(prefix, recursive=True)
        try:
            async for page in pages:
                batch.extend(item.storage_key for item in page.artifacts)
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
        for key in batch:
            if await self._delete(key):
                count += 1
        return count

    def _url(self) -> str:
        """The store's URL, as :func:`artifactstore.store_from_url` reads it; no secret."""
        return f"{self.backend_name}:"

    def _key_from_location(self, key: str) -> str | None:
        """Map a backend-specific spelling (a ``storage_uri``, an absolute path) to a key.

        Returns ``None`` when ``key`` is not such a spelling.
        """
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional for backends
        """Release the store's resources (threads, connections)."""

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove what interrupted writes left behind; return how many things were removed.

        Local: temporary files of writers that died (also swept once when a store
        first touches its DataRoom), and with ``older_than`` (seconds) any older than
        that. S3: incomplete multipart uploads under the store's prefix started
        more than ``older_than`` seconds ago (default one hour, so uploads in
        progress elsewhere are spared). Nothing an artifact consists of is touched.
        """
        return 0

    # ------------------------------------------------------------------ the API

    def normalize_key(self, key: str) -> str:
        """Return the canonical key for ``key`` (see :mod:`artifactstore.keys`).

        Also accepts this store's ``storage_uri`` for an artifact and, on the local
        backend, an absolute path inside the root.
        """
        if not isinstance(key, str):
            raise TypeError(f"artifact keys are str, not {type(key).__name__}")
        located = self._key_from_location(key)
        return _keys.normalize_key(key if located is None else located)

    @staticmethod
    def build_key(
        deal_id: str, category: str, filename: str, subcategory: str | None = None
    ) -> str:
        """Build a conventional key; see :func:`artifactstore.keys.build_key`."""
        return _keys.build_key(deal_id, category, filename, subcategory)

    async def put(
        self,
        key: str,
        data: PutData,
        *,
        mime_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_not_exists: bool = False,
    ) -> ArtifactMetadata:
        """Store ``data`` at ``key``, atomically, and return its metadata with SHA-256.

        ``data``: bytes-like, a binary file object (read from its position), an
        async iterable of bytes, or an ``os.PathLike`` naming a local file.
        ``mime_type`` defaults to a guess from the key. With ``if_not_exists=True``
        the put fails with ``ArtifactExistsError`` if the key exists (atomically).
        """
        key = self.normalize_key(key)
        source = as_source(data)
        user_metadata = validate_user_metadata(metadata)
        if mime_type is None:
            mime_type = guess_mime_type(key)
        elif not isinstance(mime_type, str) or not mime_type.isascii() or "/" not in mime_type:
            raise ValueError(f"mime_type must look like 'type/subtype', not {mime_type!r}")
        elif any(ord(c) < 0x20 or ord(c) == 0x7F for c in mime_type):
            raise ValueError(f"mime_type contains control characters: {mime_type!r}")
        return await self._put(
            key,
            source,
            mime_type=mime_type,
            metadata=user_metadata,
            if_not_exists=bool(if_not_exists),
        )

    async def get(self, key: str, *, verify: bool = False) -> bytes:
        """Return the artifact's bytes; ``verify=True`` re-hashes them first.

        Raises ``ArtifactNotFoundError``, or ``ArtifactIntegrityError`` when
        verifying finds bytes that do not match the recorded SHA-256.
        """
        async with self.stream(key) as stream:
            parts = [chunk async for chunk in stream]
            data = b"".join(parts)
            if verify:
                self._verify(stream.key, data, stream.metadata.sha256)
        return data

    @staticmethod
    def _verify(key: str, data: bytes, expected: str | None) -> None:
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and actual != expected:
            raise ArtifactIntegrityError(
                f"artifact {key!r} is corrupt: its bytes hash to {actual}, but {expected} was "
                "recorded when it was stored; restore it from a backup or store it again",
                key=key,
                expected=expected,
                actual=actual,
            )

    def stream(
        self,
        key: str,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        start: int | None = None,
        end: int | None = None,
    ) -> ArtifactStream:
        """Read the artifact in chunks, lazily; ``start``/``end`` select bytes ``[start, end)``.

        ``end`` is exclusive, as in slicing; a range past the end is cut short.
        """
        key = self.normalize_key(key)
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
        first, last = _check_range(start, end)
        return ArtifactStream(self, key, first, last, chunk_size)

    async def delete(self, key: str) -> bool:
        """Delete the artifact; return ``True`` if there was one."""
        return await self._delete(self.normalize_key(key))

    async def copy(
        self, src_key: str, dst_key: str, *, if_not_exists: bool = False
    ) -> ArtifactMetadata:
        """Copy an artifact to another key of this store; return the copy's metadata.

        Bytes, SHA-256, mime type and user metadata are carried over; the copy is
        atomic (readers of ``dst_key`` see the old artifact or the new one). On S3 it
        is a server-side copy (no byte passes through this process). With
        ``if_not_exists=True`` it fails with ``ArtifactExistsError`` when ``dst_key``
        exists. Raises ``ArtifactNotFoundError`` when ``src_key`` does not; copying
        an artifact onto itself changes nothing and returns its metadata.
        """
        src, dst = self.normalize_key(src_key), self.normalize_key(dst_key)
        if src == dst:
            return await self._same_key(src, if_not_exists)
        return await self._copy(src, dst, if_not_exists=bool(if_not_exists))

    async def move(
        self, src_key: str, dst_key: str, *, if_not_exists: bool = False
    ) -> ArtifactMetadata:
        """Move an artifact to another key of this store; return its metadata there.

        Local: an atomic rename. S3: a server-side copy, then a delete of the source
        (S3 has no rename). Otherwise as :meth:`copy`.
        """
        src, dst = self.normalize_key(src_key), self.normalize_key(dst_key)
        if src == dst:
            return await self._same_key(src, if_not_exists)
        return await self._move(src, dst, if_not_exists=bool(if_not_exists))

    async def _same_key(self, key: str, if_not_exists: bool) -> ArtifactMetadata:
        meta = await self._head(key)  # ArtifactNotFoundError if there is nothing
        if if_not_exists:
            raise ArtifactExistsError(f"artifact {key!r} already exists", key=key)
        return meta

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under ``prefix``; return how many were deleted.

        ``prefix`` matches whole segments, as in :meth:`list` (``DEAL-1`` never
        touches ``DEAL-10/...``). An empty prefix is refused (``ValueError``): delete
        a whole store's artifacts by naming each top-level folder.
        """
        normalized = _keys.normalize_prefix(prefix)
        if not normalized:
            raise ValueError("delete_prefix needs a non-empty prefix; '' would delete everything")
        return await self._delete_prefix(normalized)

    async def exists(self, key: str) -> bool:
        """Return whether an artifact is stored at ``key``."""
        try:
            await self._head(self.normalize_key(key))
        except ArtifactNotFoundError:
            return False
        return True

    async def get_metadata(self, key: str) -> ArtifactMetadata:
        """Return the artifact's metadata (sha256 and mime type always filled in)."""
        return await self._head(self.normalize_key(key))

    async def get_url(self, key: str, expires_in: int = 3600) -> str:
        """Return a URL for the artifact; expiring ones live ``expires_in`` seconds.

        ``expires_in`` must be 1 second to 7 days.
        """
        if isinstance(expires_in, bool) or not isinstance(expires_in, int):
            raise TypeError(f"expires_in must be an int of seconds, not {expires_in!r}")
        if not 1 <= expires_in <= MAX_URL_EXPIRY:
            raise ValueError(
                f"expires_in must be 1 to {MAX_URL_EXPIRY} s (7 days), not {expires_in}"
            )
        return await self._get_url(self.normalize_key(key), expires_in)

    async def list(
        self, prefix: str = "", *, recursive: bool = True
    ) -> AsyncIterator[ArtifactMetadata]:
        """Yield the artifacts under ``prefix`` in key order (UTF-8 byte order).

        ``prefix`` matches whole segments: ``DEAL-1`` lists ``DEAL-1/...``, never
        ``DEAL-10/...``. ``recursive=False`` yields only the artifacts directly in it.
        """
        pages = self._list_dir(_keys.normalize_prefix(prefix), recursive=recursive)
        try:
            async for page in pages:
                for item in page.artifacts:
                    yield item
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    async def list_prefixes(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield the folders directly under ``prefix`` that hold artifacts, in key order."""
        pages = self._list_dir(_keys.normalize_prefix(prefix), recursive=False)
        try:
            async for page in pages:
                for folder in page.folders:
                    yield folder
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    @property
    def url(self) -> str:
        """The store's URL (``file:///...``, ``s3://bucket/prefix?...``), never a secret.

        :func:`artifactstore.store_from_url` builds an equivalent store from it.
        """
        return self._url()

    def __str__(self) -> str:
        return self._url()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url()!r})"

    async def __aenter__(self) -> ArtifactStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
