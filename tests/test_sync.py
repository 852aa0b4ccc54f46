"""The sync facade: the conformance suite through it, and every place legacy code runs it from.

Each scenario runs on the local backend and on S3 (the moto server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    ArtifactMetadata,
    ArtifactNotFoundError,
    ArtifactStore,
    BackendInfo,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
    SyncArtifactStore,
)
from artifactstore._portal import _PORTAL
from artifactstore.backends.local import LocalBackend
from artifactstore.backends.memory import MemoryBackend
from artifactstore.backends.s3 import S3Backend
from artifactstore.testing import ConformanceCheck, conformance_checks

from .s3server import CREDENTIALS, MotoServer, boto3_client

ROOT = Path(__file__).resolve().parent.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "s3"])
def sync_store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_server: MotoServer
) -> Iterator[SyncArtifactStore]:
    store: ArtifactStore
    if request.param == "local":
        store = LocalFilesystemArtifactStore(tmp_path / "DataRoom")
    else:
        bucket = f"sync-{uuid.uuid4().hex[:12]}"
        boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
        store = S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS)
    with SyncArtifactStore(store) as facade:
        yield facade


# ------------------------------------------------- the contract, through the facade


class _AsyncOverSync:
    """The conformance suite awaits a store: this adapter awaits the facade in a thread."""

    def __init__(self, facade: SyncArtifactStore) -> None:
        self.facade = facade
        self.backend_name = facade.async_store.backend_name
        self.normalize_key = facade.normalize_key
        self.build_key = facade.build_key

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.facade, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call

    async def put(self, key: Any, data: Any, **kwargs: Any) -> ArtifactMetadata:
        if hasattr(data, "__aiter__"):  # sync code streams from a file object
            data = io.BytesIO(b"".join([chunk async for chunk in data]))
        return await asyncio.to_thread(self.facade.put, key, data, **kwargs)

    def stream(self, key: str, **kwargs: Any) -> _Stream:
        self.facade.normalize_key(key)  # refuses bad keys at once, as the store does
        return _Stream(self.facade, key, kwargs)

    async def list(self, prefix: str = "", *, recursive: bool = True) -> AsyncIterator[Any]:
        for item in await asyncio.to_thread(
            lambda: [*self.facade.list(prefix, recursive=recursive)]
        ):
            yield item

    async def list_prefixes(self, prefix: str = "") -> AsyncIterator[str]:
        for item in await asyncio.to_thread(lambda: [*self.facade.list_prefixes(prefix)]):
            yield item

    async def holds(self, prefix: str = "") -> AsyncIterator[Any]:
        for item in await asyncio.to_thread(self.facade.holds, prefix):
            yield item

    async def retentions(self, prefix: str = "") -> AsyncIterator[Any]:
        for item in await asyncio.to_thread(self.facade.retentions, prefix):
            yield item


class _Stream:
    def __init__(self, facade: SyncArtifactStore, key: str, kwargs: dict[str, Any]) -> None:
        for name in ("start", "end", "chunk_size"):
            value = kwargs.get(name)
            if value is not None and (not isinstance(value, int) or value < (name == "chunk_size")):
                raise ValueError(f"bad {name}")
        if kwargs.get("end") is not None and kwargs["end"] < (kwargs.get("start") or 0):
            raise ValueError("bad end")
        self.key = facade.normalize_key(key)
        self._facade, self._kwargs = facade, kwargs
        self._chunks: Iterator[bytes] | None = None
        self.metadata: ArtifactMetadata

    async def _open(self) -> None:
        if self._chunks is None:
            self.metadata = await asyncio.to_thread(self._facade.get_metadata, self.key)
            self._chunks = self._facade.stream(self.key, **self._kwargs)

    async def __aenter__(self) -> _Stream:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> _Stream:
        return self

    async def __anext__(self) -> bytes:
        await self._open()
        chunk = await asyncio.to_thread(next, self._chunks, b"")
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if self._chunks is not None:
            await asyncio.to_thread(self._chunks.close)  # type: ignore[attr-defined]
        self._chunks = iter(())


def facade_capabilities(info: BackendInfo) -> BackendInfo:
    """What the facade over a store of a backend described by ``info`` can do.

    A facade call cannot be cancelled from async code (it runs to its end on the
    facade's thread), and the adapter above is not a store ``drive()`` can run, nor
    one with a backend to hand ``PutOptions`` (staged puts are checked on the store).
    """
    return dataclasses.replace(
        info, cancellation=False, runs_without_event_loop=False, staged_puts=False
    )


def _facade_cases() -> list[Any]:
    cases = [
        ("local", facade_capabilities(LocalBackend.info)),
        ("s3", facade_capabilities(S3Backend.info)),
        ("memory", facade_capabilities(MemoryBackend.info)),
    ]
    return [
        pytest.param(kind, check, id=f"{kind}-{check}")
        for kind, capabilities in cases
        for check in conformance_checks(capabilities)
    ]


@pytest.fixture
def facade(request: pytest.FixtureRequest) -> SyncArtifactStore:
    """The plugin's sync fixture of the backend ``request.param`` names."""
    fixture = f"sync_{request.param}_artifact_store"  # memory: skipped until it exists
    store: SyncArtifactStore = request.getfixturevalue(fixture)
    return store


@pytest.mark.parametrize(("facade", "check"), _facade_cases(), indirect=["facade"])
async def test_conformance_through_the_facade(
    facade: SyncArtifactStore, check: ConformanceCheck, scratch: Path
) -> None:
    await check(_AsyncOverSync(facade), scratch)  # type: ignore[arg-type]


# ------------------------------------------------------------ where it runs from


def test_plain_calls(sync_store: SyncArtifactStore) -> None:
    meta = sync_store.put("DEAL-1/emails/m.eml", b"mail", metadata={"from": "bank"})
    assert meta.sha256 == sha(b"mail")
    assert sync_store.get("DEAL-1/emails/m.eml", verify=True) == b"mail"
    assert sync_store.exists("DEAL-1/emails/m.eml")
    assert [m.storage_key for m in sync_store.list("DEAL-1")] == ["DEAL-1/emails/m.eml"]
    assert list(sync_store.list_prefixes("DEAL-1")) == ["DEAL-1/emails"]
    assert dict(sync_store.get_metadata("DEAL-1/emails/m.eml").metadata) == {"from": "bank"}
    assert sync_store.get_url("DEAL-1/emails/m.eml")
    with (Path(__file__)).open("rb") as f:
        assert sync_store.put("DEAL-1/source.py", f).size_bytes == Path(__file__).stat().st_size
    assert sync_store.delete("DEAL-1/emails/m.eml") is True
    with pytest.raises(ArtifactNotFoundError):
        sync_store.get("DEAL-1/emails/m.eml")
    with pytest.raises(InvalidKeyError):
        sync_store.get("../etc/passwd")


def test_get_stream_is_a_lazy_binary_file(sync_store: SyncArtifactStore) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    sync_store.put("DEAL-1/big.bin", data)
    with sync_store.get_stream("DEAL-1/big.bin", chunk_size=64 * 1024) as f:
        assert f.readable()
        assert f.read(10) == data[:10]
        raw = f.raw  # type: ignore[attr-defined]
        assert len(raw._pending) < 64 * 1024  # one chunk fetched so far, not the artifact
        assert f.read(100_000) == data[10:100_010]
        assert f.read() == data[100_010:]
        assert f.read() == b""
    assert f.closed
    pieces = list(sync_store.stream("DEAL-1/big.bin", start=5, end=70_000, chunk_size=32 * 1024))
    assert b"".join(pieces) == data[5:70_000]
    with pytest.raises(ArtifactNotFoundError):
        sync_store.get_stream("DEAL-1/none.bin")


def test_from_32_threads_at_once(sync_store: SyncArtifactStore) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(32)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(5):
                data = f"thread {n} item {i}".encode() * 100
                key = f"T/{n:02d}/{i}.txt"
                assert sync_store.put(key, data).sha256 == sha(data)
                assert sync_store.get(key) == data
            assert len(list(sync_store.list(f"T/{n:02d}"))) == 5
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert len(list(sync_store.list("T"))) == 160


async def test_inside_a_running_event_loop(sync_store: SyncArtifactStore) -> None:
    # A sync helper called from async code: this thread's loop is running.
    assert asyncio.get_running_loop().is_running()
    meta = sync_store.put("DEAL-1/from-async.txt", b"inside a loop")
    assert sync_store.get("DEAL-1/from-async.txt") == b"inside a loop"
    assert meta.storage_key == "DEAL-1/from-async.txt"


def test_from_the_facades_own_loop_thread_raises(sync_store: SyncArtifactStore) -> None:
    sync_store.put("DEAL-1/x.txt", b"x")

    async def call_back_in() -> bytes:
        return sync_store.get("DEAL-1/x.txt")

    with pytest.raises(RuntimeError, match="own event-loop thread"):
        _PORTAL.call(call_back_in)
    assert sync_store.get("DEAL-1/x.txt") == b"x"  # and it still works afterwards


def _child(facade: SyncArtifactStore, queue: Any) -> None:
    try:
        facade.put("DEAL-1/child.txt", b"from the child")
        queue.put(facade.get("DEAL-1/parent.txt"))
    except BaseException as exc:
        queue.put(repr(exc))


def test_in_a_forked_child(sync_store: SyncArtifactStore) -> None:
    sync_store.put("DEAL-1/parent.txt", b"from the parent")  # the parent's loop is running
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(sync_store, queue))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == b"from the parent"
    assert sync_store.get("DEAL-1/child.txt") == b"from the child"


def test_from_a_plain_script(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from artifactstore import get_sync_artifact_store
        store = get_sync_artifact_store()
        meta = store.put("DEAL-1/script.txt", b"from a script")
        assert store.get("DEAL-1/script.txt") == b"from a script"
        print(meta.sha256)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DATAROOM_ROOT": str(tmp_path / "dr"), "ARTIFACT_STORAGE_BACKEND": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == sha(b"from a script")
    assert (tmp_path / "dr/DEAL-1/script.txt").read_bytes() == b"from a script"


def test_facade_wraps_only_stores() -> None:
    with pytest.raises(TypeError):
        SyncArtifactStore("not a store")  # type: ignore[arg-type]


def test_drive_refuses_what_needs_an_event_loop() -> None:
    from artifactstore._drive import drive

    with pytest.raises(RuntimeError, match="event loop"):
        drive(asyncio.sleep(0.01))


def test_local_calls_do_not_need_the_loop_thread(tmp_path: Path) -> None:
    facade = SyncArtifactStore(LocalFilesystemArtifactStore(tmp_path / "R"))
    calls_before = _PORTAL._thread_id
    facade.put("D/x.txt", b"x")
    assert facade.get("D/x.txt") == b"x"
    assert [m.storage_key for m in facade.list("D")] == ["D/x.txt"]
    # Driven in this thread: the portal was not needed (if it was not running, it still is not).
    assert _PORTAL._thread_id == calls_before
    facade.close()
