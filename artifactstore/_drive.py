"""Coroutines driven in the calling thread, without an event loop (the sync fast path).

The sync facade runs a local or memory store's coroutine right in the calling
thread (:func:`drive`): each ``await`` of a :class:`Blocking` wait (a worker job, a
backoff sleep, a permit of a shared limit) blocks that thread instead of yielding
to a loop. Deadlines (:func:`deadline`, the ``TimeoutLayer``'s) bound each wait.
Code that would otherwise need a loop asks :func:`driving` first.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["Blocking", "Deadline", "deadline", "drive", "driving", "sleep"]

T = TypeVar("T")


class _Driving(threading.local):
    # Defaults as class attributes: ``getattr(local, name, default)`` on a missing
    # name raises and catches an AttributeError, which every operation would pay.
    active: bool = False
    deadlines: list[Deadline] | None = None


_driving = _Driving()


class Blocking:
    """What a coroutine driven by ``drive`` awaits: a wait that blocks the driving thread.

    ``drive`` receives it, calls :meth:`block`, then resumes the coroutine, which
    gets :meth:`result` right at its ``await``. Under an event loop nothing yields
    one of these: the code awaiting it checks :func:`driving` first.
    """

    __slots__ = ()

    def __await__(self) -> Any:
        yield self
        return self.result()

    def block(self, timeout: float | None) -> bool:
        """Block until done, or ``timeout`` seconds; return whether it is done."""
        raise NotImplementedError

    def abandon(self) -> None:
        """Give up waiting (a deadline passed, or the thread was interrupted)."""

    def result(self) -> Any:
        """What the ``await`` returns (or raises) once done."""
        return None


class _Sleep(Blocking):
    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def block(self, timeout: float | None) -> bool:
        if timeout is not None and timeout < self.seconds:
            time.sleep(max(timeout, 0))
            return False
        time.sleep(self.seconds)
        return True


async def sleep(seconds: float) -> None:
    """``asyncio.sleep``, or a plain sleep of the thread driving the coroutine (``drive``)."""
    if _driving.active:
        await _Sleep(seconds)
    else:
        await asyncio.sleep(seconds)


class Deadline:
    """A time by which a driven coroutine must be done; a context manager (see :func:`deadline`).

    A plain class rather than ``contextlib.contextmanager``: entered once per
    operation under a ``TimeoutLayer``, where a generator's cost shows.
    """

    __slots__ = ("error", "expired", "when")

    def __init__(self, when: float, error: Callable[[], BaseException]) -> None:
        self.when = when
        self.error = error
        self.expired = False

    def __enter__(self) -> Deadline:
        stack: list[Deadline] | None = _driving.deadlines
        if stack is None:
            stack = _driving.deadlines = []
        stack.append(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        stack = _driving.deadlines
        assert stack is not None
        stack.remove(self)


def deadline(seconds: float, error: Callable[[], BaseException]) -> Deadline:
    """Bound what a coroutine driven in this thread waits for, from now on, to ``seconds``.

    Use as ``with deadline(5, make_error):``. When a wait would pass it, the wait
    is abandoned and ``error()`` is raised in the coroutine, at its ``await``;
    later waits are no longer bounded by it.
    """
    return Deadline(time.monotonic() + seconds, error)


def _earliest() -> Deadline | None:
    stack: list[Deadline] | None = _driving.deadlines
    if not stack:
        return None
    if len(stack) == 1:
        return None if stack[0].expired else stack[0]
    live = [d for d in stack if not d.expired]
    return min(live, key=lambda d: d.when) if live else None


def driving() -> bool:
    """Whether this thread is driving a coroutine itself (``drive``): no event loop here.

    Code that would hand blocking work to a thread may then do it right here: the
    calling thread is the one that wanted to block.
    """
    return _driving.active


def drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in this thread, without an event loop.

    Only for coroutines that await nothing but :class:`Blocking` waits
    (``BatchWorker.run``, :func:`sleep`, a layer's lock): each of those blocks this
    thread. Anything else awaited is a ``RuntimeError``. Used by the sync facade:
    one thread hop each way instead of two.
    """
    previous = _driving.active
    _driving.active = True
    try:
        error: BaseException | None = None
        while True:
            try:
                if error is None:
                    awaited = coroutine.send(None)
                else:
                    awaited, error = coroutine.throw(error), None
            except StopIteration as stop:
                result: T = stop.value
                return result
            if not isinstance(awaited, Blocking):
                coroutine.close()
                raise RuntimeError(f"drive() cannot wait for {awaited!r}; use an event loop")
            bound = _earliest()
            try:
                if bound is None:
                    awaited.block(None)
                elif (left := bound.when - time.monotonic()) <= 0 or not awaited.block(left):
                    awaited.abandon()
                    bound.expired = True
                    error = bound.error()
            except BaseException:  # interrupted (KeyboardInterrupt)
                awaited.abandon()
                coroutine.close()
                raise
    finally:
        _driving.active = previous
