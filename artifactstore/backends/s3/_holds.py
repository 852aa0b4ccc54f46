"""The S3 backend's holds and retentions: JSON objects under the reserved area.

``<prefix>/.artifactstore/holds/h/<target hash>/<name hash>.json`` is one hold,
``.../holds/r/<target hash>.json`` one retention, and ``.../holds/version`` is
rewritten (a new random body, so a new ETag) after every change. A store's check
HEADs the version object and reloads the set when its ETag moved: one request per
guarded write, and holds placed by any host are seen as soon as ``hold()``
returned (S3 reads are strongly consistent).

Enforced by the library for every store over the bucket; S3 Object Lock (which
makes S3 itself refuse) is not set from here yet (see docs/holds.md).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from ...holds import Hold, HoldSet, Retention, check_extension
from ._errors import error_code

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
    ) -> None:
        self._client = client  # S3Client: .get() gives the aiobotocore client
        self._bucket = bucket
        area = f"{prefix}/.artifactstore/holds" if prefix else ".artifactstore/holds"
        self._area = area
        self._errors = errors
        self._cached: HoldSet | None = None
        self._etag: str | None = None

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

    async def current(self) -> HoldSet:
        """The cached set, unless the version object's ETag moved."""
        etag = await self._version()
        if self._cached is not None and etag == self._etag:
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
        self._cached, self._etag = HoldSet(holds, retentions), etag
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
                await client.put_object(Bucket=self._bucket, Key=name, Body=data)
            version = uuid.uuid4().hex.encode()
            await client.put_object(Bucket=self._bucket, Key=f"{self._area}/version", Body=version)

    async def add(self, hold: Hold) -> Hold:
        """Place ``hold`` (the one already placed under its target and name stays)."""
        existing = (await self.current()).holds.get(hold.target, {}).get(hold.name)
        if existing is not None:
            return existing
        body = {
            "target": hold.target,
            "name": hold.name,
            "reason": hold.reason,
            "created_at": hold.created_at.isoformat(),
            "created_by": hold.created_by,
        }
        await self._write(self._hold_key(hold.target, hold.name), body)
        return hold

    async def remove(self, target: str, name: str) -> bool:
        """Release a hold."""
        if name not in (await self.current()).holds.get(target, {}):
            return False
        await self._write(self._hold_key(target, name), None)
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
        return kept
