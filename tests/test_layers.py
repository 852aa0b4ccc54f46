"""Layers: the conformance suite through each built-in layer and a stack of them, on
memory and local, awaited and through the sync facade; the order, the record, and
what the read-only, limit and logging layers do."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from artifactstore import (
    ArtifactNotFoundError,
    ArtifactStore,
    Backend,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    ReadOnlyStoreError,
    StorageTimeoutError,
    SyncArtifactStore,
)
from artifactstore._drive import driving
from artifactstore.backends.local import LocalBackend
from artifactstore.backends.memory import MemoryBackend
from artifactstore.layers import (
    ConcurrencyLimit,
    ConcurrencyLimitLayer,
    Layer,
    LayeredBackend,
    LoggingLayer,
    Operation,
    ReadOnlyLayer,
    RetryLayer,
    TimeoutLayer,
)
from artifactstore.testing import ConformanceCheck, Fault, FaultLayer, conformance_checks

from .test_sync import _AsyncOverSync, facade_capabilities

T = TypeVar("T")


def stack() -> list[Layer]:
    """Every built-in layer that lets writes through, in the documented order."""
    return [TimeoutLayer(30), RetryLayer(), ConcurrencyLimitLayer(16), LoggingLayer()]


LAYERS: dict[str, Callable[[], list[Layer]]] = {
    "retry": lambda: [RetryLayer()],
    "timeout": lambda: [TimeoutLayer(30)],
    "limit": lambda: [ConcurrencyLimitLayer(4)],
    "logging": lambda: [LoggingLayer(level=logging.DEBUG, include_keys=True)],
    "fault": lambda: [FaultLayer()],  # no fault: it must change nothing
    "stack": stack,
}


def make(backend: str, tmp_path: Path, layers: list[Layer]) -> ArtifactStore:
    if backend == "memory":
        return MemoryArtifactStore(layers=layers)
    return LocalFilesystemArtifactStore(tmp_path / "DataRoom", layers=layers)


def cases() -> list[Any]:
    out = []
    for backend, info in (("memory", MemoryBackend.info), ("local", LocalBackend.info)):
        for name in LAYERS:
            for check in conformance_checks(info):
                out.append(pytest.param(backend, name, check, id=f"{backend}-{name}-{check}"))
    return out


@pytest.mark.parametrize(("backend", "layers", "check"), cases())
async def test_conformance_through_layers(
    backend: str, layers: str, check: ConformanceCheck, tmp_path: Path, scratch: Path
) -> None:
    async with make(backend, tmp_path, LAYERS[layers]()) as store:
        await check(store, scratch)


def facade_cases() -> list[Any]:
    return [
        pytest.param(backend, check, id=f"{backend}-{check}")
        for backend, info in (("memory", MemoryBackend.info), ("local", LocalBackend.info))
        for check in conformance_checks(facade_capabilities(info))
    ]


@pytest.mark.parametrize(("backend", "check"), facade_cases())
async def test_conformance_of_the_sync_facade_over_the_stack(
    backend: str, check: ConformanceCheck, tmp_path: Path, scratch: Path
) -> None:
    store = make(backend, tmp_path, stack())
    assert store.info.runs_without_event_loop  # every built-in layer keeps the fast path
    facade = SyncArtifactStore(store)
    try:
        await check(_AsyncOverSync(facade), scratch)  # type: ignore[arg-type]
    finally:
        await asyncio.to_thread(facade.close)


# ------------------------------------------------------------- order and record


class Probe(Layer):
    """Records, for each call, the operation and whether the thread drives it itself."""

    name = "probe"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def wrap(self, backend: Backend) -> Backend:
        probe = self

        class _Probed(LayeredBackend):
            async def around(
                self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
            ) -> T:
                probe.calls.append((operation, driving()))
                return await call()

        return _Probed(backend, self)


async def test_layers_are_applied_first_innermost_and_named_outermost_first(
    tmp_path: Path,
) -> None:
    plain = LocalFilesystemArtifactStore(tmp_path / "DataRoom")
    layered = plain.layer(TimeoutLayer(5), RetryLayer(), LoggingLayer())
    assert layered.info.layers == ("logging", "retry", "timeout")
    assert plain.info.layers == ()  # the store it came from is left as it was
    assert type(layered) is LocalFilesystemArtifactStore
    assert layered.root == plain.root
    again = layered.layer(ReadOnlyLayer())
    assert again.info.layers == ("read_only", "logging", "retry", "timeout")
    assert (again.info.name, again.info.scheme) == ("local", "file")
    # Capabilities pass through unchanged.
    assert {k: v for k, v in vars(again.info).items() if k != "layers"} == {
        k: v for k, v in vars(plain.info).items() if k != "layers"
    }
    await layered.put("a/b.txt", b"x")
    assert await plain.get("a/b.txt") == b"x"  # one backend under both
    await plain.aclose()


def test_a_layer_that_awaits_the_loop_turns_the_fast_path_off(tmp_path: Path) -> None:
    class LoopBound(Layer):
        name = "loop_bound"
        keeps_sync_fast_path = False

        def wrap(self, backend: Backend) -> Backend:
            return LayeredBackend(backend, self)

    store = MemoryArtifactStore().layer(LoopBound())
    assert not store.info.runs_without_event_loop
    probe = Probe()
    with SyncArtifactStore(store.layer(probe)) as facade:
        facade.put("a/b", b"1")
    assert probe.calls == [("put", False)]  # on the facade's loop thread, not driven


def test_the_sync_facade_still_drives_a_layered_local_store(tmp_path: Path) -> None:
    probe = Probe()
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom").layer(probe, *stack())
    with SyncArtifactStore(store) as facade:
        facade.put("DEAL-1/a.txt", b"a")
        assert facade.get("DEAL-1/a.txt") == b"a"
    assert probe.calls == [("put", True), ("get", True)]


async def test_layers_are_checked() -> None:
    with pytest.raises(TypeError, match="Layer"):
        MemoryArtifactStore().layer(RetryLayer)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Backend"):
        ArtifactStore(object())  # type: ignore[arg-type]
    for bad in (
        lambda: TimeoutLayer(0),
        lambda: ConcurrencyLimit(0),
        lambda: RetryLayer(attempts=0),
    ):
        with pytest.raises(ValueError):
            bad()


# ------------------------------------------------------------------- read-only


async def snapshot(store: ArtifactStore) -> dict[str, bytes]:
    return {m.storage_key: await store.get(m.storage_key) async for m in store.list()}


@pytest.mark.parametrize("backend", ["memory", "local"])
async def test_read_only_refuses_every_write_and_changes_nothing(
    backend: str, tmp_path: Path
) -> None:
    writable = make(backend, tmp_path, [])
    await writable.put("DEAL-1/a.txt", b"a")
    await writable.put("DEAL-1/sub/b.txt", b"b")
    before = await snapshot(writable)
    store = writable.layer(ReadOnlyLayer())

    async def chunks() -> AsyncIterator[bytes]:
        raise AssertionError("the source was read")
        yield b""

    writes: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.put("DEAL-1/new.txt", b"n"),
        lambda: store.put("DEAL-1/a.txt", chunks()),
        lambda: store.copy("DEAL-1/a.txt", "DEAL-1/c.txt"),
        lambda: store.move("DEAL-1/a.txt", "DEAL-1/m.txt"),
        lambda: store.delete("DEAL-1/a.txt"),
        lambda: store.delete_prefix("DEAL-1"),
        lambda: store.cleanup(older_than=0),
    ]
    for write in writes:
        with pytest.raises(ReadOnlyStoreError, match="read-only") as raised:
            await write()
        assert isinstance(raised.value, PermissionError)
    assert await snapshot(writable) == before
    # Reads pass through.
    assert await store.get("DEAL-1/a.txt") == b"a"
    assert await store.exists("DEAL-1/sub/b.txt")
    assert (await store.get_metadata("DEAL-1/a.txt")).size_bytes == 1
    assert [m.storage_key async for m in store.list("DEAL-1")] == sorted(before)
    async with store.stream("DEAL-1/a.txt") as s:
        assert b"".join([c async for c in s]) == b"a"
    assert await store.get_url("DEAL-1/a.txt")
    # Through the sync facade too, before anything is touched.
    facade = SyncArtifactStore(store)
    with pytest.raises(ReadOnlyStoreError):
        await asyncio.to_thread(facade.put, "DEAL-1/x", b"x")
    assert await snapshot(writable) == before
    await writable.aclose()


# ---------------------------------------------------------------- concurrency


class InFlight(Layer):
    """Counts the operations in flight below the limit, and the most at once."""

    name = "in_flight"

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()

    def wrap(self, backend: Backend) -> Backend:
        counter = self

        class _Counted(LayeredBackend):
            async def around(
                self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
            ) -> T:
                with counter._lock:
                    counter.now += 1
                    counter.most = max(counter.most, counter.now)
                try:
                    return await call()
                finally:
                    with counter._lock:
                        counter.now -= 1

        return _Counted(backend, self)


async def test_a_shared_limit_caps_two_stores_together(tmp_path: Path) -> None:
    limit = ConcurrencyLimit(3)
    counter = InFlight()
    slow = FaultLayer(Fault(delay=0.02))
    a = MemoryArtifactStore().layer(slow, counter, ConcurrencyLimitLayer(limit))
    b = LocalFilesystemArtifactStore(tmp_path / "b").layer(
        slow, counter, ConcurrencyLimitLayer(limit)
    )
    await asyncio.gather(*(s.put(f"k/{i}", b"x") for i in range(12) for s in (a, b)))
    assert counter.most == 3  # reached, never passed
    assert (limit.in_use, limit.waiting) == (0, 0)
    await b.aclose()


def test_a_shared_limit_caps_sync_threads_and_event_loops(tmp_path: Path) -> None:
    limit = ConcurrencyLimit(2)
    counter = InFlight()
    slow = FaultLayer(Fault(delay=0.02))
    local = LocalFilesystemArtifactStore(tmp_path / "dr").layer(
        slow, counter, ConcurrencyLimitLayer(limit)
    )
    memory = MemoryArtifactStore().layer(slow, counter, ConcurrencyLimitLayer(limit))
    facade = SyncArtifactStore(local)

    def sync_worker(n: int) -> None:
        for i in range(5):
            facade.put(f"t{n}/{i}", b"x")

    def loop_worker() -> None:
        async def run() -> None:
            await asyncio.gather(*(memory.put(f"l/{i}", b"y") for i in range(8)))

        asyncio.run(run())

    threads = [threading.Thread(target=sync_worker, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=loop_worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert counter.most == 2
    assert (limit.in_use, limit.waiting) == (0, 0)
    facade.close()


async def test_streams_take_a_permit_per_read_and_cancelled_waiters_leak_none() -> None:
    limit = ConcurrencyLimit(1)
    held = FaultLayer(Fault("read", delay=0.3))  # each chunk read takes a while
    store = MemoryArtifactStore().layer(held, ConcurrencyLimitLayer(limit))
    await store.put("a", b"1" * 10)
    stream = store.stream("a", chunk_size=4)
    await stream.open()
    assert limit.in_use == 0  # an open stream between reads holds nothing
    reading = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.05)
    assert limit.in_use == 1  # a read in progress does
    waiter = asyncio.create_task(store.get_metadata("a"))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    assert limit.waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert limit.waiting == 0
    assert await reading == b"1111"
    assert limit.in_use == 0
    # A stream abandoned midway (a cancelled async for) leaves no permit behind.
    for _ in range(3):
        task = asyncio.create_task(anext(aiter(store.stream("a", chunk_size=4))))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert limit.in_use == 0
    assert await store.get("a") == b"1" * 10
    with pytest.raises(ArtifactNotFoundError):
        await store.get("missing")
    assert limit.in_use == 0


# --------------------------------------------------------------------- logging


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="artifactstore.operations")
    return caplog


async def test_one_record_per_operation_without_keys_or_urls(
    logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    store = LocalFilesystemArtifactStore(
        tmp_path / "DataRoom", url_base="https://dl.example", url_secret="s" * 40
    ).layer(LoggingLayer())
    await store.put("DEAL-SECRET/cim.pdf", b"%PDF" * 100)
    assert await store.get("DEAL-SECRET/cim.pdf") == b"%PDF" * 100
    url = await store.get_url("DEAL-SECRET/cim.pdf")
    assert not await store.exists("DEAL-SECRET/none")
    with pytest.raises(ArtifactNotFoundError):
        await store.get("DEAL-SECRET/none")
    async with store.stream("DEAL-SECRET/cim.pdf", chunk_size=100) as s:
        assert len(b"".join([c async for c in s])) == 400
    assert [m.storage_key async for m in store.list("DEAL-SECRET")] == ["DEAL-SECRET/cim.pdf"]
    records = logs.records
    ops = [
        (r.artifactstore_operation, r.artifactstore_outcome, r.artifactstore_bytes)  # type: ignore[attr-defined]
        for r in records
    ]
    assert ops == [
        ("put", "ok", 400),
        ("get", "ok", 400),
        ("get_url", "ok", 0),
        ("exists", "ok", 0),
        ("get", "ArtifactNotFoundError", 0),
        ("stream", "ok", 400),
        ("list", "ok", 0),
    ]
    assert records[-1].artifactstore_items == 1  # type: ignore[attr-defined]
    for record in records:
        text = record.getMessage() + repr(vars(record))
        for secret in ("DEAL-SECRET", url, "s" * 40):
            assert secret not in text
        assert record.artifactstore_backend == "local"  # type: ignore[attr-defined]
        assert record.artifactstore_duration >= 0  # type: ignore[attr-defined]
        assert record.levelno == logging.INFO  # "not found" is an answer, not a failure
    await store.aclose()


async def test_keys_on_request_and_failures_at_the_error_level(
    logs: pytest.LogCaptureFixture,
) -> None:
    store = MemoryArtifactStore().layer(
        FaultLayer(Fault("put", calls={2}, error=OSError("disk"))),
        LoggingLayer(include_keys=True),
    )
    await store.put("DEAL-1/a", b"a")
    with pytest.raises(OSError, match="disk"):
        await store.put("DEAL-1/b", b"b")
    first, second = logs.records
    assert first.artifactstore_key == "DEAL-1/a"  # type: ignore[attr-defined]
    assert "'DEAL-1/a'" in first.getMessage()
    assert (second.levelno, second.artifactstore_outcome) == (logging.WARNING, "OSError")  # type: ignore[attr-defined]


async def test_a_disabled_logger_costs_no_record(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="artifactstore.operations")
    store = MemoryArtifactStore().layer(LoggingLayer())
    await store.put("a", os.urandom(10))
    assert await store.get("a")
    assert not caplog.records


def test_a_sync_caller_waiting_for_a_permit_gives_up_at_its_deadline(tmp_path: Path) -> None:
    limit = ConcurrencyLimit(1)
    plain = LocalFilesystemArtifactStore(tmp_path / "DataRoom")
    stalls = FaultLayer(Fault("exists", stall=True))
    holding = SyncArtifactStore(plain.layer(stalls, ConcurrencyLimitLayer(limit), TimeoutLayer(2)))
    facade = SyncArtifactStore(plain.layer(stalls, ConcurrencyLimitLayer(limit), TimeoutLayer(0.3)))
    facade.put("a", b"1")
    errors: list[BaseException] = []

    def stalled() -> None:
        try:
            holding.exists("a")  # holds the one permit until its deadline, in 2 s
        except BaseException as exc:
            errors.append(exc)

    holder = threading.Thread(target=stalled)
    holder.start()
    while limit.in_use == 0:
        time.sleep(0.01)
    with pytest.raises(StorageTimeoutError):
        facade.get("a")  # waits for the permit, in this thread, until its own deadline
    holder.join(10)
    assert [type(e) for e in errors] == [StorageTimeoutError]
    assert (limit.in_use, limit.waiting) == (0, 0)
    assert facade.get("a") == b"1"
    facade.close()


def test_logging_through_the_sync_facade(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    caplog.set_level(logging.INFO, logger="artifactstore.operations")
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom").layer(LoggingLayer())
    with SyncArtifactStore(store) as facade:
        facade.put("DEAL-1/a.txt", b"abc")
        assert facade.get("DEAL-1/a.txt") == b"abc"
        assert [m.storage_key for m in facade.list("DEAL-1")] == ["DEAL-1/a.txt"]
    ops = [(r.artifactstore_operation, r.artifactstore_bytes) for r in caplog.records]  # type: ignore[attr-defined]
    assert ops == [("put", 3), ("get", 3), ("list", 0)]
