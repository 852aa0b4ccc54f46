"""What ``put`` accepts as data, sorted into four kinds before any backend sees it.

Classifying up front means bad data (a ``str``, ``None``, a text file, a closed
file) is refused with a ``TypeError``/``ValueError`` before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import IO, Any, Union

import aiofiles
import anyio

__all__ = [
    "AsyncIterableSource",
    "BytesSource",
    "FileSource",
    "PathSource",
    "PutData",
    "Source",
    "as_source",
    "check_chunk",
    "exact_parts",
    "hash_file",
    "prepend",
    "read_exactly",
    "read_file",
    "rechunk",
]

MiB = 1024 * 1024

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


async def rechunk(iterable: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """Re-cut an async byte stream into chunks of ``size`` bytes (the last one shorter).

    Web servers deliver request bodies in small pieces; one worker hop per piece
    would waste most of the time on hops.
    """
    buffer = bytearray()
    async for chunk in iterable:
        if not buffer and len(chunk) == size and isinstance(chunk, bytes):
            yield chunk  # already the right size: no copy
            continue
        buffer += check_chunk(chunk)
        while len(buffer) >= size:
            with memoryview(buffer) as view:
                piece = bytes(view[:size])  # one copy, not two (slice, then bytes)
            del buffer[:size]
            yield piece
            del piece
    if buffer:
        yield bytes(buffer)


# Readers of put data in parts of an exact size (a multipart upload's parts), and
# of a whole file; the blocking ones are for worker threads.


def hash_file(path: str) -> tuple[str, int]:
    """The SHA-256 and size of the file at ``path`` (blocking: call it in a thread)."""
    hasher = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.hexdigest(), size


def read_file(path: str) -> bytes:
    """The whole file at ``path`` (blocking: call it in a thread)."""
    with open(path, "rb") as f:
        return f.read()


async def exact_parts(source: Source, size: int) -> AsyncGenerator[bytes, None]:
    """The source's bytes in chunks of ``size`` (the last one shorter), read off the loop."""
    if isinstance(source, BytesSource):
        for i in range(0, max(len(source.data), 1), size):
            yield bytes(source.data[i : i + size])
    elif isinstance(source, AsyncIterableSource):
        async for chunk in rechunk(source.iterable, size):
            yield chunk
        return
    elif isinstance(source, PathSource):
        # One thread hop per part is nothing next to uploading it: aiofiles is right here.
        async with aiofiles.open(source.path, "rb") as f:
            while True:
                chunk = await f.read(size)
                yield chunk
                if len(chunk) < size:
                    return
    else:
        while True:
            chunk = await anyio.to_thread.run_sync(read_exactly, source.file, size)
            yield chunk
            if len(chunk) < size:
                return


def read_exactly(file: Any, size: int) -> bytes:
    """``size`` bytes from a blocking file object, fewer only at its end."""
    parts = []
    missing = size
    while missing:
        chunk = file.read(missing)
        if chunk is None:
            raise TypeError("the file object is non-blocking and had no data; pass a blocking one")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"the file object's read() returned {type(chunk).__name__}, not bytes")
        if not chunk:
            break
        parts.append(bytes(chunk))
        missing -= len(chunk)
    return b"".join(parts)


async def prepend(held: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The last chunk of ``held`` (popped, so nothing here keeps it alive), then ``rest``."""
    yield held.pop()
    async for chunk in rest:
        yield chunk
