"""``ConcurrencyLimitLayer``: at most N operations at once, a limit stores may share."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .. import _telemetry
from .._drive import Blocking, driving
from ..backend import Backend, OpenedArtifact
from ._base import AroundEachRead, Layer, LayeredBackend, Operation

__all__ = ["ConcurrencyLimit", "ConcurrencyLimitLayer"]

T = TypeVar("T")


class _Waiter:
    """One caller waiting for a permit: on an event loop, or in a driving thread."""

    __slots__ = ("future", "granted", "lock", "loop")

    def __init__(self) -> None:
        self.granted = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.future: asyncio.Future[None] | None = None
        self.lock: threading.Lock | None = None
        if driving():
            self.lock = threading.Lock()
            self.lock.acquire()
        else:
            self.loop = asyncio.get_running_loop()
            self.future = self.loop.create_future()

    def wake(self) -> None:  # under the limit's lock
        self.granted = True
        if self.lock is not None:
            self.lock.release()
        else:
            assert self.loop is not None
            assert self.future is not None
            try:
                self.loop.call_soon_threadsafe(_resolve, self.future)
            except RuntimeError:  # its loop is closed: nobody waits there any more
                self.granted = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _ThreadWait(Blocking):
    __slots__ = ("limit", "waiter")

    def __init__(self, limit: ConcurrencyLimit, waiter: _Waiter) -> None:
        self.limit = limit
        self.waiter = waiter

    def block(self, timeout: float | None) -> bool:
        assert self.waiter.lock is not None
        return self.waiter.lock.acquire(timeout=-1 if timeout is None else max(timeout, 0))

    def abandon(self) -> None:
        self.limit._give_up(self.waiter)


class ConcurrencyLimit:
    """A count of permits, safe to share between stores, event loops and threads.

    Give one object to the ``ConcurrencyLimitLayer`` of several stores to cap what
    they do together (``limit = ConcurrencyLimit(32)``). Waiters are served first
    come, first served.
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"a concurrency limit is a positive int, not {limit!r}")
        self.limit = limit
        self._lock = threading.Lock()
        self._free = limit
        self._waiters: deque[_Waiter] = deque()

    @property
    def in_use(self) -> int:
        """Permits held now."""
        return self.limit - self._free

    @property
    def waiting(self) -> int:
        """Callers waiting for a permit now."""
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a permit if one is free right now (and nobody waits for one)."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return True
        return False

    async def acquire(self) -> None:
        """Wait for a permit (blocking the thread when it drives the coroutine itself)."""
        with self._lock:
            if self._free and not self._waiters:
                self._free -= 1
                return
            waiter = _Waiter()
            self._waiters.append(waiter)
        if waiter.lock is not None:
            await _ThreadWait(self, waiter)
            return
        assert waiter.future is not None
        try:
            await waiter.future
        except BaseException:
            self._give_up(waiter)
            raise

    def _give_up(self, waiter: _Waiter) -> None:
        """A waiter stops waiting (cancelled, timed out): pass on a permit it was given."""
        with self._lock:
            if not waiter.granted:
                self._waiters.remove(waiter)
                return
        self.release()

    def release(self) -> None:
        """Return a permit, to the first waiter if there is one."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                waiter.wake()
                if waiter.granted:
                    return
            self._free += 1

    def __repr__(self) -> str:
        return f"ConcurrencyLimit({self.limit}, in_use={self.in_use}, waiting={self.waiting})"


class ConcurrencyLimitLayer(Layer):
    """At most ``limit`` operations at once through this layer (or a shared limit).

    Each operation holds a permit while it runs: opening a stream and each chunk
    read from it, each page of a listing. A :class:`ConcurrencyLimit` given instead of an int is
    shared with every other layer given it, across stores, event loops and
    threads. Keeps the sync facade's fast path (a waiting caller blocks its own
    thread).
    """

    name = "concurrency_limit"

    def __init__(self, limit: int | ConcurrencyLimit) -> None:
        self.limit = limit if isinstance(limit, ConcurrencyLimit) else ConcurrencyLimit(limit)

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _LimitedBackend(backend, self)


class _LimitedBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: ConcurrencyLimitLayer) -> None:
        super().__init__(inner, layer)
        self._limit = layer.limit

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        if not self._limit.try_acquire():  # free: no coroutine of acquire's to run
            started = time.perf_counter()
            await self._limit.acquire()
            _telemetry.waited(operation, self.info.name, time.perf_counter() - started)
        try:
            return await call()
        finally:
            self._limit.release()

    def opened(self, key: str, opened: OpenedArtifact) -> OpenedArtifact:
        # A permit per read, not one for the stream's life: a stream abandoned in a
        # cancelled ``async for`` is released only when it is collected, and would
        # hold its permit from every other caller until then.
        return AroundEachRead(self, key, opened)
