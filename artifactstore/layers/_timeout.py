"""``TimeoutLayer``: a deadline for each operation."""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from .._drive import deadline, driving
from ..backend import Backend, OpenedArtifact
from ..errors import StorageTimeoutError
from ._base import Layer, LayeredBackend, Operation

__all__ = ["TimeoutLayer"]

T = TypeVar("T")


class TimeoutLayer(Layer):
    """Fail an operation that takes longer than ``seconds`` with ``StorageTimeoutError``.

    The operation is cancelled at its deadline. A put that timed out leaves no
    partial artifact: the key holds what it held before, and the layer waits (at
    most ``cleanup_grace`` seconds) for the backend to remove the put's temporary
    file before it raises. A stream's deadline applies to opening it and to each
    chunk read (time to the next chunk), not to the whole transfer; a listing's to
    each page.

    Order matters with :class:`RetryLayer`: ``layer(TimeoutLayer(5), RetryLayer())``
    bounds each try, ``layer(RetryLayer(), TimeoutLayer(30))`` the whole call,
    retries included. ``StorageTimeoutError`` is retryable.

    Keeps the sync facade's fast path: a facade call driven in its own thread
    (local and memory backends) gets the same deadline, enforced on each wait.
    """

    name = "timeout"

    def __init__(self, seconds: float, *, cleanup_grace: float | None = None) -> None:
        if not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
            raise ValueError(f"a timeout is a positive number of seconds, not {seconds!r}")
        self.seconds = float(seconds)
        self.cleanup_grace = self.seconds if cleanup_grace is None else float(cleanup_grace)

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _TimeoutBackend(backend, self)


async def _bounded(seconds: float, call: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
    """Run ``call()`` for at most ``seconds``; return (timed out, result)."""
    if sys.version_info >= (3, 11):
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return False, await call()
        except TimeoutError:
            if scope.expired():
                return True, None
            raise
    with anyio.move_on_after(seconds):  # pragma: no cover - Python 3.10
        return False, await call()
    return True, None  # pragma: no cover


class _TimeoutBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: TimeoutLayer) -> None:
        super().__init__(inner, layer)
        self._seconds = layer.seconds
        self._grace = layer.cleanup_grace

    def _error(self, operation: str, key: str | None) -> StorageTimeoutError:
        what = f" of {key!r}" if key is not None else ""
        return StorageTimeoutError(
            f"{operation}{what} did not finish within {self._seconds:g} s (TimeoutLayer); "
            "it was cancelled, and nothing of it was left behind",
            key=key,
        )

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        if driving():  # the sync facade's own thread: each wait is bounded instead
            try:
                with deadline(self._seconds, lambda: self._error(operation, key)):
                    return await call()
            except StorageTimeoutError:
                await self._settle()
                raise
        timed_out, result = await _bounded(self._seconds, call)
        if timed_out:
            await self._settle()
            raise self._error(operation, key)
        return result  # type: ignore[return-value]

    async def _settle(self) -> None:
        """Let the backend finish the clean-up of what was cancelled, within the grace."""
        try:
            await self._quiesce_within(self._grace)
        except StorageTimeoutError:
            pass  # the clean-up goes on in the background

    async def _quiesce_within(self, seconds: float) -> None:
        if driving():
            with deadline(seconds, lambda: StorageTimeoutError("clean-up")):
                await self.inner.quiesce()
            return
        timed_out, _ = await _bounded(seconds, self.inner.quiesce)
        if timed_out:
            raise StorageTimeoutError("clean-up")

    def opened(self, key: str, opened: OpenedArtifact) -> OpenedArtifact:
        return _TimedStream(self, key, opened)


class _TimedStream:
    """A stream whose every read has the layer's deadline."""

    def __init__(self, backend: _TimeoutBackend, key: str, opened: OpenedArtifact) -> None:
        self.metadata = opened.metadata
        self._backend = backend
        self._key = key
        self._opened = opened

    async def read(self) -> bytes:
        return await self._backend.around("stream", self._key, self._opened.read)

    async def aclose(self) -> None:
        await self._opened.aclose()

    def close_nowait(self) -> None:
        self._opened.close_nowait()
