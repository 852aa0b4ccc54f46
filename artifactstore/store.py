"""``ArtifactStore``: the one async API, over a backend.

Every public method is defined here, once: it checks and normalizes its
arguments, then calls the store's :class:`~artifactstore.Backend` (wrapped in the
store's layers, if any). ``LocalFilesystemArtifactStore``, ``S3ArtifactStore`` and
``MemoryArtifactStore`` are this class with a constructor that builds their
backend; they add attributes (``root``, ``bucket``), never behaviour.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from . import _telemetry
from . import keys as _keys
from ._assembly import assemble, audit_layer, telemetry_layer, wrapped
from ._checks import check_mime_type, check_range, verify_bytes
from ._holding import Holding
from ._sources import PutData, as_source, sha256_hex
from .backend import Backend, BackendInfo
from .errors import ArtifactExistsError, StorageConfigError
from .metadata import ArtifactMetadata, guess_mime_type, validate_user_metadata
from .options import DEFAULT_CHUNK_SIZE, PutOptions, ReadOptions
from .stream import ArtifactStream

if TYPE_CHECKING:
    from .audit import AuditLayer, AuditLog
    from .layers import Layer, OpenTelemetryLayer

__all__ = ["MAX_URL_EXPIRY", "ArtifactStore", "ArtifactStream"]

#: Longest ``get_url`` lifetime: 7 days, the S3 presigning limit.
MAX_URL_EXPIRY = 7 * 24 * 3600


class ArtifactStore(Holding):
    """Async storage of artifacts under ``/``-separated keys, over a :class:`Backend`.

    :param backend: what stores the bytes (built by the subclasses' constructors;
        give one directly for a third-party backend).
    :param layers: layers to wrap the backend in, innermost first (see
        :meth:`layer`).
    :param audit: record every operation in the backend's audit trail
        (``True``, or an :class:`~artifactstore.audit.AuditLayer` with options);
        see :meth:`audit_log` and docs/audit.md.
    :param telemetry: OpenTelemetry instrumentation, outermost (see
        docs/observability.md): ``None`` (the default) for on whenever
        ``opentelemetry-api`` is importable, unless ``ARTIFACT_OTEL=false``;
        ``False`` for off; ``True`` for on; or an
        :class:`~artifactstore.layers.OpenTelemetryLayer` with providers or
        ``include_keys`` of its own.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        layers: Sequence[Layer] = (),
        audit: bool | AuditLayer = False,
        telemetry: bool | OpenTelemetryLayer | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise TypeError(f"an ArtifactStore needs a Backend, not {type(backend).__name__}")
        self._base = backend
        if layers:
            self._base = self._wrapped(layers)
        self._audit = audit_layer(audit)
        self._telemetry = telemetry_layer(telemetry)
        self._assemble()

    def _assemble(self) -> None:
        parts = assemble(self._base, self._audit, self._telemetry)
        self._audited, self._held = parts.audited, parts.held
        self._backend, self._traced = parts.backend, parts.traced

    def _now(self) -> Backend:
        """The backend to call now: instrumented if anyone listens.

        ``_telemetry.listening()`` written out: this runs on every call, and a
        memory get is a microsecond (see docs/performance.md, Telemetry).
        """
        traced = self._traced
        if traced is None:
            return self._backend
        if _telemetry.TRACES._TRACER_PROVIDER is None and _telemetry.METERS._METER_PROVIDER is None:
            debug = _telemetry.LEVELS.get(10)  # logging.DEBUG
            if not (debug or (debug is None and _telemetry.debug_log())):
                return self._backend
        return traced

    def _wrapped(self, layers: Sequence[Layer]) -> Backend:
        return wrapped(self._base, layers)

    def layer(self, *layers: Layer) -> ArtifactStore:
        """A store over this store's backend wrapped in ``layers``, the first innermost.

        ``store.layer(TimeoutLayer(5), RetryLayer())`` retries calls that each may
        take 5 seconds; a call passes through the last layer first. The new store
        is of the same class, with the same attributes, and shares the backend:
        close one of the two. This store is left as it was.
        """
        layered = _copy.copy(self)
        layered._base = self._wrapped(layers)
        layered._assemble()
        return layered

    @property
    def backend(self) -> Backend:
        """The backend this store calls (its layers included).

        The automatic OpenTelemetry layer, used only while an SDK or the operation
        log listens, is not part of it; one given providers of its own is.
        """
        return self._backend

    @property
    def info(self) -> BackendInfo:
        """What the backend is and can do (through its layers)."""
        return self._backend.info

    @property
    def audited(self) -> bool:
        """Whether this store records an audit trail (``audit=True``)."""
        return self._audit is not None

    def audit_log(self) -> AuditLog:
        """The store's audit trail: its events, checkpoints, verification and proofs.

        Raises ``StorageConfigError`` when the store was made without ``audit=True``.
        """
        from .audit import AuditLog

        if self._audited is None:
            raise StorageConfigError(
                "this store keeps no audit trail: make it with audit=True "
                "(ARTIFACT_AUDIT=true, ?audit=true)",
                setting="audit",
            )
        return AuditLog(self._audited)

    @property
    def backend_name(self) -> str:
        """``ArtifactMetadata.storage_backend`` of this store's artifacts."""
        return self._base.info.name

    # ------------------------------------------------------------------ the API

    def normalize_key(self, key: str) -> str:
        """Return the canonical key for ``key`` (see :mod:`artifactstore.keys`).

        Also accepts this store's ``storage_uri`` for an artifact and, on the local
        backend, an absolute path inside the root.
        """
        if not isinstance(key, str):
            raise TypeError(f"artifact keys are str, not {type(key).__name__}")
        located = self._backend.key_from_location(key)
        return _keys.normalize_key(key if located is None else located)

    @staticmethod
    def build_key(
        deal_id: str, category: str, filename: str, subcategory: str | None = None
    ) -> str:
        """Build a conventional key; see :func:`artifactstore.build_key`."""
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
        key = _keys.check_new_key(self.normalize_key(key))
        source = as_source(data)
        options = PutOptions(
            mime_type=guess_mime_type(key) if mime_type is None else check_mime_type(mime_type),
            metadata=validate_user_metadata(metadata),
            if_not_exists=bool(if_not_exists),
        )
        backend = self._now()
        backend.check_put(key, options)  # the backend's own limits, before any layer's I/O
        return await backend.put(key, source, options)

    async def get(self, key: str, *, verify: bool = False) -> bytes:
        """Return the artifact's bytes; ``verify=True`` re-hashes them first.

        Raises ``ArtifactNotFoundError``, or ``ArtifactIntegrityError`` when
        verifying finds bytes that do not match the recorded SHA-256, or no SHA-256
        recorded to match (as ``artifactstore get --verify`` does).
        """
        key = self.normalize_key(key)
        data, meta = await self._now().read(key)
        if verify and await sha256_hex(data) != meta.sha256:
            verify_bytes(key, data, meta.sha256)  # raises, naming both hashes
        return data

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
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, not {chunk_size!r}")
        first, last = check_range(start, end)
        return ArtifactStream(self._now(), key, ReadOptions(first, last, chunk_size))

    async def delete(self, key: str) -> bool:
        """Delete the artifact; return ``True`` if there was one."""
        return await self._now().delete(self.normalize_key(key))

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
        src, dst = self.normalize_key(src_key), _keys.check_new_key(self.normalize_key(dst_key))
        if src == dst:
            return await self._same_key(src, if_not_exists)
        return await self._now().copy(src, dst, if_not_exists=bool(if_not_exists))

    async def move(
        self, src_key: str, dst_key: str, *, if_not_exists: bool = False
    ) -> ArtifactMetadata:
        """Move an artifact to another key of this store; return its metadata there.

        Local: an atomic rename. S3: a server-side copy, then a delete of the source
        (S3 has no rename). Otherwise as :meth:`copy`.
        """
        src, dst = self.normalize_key(src_key), _keys.check_new_key(self.normalize_key(dst_key))
        if src == dst:
            return await self._same_key(src, if_not_exists)
        return await self._now().move(src, dst, if_not_exists=bool(if_not_exists))

    async def _same_key(self, key: str, if_not_exists: bool) -> ArtifactMetadata:
        meta = await self._now().head(key)  # ArtifactNotFoundError if there is nothing
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
        return await self._now().delete_prefix(normalized)

    async def exists(self, key: str) -> bool:
        """Return whether an artifact is stored at ``key``."""
        return await self._now().exists(self.normalize_key(key))

    async def get_metadata(self, key: str) -> ArtifactMetadata:
        """Return the artifact's metadata (sha256 and mime type always filled in)."""
        return await self._now().head(self.normalize_key(key))

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
        return await self._now().get_url(self.normalize_key(key), expires_in)

    async def list(
        self, prefix: str = "", *, recursive: bool = True
    ) -> AsyncIterator[ArtifactMetadata]:
        """Yield the artifacts under ``prefix`` in key order (UTF-8 byte order).

        ``prefix`` matches whole segments: ``DEAL-1`` lists ``DEAL-1/...``, never
        ``DEAL-10/...``. ``recursive=False`` yields only the artifacts directly in it.
        """
        pages = self._now().list_dir(_keys.normalize_prefix(prefix), recursive=recursive)
        try:
            async for page in pages:
                for item in page.artifacts:
                    yield item
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    async def list_prefixes(self, prefix: str = "") -> AsyncIterator[str]:
        """Yield the folders directly under ``prefix`` that hold artifacts, in key order."""
        pages = self._now().list_dir(_keys.normalize_prefix(prefix), recursive=False)
        try:
            async for page in pages:
                for folder in page.folders:
                    yield folder
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove what interrupted writes left behind; return how many things were removed.

        Local: temporary files of writers that died (also swept once when a store
        first touches its DataRoom), and with ``older_than`` (seconds) any older than
        that. S3: incomplete multipart uploads under the store's prefix started
        more than ``older_than`` seconds ago (default one hour, so uploads in
        progress elsewhere are spared). Nothing an artifact consists of is touched.
        """
        return await self._now().cleanup(older_than=older_than)

    async def aclose(self) -> None:
        """Release the store's resources (threads, connections); idempotent."""
        await self._backend.aclose()

    @property
    def url(self) -> str:
        """The store's URL (``file:///...``, ``s3://bucket/prefix?...``), never a secret.

        :func:`artifactstore.store_from_url` builds an equivalent store from it.
        """
        return self._backend.url()

    def __str__(self) -> str:
        return self._backend.url()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._backend.url()!r})"

    async def __aenter__(self) -> ArtifactStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
