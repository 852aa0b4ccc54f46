"""``S3ArtifactStore``: artifacts as objects in an S3 bucket (AWS, MinIO, Ceph RGW, R2).

Opt-in (``pip install 'artifactstore[s3]'``). One aioboto3 client per store,
created on first use and closed by ``aclose()``; never a client per call.

What is stored with each object: the bytes; ``Content-Type`` = the mime type;
``x-amz-meta-*`` = the user's metadata plus ``artifactstore-sha256``, so
``get_metadata`` is one HEAD. Small payloads are one PutObject; large or
unknown-length ones a multipart upload (``_s3_upload``). A SHA-256 is only known
at the end of a stream, after S3 fixed the object's metadata, so a streamed upload
whose source could not be hashed first is stamped afterwards by a server-side copy
onto itself, conditional on its ETag (another writer's object is never stamped).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any, ClassVar

import aiofiles
import anyio
from botocore.exceptions import ClientError

from .. import _publish
from .._sources import AsyncIterableSource, BytesSource, PathSource, Source, rechunk
from ..errors import ArtifactNotFoundError, InvalidKeyError, StorageBackendError
from ..metadata import ArtifactMetadata
from ..protocol import ArtifactStore, Listing
from . import _s3_manage
from . import _s3_metadata as _meta
from ._s3_client import S3Client, S3Settings
from ._s3_errors import error_code, map_errors, precondition_failed
from ._s3_upload import MAX_PARTS, hash_update, multipart_upload, stamp_metadata

__all__ = ["S3ArtifactStore"]

SHA_FIELD = _meta.SHA_FIELD
MiB = 1024 * 1024


class _S3Opened:
    """A GetObject response body, read chunk by chunk; closing it frees its connection."""

    def __init__(
        self, bucket: str, metadata: ArtifactMetadata, body: Any, remaining: int, chunk: int
    ) -> None:
        self.metadata = metadata
        self._body = body
        self._remaining = remaining
        self._chunk = chunk
        self._bucket = bucket

    async def read(self) -> bytes:
        if self._body is None or self._remaining <= 0:
            self.close_nowait()
            return b""
        with map_errors(self._bucket, self.metadata.storage_key, "reading"):
            data: bytes = await self._body.read(min(self._chunk, self._remaining))
        if not data:
            self.close_nowait()
            return b""
        self._remaining -= len(data)
        return data

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        # close(), not release(): the rest of the body is unread, so the connection
        # cannot go back to the pool; closing it frees the pool slot at once.
        body, self._body = self._body, None
        if body is not None:
            body.close()


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects in ``bucket``, under an optional key ``prefix``.

    Credentials come from the standard AWS chain (environment, profile, role) unless
    given; they never appear in a repr, a log line or an error message. See
    :class:`~artifactstore.backends._s3_client.S3Settings` for every option.
    """

    backend_name: ClassVar[str] = "s3"

    def __init__(self, bucket: str, **options: Any) -> None:
        self._settings = S3Settings.build(bucket, **options)
        self._client = S3Client(self._settings)
        self._bucket = self._settings.bucket
        self._prefix = self._settings.prefix

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._bucket

    def _object_key(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _uri(self, key: str) -> str:
        return f"s3://{self._bucket}/{key}"

    def _errors(self, key: str | None, doing: str) -> AbstractContextManager[None]:
        return map_errors(self._bucket, key, doing)

    def _key_from_location(self, key: str) -> str | None:
        if not key.startswith("s3://"):
            return None
        # storage_uri is "s3://bucket/key", the key as is (not URL-encoded, as S3
        # tools write it): strip the prefix rather than parse it as a URL ('#', '?').
        own = f"s3://{self._bucket}/"
        if not key.startswith(own):
            raise InvalidKeyError(f"{key!r} is not in bucket {self._bucket!r}", key=key)
        return key[len(own) :]

    def _extra_args(self) -> dict[str, Any]:
        return self._settings.encryption_args()

    def _headers(self, mime: str, metadata: dict[str, str], sha256: str) -> dict[str, Any]:
        """What an object is stored with: mime type, metadata and SHA-256, encryption."""
        return {
            "ContentType": mime,
            "Metadata": _meta.encode({**metadata, SHA_FIELD: sha256}),
            **self._extra_args(),
        }

    def _metadata(
        self, key: str, head: dict[str, Any], size: int | None = None
    ) -> ArtifactMetadata:
        user = _meta.decode(head.get("Metadata") or {})
        sha256 = user.pop(SHA_FIELD, None)
        modified: datetime = head.get("LastModified") or datetime.now(timezone.utc)
        modified = modified.astimezone(timezone.utc)  # botocore's tzutc() to the stdlib's
        return ArtifactMetadata(
            storage_backend="s3",
            storage_key=key,
            storage_uri=self._uri(key),
            sha256=sha256,
            size_bytes=head.get("ContentLength", 0) if size is None else size,
            mime_type=head.get("ContentType"),
            last_modified=modified,
            metadata=user,
        )

    # ------------------------------------------------------------------- writing

    async def _put(
        self,
        key: str,
        source: Source,
        *,
        mime_type: str,
        metadata: dict[str, str],
        if_not_exists: bool,
    ) -> ArtifactMetadata:
        settings = self._settings
        _meta.check_budget(metadata)  # as S3 counts it, before any request
        if isinstance(source, BytesSource) and len(source.data) <= settings.multipart_threshold:
            return await self._put_object(
                key, bytes(source.data), mime_type, metadata, if_not_exists
            )
        known_sha: str | None = None
        if isinstance(source, PathSource):
            known_sha, size = await anyio.to_thread.run_sync(_hash_file, source.path)
            self._check_part_count(size)
            if size <= settings.multipart_threshold:
                data = await anyio.to_thread.run_sync(_read_file, source.path)
                return await self._put_object(key, data, mime_type, metadata, if_not_exists)
        elif isinstance(source, BytesSource):
            self._check_part_count(len(source.data))
            hasher = hashlib.sha256()
            await hash_update(hasher, source.data)
            known_sha = hasher.hexdigest()

        parts = _parts(source, settings.part_size)
        first = await anext(parts, b"")
        if len(first) < settings.part_size:  # the whole stream fit in one part
            await parts.aclose()
            return await self._put_object(key, first, mime_type, metadata, if_not_exists)
        held = [first]
        del first  # the upload holds parts_in_flight parts at most: not this one too
        return await self._put_multipart(
            key,
            _prepend(held, parts),
            known_sha,
            mime_type,
            metadata,
            if_not_exists,
            from_file=isinstance(source, PathSource),
        )

    def _check_part_count(self, size: int) -> None:
        """Refuse up front what would need more parts than S3 allows."""
        if size > self._settings.part_size * MAX_PARTS:
            raise ValueError(
                f"{size} bytes need more than {MAX_PARTS} parts of {self._settings.part_size}; "
                "use a larger part_size for artifacts this big"
            )

    async def _put_object(
        self, key: str, data: bytes, mime: str, metadata: dict[str, str], if_not_exists: bool
    ) -> ArtifactMetadata:
        hasher = hashlib.sha256()
        await hash_update(hasher, data)
        sha256 = hasher.hexdigest()
        client = await self._client.get()
        extra = {"IfNoneMatch": "*"} if if_not_exists else {}
        with self._errors(key, "storing"):
            await client.put_object(
                Bucket=self._bucket,
                Key=self._object_key(key),
                Body=data,
                ContentType=mime,
                Metadata=_meta.encode({**metadata, SHA_FIELD: sha256}),
                **self._extra_args(),
                **extra,
            )
        return self._written(key, len(data), mime, metadata, sha256)

    def _written(
        self, key: str, size: int, mime: str, metadata: dict[str, str], sha256: str
    ) -> ArtifactMetadata:
        return ArtifactMetadata(
            storage_backend="s3",
            storage_key=key,
            storage_uri=self._uri(key),
            sha256=sha256,
            size_bytes=size,
            mime_type=mime,
            last_modified=datetime.now(timezone.utc),
            metadata=metadata,
        )

    async def _put_multipart(
        self,
        key: str,
        parts: AsyncIterator[bytes],
        known_sha: str | None,
        mime: str,
        metadata: dict[str, str],
        if_not_exists: bool,
        from_file: bool,
    ) -> ArtifactMetadata:
        client = await self._client.get()
        object_key = self._object_key(key)
        user = dict(metadata)
        if known_sha is not None:
            user[SHA_FIELD] = known_sha
        # A bytes source was hashed before (immutable); a file may change meanwhile.
        trusted = known_sha is not None and not from_file
        completed, streamed_sha, size = await multipart_upload(
            client,
            bucket=self._bucket,
            key=object_key,
            parts=parts,
            create_args={"ContentType": mime, "Metadata": _meta.encode(user), **self._extra_args()},
            parts_in_flight=self._settings.parts_in_flight,
            if_not_exists=if_not_exists,
            errors=lambda doing: self._errors(key, doing),
            hash_parts=not trusted,
        )
        sha256 = known_sha if trusted else streamed_sha
        assert sha256 is not None
        if known_sha != sha256:
            # The SHA-256 was not known when S3 fixed the metadata (a stream), or the
            # file changed after it was hashed: stamp the real one now. Shielded:
            # the bytes are in place, so finish even if the caller is cancelled.
            with anyio.CancelScope(shield=True):
                await stamp_metadata(
                    client,
                    bucket=self._bucket,
                    key=object_key,
                    etag=completed["ETag"],
                    size=size,
                    args=self._headers(mime, metadata, sha256),
                    errors=lambda doing: self._errors(key, doing),
                    single_copy_limit=self._settings.single_copy_limit,
                    part_size=self._settings.part_size,
                    parts_in_flight=self._settings.parts_in_flight,
                )
        return self._written(key, size, mime, metadata, sha256)

    # ------------------------------------------------------------------- reading

    async def _open(self, key: str, start: int, end: int | None, chunk: int) -> _S3Opened:
        client = await self._client.get()
        args: dict[str, Any] = {"Bucket": self._bucket, "Key": self._object_key(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        if end is not None and end <= start:  # an empty range: S3 has no way to ask for one
            return _S3Opened(self._bucket, await self._head(key), None, 0, chunk)
        with self._errors(key, "reading"):
            try:
                answer = await client.get_object(**args)
            except ClientError as exc:
                if error_code(exc)[0] != "InvalidRange":
                    raise
                answer = None  # the range starts past the end: nothing to read
        if answer is None:
            return _S3Opened(self._bucket, await self._head(key), None, 0, chunk)
        total = answer.get("ContentLength", 0)
        content_range = answer.get("ContentRange")
        if content_range:  # "bytes 0-9/1234"
            total = int(content_range.rsplit("/", 1)[1])
        meta = self._metadata(key, answer, size=total)
        if meta.sha256 is None:
            answer["Body"].close()
            meta = await self._head(key)  # hashes objects stored by others
            with self._errors(key, "reading"):
                answer = await client.get_object(**args)
        return _S3Opened(self._bucket, meta, answer["Body"], answer.get("ContentLength", 0), chunk)

    async def _head(self, key: str) -> ArtifactMetadata:
        for _attempt in range(4):
            head = await self._head_object(key)
            meta = self._metadata(key, head)
            if meta.sha256 is not None:
                return meta
            # Written by other means (or a stamp interrupted): hash the object itself.
            sha256 = await self._hash_version(key, head["ETag"])
            if sha256 is not None:
                return dataclasses.replace(meta, sha256=sha256)
        raise StorageBackendError(
            f"{key!r} in bucket {self._bucket!r} kept being replaced while it was hashed; "
            "try again",
            key=key,
        )

    async def _head_object(self, key: str) -> dict[str, Any]:
        """The raw HeadObject answer (``ArtifactNotFoundError`` if there is none)."""
        client = await self._client.get()
        with self._errors(key, "reading the metadata of"):
            head: dict[str, Any] = await client.head_object(
                Bucket=self._bucket, Key=self._object_key(key)
            )
        return head

    async def _hash_version(self, key: str, etag: str) -> str | None:
        """The SHA-256 of this very version of ``key``; ``None`` if it was replaced since."""
        client = await self._client.get()
        hasher = hashlib.sha256()
        try:
            with self._errors(key, "reading"):
                answer = await client.get_object(
                    Bucket=self._bucket, Key=self._object_key(key), IfMatch=etag
                )
                body = answer["Body"]
                try:
                    while chunk := await body.read(MiB):
                        await hash_update(hasher, chunk)
                finally:
                    body.close()
        except StorageBackendError as exc:
            if precondition_failed(exc):
                return None
            raise
        return hasher.hexdigest()

    async def exists(self, key: str) -> bool:
        """Return whether an object is stored at ``key`` (one HEAD, no hashing)."""
        key = self.normalize_key(key)
        client = await self._client.get()
        try:
            with self._errors(key, "checking"):
                await client.head_object(Bucket=self._bucket, Key=self._object_key(key))
        except ArtifactNotFoundError:
            return False
        return True

    async def _delete(self, key: str) -> bool:
        # DeleteObject answers 204 whether or not the key existed: ask first.
        if not await self.exists(key):
            return False
        client = await self._client.get()
        with self._errors(key, "deleting"):
            await client.delete_object(Bucket=self._bucket, Key=self._object_key(key))
        return True

    async def _copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """A server-side copy (CopyObject, or UploadPartCopy parts); see ``_s3_manage``."""
        return await _s3_manage.copy(self, src, dst, if_not_exists=if_not_exists)

    async def _move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """Copy server-side, then delete the source: S3 has no rename.

        Not atomic as a whole: each step is, but a crash between the two leaves the
        artifact at both keys (never at neither); moving again (without
        ``if_not_exists``) finishes the job.
        """
        meta = await self._copy(src, dst, if_not_exists=if_not_exists)
        client = await self._client.get()
        with self._errors(src, "deleting"):
            await client.delete_object(Bucket=self._bucket, Key=self._object_key(src))
        return meta

    async def _delete_prefix(self, prefix: str) -> int:
        return await _s3_manage.delete_prefix(self, prefix)

    def _url(self) -> str:
        return _s3_manage.store_url(self._settings)

    async def _get_url(self, key: str, expires_in: int) -> str:
        client = await self._client.get()
        with self._errors(key, "signing a URL for"):
            url: str = await client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self._bucket, "Key": self._object_key(key)},
                ExpiresIn=expires_in,
            )
        return url

    async def _list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        client = await self._client.get()
        full = self._object_key(prefix) if prefix else self._prefix
        list_prefix = f"{full}/" if full else ""
        strip = len(f"{self._prefix}/") if self._prefix else 0
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": list_prefix}
        if not recursive:
            args["Delimiter"] = "/"
        while True:
            with self._errors(prefix or None, "listing"):
                page = await client.list_objects_v2(**args)
            artifacts = []
            for item in page.get("Contents", []):
                key = item["Key"][strip:]
                if _s3_manage.is_key(key):
                    artifacts.append(
                        ArtifactMetadata(
                            storage_backend="s3",
                            storage_key=key,
                            storage_uri=self._uri(key),
                            sha256=None,  # not in a listing: one HEAD per item would tell
                            size_bytes=item.get("Size", 0),
                            mime_type=None,
                            last_modified=item["LastModified"].astimezone(timezone.utc),
                        )
                    )
            folders = [
                p["Prefix"][strip:].rstrip("/")
                for p in page.get("CommonPrefixes", [])
                if _s3_manage.is_key(p["Prefix"][strip:].rstrip("/"))
            ]
            yield Listing(artifacts, folders)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Abort incomplete multipart uploads under the prefix begun over ``older_than`` s ago.

        ``older_than`` defaults to one hour, sparing uploads in progress elsewhere.
        The bucket lifecycle rule ``AbortIncompleteMultipartUpload`` does the same
        on S3's side; this is for when a process was killed outright.
        """
        limit = 3600.0 if older_than is None else older_than
        client = await self._client.get()
        cutoff = datetime.now(timezone.utc).timestamp() - limit
        args: dict[str, Any] = {"Bucket": self._bucket}
        if self._prefix:
            args["Prefix"] = f"{self._prefix}/"
        aborted = 0
        while True:
            with self._errors(None, "listing the incomplete uploads of"):
                page = await client.list_multipart_uploads(**args)
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() > cutoff:
                    continue
                with anyio.CancelScope(shield=True), self._errors(upload["Key"], "aborting"):
                    await client.abort_multipart_upload(
                        Bucket=self._bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                aborted += 1
            if not page.get("IsTruncated"):
                return aborted
            args["KeyMarker"] = page.get("NextKeyMarker")
            args["UploadIdMarker"] = page.get("NextUploadIdMarker")

    async def aclose(self) -> None:
        """Close the S3 client and its connection pool."""
        await self._client.aclose()


def _hash_file(path: str) -> tuple[str, int]:
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


async def _parts(source: Source, size: int) -> AsyncGenerator[bytes, None]:
    """The source's bytes in chunks of ``size`` (the last one shorter), read off the loop."""
    if isinstance(source, BytesSource):
        for i in range(0, max(len(source.data), 1), size):
            yield bytes(source.data[i : i + size])
    elif isinstance(source, AsyncIterableSource):
        async for chunk in rechunk(source.iterable, size):
            yield chunk
        return
    elif isinstance(source, PathSource):
        # One thread hop per part is nothing next to uploading it: aiofiles is right here.
        async with aiofiles.open(source.path, "rb") as f:
            while True:
                chunk = await f.read(size)
                yield chunk
                if len(chunk) < size:
                    return
    else:
        while True:
            chunk = await anyio.to_thread.run_sync(_read_exactly, source.file, size)
            yield chunk
            if len(chunk) < size:
                return


def _read_exactly(file: Any, size: int) -> bytes:
    parts = []
    missing = size
    while missing:
        chunk = file.read(missing)
        if chunk is None:
            raise TypeError("the file object is non-blocking and had no data; pass a blocking one")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"the file object's read() returned {type(chunk).__name__}, not bytes")
        if not chunk:
            break
        parts.append(bytes(chunk))
        missing -= len(chunk)
    return b"".join(parts)


async def _prepend(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield held.pop()  # popped: once sent, nothing here keeps the first part alive
    async for chunk in rest:
        yield chunk


# Users import it as artifactstore.S3ArtifactStore (loaded on first use, so named here).
_publish("artifactstore", ["S3ArtifactStore"], globals())
