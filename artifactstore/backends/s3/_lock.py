"""S3 Object Lock beneath the store's holds: the objects' legal hold and retention.

On a bucket with Object Lock enabled (learned once per store, from one
``GetObjectLockConfiguration``), what the library's holds keep, S3 keeps too, so
that S3 itself refuses to delete a held object's version, whoever asks:

- a hold placed sets the legal hold ON (``PutObjectLegalHold``) on the current
  version of every object its target covers; a hold released sets it OFF on those
  that no other hold still covers ("any hold present" is S3's one flag);
- a retention sets the object retention (``PutObjectRetention``) of every object
  it covers, in the store's ``object_lock_mode``, extending and never shortening
  a retention already there (keeping its mode);
- a write under a held or retained target asks for both at write time
  (``PutObject``, ``CreateMultipartUpload`` and copies), then reads the holds
  again: a hold placed or released meanwhile is applied to the new object. A
  multipart write is also given them explicitly once complete (moto, for one,
  ignores the Object Lock headers of ``CreateMultipartUpload``);
- every upload carries its SHA-256 as S3's checksum, which such a bucket requires
  (Content-MD5 or an ``x-amz-checksum-*``): the hash the store computes anyway;
- copies are made part by part (``UploadPartCopy``): a ``CopyObject`` into a
  bucket with a default retention needs the source's MD5, which S3 does not have
  for an object uploaded in parts.

Without Object Lock, or where the policy does not let the store read the
configuration (logged at DEBUG), nothing here costs a request beyond that one:
holds are enforced by the library alone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import anyio
from botocore.exceptions import ClientError

from ... import keys as _keys
from ...errors import ArtifactNotFoundError, InvalidKeyError
from ...holds import HoldSet, covers
from ._errors import error_code, refused_feature
from ._upload import sha256_checksum, unwrap

if TYPE_CHECKING:
    from ._holds import S3HoldRegistry
    from ._objects import Objects

__all__ = ["ObjectLock", "Protection", "Write"]

log = logging.getLogger("artifactstore")

#: Objects whose legal hold or retention is set at once when a hold changes.
IN_FLIGHT = 8
#: Seconds a hold set just checked (by the hold layer, before the same write) stands.
RECENT = 1.0
#: A year of a default retention, counted long (a leap year) so as never to fall short.
_YEAR = timedelta(days=366)


@dataclass(frozen=True)
class Protection:
    """What S3 is to keep an object with: the legal hold, and a retention date."""

    hold: bool = False
    until: datetime | None = None


def _is_key(key: str) -> bool:
    try:
        return _keys.normalize_key(key) == key
    except InvalidKeyError:
        return False


class ObjectLock:
    """The Object Lock side of one store's holds (see the module docstring)."""

    def __init__(self, objects: Objects) -> None:
        self._objects = objects
        #: The store's holds (set by the backend along with the registry).
        self.registry: S3HoldRegistry | None = None
        self._enabled: bool | None = None
        self._default: tuple[str, timedelta] | None = None  # the bucket's default retention
        self._guard = threading.Lock()
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    # ---- the bucket ------------------------------------------------------------

    async def enabled(self) -> bool:
        """Whether the bucket has Object Lock: asked once per store, then remembered."""
        if self._enabled is None:
            with self._guard:
                lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
            async with lock:
                if self._enabled is None:
                    self._enabled = await self._detect()
        return self._enabled

    async def _detect(self) -> bool:
        objects = self._objects
        client = await objects.client.get()
        with objects.errors(None, "reading the Object Lock configuration of"):
            try:
                answer = await client.get_object_lock_configuration(Bucket=objects.bucket)
            except ClientError as exc:
                code, status = error_code(exc)
                if code == "ObjectLockConfigurationNotFoundError":
                    return False
                if not refused_feature(exc):
                    raise
                # A policy without s3:GetBucketObjectLockConfiguration, or a service
                # without Object Lock: as if it had none (the library still enforces).
                log.debug(
                    "artifactstore: bucket %r did not say whether it has Object Lock (%s); "
                    "treated as without it: holds are enforced by the library alone",
                    objects.bucket,
                    code or status,
                )
                return False
        config = answer.get("ObjectLockConfiguration") or {}
        enabled = config.get("ObjectLockEnabled") == "Enabled"
        rule = (config.get("Rule") or {}).get("DefaultRetention") or {}
        if enabled and rule.get("Mode"):
            years = int(rule.get("Years") or 0)
            period = timedelta(days=int(rule.get("Days") or 0)) + years * _YEAR
            self._default = (str(rule["Mode"]), period)
        log.debug("artifactstore: bucket %r has Object Lock: %s", objects.bucket, enabled)
        return enabled

    async def checksum(self, data: bytes) -> dict[str, str]:
        """The checksum arguments a PutObject of ``data`` needs here (none without Object Lock)."""
        if not await self.enabled():
            return {}
        return sha256_checksum(hashlib.sha256(data).digest())

    # ---- writes ----------------------------------------------------------------

    async def for_write(self, key: str) -> Write | None:
        """What a write to ``key`` asks S3 for; ``None`` on a bucket without Object Lock."""
        if not await self.enabled():
            return None
        held = await self._holds(RECENT)
        return Write(self, key, held, self.protection(key, held))

    async def _holds(self, max_age: float = 0.0) -> HoldSet:
        if self.registry is None:  # a bare backend, outside a store: no holds
            return HoldSet()
        return await self.registry.current(max_age=max_age)

    @staticmethod
    def protection(key: str, held: HoldSet) -> Protection:
        """What ``held`` asks S3 to keep ``key`` with."""
        holds, until = held.covering(key)
        return Protection(bool(holds), until)

    def lock_args(self, wanted: Protection) -> dict[str, Any]:
        """The Object Lock arguments of a write (PutObject, CreateMultipartUpload, CopyObject).

        An explicit retention replaces the bucket's default one on the new object: it
        is never made shorter or weaker than that default (COMPLIANCE if either is).
        """
        args: dict[str, Any] = {}
        if wanted.hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        if wanted.until is not None:
            mode, until = self._objects.settings.object_lock_mode, wanted.until
            if self._default is not None:
                default_mode, period = self._default
                until = max(until, datetime.now(timezone.utc) + period)
                if default_mode == "COMPLIANCE":
                    mode = "COMPLIANCE"
            args["ObjectLockMode"] = mode
            args["ObjectLockRetainUntilDate"] = until
        return args

    async def apply(
        self, key: str, wanted: Protection, version_id: str | None, given: Protection | None
    ) -> None:
        """Give the object at ``key`` what ``wanted`` says.

        ``version_id``: that version, else the current one. ``given``: what it was
        written with (nothing asked twice), ``None`` if that is not known.
        """
        try:
            if wanted.hold if given is None else wanted.hold != given.hold:
                await self._legal_hold(key, wanted.hold, version_id)
            if wanted.until is not None and (
                given is None or given.until is None or wanted.until > given.until
            ):
                await self._retain(key, wanted.until, version_id)
        except ArtifactNotFoundError:
            pass  # deleted meanwhile: nothing left to keep

    async def _legal_hold(self, key: str, on: bool, version_id: str | None) -> None:
        objects = self._objects
        client = await objects.client.get()
        extra = {"VersionId": version_id} if version_id else {}
        with objects.errors(key, "setting the legal hold of"):
            await client.put_object_legal_hold(
                Bucket=objects.bucket,
                Key=objects.object_key(key),
                LegalHold={"Status": "ON" if on else "OFF"},
                **extra,
            )

    async def _retain(self, key: str, until: datetime, version_id: str | None) -> None:
        """Retain the object until ``until``, or leave it if it is retained as long already.

        One HEAD first: S3 refuses to shorten a retention (and to change its mode
        without a bypass), so the one there is extended, in its own mode.
        """
        objects = self._objects
        client = await objects.client.get()
        object_key = objects.object_key(key)
        extra = {"VersionId": version_id} if version_id else {}
        with objects.errors(key, "reading the retention of"):
            head = await client.head_object(Bucket=objects.bucket, Key=object_key, **extra)
        current: datetime | None = head.get("ObjectLockRetainUntilDate")
        if current is not None and current >= until:
            return
        mode = head.get("ObjectLockMode") or objects.settings.object_lock_mode
        if head.get("VersionId") and head["VersionId"] != "null":
            extra = {"VersionId": head["VersionId"]}  # the very version looked at
        with objects.errors(key, "setting the retention of"):
            await client.put_object_retention(
                Bucket=objects.bucket,
                Key=object_key,
                Retention={"Mode": mode, "RetainUntilDate": until},
                **extra,
            )

    # ---- holds placed and released ----------------------------------------------

    async def placed(self, target: str) -> None:
        """A hold on ``target`` was placed: the legal hold ON on every object it covers."""
        if await self.enabled():
            await self._each(target, lambda key: self._legal_hold(key, True, None))

    async def released(self, target: str) -> None:
        """A hold on ``target`` was released: OFF on the objects no hold covers any more.

        The holds are read again afterwards: an object a hold placed meanwhile turned
        ON before this turned it OFF is turned ON again (that hold's own pass saw
        every object this one did not).
        """
        if not await self.enabled():
            return
        held = await self._holds()
        cleared: list[str] = []

        async def clear(key: str) -> None:
            if not held.covering(key)[0]:
                await self._legal_hold(key, False, None)
                cleared.append(key)

        await self._each(target, clear)
        again = await self._holds()
        if again is not held:
            for key in cleared:
                if again.covering(key)[0]:
                    await self.apply(key, Protection(hold=True), None, None)

    async def retained(self, target: str) -> None:
        """A retention on ``target`` was set: every object it covers retained as long."""
        if not await self.enabled():
            return
        held = await self._holds()

        async def retain(key: str) -> None:
            until = held.covering(key)[1]
            if until is not None:
                await self._retain(key, until, None)

        await self._each(target, retain)

    async def _each(self, target: str, act: Callable[[str], Awaitable[None]]) -> None:
        """``act(key)`` for every object ``target`` covers, ``IN_FLIGHT`` at once.

        The object ``target`` itself, if there is one, is the first listed with it as
        the prefix (the shortest name sorts first); then everything under ``target/``.
        """
        objects = self._objects
        client = await objects.client.get()
        full = objects.object_key(target)
        strip = len(objects.prefix) + 1 if objects.prefix else 0
        slots = anyio.Semaphore(IN_FLIGHT)

        async def run(key: str) -> None:
            try:
                await act(key)
            except ArtifactNotFoundError:
                pass  # deleted meanwhile
            finally:
                slots.release()

        try:
            async with anyio.create_task_group() as group:
                with objects.errors(target, "listing"):
                    first = await client.list_objects_v2(
                        Bucket=objects.bucket, Prefix=full, MaxKeys=1
                    )
                if any(item["Key"] == full for item in first.get("Contents", [])):
                    await slots.acquire()
                    group.start_soon(run, target)
                args: dict[str, Any] = {"Bucket": objects.bucket, "Prefix": f"{full}/"}
                while True:
                    with objects.errors(target, "listing"):
                        page = await client.list_objects_v2(**args)
                    for item in page.get("Contents", []):
                        key = item["Key"][strip:]
                        if covers(target, key) and _is_key(key):
                            await slots.acquire()
                            group.start_soon(run, key)
                    token = page.get("NextContinuationToken")
                    if not page.get("IsTruncated") or not token:
                        break
                    args["ContinuationToken"] = token
        except BaseException as exc:
            single = unwrap(exc)
            if single is exc:
                raise
            raise single from single.__cause__


class Write:
    """One write to a bucket with Object Lock: what it asks for, then settling it."""

    def __init__(self, lock: ObjectLock, key: str, held: HoldSet, wanted: Protection) -> None:
        self._lock = lock
        self.key = key
        self._held = held
        #: What the write asks S3 for, from the holds read before it.
        self.wanted = wanted

    def args(self) -> dict[str, Any]:
        """The Object Lock arguments of the write."""
        return self._lock.lock_args(self.wanted)

    async def settle(self, version_id: str | None, *, again: bool = False) -> None:
        """Once written: apply what the holds ask for now, if they changed meanwhile.

        With ``again``, apply it whatever the write asked for (a multipart write,
        whose headers a server may have ignored). Shielded from cancellation, since
        the object is in place; a failure is logged, not raised: the artifact is
        stored, and the library still enforces the hold (placing it again sets it).
        """
        with anyio.CancelScope(shield=True):
            try:
                held = await self._lock._holds()
                if held is self._held:
                    wanted = self.wanted
                else:
                    wanted = self._lock.protection(self.key, held)
                given = None if again else self.wanted
                await self._lock.apply(self.key, wanted, version_id, given)
            except Exception as exc:
                log.warning(  # no key: keys are confidential
                    "artifactstore: an artifact is stored, but S3's legal hold or retention "
                    "could not be set on it (%s); the library enforces its holds, and placing "
                    "the hold or retention again sets them",
                    type(exc).__name__,
                )
