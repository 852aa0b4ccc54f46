"""The S3 backend's holds and retentions: JSON objects under the reserved area.

``<prefix>/.artifactstore/holds/h/<target hash>/<name hash>.json`` is one hold,
``.../holds/r/<target hash>.json`` one retention, and ``.../holds/version`` is
rewritten (a new random body, so a new ETag) after every change. A store's check
HEADs the version object and reloads the set when its ETag moved: one request per
guarded write, and holds placed by any host are seen as soon as ``hold()``
returned (S3 reads are strongly consistent).

Enforced by the library for every store over the bucket. On a bucket with S3
Object Lock, each change is also applied to the objects it covers (their legal
hold and retention, ``_lock``), so that S3 itself refuses to delete them.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ...errors import ArtifactStoreError, StorageBackendError
from ...holds import Hold, HoldSet, Retention, check_extension
from ._errors import error_code

if TYPE_CHECKING:
    from ._lock import ObjectLock

__all__ = ["S3HoldRegistry"]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


class S3HoldRegistry:
    """The holds of one bucket and prefix (a ``HoldRegistry``)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        errors: Callable[[str], AbstractContextManager[None]],
        lock: ObjectLock | None = None,
    ) -> None:
        self._client = client  # S3Client: .get() gives the aiobotocore client
        self._lock = lock  # the bucket's Object Lock, when the store has one
        self._bucket = bucket
        area = f"{prefix}/.artifactstore/holds" if prefix else ".artifactstore/holds"
        self._area = area
        self._errors = errors
        self._cached: HoldSet | None = None
        self._etag: str | None = None
        self._checked = 0.0  # time.monotonic() of the last look at the version

    def _hold_key(self, target: str, name: str) -> str:
        return f"{self._area}/h/{_digest(target)}/{_digest(name)}.json"

    def _retention_key(self, target: str) -> str:
        return f"{self._area}/r/{_digest(target)}.json"

    async def _version(self) -> str:
        client = await self._client.get()
        with self._errors("checking the holds of"):
            try:
                answer = await client.head_object(Bucket=self._bucket, Key=f"{self._area}/version")
            except ClientError as exc:
                if error_code(exc)[1] == 404:
                    return ""  # no hold was ever placed
                raise
        return str(answer["ETag"])

    async def current(self, max_age: float = 0.0) -> HoldSet:
        """The cached set, unless the version object's ETag moved.

        ``max_age``: the cached set as it is, if its version was looked at less than
        that many seconds ago (a write's Object Lock arguments, just after the hold
        layer looked).
        """
        if self._cached is not None and time.monotonic() - self._checked < max_age:
            return self._cached
        checked = time.monotonic()
        etag = await self._version()
        if self._cached is not None and etag == self._etag:
            self._checked = checked
            return self._cached
        holds: list[Hold] = []
        retentions: list[Retention] = []
        client = await self._client.get()
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": f"{self._area}/"}
        while True:
            with self._errors("reading the holds of"):
                page = await client.list_objects_v2(**args)
            for item in page.get("Contents", []):
                name = item["Key"]
                if not name.endswith(".json"):
                    continue
                body = json.loads(await self._read(name))
                if "/h/" in name:
                    holds.append(
                        Hold(body["target"], body["name"], body["reason"],
                             _when(body["created_at"]), body["created_by"])
                    )  # fmt: skip
                else:
                    retentions.append(
                        Retention(body["target"], _when(body["until"]),
                                  _when(body["set_at"]), body["set_by"])
                    )  # fmt: skip
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                break
            args["ContinuationToken"] = token
        self._cached, self._etag, self._checked = HoldSet(holds, retentions), etag, checked
        return self._cached

    async def _read(self, name: str) -> bytes:
        client = await self._client.get()
        with self._errors("reading the holds of"):
            answer = await client.get_object(Bucket=self._bucket, Key=name)
            async with answer["Body"] as body:
                data: bytes = await body.read()
        return data

    async def _write(self, name: str, body: dict[str, Any] | None) -> None:
        """Write (or, with ``None``, delete) one record, then move the version."""
        client = await self._client.get()
        with self._errors("changing the holds of"):
            if body is None:
                await client.delete_object(Bucket=self._bucket, Key=name)
            else:
                data = json.dumps(body, sort_keys=True).encode()
                checksum = await self._lock.checksum(data) if self._lock is not None else {}
                await client.put_object(Bucket=self._bucket, Key=name, Body=data, **checksum)
            self._checked = 0.0  # changed here: never taken as current from the cache
            version = uuid.uuid4().hex.encode()
            checksum = await self._lock.checksum(version) if self._lock is not None else {}
            await client.put_object(
                Bucket=self._bucket, Key=f"{self._area}/version", Body=version, **checksum
            )

    async def _on_objects(self, change: str, target: str) -> None:
        """Apply a change of the holds of ``target`` to its objects' Object Lock."""
        if self._lock is None:
            return
        try:
            await getattr(self._lock, change)(target)
        except ArtifactStoreError as exc:
            raise StorageBackendError(
                f"the change to the holds of {target!r} is recorded, and enforced by the "
                f"library, but S3's Object Lock of the objects it covers was not fully set: "
                f"{exc}. Place the hold or retention (or release it) again to finish",
                key=target,
                retryable=getattr(exc, "retryable", False),
            ) from exc

    async def add(self, hold: Hold) -> Hold:
        """Place ``hold`` (the one already placed under its target and name stays)."""
        existing = (await self.current()).holds.get(hold.target, {}).get(hold.name)
        if existing is not None:
            await self._on_objects("placed", hold.target)  # again: finishes a failed one
            return existing
        body = {
            "target": hold.target,
            "name": hold.name,
            "reason": hold.reason,
            "created_at": hold.created_at.isoformat(),
            "created_by": hold.created_by,
        }
        await self._write(self._hold_key(hold.target, hold.name), body)
        await self._on_objects("placed", hold.target)
        return hold

    async def remove(self, target: str, name: str) -> bool:
        """Release a hold."""
        if name not in (await self.current()).holds.get(target, {}):
            await self._on_objects("released", target)  # again: finishes a failed one
            return False
        await self._write(self._hold_key(target, name), None)
        await self._on_objects("released", target)
        return True

    async def retain(self, retention: Retention) -> Retention:
        """Set or extend a retention (``ValueError`` if it would shorten one)."""
        kept = check_extension((await self.current()).retentions.get(retention.target), retention)
        body = {
            "target": kept.target,
            "until": kept.until.isoformat(),
            "set_at": kept.set_at.isoformat(),
            "set_by": kept.set_by,
        }
        await self._write(self._retention_key(kept.target), body)
        await self._on_objects("retained", kept.target)
        return kept
