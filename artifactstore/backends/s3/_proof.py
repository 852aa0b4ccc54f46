"""Server-side copies that never record a SHA-256 they did not prove.

A copy carries the source's SHA-256 into the destination's metadata. The copy is
conditional on the source's ETag (``x-amz-copy-source-if-match``), but S3-compatible
servers differ in honouring that (moto 5 ignores it): a source replaced between
the HEAD and the copy would get the first version's SHA-256 on the second
version's bytes. So every copy is a multipart copy (``UploadPartCopy``), whose
object does not exist until ``CompleteMultipartUpload``, and before completing it
the parts' ETags must prove the bytes copied are the version whose SHA-256 is
recorded (:func:`proves`):

- a single-part source (ETag the MD5 of its bytes) is copied as one part, whose
  ETag is the MD5 of the bytes copied: equal, or the source changed;
- a multipart source (ETag ``md5-of-part-md5s-N``) is copied with its own part
  boundaries (the size of its part 1 read by ``HeadObject?partNumber=1``), so the
  copy's parts have the source's part ETags, and their composite is its ETag.

Where no such proof exists (ETags that are not MD5s: SSE-KMS, SSE-C, some
servers; parts of unequal sizes), the copy is written with no SHA-256 in its
metadata (the mark ``tag``), the destination version is hashed (one download),
and the SHA-256 of its bytes is recorded after it like a streamed put's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ...errors import StorageBackendError
from ._errors import SourceChanged, Unproven, precondition_failed
from ._upload import MAX_PARTS, MAX_SINGLE_COPY

__all__ = ["Unproven", "bare", "composite", "part_step", "proves"]

#: The smallest part S3 accepts (all but the last).
_MIN_PART = 5 * 1024 * 1024


def bare(etag: str) -> str:
    """An ETag without its quotes, lower-case."""
    return etag.strip('"').lower()


def composite(part_etags: list[str]) -> str:
    """The ETag S3 gives a multipart object made of parts with these ETags."""
    digests = b"".join(bytes.fromhex(bare(etag)) for etag in part_etags)
    return f"{hashlib.md5(digests).hexdigest()}-{len(part_etags)}"


def proves(source_etag: str, part_etags: list[str]) -> bool:
    """Whether parts with ``part_etags`` hold exactly the bytes of ``source_etag``'s version."""
    source = bare(source_etag)
    try:
        if "-" not in source:
            return len(part_etags) == 1 and bare(part_etags[0]) == source
        return composite(part_etags) == source
    except ValueError:  # an ETag that is not hex: not an MD5, proves nothing
        return False


def parts_count(etag: str) -> int | None:
    """N of a multipart ETag ``...-N``; ``None`` for a single-part one."""
    _, dash, count = bare(etag).rpartition("-")
    return int(count) if dash and count.isdigit() else None


async def part_step(
    client: Any,
    *,
    bucket: str,
    object_key: str,
    etag: str,
    size: int,
    single_copy_limit: int,
    errors: Callable[[str], AbstractContextManager[None]],
) -> int | None:
    """The part size that copies the version ``etag`` provably; ``None`` if none does.

    Raises ``SourceChanged`` when the source no longer is that version.
    """
    count = parts_count(etag)
    if count is None:  # single-part: one UploadPartCopy (at most 5 GiB, as CopyObject)
        return max(size, 1) if size <= min(single_copy_limit, MAX_SINGLE_COPY) else None
    if count == 1:
        return max(size, 1)
    try:
        with errors("reading the parts of"):
            head = await client.head_object(
                Bucket=bucket, Key=object_key, PartNumber=1, IfMatch=etag
            )
    except StorageBackendError as exc:
        if precondition_failed(exc):
            raise SourceChanged(object_key) from exc
        raise
    step = int(head.get("ContentLength", 0))
    if step < _MIN_PART or count > MAX_PARTS or -(-size // step) != count:
        return None  # parts of unequal sizes: no copy can have the same ones
    return step
