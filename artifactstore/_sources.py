"""What ``put`` accepts as data, sorted into four kinds before any backend sees it.

Classifying up front means bad data (a ``str``, ``None``, a text file, a closed
file) is refused with a ``TypeError``/``ValueError`` before anything is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import IO, Union

import aiofiles

from ._drive import driving
from ._threads import SOURCE_READERS

__all__ = [
    "AsyncIterableSource",
    "BytesSource",
    "FileSource",
    "PathSource",
    "PutData",
    "Source",
    "as_source",
    "check_chunk",
    "chunks_of",
    "exact_parts",
    "hexdigest",
    "prepend",
    "rechunk",
    "sha256_hex",
]

#: Data from this size on is hashed on a thread (hashlib releases the GIL), not on the loop.
HASH_ON_A_THREAD = 1024 * 1024


def hexdigest(data: bytes | memoryview) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


async def sha256_hex(data: bytes | memoryview) -> str:
    """The hex SHA-256 of ``data``, hashed off the event loop when it is large."""
    if len(data) < HASH_ON_A_THREAD or driving():
        return hexdigest(data)
    return await asyncio.get_running_loop().run_in_executor(SOURCE_READERS, hexdigest, data)


#: Everything ``ArtifactStore.put`` accepts as ``data``.
PutData = Union[
    bytes,
    bytearray,
    memoryview,
    IO[bytes],
    AsyncIterable[bytes],
    "os.PathLike[str]",
]


@dataclass(frozen=True)
class BytesSource:
    """Data already in memory."""

    data: memoryview


@dataclass(frozen=True)
class FileSource:
    """A synchronous binary file object, read in a worker thread from where it stands."""

    file: IO[bytes]


@dataclass(frozen=True)
class PathSource:
    """A local file, opened and read by the store."""

    path: str


@dataclass(frozen=True)
class AsyncIterableSource:
    """An async iterable of bytes (a web request body, a generator)."""

    iterable: AsyncIterable[bytes]


Source = Union[BytesSource, FileSource, PathSource, AsyncIterableSource]  # noqa: UP007 (3.10 alias)


def as_source(data: object) -> Source:
    """Sort ``data`` into a source kind, or raise ``TypeError``/``ValueError``."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        if view.ndim != 1 or view.format not in ("B", "b", "c"):
            view = view.cast("B")
        return BytesSource(view)
    if isinstance(data, str):
        raise TypeError(
            "put() takes bytes, not str: encode the text first (text.encode('utf-8')), "
            "or pass a pathlib.Path to store a local file"
        )
    if isinstance(data, os.PathLike):
        path = os.fspath(data)
        if not isinstance(path, str):
            path = os.fsdecode(path)
        return PathSource(path)
    if isinstance(data, io.TextIOBase):
        raise TypeError("put() needs a binary file object; open the file with 'rb'")
    if hasattr(data, "__aiter__"):
        return AsyncIterableSource(data)
    if callable(getattr(data, "read", None)):
        if getattr(data, "closed", False):
            raise ValueError("put() was given a closed file object")
        return FileSource(data)  # type: ignore[arg-type]
    raise TypeError(
        f"put() cannot store a {type(data).__name__}: pass bytes, a binary file object, "
        "an async iterable of bytes, or an os.PathLike naming a local file"
    )


def check_chunk(chunk: object) -> bytes | bytearray | memoryview:
    """Check one chunk from an async iterable or a file's ``read``."""
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return chunk
    raise TypeError(f"the data source yielded {type(chunk).__name__}, not bytes")


async def rechunk(
    iterable: AsyncIterable[bytes | bytearray | memoryview], size: int
) -> AsyncIterator[bytes]:
    """Re-cut an async byte stream into chunks of ``size`` bytes (the last one shorter).

    Web servers deliver request bodies in small pieces; one worker hop per piece
    would waste most of the time on hops. Each byte is copied once: pieces of
    ``bytes`` chunks are held as views and joined (a chunk of exactly ``size``
    arriving alone is passed on as it is); a mutable chunk is copied first, as
    its source may reuse it once it runs again.
    """
    pending: list[memoryview] = []
    held = 0
    async for chunk in iterable:
        if not pending and len(chunk) == size and isinstance(chunk, bytes):
            yield chunk  # already the right size: no copy
            continue
        checked = check_chunk(chunk)
        view = memoryview(checked if isinstance(checked, bytes) else bytes(checked))
        while view:
            piece = view[: size - held]
            view = view[len(piece) :]
            pending.append(piece)
            held += len(piece)
            if held == size:
                yield b"".join(pending)
                pending.clear()
                held = 0
    if pending:
        yield b"".join(pending)


async def exact_parts(source: Source, size: int) -> AsyncIterator[bytes]:
    """The source's bytes in chunks of exactly ``size`` (the last one shorter).

    A multipart upload's parts. Bytes are sliced (one copy each); other sources are
    read through :func:`chunks_of` (on the source readers' threads) and re-cut,
    without a copy when a read returned a whole part.
    """
    if isinstance(source, BytesSource):
        for i in range(0, max(len(source.data), 1), size):
            yield bytes(source.data[i : i + size])
        return
    chunks = chunks_of(source, size)
    try:
        async for part in rechunk(chunks, size):
            yield part
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]


async def prepend(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The last chunk of ``held`` (popped, so nothing here keeps it alive), then ``rest``."""
    yield held.pop()
    async for chunk in rest:
        yield chunk


# ---- the caller's data, read off the stores' own threads --------------------
# A pipe whose writer pauses, a FIFO nobody opens yet, a file on a stalled mount:
# each is read on a daemon thread of its own (``_threads``), one hop per chunk, so
# a slow source delays only its own put. A caller driving the coroutine itself
# (the sync facade) reads in its own thread, the one that chose to wait.


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
