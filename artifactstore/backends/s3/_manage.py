"""Store management on S3: server-side copy, batch delete, cleanup, the store's URL.

``S3ArtifactStore._copy``, ``_delete_prefix`` and ``_url`` are thin methods over
the functions here, which are given the store's ``Objects`` (``_objects``).

Copy: no byte passes through this process. The source is HEADed for its recorded
SHA-256 (an object written by other means has none: it is hashed once, then the
copy records it). Every copy is a multipart copy (``UploadPartCopy``, each part
conditional on the ETag that HEAD saw), completed only once the parts' ETags prove
they are that version (``_proof``): servers that ignore ``CopySourceIfMatch``
(moto 5) would otherwise put one version's SHA-256 on another's bytes. If the
source is replaced in between, it is looked at again. The new object gets the
source's mime type and user metadata, the SHA-256, and the store's encryption
settings (the metadata decoded and encoded again). Where nothing can prove the
copy (ETags that are not MD5s), it is written with the mark, hashed, and recorded.

``if_not_exists``: the ``CompleteMultipartUpload`` carries ``If-None-Match: *``.
AWS documents ``If-None-Match`` on ``CopyObject`` too, but only since 2025, and
servers that do not know it ignore it and overwrite: moto 5 does (checked). A
conditional multipart completion is honoured by AWS (since 2024), MinIO and moto,
and is just as atomic: the destination appears whole, or not at all.

On a bucket with Object Lock, the copy carries the destination's legal hold and
retention (``_lock``).

``cleanup``: this library's incomplete uploads only (see :func:`cleanup`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import anyio

from ... import _telemetry
from ... import keys as _keys
from ...errors import ArtifactNotFoundError, InvalidKeyError, StorageBackendError
from ...metadata import ArtifactMetadata, guess_mime_type
from . import _proof
from ._errors import SourceChanged, Unproven
from ._objects import Objects
from ._settings import S3Settings
from ._sha import TAG_MARK
from ._upload import server_copy, unwrap

__all__ = ["cleanup", "copy", "delete_prefix", "is_key", "store_url"]

#: Looks at a source that keeps being replaced under a copy before giving up.
COPY_ATTEMPTS = 4
#: DeleteObjects takes at most 1,000 keys.
DELETE_BATCH = 1000
#: DeleteObjects requests in flight at once while the listing goes on.
DELETES_IN_FLIGHT = 4
#: Headers of the source an object may carry besides its type; carried as they are.
_CARRIED = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


def is_key(key: str) -> bool:
    """Whether an object key (without the store prefix) is a key this library lists."""
    try:
        return _keys.normalize_key(key) == key
    except InvalidKeyError:
        return False


def is_document(name: str, size: int) -> bool:
    """Whether an object that is not a key is someone's document, to be reported.

    Not: the store's own objects (``.artifactstore*``), nor an empty "folder"
    marker (``DEAL-1/``) that consoles create.
    """
    return not _keys._is_reserved(name) and not (name.endswith("/") and size == 0)


async def copy(objects: Objects, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
    """Copy ``src`` to ``dst`` within the bucket, server-side; return ``dst``'s metadata.

    The SHA-256 recorded is proven to be that of the bytes copied (see ``_proof``).
    """
    settings = objects.settings
    client = await objects.client.get()
    unprovable = False  # the source did not change, yet its parts proved nothing
    for _attempt in range(COPY_ATTEMPTS):
        head = await objects.head_object(src)
        meta = objects.metadata(src, head)
        sha256 = meta.sha256 or await objects.sha256_of(src, head, download=True)
        if sha256 is None:
            continue  # replaced while it was being hashed: look again
        mime = meta.mime_type or guess_mime_type(dst)
        user = dict(meta.metadata)
        if meta.size_bytes == 0:
            # Nothing to copy: a PutObject says the same, with no condition on a source.
            return await objects.put_object(dst, b"", mime, user, if_not_exists)
        etag = head["ETag"]
        try:
            step = (
                None
                if unprovable
                else await _proof.part_step(
                    client,
                    bucket=objects.bucket,
                    object_key=objects.object_key(src),
                    etag=etag,
                    size=meta.size_bytes,
                    single_copy_limit=settings.single_copy_limit,
                    errors=lambda doing: _copy_errors(objects, src, dst, doing),
                )
            )
        except SourceChanged:
            continue
        # Unprovable: no SHA-256 in the metadata (the mark), recorded once hashed.
        args = objects.headers(mime, user, sha256 if step else TAG_MARK)
        args.update({name: head[name] for name in _CARRIED if head.get(name)})
        write = await objects.lock.for_write(dst)
        if write is not None:  # Object Lock: the destination's legal hold and retention
            args.update(write.args())
        try:
            completed = await server_copy(
                client,
                bucket=objects.bucket,
                source_key=objects.object_key(src),
                key=objects.object_key(dst),
                etag=etag,
                size=meta.size_bytes,
                args=args,
                errors=lambda doing: _copy_errors(objects, src, dst, doing),
                part_size=settings.part_size,
                parts_in_flight=settings.parts_in_flight,
                if_not_exists=if_not_exists,
                step=step or settings.part_size,
                prove=functools.partial(_proof.proves, etag) if step else None,
            )
        except Unproven:
            # Changed since the HEAD, or ETags that are not MD5s (SSE-KMS, some servers).
            with contextlib.suppress(ArtifactNotFoundError):
                unprovable = (await objects.head_object(src))["ETag"] == etag
            continue
        except SourceChanged:
            continue  # the source was replaced after the HEAD: copy the new one
        if write is not None:  # part by part: given them again once complete
            await write.settle(None, again=True)
        if step is None:
            sha256 = await _record_copied(objects, dst, completed, meta.size_bytes, mime, user)
        return objects.written(dst, meta.size_bytes, mime, user, sha256)
    raise StorageBackendError(
        f"{src!r} in bucket {objects.bucket!r} kept being replaced while it was copied to "
        f"{dst!r}; try again",
        key=src,
    )


async def _record_copied(
    objects: Objects,
    dst: str,
    completed: dict[str, Any],
    size: int,
    mime: str,
    user: dict[str, str],
) -> str:
    """Hash the version a copy that proved nothing wrote, and record its SHA-256."""
    sha256 = await objects.hash_version(dst, completed["ETag"])
    if sha256 is None:  # replaced since by another writer: theirs is read as theirs
        return (await objects.head(dst)).sha256 or ""
    with anyio.CancelScope(shield=True):
        await objects.record(dst, completed, sha256=sha256, size=size, mime=mime, metadata=user)
    return sha256


@contextmanager
def _copy_errors(objects: Objects, src: str, dst: str, doing: str) -> Iterator[None]:
    """Errors of a copy name ``dst``, but a missing object is the source."""
    try:
        with objects.errors(dst, doing):
            yield
    except ArtifactNotFoundError as exc:
        raise ArtifactNotFoundError(
            f"no artifact at {src!r} in bucket {objects.bucket!r} to copy to {dst!r}; check "
            "the key, or list the folder to see what is there",
            key=src,
        ) from exc.__cause__


async def delete_prefix(objects: Objects, prefix: str) -> int:
    """Delete every object under ``prefix/`` through DeleteObjects; return how many.

    Pages of the listing (1,000 keys) become DeleteObjects batches, up to
    ``DELETES_IN_FLIGHT`` of them in flight while the listing goes on. Keys S3
    refuses one by one (``Errors`` in an answer) do not stop the others: once all
    batches are done, a ``StorageBackendError`` names the first ones and the count.
    A key another client deleted meanwhile is still counted (S3 reports a deleted
    key either way).
    """
    client = await objects.client.get()
    bucket = objects.bucket
    strip = len(objects.prefix) + 1 if objects.prefix else 0
    slots = anyio.Semaphore(DELETES_IN_FLIGHT)
    deleted = 0
    failed: list[tuple[str, str]] = []

    async def delete_batch(batch: list[str]) -> None:
        nonlocal deleted
        try:
            with objects.errors(prefix, "deleting the artifacts under"):
                answer = await client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
        finally:
            slots.release()
        errors = answer.get("Errors", [])
        deleted += len(batch) - len(errors)
        failed.extend((e.get("Key", "")[strip:], e.get("Code", "")) for e in errors)

    args: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{objects.object_key(prefix)}/"}
    try:
        async with anyio.create_task_group() as group:
            while True:
                with objects.errors(prefix, "listing"):
                    page = await client.list_objects_v2(**args)
                # As ``list`` shows them: objects whose names are not keys are left alone.
                keys = [o["Key"] for o in page.get("Contents", []) if is_key(o["Key"][strip:])]
                for i in range(0, len(keys), DELETE_BATCH):
                    await slots.acquire()
                    group.start_soon(delete_batch, keys[i : i + DELETE_BATCH])
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
                args["ContinuationToken"] = token
    except BaseException as exc:
        single = unwrap(exc)
        if single is exc:
            raise
        raise single from single.__cause__
    if failed:
        first = ", ".join(f"{key!r} ({code})" for key, code in failed[:5])
        raise StorageBackendError(
            f"S3 refused to delete {len(failed)} artifact(s) under {prefix!r} in bucket "
            f"{bucket!r} (first: {first}); {deleted} were deleted. Check the bucket policy "
            "or object locks, then run it again",
            key=failed[0][0],
        )
    return deleted


#: The mark of this library's multipart uploads in ListMultipartUploads (see ``cleanup``).
OWN_UPLOAD_CHECKSUM = "SHA256"


async def cleanup(objects: Objects, older_than: float) -> int:
    """Abort this library's incomplete uploads under the prefix, begun ``older_than`` s ago.

    ListMultipartUploads tells only an upload's key, id, start, owner, storage class
    and checksum algorithm. Every put upload of this library is created with
    ``ChecksumAlgorithm=SHA256`` (each part carries its SHA-256): that is its mark.
    An upload is aborted only if it has the mark and its key is one this store
    writes (under its prefix, a valid key); other tools' uploads are left alone.
    """
    client = await objects.client.get()
    cutoff = datetime.now(timezone.utc).timestamp() - older_than
    strip = len(objects.prefix) + 1 if objects.prefix else 0
    args: dict[str, Any] = {"Bucket": objects.bucket}
    if objects.prefix:
        args["Prefix"] = f"{objects.prefix}/"
    aborted = 0
    while True:
        with objects.errors(None, "listing the incomplete uploads of"):
            page = await client.list_multipart_uploads(**args)
        for upload in page.get("Uploads", []):
            key: str = upload["Key"]
            if (
                upload["Initiated"].timestamp() > cutoff
                or upload.get("ChecksumAlgorithm") != OWN_UPLOAD_CHECKSUM
                or not is_key(key[strip:])
            ):
                continue
            with anyio.CancelScope(shield=True), objects.errors(key[strip:], "aborting"):
                await client.abort_multipart_upload(
                    Bucket=objects.bucket, Key=key, UploadId=upload["UploadId"]
                )
            _telemetry.upload_aborted("cleanup")
            aborted += 1
        if not page.get("IsTruncated"):
            return aborted
        args["KeyMarker"] = page.get("NextKeyMarker")
        args["UploadIdMarker"] = page.get("NextUploadIdMarker")


def store_url(settings: S3Settings) -> str:
    """``s3://bucket[/prefix]?[endpoint_url=...&]region=...``, as ``store_from_url`` reads it.

    The query names what makes an equivalent store: the endpoint (when set), the
    region (always), and, when set, encryption, addressing style, how SHA-256s
    are recorded and the Object Lock mode of retentions; not tuning
    options (part size, timeouts). The prefix is percent-encoded (``/`` kept), the
    query URL-encoded. Credentials and the profile are never part of it; user info
    in the endpoint is dropped.
    """
    path = f"/{quote(settings.prefix, safe='/')}" if settings.prefix else ""
    query: dict[str, str] = {}
    if settings.endpoint_url:
        endpoint = urlsplit(settings.endpoint_url)
        host = endpoint.netloc.rpartition("@")[2]
        query["endpoint_url"] = urlunsplit(endpoint._replace(netloc=host))
    query["region"] = settings.region
    for name in ("addressing_style", "sse", "sse_kms_key_id"):
        value = getattr(settings, name)
        if value is not None:
            query[name] = value
    if settings.sha256_record != "tag":
        query["sha256_record"] = settings.sha256_record
    if not settings.legacy_uris:
        query["legacy_uris"] = "false"
    if settings.object_lock_mode != "GOVERNANCE":
        query["object_lock_mode"] = settings.object_lock_mode
    return f"s3://{settings.bucket}{path}?{urlencode(query)}"
