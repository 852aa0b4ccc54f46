"""What ``put`` accepts as data, sorted into four kinds before any backend sees it.

Classifying up front means bad data (a ``str``, ``None``, a text file, a closed
file) is refused with a ``TypeError``/``ValueError`` before anything is written.
"""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import IO, Union

__all__ = [
    "AsyncIterableSource",
    "BytesSource",
    "FileSource",
    "PathSource",
    "PutData",
    "Source",
    "as_source",
    "check_chunk",
    "rechunk",
]

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
