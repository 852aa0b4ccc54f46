"""``AuditLayer``: one event per artifact an operation touches, never lost.

Writes are recorded ahead (write-ahead): a put's event is appended, durably, in
``PutOptions.before_commit``, after its bytes are stored and before they are
visible; a copy's, move's or delete's before the backend is asked. If the write
then fails, a second event with the failure's outcome follows, naming the first
(``details.supersedes``). A process killed in between leaves an event for a
write that did not happen, never a write without its event.

Reads are recorded after the backend found the artifact and before the first
byte is handed up; if the event cannot be stored the read fails with
``AuditError`` (fail closed).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .._sources import Source
from ..backend import Backend, OpenedArtifact
from ..errors import ArtifactNotFoundError, ArtifactStoreError, AuditError, StorageConfigError
from ..layers import Layer, LayeredBackend
from ..metadata import ArtifactMetadata
from ..options import PutOptions, ReadOptions
from ._context import current_actor
from ._events import AuditRecord, outcome_of
from ._sink import AuditSink

__all__ = ["AuditLayer"]


class AuditLayer(Layer):
    """Record who stored, read, linked, copied, moved and deleted what (see docs/audit.md).

    Stores put it in place themselves with ``audit=True``; the store sits it
    outside the user's layers (so a retried call is one event) and inside the
    telemetry layer.

    :param metadata_reads: also record ``exists`` and ``get_metadata`` (not content
        reads: off by default).
    """

    name = "audit"

    def __init__(self, *, metadata_reads: bool = False) -> None:
        self.metadata_reads = metadata_reads

    def wrap(self, backend: Backend) -> AuditedBackend:
        """Return ``backend`` behind this layer (``StorageConfigError`` if it keeps no audit)."""
        return AuditedBackend(backend, self)


def link_id(url: str) -> str:
    """A link's id in events: a hash of its signature (the same when it is redeemed).

    A signed link's ``signature`` (``download_app``'s links) or ``X-Amz-Signature``
    (an S3 presigned URL); a URL with neither (``file://``) is hashed whole. The
    id names a link without letting anyone who reads the trail use it.
    """
    query = parse_qs(urlsplit(url).query)
    secret = (query.get("signature") or query.get("X-Amz-Signature") or [url])[0]
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


class AuditedBackend(LayeredBackend):
    """The backend of an audited store; ``sink`` is its record."""

    def __init__(self, inner: Backend, layer: AuditLayer) -> None:
        super().__init__(inner, layer)
        sink = inner.audit_sink()
        if sink is None:
            raise StorageConfigError(
                f"the {inner.info.name} backend keeps no audit trail (Backend.audit_sink)",
                setting="audit",
            )
        self.sink: AuditSink = sink
        self._metadata_reads = layer.metadata_reads

    def url(self) -> str:
        """The store's URL, with ``audit=true``: ``store_from_url`` builds an audited twin."""
        url = self.inner.url()
        return f"{url}{'&' if '?' in url else '?'}audit=true"

    # ------------------------------------------------------------------ records

    def record(self, operation: str, key: str | None, **fields: Any) -> AuditRecord:
        """A record of ``operation`` by the current actor."""
        actor = current_actor()
        return AuditRecord(
            operation, key, actor=actor.name, attributes=dict(actor.attributes), **fields
        )

    async def append(self, *records: AuditRecord) -> list[int]:
        """Store ``records``; ``AuditError`` (fail closed) if they cannot be."""
        try:
            return await self.sink.append(records)
        except AuditError:
            raise
        except ArtifactStoreError as exc:
            retryable = getattr(exc, "retryable", False)
            raise AuditError(
                f"the audit event could not be recorded ({type(exc).__name__}), so the "
                "operation was refused; the store's audit record needs attention",
                retryable=retryable,
            ) from exc

    async def _failed(
        self, ahead: Sequence[int], record: AuditRecord, error: BaseException
    ) -> None:
        """After a write recorded ahead failed: say so, naming the event(s) it supersedes."""
        record.outcome = outcome_of(error)
        record.details["error"] = type(error).__name__
        record.details["supersedes"] = list(ahead)
        record.sha256 = record.size = None
        try:
            await self.append(record)
        except AuditError:
            pass  # the write failed anyway; its event ahead stands, without the sequel

    async def _refused(self, record: AuditRecord, error: BaseException) -> None:
        """A call that failed before anything was recorded ahead (a missing source)."""
        record.outcome = outcome_of(error)
        record.details["error"] = type(error).__name__
        await self.append(record)

    async def refused(self, operation: str, key: str, error: BaseException) -> None:
        """A write refused above this layer (a hold): recorded once, as refused."""
        details: dict[str, Any] = {"error": type(error).__name__}
        names = getattr(error, "holds", ())
        if names:
            details["holds"] = list(names)
        until = getattr(error, "retained_until", None)
        if until is not None:
            details["retained_until"] = until.strftime("%Y-%m-%dT%H:%M:%SZ")
        await self.append(self.record(operation, key, outcome="refused", details=details))

    # ------------------------------------------------------------------- writes

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        record = self.record("put", key)
        ahead: list[int] = []
        given = options.before_commit

        async def before_commit(sha256: str, size: int, replacing: bool | None) -> None:
            if given is not None:
                await given(sha256, size, replacing)
            record.sha256, record.size = sha256, size
            if replacing is not None:
                record.details["change"] = "replaced" if replacing else "created"
            ahead.extend(await self.append(record))

        staged = dataclasses.replace(options, before_commit=before_commit)
        try:
            meta = await self.inner.put(key, source, staged)
        except BaseException as exc:
            if ahead:
                await self._failed(ahead, self.record("put", key), exc)
            elif not isinstance(exc, AuditError) and isinstance(exc, ArtifactStoreError):
                await self._refused(record, exc)
            raise
        if not ahead:  # a backend that does not stage its puts: recorded after
            record.sha256, record.size = meta.sha256, meta.size_bytes
            await self.append(record)
        return meta

    async def _write(self, records: list[AuditRecord], call: Any) -> Any:
        ahead = await self.append(*records)
        try:
            return await call()
        except BaseException as exc:
            first = records[0]
            await self._failed(ahead, self.record(first.operation, first.key), exc)
            raise

    async def _source(self, operation: str, src: str, dst: str) -> AuditRecord:
        record = self.record(operation, src, details={"dst": dst})
        try:
            meta = await self.inner.head(src)
        except ArtifactNotFoundError as exc:
            await self._refused(record, exc)
            raise
        record.sha256, record.size = meta.sha256, meta.size_bytes
        return record

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        record = await self._source("copy", src, dst)
        call = lambda: self.inner.copy(src, dst, if_not_exists=if_not_exists)  # noqa: E731
        result: ArtifactMetadata = await self._write([record], call)
        return result

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        record = await self._source("move", src, dst)
        call = lambda: self.inner.move(src, dst, if_not_exists=if_not_exists)  # noqa: E731
        result: ArtifactMetadata = await self._write([record], call)
        return result

    async def delete(self, key: str) -> bool:
        ahead = await self.append(self.record("delete", key))
        try:
            deleted = await self.inner.delete(key)
        except BaseException as exc:
            await self._failed(ahead, self.record("delete", key), exc)
            raise
        if not deleted:  # there was nothing: the event ahead did not happen
            await self._failed(ahead, self.record("delete", key), ArtifactNotFoundError(""))
        return deleted

    async def delete_prefix(self, prefix: str) -> int:
        keys = [
            item.storage_key
            async for page in self.inner.list_dir(prefix, recursive=True)
            for item in page.artifacts
        ]
        records = [self.record("delete", key, details={"prefix": prefix}) for key in keys]
        if not records:
            return await self.inner.delete_prefix(prefix)
        result: int = await self._write(records, lambda: self.inner.delete_prefix(prefix))
        return result

    # -------------------------------------------------------------------- reads

    async def read(self, key: str) -> tuple[bytes, ArtifactMetadata]:
        try:
            data, meta = await self.inner.read(key)
        except ArtifactNotFoundError as exc:
            await self._refused(self.record("get", key), exc)
            raise
        await self.append(self.record("get", key, sha256=meta.sha256, size=len(data)))
        return data, meta

    async def open(self, key: str, options: ReadOptions) -> OpenedArtifact:
        details: dict[str, Any] = {}
        if options.ranged:
            details["range"] = [options.start, options.end]
        try:
            opened = await self.inner.open(key, options)
        except ArtifactNotFoundError as exc:
            await self._refused(self.record("stream", key, details=details), exc)
            raise
        meta = opened.metadata
        record = self.record("stream", key, sha256=meta.sha256, size=meta.size_bytes)
        record.details.update(details)
        try:
            await self.append(record)
        except BaseException:
            await opened.aclose()  # fail closed: not one byte
            raise
        return opened

    async def head(self, key: str) -> ArtifactMetadata:
        if not self._metadata_reads:
            return await self.inner.head(key)
        try:
            meta = await self.inner.head(key)
        except ArtifactNotFoundError as exc:
            await self._refused(self.record("get_metadata", key), exc)
            raise
        await self.append(
            self.record("get_metadata", key, sha256=meta.sha256, size=meta.size_bytes)
        )
        return meta

    async def exists(self, key: str) -> bool:
        found = await self.inner.exists(key)
        if self._metadata_reads:
            outcome = "ok" if found else "not_found"
            await self.append(self.record("exists", key, outcome=outcome))
        return found

    async def get_url(self, key: str, expires_in: int) -> str:
        url = await self.inner.get_url(key, expires_in)
        expires = datetime.now(timezone.utc) + timedelta(seconds=expires_in)
        details = {"link": link_id(url), "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        await self.append(self.record("link_issued", key, details=details))
        return url
