"""Sources that a retried put can send again, and the SHA-256 of what they send."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import AsyncIterator

import anyio

from .._drive import driving
from .._sources import (
    AsyncIterableSource,
    BytesSource,
    FileSource,
    PathSource,
    Source,
    chunks_of,
    prepend,
)

__all__ = ["Replay"]

_CHUNK = 1024 * 1024


class Replay:
    """A put's source, and whether (and how) it can be sent again.

    Bytes and regular files can; a seekable file object can, from where it stood;
    a pipe, a FIFO or an async iterable cannot, unless it was short enough to be
    buffered up front (``buffer_limit`` bytes) by :meth:`of`.
    """

    def __init__(self, source: Source, *, position: int | None = None) -> None:
        self.source = source
        self._position = position
        self._sha256: str | None = None

    @classmethod
    async def of(cls, source: Source, buffer_limit: int) -> Replay:
        """Wrap ``source``; an async iterable of at most ``buffer_limit`` bytes is buffered."""
        if isinstance(source, FileSource):
            file = source.file
            seekable = getattr(file, "seekable", None)
            if seekable is not None and seekable():
                return cls(source, position=file.tell())
            return cls(source)
        if not isinstance(source, AsyncIterableSource) or buffer_limit <= 0:
            return cls(source)
        chunks = chunks_of(source, _CHUNK)
        head: list[bytes] = []
        held = 0
        async for chunk in chunks:
            head.append(bytes(chunk))
            held += len(chunk)
            if held > buffer_limit:  # too long to keep: sent once, as it comes
                joined = [b"".join(head)]
                return cls(AsyncIterableSource(prepend(joined, _as_bytes(chunks))))
        return cls(BytesSource(memoryview(b"".join(head))))

    async def rewind(self) -> bool:
        """Make :attr:`source` send its bytes from the start again; ``False`` if it cannot."""
        source = self.source
        if isinstance(source, BytesSource):
            return True
        if isinstance(source, FileSource):
            if self._position is None:
                return False
            source.file.seek(self._position)
            return True
        if isinstance(source, PathSource):
            return await _regular_file(source.path)  # a FIFO's bytes are gone
        return False

    async def sha256(self) -> str | None:
        """The SHA-256 of the bytes the source sends, or ``None`` if it cannot be read again."""
        if self._sha256 is None:
            if not await self.rewind():
                return None
            hasher = hashlib.sha256()
            async for chunk in chunks_of(self.source, _CHUNK):
                hasher.update(chunk)
            self._sha256 = hasher.hexdigest()
        return self._sha256


async def _regular_file(path: str) -> bool:
    try:
        if driving():
            mode = os.stat(path).st_mode
        else:
            mode = (await anyio.to_thread.run_sync(os.stat, path)).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode)


async def _as_bytes(chunks: AsyncIterator[bytes | bytearray | memoryview]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield bytes(chunk)
