"""The ``artifactstore`` commands that move bytes: ``cat``, ``get`` and ``put``.

All stream, a chunk at a time, so memory stays flat whatever the artifact's size.
Local file I/O runs off the event loop (an S3 connection keeps being served):
``get``'s file in anyio worker threads; stdin and stdout in daemon threads of
their own, since a terminal read or a stalled pipe may block forever and must
not keep the process alive after Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import os
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from .._checks import unverifiable
from ..errors import ArtifactIntegrityError
from ..metadata import ArtifactMetadata
from ..options import DEFAULT_CHUNK_SIZE
from ..store import ArtifactStore
from ._commands import Context, _open_store, _out
from ._progress import Progress

__all__ = ["cmd_cat", "cmd_get", "cmd_put"]

T = TypeVar("T")


async def _stream_to(
    store: ArtifactStore,
    key: str,
    sink: Callable[[bytes], object],
    *,
    verify: bool,
    progress: Progress | None,
    daemon: bool = False,
) -> ArtifactMetadata:
    """Stream ``key`` into ``sink`` (run in a worker thread); check the SHA-256 if asked.

    ``daemon=True`` runs it in a daemon thread instead (a pipe may stall forever).
    """
    hasher = hashlib.sha256()

    def write(chunk: bytes) -> None:
        if verify:
            hasher.update(chunk)
        sink(chunk)

    try:
        async with store.stream(key) as stream:
            meta = stream.metadata
            async for chunk in stream:
                if daemon:
                    await _in_daemon_thread(write, chunk)
                else:
                    await anyio.to_thread.run_sync(write, chunk)
                if progress is not None:
                    progress.add_bytes(len(chunk), meta.size_bytes)
    finally:
        if progress is not None:
            progress.close()
    if verify:
        actual = hasher.hexdigest()
        if meta.sha256 is None:
            raise unverifiable(meta.storage_key, actual)
        if actual != meta.sha256:
            raise ArtifactIntegrityError(
                f"artifact {meta.storage_key!r} is corrupt: its bytes hash to {actual}, but "
                f"{meta.sha256} was recorded",
                key=meta.storage_key,
                expected=meta.sha256,
                actual=actual,
            )
    return meta


async def cmd_cat(ctx: Context, args: argparse.Namespace) -> int:
    """The artifact's bytes on stdout."""
    sys.stdout.flush()
    fd = sys.stdout.fileno()  # written unbuffered (see _read_full for why not .buffer)
    # A progress line would land in the middle of the bytes on a terminal.
    progress = None if os.isatty(fd) else ctx.progress(args.key, unit="bytes")

    def write(chunk: bytes) -> None:
        _write_all(fd, chunk)

    async with _open_store(args) as store:
        await _stream_to(store, args.key, write, verify=args.verify, progress=progress, daemon=True)
    return 0


def _destination(key: str, dest: str | None) -> Path:
    name = key.rstrip("/").rsplit("/", 1)[-1]
    if dest is None:
        return Path(name)
    path = Path(dest).expanduser()
    return path / name if path.is_dir() else path


async def cmd_get(ctx: Context, args: argparse.Namespace) -> int:
    """Download to a temporary file next to DEST, then rename it over DEST."""
    async with _open_store(args) as store:
        key = store.normalize_key(args.key)
        target = await anyio.to_thread.run_sync(_destination, key, args.dest)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.artifactstore-part")
        # O_EXCL: never write through a planted file or link. 0600 whatever the umask:
        # a deal document is readable by its owner only, as the DataRoom keeps it.
        fd = await anyio.to_thread.run_sync(
            os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600
        )
        await anyio.to_thread.run_sync(os.fchmod, fd, 0o600)
        committed = False
        try:
            progress = ctx.progress(key, unit="bytes")
            sink = functools.partial(_write_all, fd)
            await _stream_to(store, key, sink, verify=args.verify, progress=progress)
            await anyio.to_thread.run_sync(os.fsync, fd)  # durable before it is visible
            await anyio.to_thread.run_sync(os.replace, temp, target)
            committed = True
        finally:
            os.close(fd)
            if not committed:  # also on a cancellation: blocking, but it must happen
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
    return 0


async def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` in a daemon thread of its own, for reads and writes that may block forever.

    A read of a terminal or a write to a stalled pipe cannot be interrupted; in a
    daemon thread it is abandoned on Ctrl-C instead of holding the process open
    (anyio's worker threads are joined at exit, and a store's worker would wait
    behind it in ``aclose``).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def work() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="artifactstore-cli-io", daemon=True).start()
    return await future


def _read_full(fd: int, size: int) -> bytes:
    # os.read, not sys.stdin.buffer: a daemon thread blocked inside a buffered
    # reader holds its lock, and the interpreter aborts at exit when it cannot take it.
    parts: list[bytes] = []
    missing = size
    while missing and (part := os.read(fd, missing)):
        parts.append(part)
        missing -= len(part)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _stdin_chunks() -> AsyncIterator[bytes]:
    fd = sys.stdin.fileno()
    while chunk := await _in_daemon_thread(_read_full, fd, DEFAULT_CHUNK_SIZE):
        yield chunk


def _local_file(src: str) -> Path:
    path = Path(os.path.expanduser(src))
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", src)
    return path


async def cmd_put(ctx: Context, args: argparse.Namespace) -> int:
    """Store a file or stdin; print ``key<TAB>sha256<TAB>uri``."""
    data: Any
    if args.src == "-":
        data = _stdin_chunks()
    else:
        data = await anyio.to_thread.run_sync(_local_file, args.src)
    async with _open_store(args, create=True) as store:
        meta = await store.put(
            args.key,
            data,
            mime_type=args.mime_type,
            metadata=dict(args.meta),
            if_not_exists=args.if_not_exists,
        )
    _out(f"{meta.storage_key}\t{meta.sha256}\t{meta.storage_uri}")
    return 0
