"""Streamed multipart uploads to S3: parts in parallel, memory bounded, always aborted on failure.

Memory: at most ``parts_in_flight`` parts of ``part_size`` bytes are held at once
(a part is read from the source only when a slot is free), plus the re-chunking
buffer of one part.

Failure: any exception (from the source, from S3) or a cancellation aborts the
upload, the abort shielded from the cancellation, so no incomplete upload is
left to be billed. The bucket lifecycle rule ``AbortIncompleteMultipartUpload``
remains the backstop for a process killed outright.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Any

import anyio

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["hash_update", "multipart_upload", "stamp_metadata"]

log = logging.getLogger("artifactstore")

#: S3's most parts in one upload.
MAX_PARTS = 10_000


#: Chunks above this size are hashed off the event loop (hashlib releases the GIL).
HASH_IN_THREAD = 256 * 1024


async def hash_update(hasher: Any, chunk: bytes | memoryview) -> None:
    """Feed ``chunk`` to ``hasher`` without stalling the event loop on big chunks."""
    if len(chunk) > HASH_IN_THREAD:
        await anyio.to_thread.run_sync(hasher.update, chunk)
    else:
        hasher.update(chunk)


async def multipart_upload(
    client: Any,
    *,
    bucket: str,
    key: str,
    parts: AsyncIterator[bytes],
    create_args: dict[str, Any],
    parts_in_flight: int,
    if_not_exists: bool,
    errors: Callable[[str], AbstractContextManager[None]],
    hash_parts: bool = True,
) -> tuple[dict[str, Any], str | None, int]:
    """Upload ``parts`` (each but the last at least 5 MiB) as one object.

    Returns the CompleteMultipartUpload response, the SHA-256 of all bytes (``None``
    with ``hash_parts=False``) and their count. ``errors(doing)`` maps client
    exceptions to the library's errors.
    """
    with errors("starting an upload of"):
        created = await client.create_multipart_upload(Bucket=bucket, Key=key, **create_args)
    upload_id = created["UploadId"]
    hasher = hashlib.sha256()
    size = 0
    done: dict[int, str] = {}
    slots = anyio.Semaphore(parts_in_flight)

    async def send(number: int, body: bytes) -> None:
        try:
            with errors("uploading a part of"):
                answer = await client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
            done[number] = answer["ETag"]
        finally:
            slots.release()

    try:
        async with anyio.create_task_group() as group:
            number = 0
            while True:
                await slots.acquire()
                try:
                    body = await parts.__anext__()
                except StopAsyncIteration:
                    slots.release()
                    break
                except BaseException:
                    slots.release()
                    raise
                number += 1
                if number > MAX_PARTS:
                    raise ValueError(
                        f"the artifact is larger than {MAX_PARTS} parts; "
                        "use a larger part_size for artifacts this big"
                    )
                size += len(body)
                if hash_parts:
                    await hash_update(hasher, body)
                group.start_soon(send, number, body)
                del body
            if number == 0:  # an empty stream: S3 needs one (empty) part
                await slots.acquire()
                group.start_soon(send, 1, b"")
        extra = {"IfNoneMatch": "*"} if if_not_exists else {}
        with errors("completing the upload of"):
            completed = await client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": done[n]} for n in sorted(done)]
                },
                **extra,
            )
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            try:
                await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:
                log.warning(
                    "artifactstore: could not abort multipart upload of %r; the bucket's "
                    "AbortIncompleteMultipartUpload lifecycle rule will remove it",
                    key,
                    exc_info=True,
                )
        single = _unwrap(exc)
        if single is exc:
            raise
        raise single from None
    return completed, hasher.hexdigest() if hash_parts else None, size


def _unwrap(exc: BaseException) -> BaseException:
    """The one error a task group wrapped: callers expect the library's errors, not groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        exc = (inner or list(exc.exceptions))[0]
    return exc


#: CopyObject copies at most 5 GiB; bigger objects are copied part by part.
MAX_SINGLE_COPY = 5 * 1024**3
COPY_PART = 1024**3


async def stamp_metadata(
    client: Any,
    *,
    bucket: str,
    key: str,
    etag: str,
    size: int,
    args: dict[str, Any],
    errors: Callable[[str], AbstractContextManager[None]],
    single_copy_limit: int = MAX_SINGLE_COPY,
) -> bool:
    """Replace an object's metadata (``args``) by copying the object onto itself.

    Only if it is still the version ``etag`` names (another writer's object is never
    stamped): returns ``False`` when it was replaced meanwhile. Objects over 5 GiB
    are copied part by part (UploadPartCopy), the copy aborted on any failure.
    """
    source = {"Bucket": bucket, "Key": key}
    try:
        if size <= single_copy_limit:
            with errors("recording the SHA-256 of"):
                await client.copy_object(
                    Bucket=bucket,
                    Key=key,
                    CopySource=source,
                    CopySourceIfMatch=etag,
                    MetadataDirective="REPLACE",
                    **args,
                )
            return True
        with errors("recording the SHA-256 of"):
            created = await client.create_multipart_upload(Bucket=bucket, Key=key, **args)
        upload_id = created["UploadId"]
        try:
            parts = []
            for number, first in enumerate(range(0, size, COPY_PART), start=1):
                last = min(first + COPY_PART, size) - 1
                with errors("recording the SHA-256 of"):
                    answer = await client.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource=source,
                        CopySourceIfMatch=etag,
                        CopySourceRange=f"bytes={first}-{last}",
                    )
                parts.append({"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]})
            with errors("recording the SHA-256 of"):
                await client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                try:
                    await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
                except Exception:
                    log.warning("artifactstore: could not abort the copy of %r", key, exc_info=True)
            raise
        return True
    except Exception as exc:
        if getattr(exc.__cause__, "response", {}).get("Error", {}).get("Code") in (
            "PreconditionFailed",
            "412",
        ):
            return False  # replaced by another writer since: theirs stands, unstamped by us
        raise
