"""RetryLayer and TimeoutLayer, against the fault layer and the S3 fault proxy.

Transient errors are retried and permanent ones are not; a one-shot source is never
replayed; a conditional write whose answer was lost is not a false conflict; a put
that timed out leaves neither an artifact nor a temporary file; all of it awaited
and through the sync facade.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    ArtifactExistsError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    S3ArtifactStore,
    StorageBackendError,
    StoragePermissionError,
    StorageTimeoutError,
    SyncArtifactStore,
)
from artifactstore.layers import RetryLayer, TimeoutLayer
from artifactstore.testing import Fault, FaultLayer, transient
from artifactstore.testing.moto_server import MotoServer

from .faultproxy import FaultProxy
from .s3server import CREDENTIALS, boto3_client

FAST = {"initial_delay": 0.001, "max_delay": 0.01}


def make(backend: str, tmp_path: Path, *layers: Any) -> ArtifactStore:
    if backend == "memory":
        return MemoryArtifactStore(layers=layers)
    return LocalFilesystemArtifactStore(tmp_path / "DataRoom", layers=layers)


def temporaries(root: Path) -> list[str]:
    """Files in the DataRoom that are not artifacts (the index folder aside)."""
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".artifactstore" not in p.parts and p.name.startswith(".")
    ]


backends = pytest.mark.parametrize("backend", ["memory", "local"])


# ----------------------------------------------------------------- the retry layer


@backends
async def test_transient_errors_are_retried_with_backoff(backend: str, tmp_path: Path) -> None:
    faults = FaultLayer(
        Fault("put", calls={1, 2}, error=transient()),
        Fault("get", calls={1}, error=transient()),
        Fault("stream", calls={1}, error=transient()),
        Fault("list", calls={1}, error=transient()),
    )
    store = make(backend, tmp_path, faults, RetryLayer(attempts=3, **FAST))
    meta = await store.put("DEAL-1/a.txt", b"abc")
    assert meta.size_bytes == 3
    assert await store.get("DEAL-1/a.txt") == b"abc"
    async with store.stream("DEAL-1/a.txt") as s:
        assert b"".join([c async for c in s]) == b"abc"
    assert [m.storage_key async for m in store.list("DEAL-1")] == ["DEAL-1/a.txt"]
    assert (faults.calls["put"], faults.calls["get"], faults.calls["stream"]) == (3, 2, 2)
    await store.aclose()


@backends
async def test_permanent_errors_and_exhausted_attempts_are_raised(
    backend: str, tmp_path: Path
) -> None:
    faults = FaultLayer(
        Fault("put", calls={1}, error=StorageBackendError("disk full")),  # not retryable
        Fault("delete", error=StoragePermissionError("no")),
        Fault("copy", error=transient("always down")),
    )
    store = make(backend, tmp_path, faults, RetryLayer(attempts=4, **FAST))
    with pytest.raises(StorageBackendError, match="disk full"):
        await store.put("a", b"1")
    assert faults.calls["put"] == 1
    await store.put("a", b"1")
    with pytest.raises(StoragePermissionError):
        await store.delete("a")
    assert faults.calls["delete"] == 1
    with pytest.raises(StorageBackendError, match="always down") as raised:
        await store.copy("a", "b")
    assert raised.value.retryable
    assert faults.calls["copy"] == 4
    await store.aclose()


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    layer = RetryLayer(initial_delay=0.1, max_delay=1.0, multiplier=2.0, jitter=0.5)
    for attempt, full in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)):
        waits = [layer.delay(attempt) for _ in range(200)]
        assert all(full * 0.5 <= w <= full for w in waits)
        assert max(waits) - min(waits) > full * 0.2  # jittered, not in step
    assert RetryLayer(jitter=0, initial_delay=0.1).delay(2) == pytest.approx(0.2)


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@backends
async def test_a_one_shot_source_is_not_replayed_unless_buffered(
    backend: str, tmp_path: Path
) -> None:
    faults = FaultLayer(Fault("put", calls={1, 2}, error=transient()))
    store = make(backend, tmp_path, faults, RetryLayer(buffer_limit=1000, **FAST))
    # Longer than the buffer: sent once, the failure is raised, nothing stored.
    with pytest.raises(StorageBackendError, match="injected"):
        await store.put("big", chunks(b"x" * 600, b"y" * 600))
    assert faults.calls["put"] == 1
    assert not await store.exists("big")
    # Within the buffer: held, and sent again whole.
    meta = await store.put("small", chunks(b"x" * 300, b"y" * 300))
    assert faults.calls["put"] == 3
    assert await store.get("small") == b"x" * 300 + b"y" * 300
    assert meta.size_bytes == 600
    await store.aclose()


@backends
async def test_files_are_replayed_from_where_they_stood_but_a_pipe_is_not(
    backend: str, tmp_path: Path, scratch: Path
) -> None:
    # Each first try reads its source to the end and stores it, then its answer is
    # lost: the retry must send the same bytes again, from where the source stood.
    faults = FaultLayer(Fault("put", calls={1, 3, 5}, error=transient(), after=True))
    store = make(backend, tmp_path, faults, RetryLayer(**FAST))
    source = scratch / "cim.pdf"
    source.write_bytes(b"0123456789" * 1000)
    await store.put("path", source)
    assert await store.get("path") == source.read_bytes()
    with source.open("rb") as f:
        f.seek(5)
        await store.put("file", f)
    assert await store.get("file") == source.read_bytes()[5:]  # not b"": rewound to 5
    assert faults.calls["put"] == 4
    fifo = scratch / "pipe"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as w:
            w.write(b"streamed once")

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    with pytest.raises(StorageBackendError, match="injected"):
        await store.put("fifo", fifo)
    writer.join(10)
    assert not writer.is_alive()  # the first try read the pipe
    assert faults.calls["put"] == 5  # and it was not tried again
    await store.aclose()


@backends
async def test_a_conditional_put_whose_answer_was_lost_is_not_a_conflict(
    backend: str, tmp_path: Path
) -> None:
    # The first try stores the artifact, then its answer is lost (a retryable error).
    faults = FaultLayer(Fault("put", calls={1, 3}, error=transient("answer lost"), after=True))
    store = make(backend, tmp_path, faults, RetryLayer(**FAST))
    meta = await store.put("DEAL-1/loi.pdf", b"mine", if_not_exists=True, metadata={"v": "1"})
    assert meta.sha256 == (await store.get_metadata("DEAL-1/loi.pdf")).sha256
    assert faults.calls["put"] == 2
    # Another writer's artifact at the key is still a conflict.
    with pytest.raises(ArtifactExistsError):
        await store.put("DEAL-1/loi.pdf", b"theirs", if_not_exists=True, metadata={"v": "1"})
    assert await store.get("DEAL-1/loi.pdf") == b"mine"
    # So is the same bytes with other metadata: not what this call wrote.
    await store.put("DEAL-1/b", b"x")
    faults.faults.append(Fault("put", calls={5}, error=transient(), after=True))
    with pytest.raises(ArtifactExistsError):
        await store.put("DEAL-1/b", b"x", if_not_exists=True, metadata={"other": "yes"})
    await store.aclose()


@backends
async def test_conditional_copy_and_move_whose_answer_was_lost(
    backend: str, tmp_path: Path
) -> None:
    faults = FaultLayer(
        Fault("copy", calls={1}, error=transient(), after=True),
        Fault("move", calls={1}, error=transient(), after=True),
    )
    store = make(backend, tmp_path, faults, RetryLayer(**FAST))
    await store.put("src.txt", b"payload")
    copied = await store.copy("src.txt", "copy.txt", if_not_exists=True)
    assert copied.storage_key == "copy.txt"
    moved = await store.move("src.txt", "moved.txt", if_not_exists=True)
    assert moved.storage_key == "moved.txt"
    assert not await store.exists("src.txt")
    assert await store.get("moved.txt") == b"payload"
    await store.aclose()


def test_retries_through_the_sync_facade_block_the_calling_thread(tmp_path: Path) -> None:
    faults = FaultLayer(Fault("put", calls={1, 2}, error=transient()))
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom").layer(
        faults, RetryLayer(initial_delay=0.05, max_delay=0.05, jitter=0)
    )
    assert store.info.runs_without_event_loop
    with SyncArtifactStore(store) as facade:
        started = time.monotonic()
        facade.put("a/b.bin", io.BytesIO(b"from a file"))
        assert time.monotonic() - started >= 0.1  # two backoffs slept, in this thread
        assert facade.get("a/b.bin") == b"from a file"
    assert faults.calls["put"] == 3


# -------------------------------------------------------------- the timeout layer


@backends
async def test_a_stalled_operation_times_out(backend: str, tmp_path: Path) -> None:
    store = make(backend, tmp_path, FaultLayer(Fault("get", stall=True)), TimeoutLayer(0.2))
    await store.put("a", b"1")
    with pytest.raises(StorageTimeoutError, match=r"within 0\.2 s") as raised:
        await store.get("a")
    assert isinstance(raised.value, TimeoutError)
    assert raised.value.retryable
    await store.aclose()


async def test_a_timed_out_put_leaves_no_artifact_and_no_temporary_file(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    store = LocalFilesystemArtifactStore(root, layers=[TimeoutLayer(0.5)])

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(3 * 1024 * 1024)  # a large put: staged in a temporary file
        await asyncio.sleep(30)
        yield b"never"

    with pytest.raises(StorageTimeoutError):
        await store.put("DEAL-1/big.bin", stalls())
    assert temporaries(root) == []  # removed before the error was raised
    assert not await store.exists("DEAL-1/big.bin")
    await store.aclose()


def test_a_timed_out_put_through_the_sync_facade(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    store = LocalFilesystemArtifactStore(root, layers=[TimeoutLayer(0.5)])

    class Slow(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            time.sleep(0.2)
            buffer[: len(buffer)] = b"z" * len(buffer)
            return len(buffer)

    with SyncArtifactStore(store) as facade:
        started = time.monotonic()
        with pytest.raises(StorageTimeoutError):
            facade.put("DEAL-1/slow.bin", Slow())
        assert time.monotonic() - started < 5
        assert temporaries(root) == []
        assert not facade.exists("DEAL-1/slow.bin")
        # A stall below the layer: the calling thread's wait is bounded too.
        stalled = SyncArtifactStore(
            store.layer(FaultLayer(Fault("exists", stall=True)), TimeoutLayer(0.2))
        )
        with pytest.raises(StorageTimeoutError):
            stalled.exists("x")


async def test_timeout_inside_retry_bounds_each_try(tmp_path: Path) -> None:
    faults = FaultLayer(Fault("get", calls={1, 2}, stall=True))
    store = MemoryArtifactStore(layers=[faults, TimeoutLayer(0.1), RetryLayer(**FAST)])
    await store.put("a", b"ok")
    assert await store.get("a") == b"ok"  # two tries timed out, the third answered
    assert faults.calls["get"] == 3
    outside = MemoryArtifactStore(
        layers=[FaultLayer(Fault("get", stall=True)), RetryLayer(**FAST), TimeoutLayer(0.2)]
    )
    await outside.put("a", b"ok")
    with pytest.raises(StorageTimeoutError):
        await outside.get("a")


# ------------------------------------------------------------- against real S3


@pytest.fixture
def s3_bucket(moto_server: MotoServer) -> str:
    bucket = f"retry-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    return bucket


def s3_store(proxy: FaultProxy, bucket: str, *layers: Any) -> S3ArtifactStore:
    # botocore's own retries off: what is retried here is the layer's doing.
    return S3ArtifactStore(
        bucket,
        endpoint_url=proxy.endpoint,
        max_attempts=1,
        verify_bucket=False,
        layers=layers,
        **CREDENTIALS,
    )


def refuse_first(count: int, method: str, status: int, code: str) -> Any:
    seen = [0]

    def matches(line: str) -> bool:
        if not line.startswith(method):
            return False
        seen[0] += 1
        return seen[0] <= count

    return (matches, status, code)


async def test_s3_503s_are_retried_and_403s_are_not(proxy: FaultProxy, s3_bucket: str) -> None:
    proxy.refuse.append(refuse_first(2, "PUT", 503, "SlowDown"))
    async with s3_store(proxy, s3_bucket, RetryLayer(attempts=4, **FAST)) as store:
        meta = await store.put("DEAL-1/a.txt", b"through the proxy")
        assert meta.size_bytes == 17
        assert proxy.counts["refused"] == 2
        assert await store.get("DEAL-1/a.txt") == b"through the proxy"
        proxy.refuse[:] = [refuse_first(5, "GET", 403, "AccessDenied")]
        with pytest.raises(StoragePermissionError):
            await store.get("DEAL-1/a.txt")
        assert proxy.counts["refused"] == 3  # one try: a refusal is not transient
    async with s3_store(proxy, s3_bucket) as plain:
        proxy.refuse[:] = [refuse_first(1, "PUT", 503, "SlowDown")]
        with pytest.raises(StorageBackendError) as raised:
            await plain.put("DEAL-1/b.txt", b"x")
        assert raised.value.retryable  # what the layer reads


async def test_s3_conditional_put_whose_answer_was_lost(proxy: FaultProxy, s3_bucket: str) -> None:
    faults = FaultLayer(Fault("put", calls={1}, error=transient("answer lost"), after=True))
    async with s3_store(proxy, s3_bucket, faults, RetryLayer(**FAST)) as store:
        meta = await store.put("DEAL-2/loi.pdf", b"mine", if_not_exists=True)
        assert meta.sha256 == (await store.get_metadata("DEAL-2/loi.pdf")).sha256
        with pytest.raises(ArtifactExistsError):
            await store.put("DEAL-2/loi.pdf", b"theirs", if_not_exists=True)
    # The put, its retry (refused: the key exists), and the other writer's put.
    assert sum(line.startswith("PUT") for line in proxy.requests) == 3
