"""Where an object's SHA-256 is kept, and how it is found again with the fewest requests.

Objects this library writes carry their SHA-256 in one of two places:

- **The metadata** (``x-amz-meta-artifactstore-sha256``), whenever the SHA-256 was
  known before S3 fixed the metadata: every PutObject, and multipart uploads of
  bytes already in memory. One HEAD reads it.
- **A tag**, when it was known only once the last part was read (a stream, a large
  file read once while it is uploaded): the metadata holds the mark ``tag`` and,
  right after CompleteMultipartUpload, PutObjectTagging sets the tags
  ``artifactstore-sha256`` and ``artifactstore-etag`` (the ETag S3 gave the object).
  One small request, no byte rewritten. Reading it back takes a HEAD and, for such
  an object only, a GetObjectTagging; a tag counts only if its ETag is the
  object's, so a tag meant for another version of the key is never believed.

A tag can be rewritten by anyone allowed ``s3:PutObjectTagging``, who need not be
able to rewrite the object, and the ETag it names is public to anyone who can
HEAD. So a tag is **trusted** only when the store is configured with a secret
(``sha256_key``, ``ARTIFACT_S3_SHA256_KEY``): the tag ``artifactstore-sha256-mac``
then holds an HMAC-SHA256, under that secret, of the bucket, the object key, the
ETag and the SHA-256, and a tag whose HMAC does not check is not believed.
Without a secret (or with a bad HMAC) a tag is only a **hint**: ``get_metadata``
hashes the object instead, and the hint serves only where the bytes are read
anyway (a stream or ``get`` carries it as the SHA-256 to check them against).
Only trusted SHA-256s are kept in memory or written into another object.

Where tagging is refused (a service without it, a policy without
``s3:PutObjectTagging``) or ``sha256_record="copy"``, the object is copied onto
itself with the SHA-256 in its metadata, conditional on its ETag (the fallback).

Every SHA-256 learned (after a put, from a tag, by hashing) is kept in memory,
keyed by the object's version (key, ETag, size), so the same version is never
looked up twice. Objects written by other tools, with no SHA-256 at all, are
hashed once per store (one GetObject conditional on the ETag; concurrent lookups
of one version share it) and never written to.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio

from ._metadata import SHA_FIELD

__all__ = [
    "ETAG_TAG",
    "MAC_TAG",
    "TAG_MARK",
    "Known",
    "Version",
    "from_tags",
    "mac",
    "recorded",
    "tag_set",
    "version_of",
]

#: The metadata value saying "the SHA-256 is in the object's tags".
TAG_MARK = "tag"
#: The tag naming the object version (its ETag, without quotes) the SHA-256 belongs to.
ETAG_TAG = "artifactstore-etag"
#: The tag holding the HMAC that makes the two others trusted (see the module docstring).
MAC_TAG = "artifactstore-sha256-mac"

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")

#: An object version: (object key, ETag, size).
Version = tuple[str, str, int]


def _sha256(value: object) -> str | None:
    """``value`` as a SHA-256 (lower-case hex), or ``None`` if it is not one."""
    if isinstance(value, str) and _SHA256.fullmatch(value):
        return value.lower()
    return None


def recorded(user_metadata: Mapping[str, str]) -> str | None:
    """The SHA-256 recorded in an object's (decoded) metadata, if it holds a real one."""
    return _sha256(user_metadata.get(SHA_FIELD))


def version_of(object_key: str, answer: Mapping[str, Any]) -> Version:
    """The version a HeadObject or GetObject answer describes."""
    size = answer.get("ContentLength", 0)
    content_range = answer.get("ContentRange")
    if content_range:  # a ranged GET: "bytes 0-9/1234"
        size = int(content_range.rsplit("/", 1)[1])
    return (object_key, _bare(answer.get("ETag", "")), size)


def _bare(etag: str) -> str:
    return etag.strip('"')


def mac(secret: bytes, bucket: str, object_key: str, etag: str, sha256: str) -> str:
    """The HMAC-SHA256 (hex) binding ``sha256`` to this version of this object.

    The fields are joined by NUL, which none of them can contain (keys refuse
    control characters, bucket names and hex digests have none).
    """
    message = "\0".join((bucket, object_key, _bare(etag), sha256.lower())).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def tag_set(sha256: str, etag: str, signature: str | None = None) -> dict[str, Any]:
    """The ``Tagging`` argument recording ``sha256`` for the version ``etag`` names."""
    tags = [{"Key": SHA_FIELD, "Value": sha256}, {"Key": ETAG_TAG, "Value": _bare(etag)}]
    if signature is not None:
        tags.append({"Key": MAC_TAG, "Value": signature})
    return {"TagSet": tags}


def from_tags(
    tags: list[dict[str, str]],
    etag: str,
    check: Callable[[str, str], bool] | None = None,
) -> tuple[str | None, bool]:
    """(the SHA-256 the tags record for the version ``etag``, whether it is trusted).

    ``check(sha256, mac)`` says whether the tag's HMAC is right; without it (no
    secret configured) nothing is trusted. ``(None, False)`` if they record none.
    """
    values = {tag.get("Key"): tag.get("Value") for tag in tags}
    if values.get(ETAG_TAG) != _bare(etag):
        return None, False  # none, or meant for another version of the key
    sha256 = _sha256(values.get(SHA_FIELD))
    signature = values.get(MAC_TAG)
    if sha256 is None or check is None or not isinstance(signature, str):
        return sha256, False
    return sha256, check(sha256, signature)


class Known:
    """SHA-256s learned, by object version (least recently used dropped past ``limit``).

    :meth:`once` computes a missing one with at most one computation per version
    at a time: concurrent callers wait for it rather than download the object too.
    A store may be used from two event loops (a service's and the sync facade's),
    each in its own thread: the mapping is locked, and waiting is per loop.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._sha: OrderedDict[Version, str] = OrderedDict()
        self._pending: dict[tuple[Version, int], anyio.Event] = {}

    def get(self, version: Version) -> str | None:
        with self._lock:
            sha256 = self._sha.get(version)
            if sha256 is not None:
                self._sha.move_to_end(version)
            return sha256

    def remember(self, version: Version, sha256: str) -> None:
        with self._lock:
            self._sha[version] = sha256
            self._sha.move_to_end(version)
            while len(self._sha) > self._limit:
                self._sha.popitem(last=False)

    async def once(
        self, version: Version, compute: Callable[[], Awaitable[str | None]]
    ) -> str | None:
        """The SHA-256 of ``version``: known, or ``compute()``d (``None``: it is gone)."""
        pending_key = (version, id(asyncio.get_running_loop()))
        while True:
            known = self.get(version)
            if known is not None:
                return known
            pending = self._pending.get(pending_key)
            if pending is None:
                break
            await pending.wait()  # then look again: it failed if nothing was learned
        done = self._pending[pending_key] = anyio.Event()
        try:
            sha256 = await compute()
            if sha256 is not None:
                self.remember(version, sha256)
            return sha256
        finally:
            del self._pending[pending_key]
            done.set()
