"""``ArtifactStream``: one artifact (or a byte range of it), read lazily chunk by chunk."""

from __future__ import annotations

from types import TracebackType

from .backend import Backend, OpenedArtifact
from .metadata import ArtifactMetadata
from .options import ReadOptions

__all__ = ["ArtifactStream"]


class ArtifactStream:
    """The chunks of one artifact (or a byte range of it), read lazily.

    Use it as ``async for chunk in store.stream(key)`` or, to release the file or
    connection deterministically, ``async with store.stream(key) as s:``. Leaving
    the loop early (``break``, an exception, a cancellation) releases it too, as
    soon as the stream is dropped.

    After opening (``async with``, ``await s.open()`` or the first chunk),
    ``s.metadata`` describes the whole artifact (``size_bytes`` is its full size,
    not the range's).
    """

    def __init__(self, backend: Backend, key: str, options: ReadOptions) -> None:
        self._backend = backend
        self._key = key
        self._options = options
        self._opened: OpenedArtifact | None = None
        self._done = False

    @property
    def key(self) -> str:
        """The normalized key being read."""
        return self._key

    @property
    def metadata(self) -> ArtifactMetadata:
        """The artifact's metadata; only after the stream is opened."""
        if self._opened is None:
            raise RuntimeError("open the stream first (async with, await open(), or iterate)")
        return self._opened.metadata

    async def open(self) -> ArtifactMetadata:
        """Open the artifact (raises ``ArtifactNotFoundError``) and return its metadata."""
        if self._done:
            raise RuntimeError(f"the stream of {self._key!r} is closed")
        if self._opened is None:
            self._opened = await self._backend.open(self._key, self._options)
        return self._opened.metadata

    def __aiter__(self) -> ArtifactStream:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        if self._opened is None:
            await self.open()
        assert self._opened is not None
        chunk = await self._opened.read()
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        """Release the file or connection; safe to call more than once."""
        self._done = True
        if self._opened is not None:
            await self._opened.aclose()

    async def __aenter__(self) -> ArtifactStream:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # An abandoned ``async for`` never calls aclose(): release here, at once.
        opened = getattr(self, "_opened", None)
        if opened is not None:
            opened.close_nowait()
