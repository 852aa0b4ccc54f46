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

import base64
import hashlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, NoReturn

import anyio
from botocore.exceptions import ClientError

from ... import _telemetry
from ._body import Body
from ._errors import SourceChanged, Unproven, conditional_conflict, precondition_failed
from ._signing import PAYLOAD_SHA256

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = [
    "copy_part_size",
    "unwrap",
    "hash_update",
    "multipart_copy",
    "multipart_upload",
    "server_copy",
    "sha256_checksum",
]

log = logging.getLogger("artifactstore")

#: S3's most parts in one upload.
MAX_PARTS = 10_000


#: Chunks above this size are hashed off the event loop (hashlib releases the GIL).
HASH_IN_THREAD = 256 * 1024


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_checksum(digest: bytes) -> dict[str, str]:
    """A body's SHA-256 as the checksum arguments of PutObject and UploadPart.

    ``x-amz-checksum-sha256``, and ``x-amz-sdk-checksum-algorithm``, which some
    servers (moto) look for instead. S3 requires one of them (or Content-MD5) on a
    bucket with Object Lock; given, botocore computes none of its own.
    """
    return {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": base64.b64encode(digest).decode()}


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
    sign_payloads: bool = True,
    before_complete: Callable[[str | None, int], Awaitable[None]] | None = None,
    checksums: bool = False,
) -> tuple[dict[str, Any], str | None, int]:
    """Upload ``parts`` (each but the last at least 5 MiB) as one object.

    Returns the CompleteMultipartUpload response, the SHA-256 of all bytes (``None``
    with ``hash_parts=False``) and their count. ``errors(doing)`` maps client
    exceptions to the library's errors. ``sign_payloads``: the client signs bodies,
    so each part's SHA-256 is computed on a worker thread for its signer.
    ``before_complete(sha256, size)``: awaited once every part is uploaded, before
    the object exists; if it raises, the upload is aborted. ``checksums``: each
    part carries its SHA-256 as S3's checksum (a bucket with Object Lock requires
    one), computed once with the signer's.
    """
    if checksums:
        create_args = {**create_args, "ChecksumAlgorithm": "SHA256"}
    with errors("starting an upload of"):
        created = await client.create_multipart_upload(Bucket=bucket, Key=key, **create_args)
    upload_id = created["UploadId"]
    hasher = hashlib.sha256()
    size = 0
    done: dict[int, dict[str, str]] = {}
    # A slot is a part held in memory: taken before it is read, released once it is
    # both uploaded and (with hash_parts) hashed. Hashing runs in order in a task of
    # its own, beside the uploads rather than before each one starts.
    slots = anyio.Semaphore(parts_in_flight)
    to_hash, hashing = anyio.create_memory_object_stream[tuple[bytes, list[int]]](parts_in_flight)

    def part_done(holders: list[int]) -> None:
        holders[0] -= 1
        if holders[0] == 0:
            slots.release()

    async def send(number: int, body: bytes, holders: list[int]) -> None:
        try:
            signing: dict[str, str] = {}
            if sign_payloads or checksums:  # the part's SHA-256: hashed here, not on the loop
                digest = await anyio.to_thread.run_sync(_sha256, body)
                if sign_payloads:
                    signing[PAYLOAD_SHA256] = digest.hex()
                if checksums:
                    signing.update(sha256_checksum(digest))
            with errors("uploading a part of"):
                answer = await client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=Body(body),  # sent from these bytes, not from a copy
                    **signing,
                )
            done[number] = {"ETag": answer["ETag"]}
            if checksums:  # the completion names each part's checksum
                done[number]["ChecksumSHA256"] = signing["ChecksumSHA256"]
            _telemetry.part_uploaded()
        finally:
            part_done(holders)

    async def hash_in_order() -> None:
        async with hashing:
            async for body, holders in hashing:
                await hash_update(hasher, body)
                del body
                part_done(holders)

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(hash_in_order)
            number = 0
            async with to_hash:
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
                    holders = [2 if hash_parts else 1]
                    if hash_parts:
                        to_hash.send_nowait((body, holders))  # never full: slots bound it
                    group.start_soon(send, number, body, holders)
                    del body
            if number == 0:  # an empty stream: S3 needs one (empty) part
                await slots.acquire()
                group.start_soon(send, 1, b"", [1])
        if before_complete is not None:
            await before_complete(hasher.hexdigest() if hash_parts else None, size)
        with errors("completing the upload of"):
            completed = await _complete(client, bucket, key, upload_id, done, if_not_exists)
    except BaseException as exc:
        await _abort_and_raise(client, bucket, key, upload_id, exc)
    return completed, hasher.hexdigest() if hash_parts else None, size


async def _complete(
    client: Any,
    bucket: str,
    key: str,
    upload_id: str,
    done: dict[int, dict[str, str]],
    if_not_exists: bool,
) -> dict[str, Any]:
    """CompleteMultipartUpload of the parts in ``done``; conditional with ``if_not_exists``."""
    extra = {"IfNoneMatch": "*"} if if_not_exists else {}
    completed: dict[str, Any] = await client.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, **done[n]} for n in sorted(done)]},
        **extra,
    )
    return completed


async def _abort_and_raise(
    client: Any, bucket: str, key: str, upload_id: str, exc: BaseException
) -> NoReturn:
    """Abort the upload (shielded from cancellation), then raise ``exc`` unwrapped."""
    # Logged without the key: keys are confidential (the error raised names it).
    with anyio.CancelScope(shield=True):
        try:
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        except Exception as failed:
            log.warning(
                "artifactstore: could not abort a multipart upload (%s) after %s; the "
                "bucket's AbortIncompleteMultipartUpload lifecycle rule will remove it",
                type(failed).__name__,
                type(exc).__name__,
            )
        else:
            log.warning("artifactstore: aborted a multipart upload after %s", type(exc).__name__)
            _telemetry.upload_aborted("failed")
    single = unwrap(exc)
    if single is exc:
        raise exc
    raise single from single.__cause__  # the group's context is noise


def unwrap(exc: BaseException) -> BaseException:
    """The one error a task group wrapped: callers expect the library's errors, not groups."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        exc = (inner or list(exc.exceptions))[0]
    return exc


#: CopyObject copies at most 5 GiB; bigger objects are copied part by part.
MAX_SINGLE_COPY = 5 * 1024**3


def copy_part_size(size: int, part_size: int) -> int:
    """Parts of ``part_size`` bytes, or larger if ``size`` would need over 10,000 of them."""
    return max(part_size, -(-size // MAX_PARTS))


async def multipart_copy(
    client: Any,
    *,
    bucket: str,
    source_key: str,
    key: str,
    etag: str,
    size: int,
    part_size: int,
    create_args: dict[str, Any],
    parts_in_flight: int,
    if_not_exists: bool,
    errors: Callable[[str], AbstractContextManager[None]],
    step: int | None = None,
    prove: Callable[[list[str]], bool] | None = None,
) -> dict[str, Any]:
    """Copy the object ``source_key`` (the version ``etag`` names) to ``key``, server-side.

    One UploadPartCopy per range of ``copy_part_size`` bytes, ``parts_in_flight`` at
    once, each conditional on ``etag``: ``SourceChanged`` when the source was
    replaced meanwhile. ``create_args`` (mime type, metadata, encryption) become the
    new object's. With ``if_not_exists`` the completion carries ``If-None-Match: *``,
    so ``ArtifactExistsError`` (through ``errors``) when ``key`` exists: atomic, as
    for uploads. Any failure or cancellation aborts the upload (shielded).
    ``step``: the parts' size (default: ``copy_part_size``). ``prove(part_etags)``:
    checked before completing; if false, the upload is aborted and ``SourceChanged``
    raised (``Unproven``), so no object appears.
    Returns the CompleteMultipartUpload response.
    """
    with errors("starting a copy to"):
        created = await client.create_multipart_upload(Bucket=bucket, Key=key, **create_args)
    upload_id = created["UploadId"]
    step = step or copy_part_size(size, part_size)
    ranges = [(first, min(first + step, size) - 1) for first in range(0, size, step)]
    done: dict[int, dict[str, str]] = {}
    slots = anyio.Semaphore(parts_in_flight)

    async def copy_part(number: int, first: int, last: int) -> None:
        try:
            extra = {"CopySourceRange": f"bytes={first}-{last}"} if size else {}
            with errors("copying a part to"):
                try:
                    answer = await client.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": bucket, "Key": source_key},
                        CopySourceIfMatch=etag,
                        **extra,
                    )
                except ClientError as exc:
                    if precondition_failed(exc):
                        raise SourceChanged(source_key) from exc
                    raise
            done[number] = {"ETag": answer["CopyPartResult"]["ETag"]}
        finally:
            slots.release()

    try:
        async with anyio.create_task_group() as group:
            for number, (first, last) in enumerate(ranges or [(0, -1)], start=1):
                await slots.acquire()  # at most parts_in_flight tasks exist at once
                group.start_soon(copy_part, number, first, last)
        if prove is not None and not prove([done[n]["ETag"] for n in sorted(done)]):
            raise Unproven(source_key)
        with errors("completing the upload of"):
            try:
                completed = await _complete(client, bucket, key, upload_id, done, if_not_exists)
            except ClientError as exc:
                if conditional_conflict(exc):
                    raise SourceChanged(source_key) from exc
                raise
    except BaseException as exc:
        await _abort_and_raise(client, bucket, key, upload_id, exc)
    return completed


async def server_copy(
    client: Any,
    *,
    bucket: str,
    source_key: str,
    key: str,
    etag: str,
    size: int,
    args: dict[str, Any],
    errors: Callable[[str], AbstractContextManager[None]],
    part_size: int = 8 * 1024 * 1024,
    parts_in_flight: int = 4,
    if_not_exists: bool = False,
    step: int | None = None,
    prove: Callable[[list[str]], bool] | None = None,
) -> dict[str, Any]:
    """Copy ``source_key`` (version ``etag``) to ``key`` with new headers ``args``.

    Always a :func:`multipart_copy`, so that nothing exists at ``key`` before the
    parts are checked (``prove``; see ``_proof``). Raises ``SourceChanged`` when
    the source is no longer that version. Returns the CompleteMultipartUpload answer.
    """
    return await multipart_copy(
        client,
        bucket=bucket,
        source_key=source_key,
        key=key,
        etag=etag,
        size=size,
        part_size=part_size,
        create_args=args,
        parts_in_flight=parts_in_flight,
        if_not_exists=if_not_exists,
        errors=errors,
        step=step,
        prove=prove,
    )
