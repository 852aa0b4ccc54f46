"""Concurrency helpers of :mod:`artifactstore.transfer`: a memory budget, a worker pool.

Run on any anyio backend; nothing here blocks the event loop.
"""

from __future__ import annotations

import hashlib
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.abc

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["HASH_IN_THREAD", "Budget", "for_each", "hash_chunk", "task_group", "unwrap"]

T = TypeVar("T")

#: Chunks above this size are hashed on a worker thread (hashlib releases the GIL).
HASH_IN_THREAD = 256 * 1024


class Budget:
    """A first-come-first-served weighted semaphore: the artifact data held at once."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._free = total
        self._waiters: deque[tuple[int, anyio.Event]] = deque()

    @asynccontextmanager
    async def hold(self, amount: int) -> AsyncIterator[None]:
        amount = min(amount, self._total)  # one artifact may always go alone
        if self._waiters or self._free < amount:
            entry = (amount, anyio.Event())
            self._waiters.append(entry)
            try:
                await entry[1].wait()
            except BaseException:
                if entry[1].is_set():  # granted just as we were cancelled: give it back
                    self._release(amount)
                else:
                    self._waiters.remove(entry)
                    self._wake()
                raise
        else:
            self._free -= amount
        try:
            yield
        finally:
            self._release(amount)

    def _release(self, amount: int) -> None:
        self._free += amount
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._free:
            amount, event = self._waiters.popleft()
            self._free -= amount
            event.set()


async def hash_chunk(hasher: hashlib._Hash, chunk: bytes) -> None:
    if len(chunk) > HASH_IN_THREAD:
        await anyio.to_thread.run_sync(hasher.update, chunk)
    else:
        hasher.update(chunk)


async def for_each(
    items: Iterable[T], concurrency: int, fn: Callable[[T], Awaitable[None]]
) -> None:
    """Run ``fn`` on every item, ``concurrency`` at once, in order of the items."""
    queue = iter(items)  # shared by the workers; next() never awaits, so no lock

    async def worker() -> None:
        for item in queue:
            await fn(item)

    async with task_group() as group:
        for _ in range(concurrency):
            group.start_soon(worker)


@asynccontextmanager
async def task_group() -> AsyncIterator[anyio.abc.TaskGroup]:
    """A task group that raises the one error that stopped it, not an exception group."""
    try:
        async with anyio.create_task_group() as group:
            yield group
    except BaseExceptionGroup as exc:
        raise unwrap(exc) from None


def unwrap(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        exc = (inner or list(exc.exceptions))[0]
    return exc
