"""The memory backend: the whole conformance suite (through the sync facade too: see
tests/test_sync.py), then what only it promises: listings against a model, no file ever
written, thread safety, the closed store, and its wiring (``memory://``,
``ARTIFACT_STORAGE_BACKEND``).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import artifactstore
from artifactstore import (
    ArtifactExistsError,
    ArtifactMetadata,
    ArtifactNotFoundError,
    ArtifactStore,
    ArtifactStoreError,
    InvalidKeyError,
    MemoryArtifactStore,
    StorageConfigError,
    StoreClosedError,
    SyncArtifactStore,
    create_artifact_store,
    get_artifact_store,
    get_sync_artifact_store,
    reset_artifact_store,
    store_from_url,
)
from artifactstore._drive import drive
from artifactstore.backends.memory import MemoryBackend
from artifactstore.testing import ConformanceCheck, conformance_checks

CAPABILITIES = MemoryBackend.info


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunks(*parts: bytes, delay: float = 0) -> AsyncIterator[bytes]:
    for part in parts:
        if delay:
            await asyncio.sleep(delay)
        yield part


async def keys_of(store: ArtifactStore, prefix: str = "", recursive: bool = True) -> list[str]:
    return [m.storage_key async for m in store.list(prefix, recursive=recursive)]


# ------------------------------------------------------------------ the contract


@pytest.fixture
async def store() -> AsyncIterator[MemoryArtifactStore]:
    s = MemoryArtifactStore()
    async with s:
        yield s


@pytest.mark.parametrize("check", conformance_checks(CAPABILITIES), ids=str)
async def test_conformance(
    check: ConformanceCheck, store: MemoryArtifactStore, scratch: Path
) -> None:
    await check(store, scratch)


# ------------------------------------------------------------ what it declares


def test_capabilities() -> None:
    assert MemoryArtifactStore().backend_name == "memory"
    assert MemoryArtifactStore().info is MemoryBackend.info
    assert MemoryBackend.info.file_and_folder_at_same_key is True
    assert MemoryBackend.info.runs_without_event_loop is True
    assert artifactstore.MemoryArtifactStore is MemoryArtifactStore
    assert "MemoryArtifactStore" in artifactstore.__all__


async def test_file_and_folder_at_the_same_key(store: MemoryArtifactStore) -> None:
    for key in ["a/b", "a/b/c", "a/b-c", "a/b/c/d"]:
        await store.put(key, key.encode())
    assert await keys_of(store, "a") == ["a/b", "a/b-c", "a/b/c", "a/b/c/d"]
    assert await keys_of(store, "a", recursive=False) == ["a/b", "a/b-c"]
    assert [p async for p in store.list_prefixes("a")] == ["a/b"]
    assert await keys_of(store, "a/b") == ["a/b/c", "a/b/c/d"]
    assert await store.delete_prefix("a/b") == 2  # the folder's artifacts, not a/b itself
    assert await keys_of(store) == ["a/b", "a/b-c"]
    assert await store.get("a/b") == b"a/b"


def test_every_operation_runs_without_an_event_loop() -> None:
    # drive() refuses any coroutine that waits for something: these never do.
    store = MemoryArtifactStore()
    meta = drive(store.put("DEAL-1/x.txt", b"x", metadata={"k": "v"}))
    assert meta.sha256 == sha(b"x")
    assert drive(store.get("DEAL-1/x.txt", verify=True)) == b"x"
    assert drive(store.copy("DEAL-1/x.txt", "DEAL-1/y.txt")).metadata == {"k": "v"}
    assert drive(store.move("DEAL-1/y.txt", "DEAL-2/y.txt")).storage_key == "DEAL-2/y.txt"
    assert drive(store.delete_prefix("DEAL-2")) == 1
    assert drive(store.exists("DEAL-1/x.txt")) is True
    assert drive(store.cleanup()) == 0
    drive(store.aclose())


# ------------------------------------------------------------- listing, modelled

ALPHABET = ["a", "b", "a-b", "a.b", "a0", "ab", "é", "\U0001f4c4", "~", "A", "0"]


def model_list(keys: set[str], prefix: str, recursive: bool) -> tuple[list[str], list[str]]:
    """What list/list_prefixes must answer, computed the slow, obvious way."""
    base = f"{prefix}/" if prefix else ""
    under = sorted((k for k in keys if k.startswith(base)), key=lambda k: k.encode())
    if recursive:
        return under, []
    direct = [k for k in under if "/" not in k[len(base) :]]
    folders = {base + k[len(base) :].split("/", 1)[0] for k in under if k not in direct}
    return direct, sorted(folders, key=lambda f: (f + "/").encode())


async def test_listings_match_a_model_across_pages(store: MemoryArtifactStore) -> None:
    rng = random.Random(12)
    keys = {"/".join(rng.choices(ALPHABET, k=rng.randint(1, 4))) for _ in range(4000)}
    keys |= {f"wide/{i:05d}" for i in range(2500)}  # more than one page of artifacts
    keys |= {f"deep/{i:05d}/x" for i in range(2500)}  # more than one page of folders
    for key in keys:
        await store.put(key, b"")
    prefixes = ["", "wide", "deep", *rng.sample(sorted(keys), 60)]
    prefixes += ["/".join(k.split("/")[:-1]) for k in rng.sample(sorted(keys), 60)]
    for prefix in prefixes:
        for recursive in (True, False):
            artifacts, folders = model_list(keys, prefix, recursive)
            assert await keys_of(store, prefix, recursive=recursive) == artifacts, prefix
        assert [p async for p in store.list_prefixes(prefix)] == folders, prefix


async def test_listed_metadata_is_complete(store: MemoryArtifactStore) -> None:
    await store.put("DEAL-1/a.pdf", b"%PDF", metadata={"source": "bank"})
    [listed] = [m async for m in store.list("DEAL-1")]
    assert listed == await store.get_metadata("DEAL-1/a.pdf")
    assert listed.sha256 == sha(b"%PDF")
    assert listed.mime_type == "application/pdf"


# ------------------------------------------------------------------ the bytes


async def test_stored_bytes_are_a_snapshot(store: MemoryArtifactStore) -> None:
    buffer = bytearray(b"before")
    reused = bytearray(b"chunk-1")

    async def reusing() -> AsyncIterator[bytes]:
        yield reused  # type: ignore[misc]
        reused[:] = b"chunk-2"
        yield reused  # type: ignore[misc]

    await store.put("DEAL-1/a.bin", buffer)
    buffer[:] = b"AFTER!"
    await store.put("DEAL-1/b.bin", reusing())
    assert await store.get("DEAL-1/a.bin", verify=True) == b"before"
    assert await store.get("DEAL-1/b.bin", verify=True) == b"chunk-1chunk-2"
    assert type(await store.get("DEAL-1/a.bin")) is bytes


async def test_an_open_stream_reads_the_version_it_opened(store: MemoryArtifactStore) -> None:
    old = os.urandom(100_000)
    await store.put("DEAL-1/v.bin", old)
    async with store.stream("DEAL-1/v.bin", chunk_size=4096) as stream:
        first = await stream.__anext__()
        await store.put("DEAL-1/v.bin", b"new")
        rest = [c async for c in stream]
    assert first + b"".join(rest) == old
    await store.delete("DEAL-1/v.bin")
    assert not await store.exists("DEAL-1/v.bin")


async def test_uris_name_the_store(store: MemoryArtifactStore) -> None:
    named = MemoryArtifactStore("uploads")
    meta = await named.put("DEAL-1/a b#1?.pdf", b"x")
    assert meta.storage_uri == "memory://uploads/DEAL-1/a%20b%231%3F.pdf"
    assert await named.get_url("DEAL-1/a b#1?.pdf") == meta.storage_uri
    assert named.normalize_key(meta.storage_uri) == "DEAL-1/a b#1?.pdf"
    assert (await store.put("k", b"")).storage_uri == "memory:///k"
    with pytest.raises(InvalidKeyError, match="not in the memory store"):
        await store.get(meta.storage_uri)  # another store's artifact
    for hostile in ["memory://uploads/..%2Fx", "memory://uploads/%2e%2e/x", "memory://uploads/"]:
        with pytest.raises(InvalidKeyError):
            named.normalize_key(hostile)


@pytest.mark.parametrize("name", ["has space", "-dash", "a/b", "a:1", "x" * 64, 7])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(StorageConfigError):
        MemoryArtifactStore(name)  # type: ignore[arg-type]


async def test_stores_are_independent() -> None:
    a, b = MemoryArtifactStore("same"), MemoryArtifactStore("same")
    await a.put("DEAL-1/x", b"a")
    assert not await b.exists("DEAL-1/x")
    assert await keys_of(b) == []


# ------------------------------------------------------------------ concurrency


async def test_if_not_exists_race_between_suspended_writers(store: MemoryArtifactStore) -> None:
    # Every writer passes the early check, then waits inside its source: the commit
    # must decide alone.
    gate = asyncio.Event()

    async def slow(tag: bytes) -> AsyncIterator[bytes]:
        await gate.wait()
        yield tag

    tasks = [
        asyncio.create_task(store.put("RACE/x", slow(b"%d" % i), if_not_exists=True))
        for i in range(100)
    ]
    await asyncio.sleep(0.01)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    winners = [i for i, r in enumerate(results) if isinstance(r, ArtifactMetadata)]
    assert len(winners) == 1
    assert all(
        isinstance(r, ArtifactExistsError) for r in results if not isinstance(r, ArtifactMetadata)
    )
    assert await store.get("RACE/x") == b"%d" % winners[0]


async def test_many_tasks_reading_while_others_write(store: MemoryArtifactStore) -> None:
    payloads = {f"MIX/{i:03d}": os.urandom(i * 101) for i in range(300)}

    async def writer(key: str, data: bytes) -> None:
        await store.put(key, chunks(data[: len(data) // 2], data[len(data) // 2 :], delay=0.001))

    async def reader() -> None:
        for _ in range(50):
            async for meta in store.list("MIX"):
                data = await store.get(meta.storage_key, verify=True)
                assert data == payloads[meta.storage_key]
            await asyncio.sleep(0)

    await asyncio.gather(
        *(writer(k, v) for k, v in payloads.items()), *(reader() for _ in range(5))
    )
    assert await keys_of(store, "MIX") == sorted(payloads)


def run_threads(count: int, target: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run(i: int) -> None:
        try:
            barrier.wait()
            target(i)
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive(), "a thread hung"
    return errors


def test_if_not_exists_race_between_threads() -> None:
    facade = SyncArtifactStore(MemoryArtifactStore())
    won: list[int] = []

    def contend(i: int) -> None:
        try:
            facade.put("RACE/t", b"%d" % i, if_not_exists=True)
            won.append(i)
        except ArtifactExistsError:
            pass

    assert run_threads(32, contend) == []
    assert len(won) == 1
    assert facade.get("RACE/t") == b"%d" % won[0]


def test_many_threads_through_the_facade(scratch: Path) -> None:
    facade = SyncArtifactStore(MemoryArtifactStore())
    (scratch / "src.bin").write_bytes(b"from a path" * 1000)

    def work(t: int) -> None:
        for i in range(150):
            key = f"T{t}/{i:03d}.bin"
            data = f"{t}:{i}".encode() * (i + 1)
            source = io.BytesIO(data) if i % 3 else data
            assert facade.put(key, source).sha256 == sha(data)
            assert facade.get(key, verify=True) == data
            assert b"".join(facade.stream(key, start=1, end=5)) == data[1:5]
            facade.put("SHARED/one.bin", data)
            facade.copy(key, f"COPIES/{key}")
            if i % 2:
                assert facade.delete(key)
        facade.put(f"T{t}/path.bin", scratch / "src.bin")  # read in this thread
        assert len(list(facade.list(f"T{t}"))) == 75 + 1

    assert run_threads(8, work) == []
    assert sorted(facade.list_prefixes()) == ["COPIES", "SHARED", *(f"T{t}" for t in range(8))]
    assert len(list(facade.list("COPIES"))) == 8 * 150
    shared = facade.get("SHARED/one.bin", verify=True)
    assert shared in {f"{t}:{i}".encode() * (i + 1) for t in range(8) for i in range(150)}
    assert facade.get("T3/path.bin") == b"from a path" * 1000


async def test_the_facade_from_inside_a_running_loop(store: MemoryArtifactStore) -> None:
    facade = SyncArtifactStore(store)
    facade.put("DEAL-1/x", b"called from async code")  # blocks only this thread, briefly
    assert await store.get("DEAL-1/x") == b"called from async code"


# --------------------------------------------------------------- nothing on disk

_WRITE_EVENTS = {
    "os.chmod", "os.link", "os.mkdir", "os.remove", "os.rename", "os.rmdir", "os.symlink",
    "os.truncate", "os.utime", "shutil.copyfile", "shutil.rmtree", "sqlite3.connect",
    "tempfile.mkstemp", "tempfile.mkdtemp",
}  # fmt: skip
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PACKAGE_DIR = os.path.dirname(artifactstore.__file__) + os.sep
_writes: list[str] = []
_auditing = threading.Event()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if not _auditing.is_set():
        return
    if event == "open":
        mode, flags = args[1], args[2]
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS
        )
    else:
        writes = event in _WRITE_EVENTS
    if not writes:
        return
    frame = sys._getframe(1)
    while frame is not None:  # only what the library did, on any thread
        if frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            _writes.append(f"{event}{args!r}")
            return
        frame = frame.f_back  # type: ignore[assignment]


sys.addaudithook(_audit)


@pytest.fixture
def audited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working folder, and a record of every file the library writes."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    _writes.clear()
    _auditing.set()
    try:
        yield cwd
    finally:
        _auditing.clear()


def test_the_audit_sees_a_library_write(audited: Path) -> None:
    # The detector itself: the local backend writes files, and is caught doing so.
    with SyncArtifactStore(artifactstore.LocalFilesystemArtifactStore(audited / "dr")) as s:
        s.put("x", b"x")
    assert _writes


async def test_nothing_is_written_to_disk(audited: Path, scratch: Path) -> None:
    source = scratch / "in.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    async with store_from_url("memory://audit") as store:
        await store.put("DEAL-1/a.bin", b"bytes")
        await store.put("DEAL-1/b.bin", chunks(b"async ", b"chunks"))
        await store.put("DEAL-1/c.bin", io.BytesIO(b"file object"))
        await store.put("DEAL-1/d.bin", source)
        with source.open("rb") as f:
            await store.put("DEAL-1/e.bin", f)
        await store.copy("DEAL-1/a.bin", "DEAL-2/a.bin")
        await store.move("DEAL-2/a.bin", "DEAL-3/a.bin")
        assert len(await keys_of(store)) == 6
        assert [c async for c in store.stream("DEAL-1/d.bin", start=5, end=9)]
        assert await store.delete_prefix("DEAL-1") == 5
        await store.get_url("DEAL-3/a.bin")
        await store.cleanup()

        def sync_code() -> None:  # paths and files read in the calling thread
            with SyncArtifactStore(store) as facade:
                facade.put("SYNC/p.bin", source)
                with source.open("rb") as f:
                    facade.put("SYNC/f.bin", f)
                assert facade.get("SYNC/p.bin") == source.read_bytes()

        await asyncio.to_thread(sync_code)
    assert _writes == []
    assert list(audited.iterdir()) == []
    assert [p.name for p in scratch.iterdir()] == ["in.bin"]


# -------------------------------------------------------------- a closed store


async def test_a_closed_store_raises_store_closed_error() -> None:
    store = MemoryArtifactStore()
    await store.put("DEAL-1/x.bin", b"x" * 10_000)
    stream = store.stream("DEAL-1/x.bin", chunk_size=100)
    await stream.__aenter__()
    assert await store.cleanup() == 0
    await store.aclose()
    await store.aclose()  # idempotent
    calls = [
        store.put("DEAL-1/y.bin", b"y"),
        store.get("DEAL-1/x.bin"),
        store.get_metadata("DEAL-1/x.bin"),
        store.exists("DEAL-1/x.bin"),
        store.delete("DEAL-1/x.bin"),
        store.copy("DEAL-1/x.bin", "DEAL-1/z.bin"),
        store.move("DEAL-1/x.bin", "DEAL-1/z.bin"),
        store.delete_prefix("DEAL-1"),
        store.get_url("DEAL-1/x.bin"),
        store.cleanup(),
        keys_of(store),
    ]
    for call in calls:
        with pytest.raises(StoreClosedError) as excinfo:
            await call
        assert isinstance(excinfo.value, ArtifactStoreError)
    with pytest.raises(StoreClosedError):  # a stream left open across aclose
        async for _chunk in stream:
            pass
    await stream.aclose()
    facade = SyncArtifactStore(MemoryArtifactStore())
    facade.close()
    with pytest.raises(StoreClosedError):
        facade.get("x")


# -------------------------------------------------------------------- wiring


@pytest.fixture
def no_singleton(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [
        "ARTIFACT_STORAGE_BACKEND",
        "ALLOW_MEMORY_DEFAULT",
        "DATAROOM_ROOT",
        "ARTIFACT_STORAGE_PATH",
    ]:
        monkeypatch.delenv(name, raising=False)
    reset_artifact_store()
    yield
    reset_artifact_store()


def test_the_environment_selects_a_process_wide_memory_store(
    no_singleton: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", " Memory ")
    monkeypatch.setenv("HOME", str(tmp_path))  # a local store would create ~/DataRoom
    # Issue 23, item 8: memory alone keeps nothing once the process ends; it needs a yes.
    with pytest.raises(StorageConfigError, match="ALLOW_MEMORY_DEFAULT=true"):
        get_artifact_store()
    assert list(tmp_path.iterdir()) == []  # nor did it fall back to a local DataRoom
    monkeypatch.setenv("ALLOW_MEMORY_DEFAULT", "true")
    store = get_artifact_store()
    assert isinstance(store, MemoryArtifactStore)
    assert get_artifact_store() is store
    facade = get_sync_artifact_store()
    assert facade.async_store is store
    facade.put("DEAL-1/x", b"x")
    assert drive(store.get("DEAL-1/x")) == b"x"
    reset_artifact_store()
    fresh = get_artifact_store()
    assert isinstance(fresh, MemoryArtifactStore)
    assert fresh is not store
    assert not drive(fresh.exists("DEAL-1/x"))
    assert isinstance(create_artifact_store(), MemoryArtifactStore)
    assert isinstance(create_artifact_store("MEMORY", name="x"), MemoryArtifactStore)
    assert list(tmp_path.iterdir()) == []


def test_unknown_backends_name_memory_among_the_choices(
    no_singleton: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "ram")
    with pytest.raises(StorageConfigError, match="local, memory, s3"):
        get_artifact_store()


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("memory://", ""),
        ("memory:///", ""),
        ("MEMORY://Tests-1", "Tests-1"),
        ("memory://a.b_c", "a.b_c"),
    ],
)
async def test_memory_urls(url: str, name: str) -> None:
    store = store_from_url(url)
    assert isinstance(store, MemoryArtifactStore)
    assert store.name == name
    assert store.url == str(store) == f"memory://{name}"
    assert repr(store) == f"MemoryArtifactStore('memory://{name}')"
    await store.put("DEAL-1/x", b"x")
    twin = store_from_url(str(store))  # the same kind of store, empty: nothing is shared
    assert isinstance(twin, MemoryArtifactStore)
    assert twin.url == store.url
    assert not await twin.exists("DEAL-1/x")
    assert store_from_url("memory://", name="kw").url == "memory://kw"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("memory:", "not memory://name"),
        ("memory:x", "not memory://name"),
        ("memory://a/b", "no path"),
        ("memory://a?durable=false", "no path, user, query"),
        ("memory://a#f", "fragment"),
        ("memory://u@a", "user"),
        ("memory://a:80", "name"),
        ("memory://-a", "name"),
        ("ram://x", "memory://"),
    ],
)
def test_bad_memory_urls_name_the_problem(url: str, problem: str) -> None:
    with pytest.raises(StorageConfigError, match=problem):
        store_from_url(url)


async def test_missing_and_existing(store: MemoryArtifactStore) -> None:
    with pytest.raises(ArtifactNotFoundError, match="no artifact at 'DEAL-1/none'"):
        await store.copy("DEAL-1/none", "DEAL-1/other")
    await store.put("DEAL-1/a", b"a")
    with pytest.raises(ArtifactExistsError):
        await store.put("DEAL-1/a", chunks(b"never read"), if_not_exists=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_a_usable_copy() -> None:
    facade = SyncArtifactStore(MemoryArtifactStore())
    facade.put("DEAL-1/x", b"parent")
    store = facade.async_store
    assert isinstance(store, MemoryArtifactStore)
    with store._memory._lock:  # as if another thread held it at the fork
        pid = os.fork()
        if pid == 0:  # the child: it must neither hang nor touch the parent's copy
            ok = facade.get("DEAL-1/x") == b"parent"
            facade.put("DEAL-1/x", b"child")
            os._exit(0 if ok and facade.get("DEAL-1/x") == b"child" else 1)
    for _ in range(600):  # a hung child is the failure: wait at most a minute
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        threading.Event().wait(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child hung on the store's lock")
    assert os.waitstatus_to_exitcode(status) == 0
    assert facade.get("DEAL-1/x") == b"parent"


async def test_large_data_is_hashed_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """hashlib releases the GIL: a 200 MB put must not stall every other task on the loop."""
    import threading

    import artifactstore._sources as memory

    seen: list[tuple[int, bool]] = []
    real = memory.hexdigest
    loop_thread = threading.get_ident()

    def recording(data: bytes) -> str:
        seen.append((len(data), threading.get_ident() != loop_thread))
        return real(data)

    monkeypatch.setattr(memory, "hexdigest", recording)
    big = b"x" * (2 * 1024 * 1024)
    store = MemoryArtifactStore()
    assert (await store.put("big", big)).sha256 == real(big)
    assert await store.get("big", verify=True) == big
    await store.put("small", b"y")
    assert seen == [(len(big), True), (len(big), True), (1, False)]
    await store.aclose()
