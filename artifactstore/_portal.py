"""The sync facade's event-loop thread: one per process, shared by every facade.

Started on first use (an anyio blocking portal), stopped at interpreter exit, and
started afresh in a child after ``os.fork()`` (the parent's thread is not there).
:func:`call_on_loop` runs a coroutine there; :func:`drive_here` runs one in the
calling thread instead, for stores that need no loop. Either refuses to be called
from the loop thread itself, which would deadlock.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._drive import drive

__all__ = ["call_on_loop", "drive_here"]

T = TypeVar("T")

_ORPHANS: list[object] = []
_OWN_THREAD = (
    "a SyncArtifactStore was called from its own event-loop thread, which would "
    "deadlock; in async code, await the ArtifactStore itself"
)


class _Portal:
    """The process's one facade event loop thread (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        context = getattr(self, "_context", None)
        if context is not None:
            # The parent's portal, seen from a forked child: its thread is gone, and
            # finalizing its context manager would wait for that thread forever.
            # Keep it referenced, never finalized.
            _ORPHANS.append(context)
        self._context: AbstractContextManager[BlockingPortal] | None = None
        self._portal: BlockingPortal | None = None
        self._thread_id: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = os.getpid()

    def get(self) -> BlockingPortal:
        portal = self._portal
        if portal is not None and self._pid == os.getpid():
            if threading.get_ident() == self._thread_id:
                raise RuntimeError(_OWN_THREAD)
            return portal
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's loop thread is not here
                self._reset()
            if self._portal is None:
                context = start_blocking_portal("asyncio")
                self._portal = context.__enter__()
                self._context = context
                self._thread_id = self._portal.call(threading.get_ident)
                self._loop = self._portal.call(asyncio.get_running_loop)
            return self._portal

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread and wait for its result.

        One wake-up each way, and little else: a task started by one
        ``call_soon_threadsafe``, whose done-callback releases a lock the caller
        waits on. (``BlockingPortal.call`` makes two round trips, spawn then
        result; ``run_coroutine_threadsafe`` chains two futures.) This hop is
        the whole cost of the facade over awaiting the store.
        """
        self.get()
        loop = self._loop
        assert loop is not None
        waiter = _Waiter()
        coroutine = _await(fn, *args)
        # In the caller's context (call_soon_threadsafe would copy it too; said here
        # because the operation's parent span depends on it), on the loop's thread.
        loop.call_soon_threadsafe(waiter.start, loop, coroutine, context=contextvars.copy_context())
        try:
            waiter.done.acquire()
        except BaseException:  # KeyboardInterrupt while waiting: cancel the operation
            loop.call_soon_threadsafe(waiter.cancel)
            raise
        if waiter.error is not None:
            raise waiter.error
        return waiter.result  # type: ignore[no-any-return]

    def stop(self) -> None:
        with self._lock:
            context, pid = self._context, self._pid
            self._context = self._portal = self._thread_id = None
        if context is not None and pid == os.getpid():
            context.__exit__(None, None, None)


async def _await(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    result: T = await fn(*args)
    return result


class _Waiter:
    """What a facade call waits on: a lock the loop thread releases when done."""

    __slots__ = ("done", "error", "result", "task")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[Any] | None = None

    def start(self, loop: asyncio.AbstractEventLoop, coroutine: Any) -> None:
        self.task = loop.create_task(coroutine)  # copies the context this runs in
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        try:
            self.result = task.result()
        except BaseException as exc:  # handed to the calling thread
            self.error = exc
        self.done.release()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


_PORTAL = _Portal()
atexit.register(_PORTAL.stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PORTAL._reset)


def call_on_loop(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` on the process's facade event-loop thread; wait for its result."""
    return _PORTAL.call(fn, *args)


def drive_here(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Drive ``fn(*args)`` in this thread, without an event loop (see ``_drive``)."""
    if threading.get_ident() == _PORTAL._thread_id:  # the same rule on every backend
        raise RuntimeError(_OWN_THREAD)
    return drive(_await(fn, *args))
