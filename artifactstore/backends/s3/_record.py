"""Recording the SHA-256 of a multipart upload once it is complete: a tag, or a copy.

``Objects.record`` is this module's :func:`record`. The tag names the version's
ETag (and, with the store's secret, carries its HMAC: see ``_sha``); where
tagging is refused, the stamping copy writes the SHA-256 into the object's
metadata, and is completed only if its parts prove the version (``_proof``).
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from ...errors import ArtifactNotFoundError, ArtifactStoreError, StorageBackendError
from . import _metadata as _meta
from . import _sha
from ._errors import SourceChanged, refused_feature
from ._metadata import SHA_FIELD
from ._proof import part_step, proves
from ._upload import server_copy

if TYPE_CHECKING:
    from ._objects import Objects

__all__ = ["record"]

log = logging.getLogger("artifactstore")


async def record(
    self: Objects,
    key: str,
    completed: dict[str, Any],
    *,
    sha256: str,
    size: int,
    mime: str,
    metadata: dict[str, str],
) -> str | None:
    """Record the SHA-256 of a multipart upload just completed (its metadata: the mark).

    Returns the ETag of the object version that now holds it, as far as known:
    ``completed``'s, or ``None`` after a copy (which gives the object another).

    A tag (one small request), or where tagging is refused, the object copied
    onto itself with the SHA-256 in its metadata. Both only touch the version
    ``completed`` names (the tag names its ETag; the copy is conditional on it),
    so another writer's newer object is never given this SHA-256.
    """
    object_key = self.object_key(key)
    etag = completed["ETag"]
    self.known.remember((object_key, etag.strip('"'), size), sha256)
    copied = False
    try:
        if not self.tagging_refused and await _tag(self, key, completed, sha256):
            return str(etag)
        copied = True  # from here on, the object may have another ETag
        # The fallback: the object copied onto itself with the SHA-256 in its
        # metadata, only if the parts copied prove it is still this version.
        client = await self.client.get()
        errors = lambda doing: self.errors(key, "recording the SHA-256 of")  # noqa: E731
        step = await part_step(
            client,
            bucket=self.bucket,
            object_key=object_key,
            etag=etag,
            size=size,
            single_copy_limit=self.settings.single_copy_limit,
            errors=errors,
        )
        if step is None:  # ETags that are not MD5s: nothing proves the copy's source
            raise StorageBackendError("the stamping copy cannot be proven here", key=key)
        await server_copy(
            client,
            bucket=self.bucket,
            source_key=object_key,
            key=object_key,
            etag=etag,
            size=size,
            args=self.headers(mime, metadata, sha256),
            errors=errors,
            part_size=self.settings.part_size,
            parts_in_flight=self.settings.parts_in_flight,
            step=step,
            prove=functools.partial(proves, etag),
        )
    except SourceChanged:
        pass  # replaced by another writer since: theirs stands, not given our SHA-256
    except ArtifactStoreError as exc:
        # The artifact is stored: failing the put now would say it was not.
        # Readers find no SHA-256 recorded and hash the object (once per store).
        log.warning(  # no key, no message (it names the key): keys are confidential
            "artifactstore: an artifact is stored, but its SHA-256 could not be "
            "recorded (%s); readers will hash it",
            type(exc).__name__,
        )
    return None if copied else str(etag)


async def _tag(self: Objects, key: str, completed: dict[str, Any], sha256: str) -> bool:
    """Tag the version ``completed`` names; ``False`` if tagging is refused here."""
    client = await self.client.get()
    extra = {"VersionId": completed["VersionId"]} if completed.get("VersionId") else {}
    try:
        with self.errors(key, "tagging"):
            await client.put_object_tagging(
                Bucket=self.bucket,
                Key=self.object_key(key),
                Tagging=_sha.tag_set(
                    sha256, completed["ETag"], self.mac(key, completed["ETag"], sha256)
                ),
                **extra,
            )
    except ArtifactNotFoundError:
        return True  # deleted since: nothing left to record it for
    except ArtifactStoreError as exc:
        if not refused_feature(exc):
            raise
        self.tagging_refused = True
        log.warning(
            "artifactstore: bucket %r refused object tagging (%s); SHA-256s of "
            "streamed uploads are recorded by a server-side copy instead",
            self.bucket,
            exc.__cause__,
        )
        return False
    await _repair(self, key, completed["ETag"])
    return True


async def _repair(self: Objects, key: str, ours: str) -> None:
    """After tagging: give a true record back to a newer version our tag clobbered.

    If another writer's streamed put replaced ours meanwhile, and tagged it before
    our tag replaced its tag set, that version has lost its record.

    ``PutObjectTagging`` replaces the whole tag set and cannot be made conditional:
    ours, landing late on their object, removes their tag (ours names our ETag and
    is never believed for theirs). One HEAD tells; only then their version is
    hashed (one download) and tagged with its own SHA-256 and ETag. Found by
    ``tests/test_s3_shared.py``.
    """
    try:
        head = await self.head_object(key)
    except ArtifactNotFoundError:
        return
    theirs = head.get("ETag", "")
    user = _meta.decode(head.get("Metadata") or {})
    if theirs.strip('"') == ours.strip('"') or user.get(SHA_FIELD) != _sha.TAG_MARK:
        return  # still ours, or theirs carries its SHA-256 in its metadata
    if await self.sha256_of(key, head, download=False) is not None:
        return  # their tag is there (they tagged after us), or this store knows it
    version = _sha.version_of(self.object_key(key), head)
    sha256 = await self.known.once(version, lambda: self.hash_version(key, theirs))
    if sha256 is None:
        return  # replaced again: that writer records its own
    client = await self.client.get()
    with self.errors(key, "tagging"):
        await client.put_object_tagging(
            Bucket=self.bucket,
            Key=self.object_key(key),
            Tagging=_sha.tag_set(sha256, theirs, self.mac(key, theirs, sha256)),
        )
