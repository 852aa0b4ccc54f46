"""``TimeoutLayer``: a deadline for each operation."""

from __future__ import annotations

import asyncio
import math
import sys
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .._drive import deadline, driving
from ..backend import Backend, OpenedArtifact
from ..errors import StorageTimeoutError
from ._base import AroundEachRead, Layer, LayeredBackend, Operation

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


class _Watch:
    """The deadlines of one layer's operations on one event loop, checked by one timer.

    ``asyncio.timeout`` schedules and cancels a timer per operation; a layer whose
    deadlines are all ``seconds`` long needs one timer for the oldest operation in
    flight, since every later one ends later. Starting and ending an operation is
    then two dictionary steps. At a deadline the operation's task is cancelled, as
    ``asyncio.timeout`` does, and the layer turns that cancellation into a timeout.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.seconds = seconds
        #: In flight, oldest first: token -> [deadline, task, expired].
        self.inflight: dict[object, list[Any]] = {}
        self.timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[Any]) -> object:
        token = object()
        when = self.loop.time() + self.seconds
        self.inflight[token] = [when, task, False]
        if self.timer is None:
            self.timer = self.loop.call_at(when, self._check)
        return token

    def end(self, token: object) -> bool:
        """Forget an operation; return whether its deadline passed."""
        expired: bool = self.inflight.pop(token)[2]
        return expired

    def _check(self) -> None:
        self.timer = None
        now = self.loop.time()
        for entry in self.inflight.values():
            when, task, expired = entry
            if expired:
                continue
            if when > now:  # the oldest still running: wait for it
                self.timer = self.loop.call_at(when, self._check)
                return
            entry[2] = True
            task.cancel()


async def _within(watch: _Watch, call: Callable[[], Awaitable[T]]) -> tuple[bool, T | None]:
    """Run ``call()`` under ``watch``'s deadline; return (timed out, result)."""
    task = asyncio.current_task()
    assert task is not None
    token = watch.start(task)
    try:
        return False, await call()
    except asyncio.CancelledError:
        expired, token = watch.end(token), None
        if not expired:
            raise
        # Ours: take our cancellation back; another one (the caller's) still stands.
        if sys.version_info >= (3, 11) and task.uncancel() > 0:
            raise
        return True, None
    finally:
        if token is not None:
            watch.end(token)


class _TimeoutBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: TimeoutLayer) -> None:
        super().__init__(inner, layer)
        self._seconds = layer.seconds
        self._grace = layer.cleanup_grace
        self._watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = (
            weakref.WeakKeyDictionary()
        )
        self._last: _Watch | None = None  # the last call's (its loop kept until another's)

    def _watch(self, seconds: float, loop: asyncio.AbstractEventLoop | None = None) -> _Watch:
        loop = loop or asyncio.get_running_loop()
        last = self._last
        if last is not None and last.loop is loop and last.seconds == seconds:
            return last  # the common case: the loop of the previous call
        watch = self._watches.get(loop)
        if watch is None or watch.seconds != seconds:
            watch = _Watch(loop, seconds)
            if seconds == self._seconds:
                self._watches[loop] = watch
        if seconds == self._seconds:
            self._last = watch
        return watch

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
        # _within(), inlined: this runs on every operation.
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        watch = self._watch(self._seconds, loop)
        token: object = watch.start(task)
        try:
            return await call()
        except asyncio.CancelledError:
            expired, token = watch.end(token), None
            # Ours: take our cancellation back; another one (the caller's) still stands.
            if not expired or (sys.version_info >= (3, 11) and task.uncancel() > 0):
                raise
        finally:
            if token is not None:
                watch.end(token)
        await self._settle()
        raise self._error(operation, key)

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
        timed_out, _ = await _within(self._watch(seconds), self.inner.quiesce)
        if timed_out:
            raise StorageTimeoutError("clean-up")

    def opened(self, key: str, opened: OpenedArtifact) -> OpenedArtifact:
        return AroundEachRead(self, key, opened)
