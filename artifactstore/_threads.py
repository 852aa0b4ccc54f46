"""Daemon threads for reading the caller's own data sources, one call per thread.

A caller's pipe, FIFO or stalled network file may block a read for ever. On a
store's lane that would stall every other operation; on the event loop's default
executor (what ``aiofiles`` and ``asyncio.to_thread`` use) it would take one of a
handful of shared threads, and ``asyncio.run`` joins those threads on exit, so
the program could never end. Here every blocked call holds a thread of its own
(another is started when none is idle), threads are daemons, and idle ones exit
after a few seconds. The pool is a ``concurrent.futures.Executor``, so it plugs
into ``loop.run_in_executor`` and ``aiofiles.open(executor=...)``.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

__all__ = ["DaemonExecutor", "SOURCE_READERS"]

T = TypeVar("T")

_Job = tuple["Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class DaemonExecutor(Executor):
    """An executor of daemon threads that never makes a call wait for another's."""

    def __init__(self, name: str, *, idle_seconds: float = 5.0) -> None:
        self._name = name
        self._idle_seconds = idle_seconds
        self._reset()
        _executors.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._idle = 0  # threads waiting for a job and not yet promised one

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` on an idle thread, or on a new one."""
        future: Future[T] = Future()
        with self._lock:
            self._jobs.put((future, fn, args, kwargs))
            if self._idle > 0:
                self._idle -= 1  # that thread's next job is this one
                return future
        threading.Thread(target=self._work, name=self._name, daemon=True).start()
        return future

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            try:
                future, fn, args, kwargs = jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    if jobs.empty():  # nobody promised us a job: leave
                        self._idle -= 1
                        return
                continue
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
            del future, fn, args, kwargs
            with self._lock:
                self._idle += 1


_executors: weakref.WeakSet[DaemonExecutor] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for executor in list(_executors):  # the parent's threads do not exist here
        executor._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

#: Where the stores read the caller's file objects, paths, pipes and FIFOs.
SOURCE_READERS = DaemonExecutor("artifactstore-source")
