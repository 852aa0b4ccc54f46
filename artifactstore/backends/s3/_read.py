"""Reading an object: a GetObject response body, chunk by chunk."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from ...metadata import ArtifactMetadata
from ._errors import map_errors
from ._upload import hash_update

__all__ = ["S3Opened"]


class S3Opened:
    """A GetObject response body, read chunk by chunk; closing it frees its connection.

    With ``learn``, the body is the whole object and its SHA-256 is not known: the
    chunks are hashed as they are read and, once the last one is, ``learn`` is given
    the SHA-256 (so an object stored by other tools is not downloaded again to hash it).
    """

    def __init__(
        self,
        bucket: str,
        metadata: ArtifactMetadata,
        body: Any,
        remaining: int,
        chunk: int,
        *,
        learn: Callable[[str], None] | None = None,
    ) -> None:
        self.metadata = metadata
        self._body = body
        self._remaining = remaining
        self._chunk = chunk
        self._bucket = bucket
        self._learn = learn
        self._hasher = hashlib.sha256() if learn is not None else None

    async def read(self) -> bytes:
        if self._body is None or self._remaining <= 0:
            self.close_nowait()
            return b""
        with map_errors(self._bucket, self.metadata.storage_key, "reading"):
            data: bytes = await self._body.read(min(self._chunk, self._remaining))
        if not data:
            self.close_nowait()
            return b""
        self._remaining -= len(data)
        if self._hasher is not None:
            await hash_update(self._hasher, data)
            if self._remaining <= 0 and self._learn is not None:
                self._learn(self._hasher.hexdigest())
        return data

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        # close(), not release(): the rest of the body is unread, so the connection
        # cannot go back to the pool; closing it frees the pool slot at once.
        body, self._body = self._body, None
        if body is not None:
            body.close()
