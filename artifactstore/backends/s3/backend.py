"""``S3Backend``: artifacts as objects in an S3 bucket (AWS, MinIO, Ceph RGW, R2).

Opt-in (``pip install 'artifactstore[s3]'``). One aioboto3 client per store,
created on first use and closed by ``aclose()``; never a client per call.

What is stored with each object: the bytes; ``Content-Type`` = the mime type;
``x-amz-meta-*`` = the user's metadata plus ``artifactstore-sha256``, so
``get_metadata`` is one HEAD. Small payloads are one PutObject; large or
unknown-length ones a multipart upload (``_upload``). A SHA-256 known only at the
end of a stream (or a large file, read once) comes after S3 fixed the object's
metadata: it is recorded in a tag, or by a copy where tagging is refused (``_sha``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from datetime import timezone
from typing import TYPE_CHECKING, Any

import anyio
from botocore.exceptions import ClientError

from ..._disposition import content_disposition, is_active
from ..._sources import BytesSource, PathSource, Source, chunks_of, exact_parts, prepend
from ...backend import Backend, BackendInfo, Listing
from ...errors import ArtifactNotFoundError
from ...metadata import ArtifactMetadata
from ...options import BeforeCommit, PutOptions, ReadOptions
from . import _manage
from . import _metadata as _meta
from ._audit import S3AuditSink
from ._client import S3Client
from ._errors import error_code
from ._holds import S3HoldRegistry
from ._objects import Objects
from ._read import S3Opened
from ._settings import S3Settings
from ._sha import TAG_MARK, version_of
from ._upload import MAX_PARTS, hash_update, multipart_upload

if TYPE_CHECKING:
    from ...audit import AuditSink

__all__ = ["S3Backend"]


class S3Backend(Backend):
    """Artifacts as objects in a bucket; the options are :class:`S3Settings`'."""

    info = BackendInfo(name="s3", scheme="s3", readable_urls=True, staged_puts=True, holds=True)

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._client = S3Client(self._settings)
        self._bucket = self._settings.bucket
        self._prefix = self._settings.prefix
        self._objects = Objects(self._settings, self._client)
        self._audit: AuditSink | None = None
        self._holds: S3HoldRegistry | None = None

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    @property
    def settings(self) -> S3Settings:
        """The backend's options, validated."""
        return self._settings

    def key_from_location(self, key: str) -> str | None:
        """An ``s3://bucket/prefix/key`` URI of this store (or its older form), as a key."""
        return self._objects.key_of_uri(key) if key.startswith("s3://") else None

    # ------------------------------------------------------------------- writing

    def check_put(self, key: str, options: PutOptions) -> None:
        """S3's 2 KiB of user metadata, counted as sent (see ``_metadata``)."""
        _meta.check_budget(options.metadata)

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        """One PutObject for small data, else a multipart upload (see the module docstring)."""
        mime_type, if_not_exists = options.mime_type, options.if_not_exists
        metadata = dict(options.metadata)
        settings = self._settings
        _meta.check_budget(metadata)  # as S3 counts it, before any request
        staged = options.before_commit
        known_sha: str | None = None
        if isinstance(source, BytesSource):
            if len(source.data) <= settings.multipart_threshold:
                return await self._objects.put_object(
                    key, bytes(source.data), mime_type, metadata, if_not_exists, staged
                )
            # In memory and immutable: hash first, so the SHA-256 goes in the metadata.
            self._check_part_count(len(source.data))
            hasher = hashlib.sha256()
            await hash_update(hasher, source.data)
            known_sha = hasher.hexdigest()
        elif isinstance(source, PathSource):
            size = (await anyio.to_thread.run_sync(os.stat, source.path)).st_size
            self._check_part_count(size)
            if size <= settings.multipart_threshold:  # one read, hashed in memory
                data = b"".join([chunk async for chunk in chunks_of(source, size + 1)])
                return await self._objects.put_object(
                    key, data, mime_type, metadata, if_not_exists, staged
                )
            # Larger: read once, hashed while its parts upload (the file may change
            # meanwhile: the SHA-256 is always that of the bytes uploaded).

        parts = exact_parts(source, settings.part_size)
        first = await anext(parts, b"")
        if len(first) < settings.part_size:  # the whole stream fit in one part
            await parts.aclose()  # type: ignore[attr-defined]
            return await self._objects.put_object(
                key, first, mime_type, metadata, if_not_exists, staged
            )
        held = [first]
        del first  # the upload holds parts_in_flight parts at most: not this one too
        return await self._put_multipart(
            key, prepend(held, parts), known_sha, mime_type, metadata, if_not_exists, staged
        )

    def _check_part_count(self, size: int) -> None:
        """Refuse up front what would need more parts than S3 allows."""
        if size > self._settings.part_size * MAX_PARTS:
            raise ValueError(
                f"{size} bytes need more than {MAX_PARTS} parts of {self._settings.part_size}; "
                "use a larger part_size for artifacts this big"
            )

    async def _put_multipart(
        self,
        key: str,
        parts: AsyncIterator[bytes],
        known_sha: str | None,
        mime: str,
        metadata: dict[str, str],
        if_not_exists: bool,
        staged: BeforeCommit | None = None,
    ) -> ArtifactMetadata:
        """A multipart upload; a SHA-256 not ``known_sha`` beforehand is recorded after it."""
        client = await self._client.get()
        write = await self._objects.lock.for_write(key)  # Object Lock (None without)
        create_args = self._objects.headers(mime, metadata, known_sha or TAG_MARK)
        create_args.update(write.args() if write is not None else {})

        async def before_complete(sha256: str | None, size: int) -> None:
            if staged is not None:
                await staged(known_sha or sha256 or "", size, None)

        completed, streamed_sha, size = await multipart_upload(
            client,
            bucket=self._bucket,
            key=self._objects.object_key(key),
            parts=parts,
            create_args=create_args,
            parts_in_flight=self._settings.parts_in_flight,
            if_not_exists=if_not_exists,
            errors=lambda doing: self._objects.errors(key, doing),
            hash_parts=known_sha is None,
            sign_payloads=self._settings.signs_payloads,
            before_complete=before_complete if staged is not None else None,
            checksums=True,  # also the mark of this library's uploads (``cleanup``)
        )
        sha256 = known_sha or streamed_sha
        assert sha256 is not None
        etag: str | None = completed.get("ETag")
        if known_sha is None:
            # Shielded: the bytes are in place, so finish even if the caller is cancelled.
            with anyio.CancelScope(shield=True):
                etag = await self._objects.record(
                    key, completed, sha256=sha256, size=size, mime=mime, metadata=metadata
                )
        if write is not None:  # whatever CreateMultipartUpload's headers did
            await write.settle(None, again=True)
        return self._objects.written(key, size, mime, metadata, sha256, etag)

    # ------------------------------------------------------------------- reading

    async def open(self, key: str, options: ReadOptions) -> S3Opened:
        """One GetObject (with a Range when asked for part of the object).

        Again (up to 3 times) when the whole object read is a streamed put's version
        replaced before its tag came: it never gets a record, the newer one may.
        """
        for _attempt in range(3):
            opened = await self._open_once(key, options, last=False)
            if opened is not None:
                return opened
        opened = await self._open_once(key, options, last=True)
        assert opened is not None  # the last attempt serves what it read
        return opened

    async def _open_once(self, key: str, options: ReadOptions, last: bool) -> S3Opened | None:
        start, end, chunk = options.start, options.end, options.chunk_size
        client = await self._client.get()
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._objects.object_key(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        if end is not None and end <= start:  # an empty range: S3 has no way to ask for one
            return S3Opened(self._bucket, await self._objects.look(key), None, 0, chunk)
        with self._objects.errors(key, "reading"):
            try:
                answer = await client.get_object(**args)
            except ClientError as exc:
                if error_code(exc)[0] != "InvalidRange":
                    raise
                answer = None  # the range starts past the end: nothing to read
        if answer is None:
            return S3Opened(self._bucket, await self._objects.look(key), None, 0, chunk)
        version = version_of(self._objects.object_key(key), answer)
        meta = self._objects.metadata(key, answer, size=version[2])
        learn: Callable[[str], None] | None = None
        if meta.sha256 is None:
            whole = "Range" not in args
            try:  # recorded in a tag? Never a download here, for a range of a few bytes.
                sha256 = await self._objects.sha256_of(
                    key, answer, download=False, hints=True, patient=whole
                )
                if (
                    sha256 is None
                    and whole
                    and not last
                    and await self._objects.superseded(key, answer)
                ):
                    answer["Body"].close()
                    return None
            except BaseException:
                answer["Body"].close()
                raise
            if sha256 is not None:  # trusted, or a hint the bytes read are checked against
                meta = dataclasses.replace(meta, sha256=sha256)
            if self._objects.known.get(version) is None and "Range" not in args:
                # The whole object: learn its SHA-256 as it is read.
                learn = functools.partial(self._objects.known.remember, version)
        body, length = answer["Body"], answer.get("ContentLength", 0)
        return S3Opened(self._bucket, meta, body, length, chunk, learn=learn)

    async def head(self, key: str) -> ArtifactMetadata:
        """One HEAD (and the SHA-256 from a tag, or by hashing a foreign object once)."""
        return await self._objects.head(key)

    async def exists(self, key: str) -> bool:
        """One HEAD, no hashing."""
        client = await self._client.get()
        try:
            with self._objects.errors(key, "checking"):
                await client.head_object(Bucket=self._bucket, Key=self._objects.object_key(key))
        except ArtifactNotFoundError:
            return False
        return True

    async def delete(self, key: str) -> bool:
        """HEAD, then DeleteObject (which answers the same whether or not the key existed)."""
        # DeleteObject answers 204 whether or not the key existed: ask first.
        if not await self.exists(key):
            return False
        client = await self._client.get()
        with self._objects.errors(key, "deleting"):
            await client.delete_object(Bucket=self._bucket, Key=self._objects.object_key(key))
        return True

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """A server-side copy (CopyObject, or UploadPartCopy parts); see ``_manage``."""
        return await _manage.copy(self._objects, src, dst, if_not_exists=if_not_exists)

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Copy server-side, then delete the source: S3 has no rename.

        Not atomic as a whole: each step is, but a crash between the two leaves the
        artifact at both keys (never at neither); moving again (without
        ``if_not_exists``) finishes the job.
        """
        meta = await self.copy(src, dst, if_not_exists=if_not_exists)
        client = await self._client.get()
        with self._objects.errors(src, "deleting"):
            await client.delete_object(Bucket=self._bucket, Key=self._objects.object_key(src))
        return meta

    async def delete_prefix(self, prefix: str) -> int:
        """Batch DeleteObjects of a listing, a thousand keys per request."""
        return await _manage.delete_prefix(self._objects, prefix)

    def url(self) -> str:
        """``s3://bucket/prefix?...`` with the options that make an equivalent store."""
        return _manage.store_url(self._settings)

    async def get_url(self, key: str, expires_in: int) -> str:
        """A presigned GetObject URL; ``attachment`` for active types (or unknown ones)."""
        client = await self._client.get()
        params = {"Bucket": self._bucket, "Key": self._objects.object_key(key)}
        try:
            mime = (await self._objects.head_object(key)).get("ContentType")
        except ArtifactNotFoundError:
            mime = None  # not there yet: whatever comes may be active
        if mime is None or is_active(mime):
            name = key.rsplit("/", 1)[-1]
            params["ResponseContentDisposition"] = content_disposition(name, inline=False)
        else:  # pinned: an active object put at the key later is not rendered through it
            params["ResponseContentType"] = mime
        with self._objects.errors(key, "signing a URL for"):
            url: str = await client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=expires_in
            )
        return url

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        """ListObjectsV2 pages (no SHA-256: listings carry no user metadata)."""
        client = await self._client.get()
        full = self._objects.object_key(prefix) if prefix else self._prefix
        list_prefix = f"{full}/" if full else ""
        strip = len(f"{self._prefix}/") if self._prefix else 0
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": list_prefix}
        if not recursive:
            args["Delimiter"] = "/"
        while True:
            with self._objects.errors(prefix or None, "listing"):
                page = await client.list_objects_v2(**args)
            artifacts = []
            invalid = []
            for item in page.get("Contents", []):
                key = item["Key"][strip:]
                if not _manage.is_key(key):
                    if _manage.is_document(key, item.get("Size", 0)):
                        invalid.append(key)  # reported, never read
                    continue
                artifacts.append(
                    ArtifactMetadata(
                        storage_backend="s3",
                        storage_key=key,
                        storage_uri=self._objects.uri(key),
                        sha256=None,  # not in a listing: one HEAD per item would tell
                        size_bytes=item.get("Size", 0),
                        mime_type=None,
                        last_modified=item["LastModified"].astimezone(timezone.utc),
                        etag=item.get("ETag", "").strip('"') or None,
                    )
                )
            folders = []
            for common in page.get("CommonPrefixes", []):
                folder = common["Prefix"][strip:]
                if _manage.is_key(folder.rstrip("/")):
                    folders.append(folder.rstrip("/"))
                elif _manage.is_document(folder, 1):
                    invalid.append(folder)
            yield Listing(artifacts, folders, invalid)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Abort this library's incomplete uploads under the prefix begun ``older_than`` s ago.

        ``older_than`` defaults to one hour, sparing uploads in progress elsewhere.
        Other tools' uploads are left alone (see ``_manage.cleanup``).
        """
        return await _manage.cleanup(self._objects, 3600.0 if older_than is None else older_than)

    def hold_registry(self) -> S3HoldRegistry:
        """Holds and retentions: objects under ``.artifactstore/holds/``."""
        if self._holds is None:
            errors = lambda doing: self._objects.errors(None, doing)  # noqa: E731
            lock = self._objects.lock  # on a bucket with Object Lock, also the objects'
            self._holds = S3HoldRegistry(self._client, self._bucket, self._prefix, errors, lock)
            lock.registry = self._holds
        return self._holds

    def audit_sink(self) -> AuditSink:
        """The audit trail: one object per event under ``.artifactstore/audit/``."""
        if self._audit is None:
            errors = lambda doing: self._objects.errors(None, doing)  # noqa: E731
            self._audit = S3AuditSink(
                self._client, self._bucket, self._prefix, errors, self._objects.lock.checksum
            )
        return self._audit

    async def aclose(self) -> None:
        """Close the S3 client and its connection pool."""
        await self._client.aclose()
