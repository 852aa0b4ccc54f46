"""The store's bucket as the package's modules reach it: keys, errors, HEAD, SHA-256s, PutObject.

``S3ArtifactStore`` and the functions of ``_manage`` share one :class:`Objects`
per store, rather than the functions reaching into the store's private members.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

import anyio

from ...errors import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidKeyError,
    StorageBackendError,
)
from ...metadata import ArtifactMetadata
from ...options import BeforeCommit
from . import _metadata as _meta
from . import _sha
from ._body import Body
from ._client import S3Client
from ._errors import map_errors, precondition_failed, refused_feature
from ._lock import ObjectLock
from ._record import record as record_sha256
from ._settings import S3Settings
from ._signing import PAYLOAD_SHA256
from ._upload import hash_update, sha256_checksum

__all__ = ["SHA_FIELD", "Objects"]

SHA_FIELD = _meta.SHA_FIELD
MiB = 1024 * 1024
#: Seconds waited, one after the other, for the tag of a version just completed.
TAG_WAITS = (0.05, 0.2, 0.5)
log = logging.getLogger("artifactstore")


class Objects:
    """The objects of one store: its settings, its client, its bucket and key prefix."""

    def __init__(self, settings: S3Settings, client: S3Client) -> None:
        self.settings = settings
        self.client = client
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        #: SHA-256s learned, by object version (see ``_sha``).
        self.known = _sha.Known()
        #: Set once the service or the policy refused PutObjectTagging: copy instead.
        self.tagging_refused = settings.sha256_record == "copy"
        #: The bucket's Object Lock, beneath the store's holds (see ``_lock``).
        self.lock = ObjectLock(self)
        #: The secret of the HMAC that makes a tag trusted (``None``: tags are hints).
        self._secret = settings.sha256_key.encode() if settings.sha256_key else None

    def object_key(self, key: str) -> str:
        """The object key of a store key (under the prefix)."""
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri(self, key: str) -> str:
        """The ``storage_uri`` of ``key``: the object's real address, prefix included."""
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def key_of_uri(self, uri: str) -> str:
        """The key an ``s3://`` URI of this store names (``InvalidKeyError`` if none).

        ``s3://bucket/prefix/key``, and the form earlier versions wrote without the
        prefix (``s3://bucket/key``) unless ``legacy_uris=False``. A URI starting
        with the prefix is read as the first form (see docs/s3-backend.md).
        """
        # The key as is (not URL-encoded, as S3 tools write it): strip the bucket
        # rather than parse it as a URL ('#', '?').
        own = f"s3://{self.bucket}/"
        if not uri.startswith(own):
            raise InvalidKeyError(f"{uri!r} is not in bucket {self.bucket!r}", key=uri)
        path = uri[len(own) :]
        if not self.prefix or path.startswith(f"{self.prefix}/"):
            return path[len(self.prefix) + 1 :] if self.prefix else path
        if self.settings.legacy_uris:
            return path  # written before storage_uri carried the prefix
        raise InvalidKeyError(
            f"{uri!r} is not under this store's prefix {self.prefix!r} in bucket "
            f"{self.bucket!r}: it names another store's object (this store's URIs are "
            f"s3://{self.bucket}/{self.prefix}/<key>)",
            key=uri,
        )

    def errors(self, key: str | None, doing: str) -> AbstractContextManager[None]:
        return map_errors(self.bucket, key, doing)

    def extra_args(self) -> dict[str, Any]:
        return self.settings.encryption_args()

    def headers(self, mime: str, metadata: dict[str, str], sha256: str) -> dict[str, Any]:
        """What an object is stored with: mime type, metadata and SHA-256, encryption.

        ``sha256`` is the SHA-256, or ``_sha.TAG_MARK`` when it will follow in a tag.
        """
        return {
            "ContentType": mime,
            "Metadata": _meta.encode({**metadata, SHA_FIELD: sha256}),
            **self.extra_args(),
        }

    def metadata(self, key: str, head: dict[str, Any], size: int | None = None) -> ArtifactMetadata:
        """The metadata of ``key`` from a HeadObject or GetObject answer.

        ``sha256`` is what the object's metadata records, or what this store learned
        about this version of it; ``None`` if neither knows (see :meth:`sha256_of`).
        """
        user = _meta.decode(head.get("Metadata") or {})
        sha256 = _sha.recorded(user) or self.known.get(_sha.version_of(self.object_key(key), head))
        user.pop(SHA_FIELD, None)
        etag = head.get("ETag")
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
            etag=etag.strip('"') if etag else None,
        )

    def written(
        self,
        key: str,
        size: int,
        mime: str,
        metadata: dict[str, str],
        sha256: str,
        etag: str | None = None,
    ) -> ArtifactMetadata:
        """The metadata of what was just written at ``key`` (``etag``: S3's answer's)."""
        return ArtifactMetadata(
            storage_backend="s3",
            storage_key=key,
            storage_uri=self.uri(key),
            sha256=sha256,
            size_bytes=size,
            mime_type=mime,
            last_modified=datetime.now(timezone.utc),
            metadata=metadata,
            etag=etag.strip('"') if etag else None,
        )

    async def put_object(
        self,
        key: str,
        data: bytes,
        mime: str,
        metadata: dict[str, str],
        if_not_exists: bool,
        before_commit: BeforeCommit | None = None,
    ) -> ArtifactMetadata:
        """Store ``data`` at ``key`` with one PutObject (``before_commit`` awaited first)."""
        hasher = hashlib.sha256()
        await hash_update(hasher, data)
        sha256 = hasher.hexdigest()
        if before_commit is not None:
            await before_commit(sha256, len(data), None)
        client = await self.client.get()
        extra: dict[str, Any] = {"IfNoneMatch": "*"} if if_not_exists else {}
        write = await self.lock.for_write(key)
        if write is not None:  # Object Lock: what S3 keeps it with, and the checksum it requires
            extra.update(write.args(), **sha256_checksum(bytes.fromhex(sha256)))
        with self.errors(key, "storing"):
            answer = await client.put_object(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Body=Body(data),
                **self.headers(mime, metadata, sha256),
                **extra,
                **{PAYLOAD_SHA256: sha256},  # the body is the artifact: signed without rehashing
            )
        if write is not None:
            await write.settle(answer.get("VersionId"))
        return self.written(key, len(data), mime, metadata, sha256, answer.get("ETag"))

    async def head(self, key: str) -> ArtifactMetadata:
        """The metadata of ``key``, its SHA-256 included (objects stored by others hashed)."""
        for _attempt in range(4):
            head = await self.head_object(key)
            meta = self.metadata(key, head)
            if meta.sha256 is not None:
                return meta
            sha256 = await self.sha256_of(key, head, download=True)
            if sha256 is not None:
                return dataclasses.replace(meta, sha256=sha256)
        raise StorageBackendError(
            f"{key!r} in bucket {self.bucket!r} kept being replaced while it was hashed; try again",
            key=key,
        )

    async def look(self, key: str) -> ArtifactMetadata:
        """The metadata of ``key`` as far as it is known without downloading the object."""
        head = await self.head_object(key)
        meta = self.metadata(key, head)
        if meta.sha256 is None:
            sha256 = await self.sha256_of(key, head, download=False)
            meta = dataclasses.replace(meta, sha256=sha256)
        return meta

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

    # ---- SHA-256s not in the metadata (see ``_sha``) ------------------------------

    async def sha256_of(
        self,
        key: str,
        answer: dict[str, Any],
        *,
        download: bool,
        hints: bool = False,
        patient: bool = False,
    ) -> str | None:
        """The SHA-256 of the version of ``key`` that ``answer`` (HEAD or GET) describes.

        From the metadata, what this store learned, or the object's tags (if its
        metadata says they hold it, and their HMAC checks); else, with ``download``,
        by hashing the object (once per version). ``None`` when it is not known
        without downloading, or the version was replaced meanwhile. With ``hints``
        (only for a caller about to read the bytes and check them), a tag that is not
        trusted is returned too, but never remembered. ``patient``: a version whose
        tag is not there yet (its writer tags it right after completing it) is looked
        at again after each of ``TAG_WAITS`` before giving up.
        """
        user = _meta.decode(answer.get("Metadata") or {})
        sha256 = _sha.recorded(user)
        if sha256 is not None:
            return sha256
        version = _sha.version_of(self.object_key(key), answer)
        sha256 = self.known.get(version)
        hint: str | None = None
        waits = list(TAG_WAITS) if patient else []
        while sha256 is None and user.get(SHA_FIELD) == _sha.TAG_MARK:
            tagged, trusted = await self._from_tags(key, answer)
            if trusted and tagged is not None:
                sha256 = tagged
                self.known.remember(version, sha256)
            hint = tagged
            if tagged is not None or not waits:
                break
            await anyio.sleep(waits.pop(0))  # the tagging follows the completion
        if sha256 is None and download:
            sha256 = await self.known.once(version, lambda: self.hash_version(key, answer["ETag"]))
        return sha256 if sha256 is not None or not hints else hint

    async def superseded(self, key: str, answer: dict[str, Any]) -> bool:
        """Whether a version marked for a tag was replaced before it got one (never will).

        ``ArtifactNotFoundError`` if the key was deleted meanwhile.
        """
        user = _meta.decode(answer.get("Metadata") or {})
        if user.get(SHA_FIELD) != _sha.TAG_MARK:
            return False
        head = await self.head_object(key)
        return bool(head.get("ETag") != answer.get("ETag"))

    def mac(self, key: str, etag: str, sha256: str) -> str | None:
        """The HMAC binding ``sha256`` to this version of ``key``; ``None`` without a secret."""
        if self._secret is None:
            return None
        return _sha.mac(self._secret, self.bucket, self.object_key(key), etag, sha256)

    async def _from_tags(self, key: str, answer: dict[str, Any]) -> tuple[str | None, bool]:
        client = await self.client.get()
        try:
            with self.errors(key, "reading the tags of"):
                tags = await client.get_object_tagging(Bucket=self.bucket, Key=self.object_key(key))
        except ArtifactStoreError as exc:
            if isinstance(exc, ArtifactNotFoundError) or refused_feature(exc):
                return None, False  # gone (the caller looks again), or no tags here: hash it
            raise
        etag = answer["ETag"]

        def check(sha256: str, signature: str) -> bool:
            expected = self.mac(key, etag, sha256)
            return expected is not None and hmac.compare_digest(expected, signature.lower())

        return _sha.from_tags(tags.get("TagSet", []), etag, check)

    async def record(
        self,
        key: str,
        completed: dict[str, Any],
        *,
        sha256: str,
        size: int,
        mime: str,
        metadata: dict[str, str],
    ) -> str | None:
        """Record the SHA-256 of a multipart upload just completed (see ``_record``).

        Returns the ETag of the version that now holds it, as far as known.
        """
        return await record_sha256(
            self, key, completed, sha256=sha256, size=size, mime=mime, metadata=metadata
        )
