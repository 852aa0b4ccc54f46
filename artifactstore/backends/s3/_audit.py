"""The S3 backend's audit trail: one object per event under the reserved area.

``<prefix>/.artifactstore/audit/events/<seq, 20 digits>`` holds an event's
canonical bytes. An event is numbered by creating its object with
``If-None-Match: *``: of several writers (processes, hosts) claiming the same
number exactly one succeeds, and the others take the next. A PUT is durable when
it returns, so ``append`` returns once its events are stored. Zero-padded names
list in order; ``.artifactstore`` segments are never keys, so listings and
migrations never see these objects.

An ``artifactstore.audit.AuditSink`` (a protocol: this module does not import the
audit package, which a store that keeps no trail never loads).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import anyio
from botocore.exceptions import ClientError

from ._errors import conditional_conflict, precondition_failed

if TYPE_CHECKING:
    from ...audit import AuditRecord

__all__ = ["S3AuditSink"]

#: Events fetched at once when the trail is read back.
READ_AHEAD = 16


class S3AuditSink:
    """The audit trail of one bucket and prefix."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str,
        errors: Callable[[str], AbstractContextManager[None]],
        checksum: Callable[[bytes], Awaitable[dict[str, str]]] | None = None,
    ) -> None:
        self._client = client  # S3Client: .get() gives the aiobotocore client
        # The checksum arguments of a PutObject (a bucket with Object Lock needs one).
        self._checksum = checksum
        self._bucket = bucket
        area = f"{prefix}/.artifactstore/audit" if prefix else ".artifactstore/audit"
        self._events = f"{area}/events/"
        self._origin_key = f"{area}/origin"
        self._errors = errors
        self._next = 0  # 0: not known yet
        self._origin: str | None = None

    async def _checksum_of(self, body: bytes) -> dict[str, str]:
        return {} if self._checksum is None else await self._checksum(body)

    def _name(self, seq: int) -> str:
        return f"{self._events}{seq:020d}"

    async def _last(self, after: int) -> int:
        """The highest number stored, looking from ``after`` on."""
        client = await self._client.get()
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._events}
        if after:
            args["StartAfter"] = self._name(after)
        last = after
        while True:
            with self._errors("reading the audit trail of"):
                page = await client.list_objects_v2(**args)
            for item in page.get("Contents", []):
                name = item["Key"][len(self._events) :]
                if name.isdigit():
                    last = max(last, int(name))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return last
            args["ContinuationToken"] = token

    async def append(self, records: Sequence[AuditRecord]) -> list[int]:
        """Claim the next numbers one by one, each by a conditional PUT."""
        client = await self._client.get()
        seqs: list[int] = []
        for record in records:
            seq = self._next or await self._last(0) + 1
            while True:
                try:
                    with anyio.CancelScope(shield=True):  # a claimed number is never half-done
                        body = record.seal(seq)
                        await client.put_object(
                            Bucket=self._bucket,
                            Key=self._name(seq),
                            Body=body,
                            ContentType="application/json",
                            IfNoneMatch="*",
                            **await self._checksum_of(body),
                        )
                    break
                except ClientError as exc:
                    if not (precondition_failed(exc) or conditional_conflict(exc)):
                        with self._errors("recording an audit event in"):
                            raise
                    seq = await self._last(seq) + 1  # another writer took it
            seqs.append(seq)
            self._next = seq + 1
        return seqs

    async def entries(self, start: int = 1) -> AsyncIterator[tuple[int, bytes]]:
        """The events from ``start`` on, in name order, fetched a few at a time."""
        client = await self._client.get()
        args: dict[str, Any] = {"Bucket": self._bucket, "Prefix": self._events}
        if start > 1:
            args["StartAfter"] = self._name(start - 1)
        while True:
            with self._errors("reading the audit trail of"):
                page = await client.list_objects_v2(**args)
            names = [item["Key"] for item in page.get("Contents", [])]
            for i in range(0, len(names), READ_AHEAD):
                batch = names[i : i + READ_AHEAD]
                bodies: list[bytes] = [b""] * len(batch)
                async with anyio.create_task_group() as group:
                    for j, name in enumerate(batch):
                        group.start_soon(self._fetch, client, name, bodies, j)
                for name, body in zip(batch, bodies, strict=True):
                    tail = name[len(self._events) :]
                    yield (int(tail) if tail.isdigit() else 0), body
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    async def _fetch(self, client: Any, name: str, into: list[bytes], at: int) -> None:
        with self._errors("reading the audit trail of"):
            answer = await client.get_object(Bucket=self._bucket, Key=name)
            async with answer["Body"] as body:
                into[at] = await body.read()

    async def origin(self) -> str:
        """``artifactstore.s3/<id>``: made with the trail, kept beside its events."""
        if self._origin is not None:
            return self._origin
        client = await self._client.get()
        proposed = f"artifactstore.s3/{uuid.uuid4().hex}"
        try:
            await client.put_object(
                Bucket=self._bucket,
                Key=self._origin_key,
                Body=proposed.encode(),
                IfNoneMatch="*",
                **await self._checksum_of(proposed.encode()),
            )
        except ClientError as exc:
            if not (precondition_failed(exc) or conditional_conflict(exc)):
                with self._errors("recording the audit trail's name in"):
                    raise
        with self._errors("reading the audit trail's name in"):
            answer = await client.get_object(Bucket=self._bucket, Key=self._origin_key)
            async with answer["Body"] as body:
                self._origin = (await body.read()).decode()
        return self._origin
