"""The backend interface: what a storage backend implements, and one record of what it is.

An :class:`~artifactstore.ArtifactStore` checks and normalizes every argument, then
calls its :class:`Backend`. A backend implements six required methods on normalized
keys (``put``, ``open``, ``head``, ``delete``, ``list_dir``, ``get_url``) and may
override the provided ones, which are correct but slower defaults built on those
six (``copy`` streams the bytes through ``put``, ``exists`` asks ``head``, ...).
Fast paths live here, as methods of the backend, never as overrides of the
public API.

Layers (:mod:`artifactstore.layers`) are backends that wrap another backend, so
everything here also passes through them. :class:`BackendInfo` says what a backend
is and can do; the conformance suite, the sync facade and every layer read it.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ._sources import (
    AsyncIterableSource,
    BytesSource,
    FileSource,
    PathSource,
    Source,
    as_source,
    chunks_of,
)
from .errors import ArtifactIntegrityError, ArtifactNotFoundError
from .metadata import ArtifactMetadata, guess_mime_type
from .options import PutOptions, ReadOptions

if TYPE_CHECKING:
    from .audit import AuditSink
    from .holds import HoldRegistry

__all__ = [
    "AsyncIterableSource",
    "Backend",
    "BackendInfo",
    "BytesSource",
    "FileSource",
    "Listing",
    "OpenedArtifact",
    "PathSource",
    "Source",
    "chunks_of",
]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is, and which optional parts of the contract it offers.

    The capability flags pick the conformance checks a backend must pass
    (:func:`artifactstore.testing.conformance_checks`); a layer passes its
    backend's record through, changing only what it changes
    (:func:`dataclasses.replace`).
    """

    #: ``ArtifactMetadata.storage_backend`` of its artifacts ("local", "s3", "memory").
    name: str
    #: The scheme of its store URLs (``file``, ``s3``, ``memory``).
    scheme: str
    #: ``a/b`` and ``a/b/c`` can both be artifacts (object stores). When ``False``
    #: (a filesystem) the second put is refused with ``InvalidKeyError`` and
    #: nothing is written.
    file_and_folder_at_same_key: bool = True
    #: ``put``/``copy``/``move`` with ``if_not_exists=True`` are atomic: of many
    #: concurrent writers exactly one wins, the others get ``ArtifactExistsError``.
    conditional_writes: bool = True
    #: An operation cancelled from async code (a put midway, a stream being read)
    #: stops and leaves nothing behind. Not so through the sync facade, whose calls
    #: run to their end on the facade's thread.
    cancellation: bool = True
    #: ``get_url`` returns a ``file:``, ``http:`` or ``https:`` URL that reads the
    #: artifact's bytes with no credentials (a path, a presigned URL), not only an
    #: identifier such as ``memory://...``.
    readable_urls: bool = False
    #: ``list`` fills in every artifact's ``sha256``; otherwise it may be ``None``
    #: there (S3 listings carry no user metadata) and ``get_metadata`` has it.
    sha256_in_listings: bool = False
    #: Its operations await nothing but its own worker threads, so the sync facade
    #: drives them in the calling thread instead of on its event-loop thread
    #: (``artifactstore._drive.drive``). A layer that awaits anything else (a
    #: sleep, a lock) through the event loop turns it off.
    runs_without_event_loop: bool = False
    #: ``put`` awaits ``PutOptions.before_commit`` once the bytes are stored and
    #: before they are visible, and nothing becomes visible if it raises (what lets
    #: the audit layer record a put's event ahead of the put).
    staged_puts: bool = False
    #: What it stores outlives the process (``False``: memory). The command line
    #: refuses to write to a store that does not, and the environment needs a
    #: second opt-in to pick one.
    keeps_data: bool = True
    #: ``hold_registry()`` keeps legal holds and retentions (``store.hold``,
    #: ``store.retain``), which the store enforces on every write path.
    holds: bool = False
    #: The layers the backend is wrapped in, outermost first (``()`` for none).
    layers: tuple[str, ...] = ()

    @classmethod
    def capability_names(cls) -> tuple[str, ...]:
        """The names of the capability flags (every field but ``name``, ``scheme``, ``layers``)."""
        return tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in ("name", "scheme", "layers")
        )


class OpenedArtifact(Protocol):
    """An artifact opened for reading by :meth:`Backend.open`."""

    #: The whole artifact's metadata (``size_bytes`` is its full size, not the range's).
    metadata: ArtifactMetadata

    async def read(self) -> bytes:
        """Return the next chunk, or ``b""`` at the end of the selected range."""

    async def aclose(self) -> None:
        """Release the file or connection; idempotent."""

    def close_nowait(self) -> None:
        """Release without awaiting (from ``__del__``); idempotent."""


@dataclass(frozen=True)
class Listing:
    """One page of a folder listing from :meth:`Backend.list_dir`."""

    artifacts: list[ArtifactMetadata]
    """Artifacts directly in the folder, in key order."""
    folders: list[str]
    """Sub-folders (keys without trailing ``/``) that hold at least one artifact."""
    invalid: list[str] = dataclasses.field(default_factory=list)
    """Names found under the prefix that are not keys (an NFD "Café", a backslash,
    an empty segment), as found, relative to the store's root; a folder's with a
    trailing ``/`` (nothing in it is listed). Left out of ``artifacts``, never
    read; tools that must account for every document (``artifactstore.transfer``)
    report them. The store's own reserved names are not among them."""


class Backend(abc.ABC):
    """A storage backend: primitives on normalized keys, under an ``ArtifactStore``.

    Every key a backend receives is already normalized (:mod:`artifactstore.keys`),
    every option already checked. Required: :meth:`put`, :meth:`open`, :meth:`head`,
    :meth:`delete`, :meth:`list_dir`, :meth:`get_url`, and the record :attr:`info`.
    Everything else has a default that a backend overrides with a faster or
    stronger way of its own. Errors are ``artifactstore.errors`` types, translated
    at the backend's boundary (``StorageBackendError(retryable=True)`` for a
    transient failure worth retrying).
    """

    #: What the backend is and can do. A class attribute for most backends.
    info: BackendInfo

    # ------------------------------------------------------------------ required

    @abc.abstractmethod
    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        """Store ``source`` at ``key`` atomically; return its full metadata."""

    @abc.abstractmethod
    async def open(self, key: str, options: ReadOptions) -> OpenedArtifact:
        """Open ``key`` for reading ``options``' range; raise ``ArtifactNotFoundError``."""

    @abc.abstractmethod
    async def head(self, key: str) -> ArtifactMetadata:
        """Full metadata of ``key`` (sha256 and mime type filled in)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether something was deleted."""

    @abc.abstractmethod
    def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        """Page through artifacts under ``prefix`` in key order, and its direct sub-folders.

        ``prefix`` is normalized (``""`` for everything) and matches whole segments.
        With ``recursive=True`` ``folders`` may be left empty.
        """

    @abc.abstractmethod
    async def get_url(self, key: str, expires_in: int) -> str:
        """A URL to read ``key`` with (``expires_in`` already checked: 1 s to 7 days)."""

    # ------------------------------------------------------------------ provided

    def check_put(self, key: str, options: PutOptions) -> None:  # noqa: B027 - optional
        """Refuse a put this backend could never store, before any layer does I/O.

        Called by ``ArtifactStore.put`` ahead of the layers (a hold check, an audit
        record), with no I/O of its own: raise ``ValueError`` for options over the
        backend's own limits (S3's metadata budget as sent). The default accepts all.
        """

    async def read(self, key: str) -> tuple[bytes, ArtifactMetadata]:
        """The whole artifact and its metadata: the path of ``ArtifactStore.get``.

        The default streams it through :meth:`open`; backends override it with a
        one-step read of small artifacts.
        """
        opened = await self.open(key, ReadOptions())
        try:
            parts = []
            while chunk := await opened.read():
                parts.append(chunk)
        finally:
            await opened.aclose()
        return b"".join(parts), opened.metadata

    async def exists(self, key: str) -> bool:
        """Whether ``key`` holds an artifact; the default asks :meth:`head`."""
        try:
            await self.head(key)
        except ArtifactNotFoundError:
            return False
        return True

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Copy ``src`` to ``dst`` (two different normalized keys) within this backend.

        The default streams the bytes through :meth:`put`, carrying mime type and
        user metadata, and refuses a copy whose bytes did not hash to the recorded
        SHA-256. Backends override it with a server-side or kernel copy.
        """
        opened = await self.open(src, ReadOptions())
        meta = opened.metadata
        hasher = hashlib.sha256()

        async def checked() -> AsyncIterator[bytes]:
            while chunk := await opened.read():
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

        options = PutOptions(
            mime_type=meta.mime_type or guess_mime_type(dst),
            metadata=dict(meta.metadata),
            if_not_exists=if_not_exists,
        )
        try:
            return await self.put(dst, as_source(checked()), options)
        finally:
            await opened.aclose()

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Move ``src`` to ``dst``; the default copies, then deletes the source."""
        meta = await self.copy(src, dst, if_not_exists=if_not_exists)
        await self.delete(src)
        return meta

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every artifact under ``prefix`` (non-empty, normalized); return how many.

        The default lists, then deletes one by one; backends override it with a
        batch operation.
        """
        batch: list[str] = []
        pages = self.list_dir(prefix, recursive=True)
        try:
            async for page in pages:
                batch.extend(item.storage_key for item in page.artifacts)
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
        count = 0
        for key in batch:
            if await self.delete(key):
                count += 1
        return count

    def url(self) -> str:
        """The store's URL, as :func:`artifactstore.store_from_url` reads it; no secret."""
        return f"{self.info.scheme}:"

    def key_from_location(self, key: str) -> str | None:
        """Map a backend-specific spelling (a ``storage_uri``, an absolute path) to a key.

        Returns ``None`` when ``key`` is not such a spelling; raises
        ``InvalidKeyError`` for one that points outside this store.
        """
        return None

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove what interrupted writes left behind; return how many things were removed."""
        return 0

    async def quiesce(self) -> None:  # noqa: B027 - optional for backends
        """Wait until the clean-up queued by cancelled operations has run.

        After it returns, a put that was cancelled (or timed out) before it has left
        no temporary file. The default has nothing queued.
        """

    async def recorded(self, prefix: str) -> list[tuple[str, str]] | None:
        """``(key, sha256)`` of what the backend recorded under ``prefix`` (``None``: nothing).

        Whether or not the bytes are still there.
        The scrub compares it with what is stored: the local backend's index
        remembers an artifact whose file was removed behind the library's back.
        """
        return None

    def hold_registry(self) -> HoldRegistry | None:
        """Where this backend keeps legal holds and retentions (``None``: it has none).

        A backend that returns one declares ``BackendInfo.holds``; the store's
        ``HoldLayer`` enforces them on every write path.
        """
        return None

    def audit_sink(self) -> AuditSink | None:
        """Where this backend keeps audit events (``None``: it cannot be audited).

        Called once per audited store; the same durable record for every store and
        process over the same storage.
        """
        return None

    async def aclose(self) -> None:  # noqa: B027 - optional for backends
        """Release the backend's resources (threads, connections); idempotent."""
