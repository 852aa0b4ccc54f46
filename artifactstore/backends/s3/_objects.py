"""The store's bucket as the package's modules reach it: keys, errors, HEAD, hashing, PutObject.

``S3ArtifactStore`` and the functions of ``_manage`` share one :class:`Objects`
per store, rather than the functions reaching into the store's private members.
"""

from __future__ import annotations

import dataclasses
import hashlib
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from ...errors import StorageBackendError
from ...metadata import ArtifactMetadata
from . import _metadata as _meta
from ._client import S3Client
from ._errors import map_errors, precondition_failed
from ._settings import S3Settings
from ._upload import hash_update

__all__ = ["SHA_FIELD", "Objects"]

SHA_FIELD = _meta.SHA_FIELD
MiB = 1024 * 1024


class Objects:
    """The objects of one store: its settings, its client, its bucket and key prefix."""

    def __init__(self, settings: S3Settings, client: S3Client) -> None:
        self.settings = settings
        self.client = client
        self.bucket = settings.bucket
        self.prefix = settings.prefix

    def object_key(self, key: str) -> str:
        """The object key of a store key (under the prefix)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def errors(self, key: str | None, doing: str) -> AbstractContextManager[None]:
        return map_errors(self.bucket, key, doing)

    def extra_args(self) -> dict[str, Any]:
        return self.settings.encryption_args()

    def headers(self, mime: str, metadata: dict[str, str], sha256: str) -> dict[str, Any]:
        """What an object is stored with: mime type, metadata and SHA-256, encryption."""
        return {
            "ContentType": mime,
            "Metadata": _meta.encode({**metadata, SHA_FIELD: sha256}),
            **self.extra_args(),
        }

    def metadata(self, key: str, head: dict[str, Any], size: int | None = None) -> ArtifactMetadata:
        """The metadata of ``key`` from a HeadObject or GetObject answer."""
        user = _meta.decode(head.get("Metadata") or {})
        sha256 = user.pop(SHA_FIELD, None)
        modified: datetime = head.get("LastModified") or datetime.now(timezone.utc)
        modified = modified.astimezone(timezone.utc)  # botocore's tzutc() to the stdlib's
        return ArtifactMetadata(
            storage_backend="s3",
            storage_key=key,
            storage_uri=self.uri(key),
            sha256=sha256,
            size_bytes=head.get("ContentLength", 0) if size is None else size,
            mime_type=head.get("ContentType"),
            last_modified=modified,
            metadata=user,
        )

    def written(
        self, key: str, size: int, mime: str, metadata: dict[str, str], sha256: str
    ) -> ArtifactMetadata:
        """The metadata of what was just written at ``key``."""
        return ArtifactMetadata(
            storage_backend="s3",
            storage_key=key,
            storage_uri=self.uri(key),
            sha256=sha256,
            size_bytes=size,
            mime_type=mime,
            last_modified=datetime.now(timezone.utc),
            metadata=metadata,
        )

    async def put_object(
        self, key: str, data: bytes, mime: str, metadata: dict[str, str], if_not_exists: bool
    ) -> ArtifactMetadata:
        """Store ``data`` at ``key`` with one PutObject."""
        hasher = hashlib.sha256()
        await hash_update(hasher, data)
        sha256 = hasher.hexdigest()
        client = await self.client.get()
        extra = {"IfNoneMatch": "*"} if if_not_exists else {}
        with self.errors(key, "storing"):
            await client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=data,
                ContentType=mime,
                Metadata=_meta.encode({**metadata, SHA_FIELD: sha256}),
                **self.extra_args(),
                **extra,
            )
        return self.written(key, len(data), mime, metadata, sha256)

    async def head(self, key: str) -> ArtifactMetadata:
        """The metadata of ``key``, its SHA-256 included (objects stored by others hashed)."""
        for _attempt in range(4):
            head = await self.head_object(key)
            meta = self.metadata(key, head)
            if meta.sha256 is not None:
                return meta
            # Written by other means (or a stamp interrupted): hash the object itself.
            sha256 = await self.hash_version(key, head["ETag"])
            if sha256 is not None:
                return dataclasses.replace(meta, sha256=sha256)
        raise StorageBackendError(
            f"{key!r} in bucket {self.bucket!r} kept being replaced while it was hashed; try again",
            key=key,
        )

    async def head_object(self, key: str) -> dict[str, Any]:
        """The raw HeadObject answer (``ArtifactNotFoundError`` if there is none)."""
        client = await self.client.get()
        with self.errors(key, "reading the metadata of"):
            head: dict[str, Any] = await client.head_object(
                Bucket=self.bucket, Key=self.object_key(key)
            )
        return head

    async def hash_version(self, key: str, etag: str) -> str | None:
        """The SHA-256 of this very version of ``key``; ``None`` if it was replaced since."""
        client = await self.client.get()
        hasher = hashlib.sha256()
        try:
            with self.errors(key, "reading"):
                answer = await client.get_object(
                    Bucket=self.bucket, Key=self.object_key(key), IfMatch=etag
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
