"""Local backend lanes: a put whose source stalls must not hold up anyone else's operations.

A put reads the caller's source (a file object, a path, an async iterable). When that
source is a pipe or a FIFO whose writer is silent, the put waits; an unrelated small
``get`` or ``exists`` on the same store must still return promptly.

Every test releases the stalled writer as soon as the small operation has returned,
or after ``RELEASE_AFTER`` seconds whatever happens, so a store that does block fails
the test by timeout (``PROMPT``), never hangs it.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from artifactstore import LocalFilesystemArtifactStore, SyncArtifactStore

T = TypeVar("T")

#: How long the small operation may take: huge next to the milliseconds it needs; the
#: failure it catches is "waits for the stalled writer" (RELEASE_AFTER seconds).
PROMPT = 5.0
RELEASE_AFTER = 10.0
HEAD = b"first bytes, then silence\n"
REST = os.urandom(3 * 1024 * 1024 + 17)  # several chunks, more than a pipe's buffer
SMALL = b"small"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class StalledWriter(threading.Thread):
    """Writes ``HEAD``, stays silent until released (or ``RELEASE_AFTER``), writes ``REST``.

    ``fd`` is a pipe's write end; with ``fifo`` instead, the FIFO is opened for
    writing only once released (the reader's ``open`` blocks until then).
    """

    def __init__(self, *, fd: int = -1, fifo: Path | None = None) -> None:
        super().__init__(name="stalled-writer", daemon=True)
        self.fd, self.fifo = fd, fifo
        self.release = threading.Event()
        self.released_at: float | None = None

    def run(self) -> None:
        if self.fifo is None:
            os.write(self.fd, HEAD)
        self.release.wait(RELEASE_AFTER)
        self.released_at = time.monotonic()
        if self.fifo is not None:
            self.fd = self._open_fifo(self.fifo)
            os.write(self.fd, HEAD)
        view = memoryview(REST)
        while view:
            view = view[os.write(self.fd, view) :]
        os.close(self.fd)

    @staticmethod
    def _open_fifo(fifo: Path) -> int:
        """Open for writing once a reader is there (never block forever without one)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # no reader yet
                continue
            os.set_blocking(fd, True)
            return fd

    def finish(self) -> None:
        self.release.set()
        self.join(60)
        assert not self.is_alive(), "the writer never finished"


async def prompt(operation: Awaitable[T], what: str) -> T:
    try:
        return await asyncio.wait_for(operation, timeout=PROMPT)
    except asyncio.TimeoutError:
        pass
    pytest.fail(f"{what} took over {PROMPT} s: it waited behind a put from a stalled source")


async def put_while_stalled(
    store: LocalFilesystemArtifactStore, key: str, data: object, release: threading.Event
) -> None:
    """Start ``put(key, data)``; while it waits, the small operations must be prompt."""
    await store.put("small.txt", SMALL)
    task = asyncio.create_task(store.put(key, data))  # type: ignore[arg-type]
    try:
        await asyncio.sleep(0.3)  # the put is waiting on its source by now
        assert not task.done(), "the put did not wait for its source"
        assert await prompt(store.exists("small.txt"), "exists") is True
        assert await prompt(store.get("small.txt"), "get") == SMALL
        meta = await prompt(store.get_metadata("small.txt"), "get_metadata")
        assert meta.sha256 == sha(SMALL)
        await prompt(store.put("other.txt", b"other"), "a small put")
        assert not task.done(), "the put finished before its source did"
    finally:
        release.set()
        await asyncio.wait([task], timeout=60)
    meta = task.result()
    assert meta.sha256 == sha(HEAD + REST)
    assert await store.get(key, verify=True) == HEAD + REST


@pytest.mark.timeout(90)
async def test_put_from_a_stalled_pipe_does_not_block_a_get(tmp_path: Path) -> None:
    r, w = os.pipe()
    writer = StalledWriter(fd=w)
    writer.start()
    try:
        with os.fdopen(r, "rb") as f:
            async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
                await put_while_stalled(store, "big/from-pipe.bin", f, writer.release)
    finally:
        writer.finish()


@pytest.mark.timeout(90)
async def test_put_from_a_stalled_fifo_path_does_not_block_exists(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = StalledWriter(fifo=fifo)
    writer.start()
    try:
        async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
            await put_while_stalled(store, "big/from-fifo.bin", fifo, writer.release)
    finally:
        writer.finish()


@pytest.mark.timeout(90)
async def test_put_from_a_stalled_async_iterable_does_not_block_a_get(tmp_path: Path) -> None:
    """The control: an async source waits on the event loop, not on the worker."""
    go = asyncio.Event()
    release = threading.Event()

    async def body() -> AsyncIterator[bytes]:
        yield HEAD
        await go.wait()
        yield REST

    async def relay() -> None:  # the threading.Event that put_while_stalled sets
        while not release.is_set():
            await asyncio.sleep(0.01)
        go.set()

    relaying = asyncio.create_task(relay())
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        await put_while_stalled(store, "big/from-iterable.bin", body(), release)
    await relaying


@pytest.mark.timeout(90)
def test_sync_put_from_a_stalled_pipe_does_not_block_a_sync_get(tmp_path: Path) -> None:
    """The sync facade: a put in one thread, a get in another, on one store."""
    r, w = os.pipe()
    writer = StalledWriter(fd=w)
    writer.start()
    outcome: dict[str, object] = {}

    def put(sync: SyncArtifactStore, f: object) -> None:
        try:
            outcome["put"] = sync.put("big/from-pipe.bin", f)  # type: ignore[arg-type]
        except BaseException as exc:
            outcome["put"] = exc

    def get(sync: SyncArtifactStore) -> None:
        outcome["exists"] = sync.exists("small.txt")
        outcome["get"] = sync.get("small.txt")

    with (
        os.fdopen(r, "rb") as f,
        SyncArtifactStore(LocalFilesystemArtifactStore(tmp_path / "DataRoom")) as sync,
    ):
        sync.put("small.txt", SMALL)
        putter = threading.Thread(target=put, args=(sync, f), daemon=True)
        getter = threading.Thread(target=get, args=(sync,), daemon=True)
        try:
            putter.start()
            time.sleep(0.3)  # the put is waiting on the pipe by now
            assert "put" not in outcome, outcome.get("put")
            getter.start()
            getter.join(PROMPT)
            prompt_enough = not getter.is_alive()
        finally:
            writer.finish()
            putter.join(60)
            getter.join(60)
        assert prompt_enough, f"a sync get took over {PROMPT} s behind a put from a stalled pipe"
        assert outcome["exists"] is True
        assert outcome["get"] == SMALL
        meta = outcome["put"]
        assert not isinstance(meta, BaseException), meta
        assert sync.get("big/from-pipe.bin") == HEAD + REST


def test_a_process_whose_put_waits_on_a_silent_fifo_still_exits(tmp_path: Path) -> None:
    """Cancelled, the put leaves its read blocked for ever: that must not keep the process alive.

    (Reads on the event loop's default executor would: ``asyncio.run`` joins its
    threads on the way out.)
    """
    import subprocess
    import sys
    import textwrap

    fifo = tmp_path / "silent.fifo"
    os.mkfifo(fifo)
    script = textwrap.dedent(
        f"""
        import asyncio, pathlib
        from artifactstore import LocalFilesystemArtifactStore

        async def main():
            async with LocalFilesystemArtifactStore({str(tmp_path / "DataRoom")!r}) as store:
                task = asyncio.create_task(store.put("k", pathlib.Path({str(fifo)!r})))
                await asyncio.sleep(0.3)
                assert await store.exists("k") is False
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    print("cancelled", flush=True)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "cancelled"
