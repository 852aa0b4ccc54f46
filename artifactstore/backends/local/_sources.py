"""Reading the caller's data off the store's lanes: a slow source delays only its own put.

A pipe whose writer pauses, a FIFO nobody opens yet, a file on a stalled network
mount: reading them on a lane would stall every operation of the store. They are
read on a thread of their own instead (``artifactstore._threads``), one hop per
1 MiB chunk: paths through ``aiofiles``, file objects (any object with ``read``)
through ``run_in_executor``. A caller driving the coroutine itself (the sync
facade) reads in its own thread, which is the one that chose to wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import IO

import aiofiles

from ..._sources import AsyncIterableSource, BytesSource, FileSource, PathSource, Source, rechunk
from ..._threads import SOURCE_READERS
from ..._worker import driving

__all__ = ["chunks_of"]


def _checked(chunk: object) -> bytes | bytearray | memoryview:
    if chunk is None:
        raise TypeError("the file object is non-blocking and had no data; pass a blocking one")
    if not isinstance(chunk, (bytes, bytearray, memoryview)):
        raise TypeError(f"the file object's read() returned {type(chunk).__name__}, not bytes")
    return chunk


async def _from_file(file: IO[bytes], size: int) -> AsyncIterator[bytes | bytearray | memoryview]:
    while True:
        if driving():
            chunk = _checked(file.read(size))
        else:
            loop = asyncio.get_running_loop()
            chunk = _checked(await loop.run_in_executor(SOURCE_READERS, file.read, size))
        if not chunk:
            return
        yield chunk


async def _from_path(path: str, size: int) -> AsyncIterator[bytes | bytearray | memoryview]:
    if driving():
        with open(path, "rb", buffering=0) as file:  # noqa: ASYNC230 (the caller's thread)
            while chunk := file.read(size):
                yield chunk
        return
    async with aiofiles.open(path, "rb", buffering=0, executor=SOURCE_READERS) as afile:
        while chunk := await afile.read(size):
            yield chunk


async def chunks_of(source: Source, size: int) -> AsyncIterator[bytes | bytearray | memoryview]:
    """The bytes of a non-bytes ``source`` (or a large bytes one), ``size`` at a time."""
    if isinstance(source, BytesSource):
        view = source.data
        for i in range(0, len(view), size):
            yield view[i : i + size]
        return
    if isinstance(source, AsyncIterableSource):
        chunks: AsyncIterator[bytes | bytearray | memoryview] = rechunk(source.iterable, size)
    elif isinstance(source, PathSource):
        chunks = _from_path(source.path, size)
    else:
        assert isinstance(source, FileSource)
        chunks = _from_file(source.file, size)
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
