"""A worker thread that runs blocking jobs in batches, for many event loops at once.

One thread hop per file operation (what ``aiofiles`` and ``asyncio.to_thread`` do)
costs two cross-thread wake-ups per call, which caps small-file throughput far
below what the disk can do. Here every job queued while the worker was busy is run
in the next batch: the worker wakes once per batch, runs the jobs, calls
``on_batch_end`` (the local backend fsyncs directories and commits its index there,
once for the whole batch: a group commit), then hands all results back with one
``call_soon_threadsafe`` per event loop.

Jobs run one at a time, in submission order. Two consequences the callers rely on:
a job queued after another sees its effects, and a job may own a resource (a file
descriptor) that later jobs use without locking.

Cancellation: a job whose awaiting task is cancelled before the job starts is
skipped; a job already running finishes, and its result is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Final, TypeVar

from . import _telemetry
from ._drive import Blocking, driving
from .errors import StoreClosedError

__all__ = ["BatchWorker", "ThreadWait"]

T = TypeVar("T")
log = logging.getLogger("artifactstore")

_STOP: Final = object()


class _Job:
    __slots__ = (
        "abandoned",
        "args",
        "discard",
        "fn",
        "future",
        "loop",
        "needs_flush",
        "ok",
        "value",
        "waiter",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[Any] | None,
        discard: Callable[[Any], object] | None = None,
    ) -> None:
        self.fn = fn
        self.args = args
        self.loop = loop
        self.future = future
        self.discard = discard
        self.abandoned = False
        self.needs_flush = False
        # A job awaited by a thread driving the coroutine itself (see ThreadWait).
        self.waiter: threading.Lock | None = None
        self.ok = False
        self.value: Any = None


_Delivery = tuple[_Job, bool, Any]


class ThreadWait(Blocking):
    """What ``BatchWorker.run`` awaits in a coroutine driven by ``drive`` (no event loop).

    The driver blocks its own thread on the job's lock, then resumes the coroutine,
    which gets the job's result or exception right here.
    """

    __slots__ = ("job",)

    def __init__(self, job: _Job) -> None:
        self.job = job

    def block(self, timeout: float | None) -> bool:
        assert self.job.waiter is not None
        return self.job.waiter.acquire(timeout=-1 if timeout is None else max(timeout, 0))

    def abandon(self) -> None:
        self.job.abandoned = True  # the worker discards what it produces

    def result(self) -> Any:
        if not self.job.ok:
            raise self.job.value
        return self.job.value


def _deliver(worker: BatchWorker, items: list[_Delivery]) -> None:
    for job, ok, value in items:
        assert job.future is not None
        if job.future.done():
            # Cancelled while the job ran: nobody will use the result, so release
            # what it holds (an open file, a temporary file) on the worker.
            if ok and job.discard is not None:
                worker.submit(job.discard, value)
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)


_live_workers: weakref.WeakSet[BatchWorker] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The worker thread does not exist in a forked child; start afresh on first use.
    for worker in list(_live_workers):
        worker._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class BatchWorker:
    """Run blocking callables on one daemon thread, batched (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        on_batch_end: Callable[[], None] | None = None,
        on_fork: Callable[[], None] | None = None,
        lane: str | None = None,
    ) -> None:
        self._name = name
        self._on_batch_end = on_batch_end
        self._on_fork = on_fork
        self._lane = lane
        self._reset()
        _live_workers.add(self)
        if lane is not None:  # its queue depth and batch sizes are metrics
            _telemetry.watch_queue(self, lane)

    def queue_depth(self) -> int:
        """Jobs waiting for the worker (an approximation: read without the lock)."""
        return len(self._queue)

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[_Job | object] = deque()
        self._thread: threading.Thread | None = None
        self._current: _Job | None = None
        self._closed = False
        if self._on_fork is not None and getattr(self, "_started_once", False):
            self._on_fork()
        self._started_once = False

    @property
    def thread_id(self) -> int | None:
        """The worker thread's ident, once started."""
        return self._thread.ident if self._thread is not None else None

    def _enqueue(self, job: _Job) -> None:
        with self._cond:
            if self._closed:
                raise StoreClosedError(f"{self._name} is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._started_once = True
                self._thread.start()
            self._queue.append(job)
            if len(self._queue) == 1:
                self._cond.notify()

    async def run(
        self, fn: Callable[..., T], *args: Any, discard: Callable[[T], object] | None = None
    ) -> T:
        """Run ``fn(*args)`` on the worker and return its result.

        ``discard(result)`` is queued on the worker when the result arrives after
        the caller was cancelled: give it for results that hold resources.
        """
        if driving():  # a thread driving the coroutine itself
            job = _Job(fn, args, None, None, discard)
            job.waiter = threading.Lock()
            job.waiter.acquire()
            self._enqueue(job)
            result: T = await ThreadWait(job)
            return result
        loop = asyncio.get_running_loop()
        job = _Job(fn, args, loop, loop.create_future(), discard)
        self._enqueue(job)
        assert job.future is not None
        future = job.future
        try:
            return await future  # type: ignore[no-any-return]
        except asyncio.CancelledError:
            job.abandoned = True  # read by the worker; a plain bool store is atomic
            # The result may have arrived just before the cancellation reached this
            # task (set, but the task not yet resumed): nobody will use it, release it.
            delivered = future.done() and not future.cancelled()
            if discard is not None and delivered and future.exception() is None:
                self.submit(discard, future.result())
            raise

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        """Queue ``fn(*args)`` without waiting for it (clean-up work); errors are logged.

        Once the worker is closed, clean-up still happens: here, at once (a stream
        dropped after its store was closed must still close its file).
        """
        try:
            self._enqueue(_Job(fn, args, None, None))
        except RuntimeError:
            self._run_quietly(fn, *args)

    def mark_needs_flush(self) -> None:
        """Called from inside a job: its success depends on ``on_batch_end`` succeeding."""
        if self._current is not None:
            self._current.needs_flush = True

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread (does not wait for it)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            if self._thread is not None:
                self._queue.append(_STOP)
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch = list(self._queue)
                self._queue.clear()
            self._run_batch([job for job in batch if isinstance(job, _Job)])
            if _STOP in batch:
                return

    def _run_batch(self, batch: list[_Job]) -> None:
        if self._lane is not None:
            _telemetry.batch_done(self._lane, len(batch))
        results: list[tuple[_Job, bool, Any]] = []
        for job in batch:
            if job.abandoned:
                continue
            self._current = job
            try:
                results.append((job, True, job.fn(*job.args)))
            except Exception as exc:  # delivered to the awaiting task
                if job.future is None and job.waiter is None:
                    # The class only: the library's error messages name keys (confidential).
                    name = getattr(job.fn, "__qualname__", "a job")
                    log.warning(
                        "artifactstore: background %s failed (%s)", name, type(exc).__name__
                    )
                results.append((job, False, exc))
            finally:
                self._current = None
        if self._on_batch_end is not None:
            try:
                self._on_batch_end()
            except Exception as exc:
                log.error("artifactstore: committing a batch failed", exc_info=exc)
                results = [
                    (job, False, exc) if ok and job.needs_flush else (job, ok, value)
                    for job, ok, value in results
                ]
        by_loop: dict[asyncio.AbstractEventLoop, list[_Delivery]] = {}
        for job, ok, value in results:
            if job.waiter is not None:
                job.ok, job.value = ok, value
                job.waiter.release()
                if job.abandoned and ok and job.discard is not None:
                    self._run_quietly(job.discard, value)  # its thread was interrupted
            elif job.loop is not None:
                by_loop.setdefault(job.loop, []).append((job, ok, value))
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, self, items)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                for job, ok, value in items:
                    if ok and job.discard is not None:
                        self._run_quietly(job.discard, value)

    @staticmethod
    def _run_quietly(fn: Callable[..., object], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.warning("artifactstore: clean-up job %s failed", fn, exc_info=True)
