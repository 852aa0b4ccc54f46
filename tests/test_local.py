"""The local backend: the whole conformance suite, then what only a filesystem has."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from artifactstore import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    BackendInfo,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
    StorageBackendError,
    StorageConfigError,
)
from artifactstore.backends.local import LocalBackend, _read
from artifactstore.backends.local._temps import namespace_id
from artifactstore.testing import ConformanceCheck, conformance_checks

from .conftest import open_fds

CAPABILITIES = LocalBackend.info


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def keys_of(store: LocalFilesystemArtifactStore, prefix: str = "") -> list[str]:
    return [m.storage_key async for m in store.list(prefix)]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalFilesystemArtifactStore]:
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as s:
        yield s


def test_declared_capabilities() -> None:
    assert LocalBackend.info == BackendInfo(
        name="local",
        scheme="file",
        file_and_folder_at_same_key=False,
        readable_urls=True,
        sha256_in_listings=True,
        runs_without_event_loop=True,
        staged_puts=True,
        holds=True,
    )


@pytest.mark.parametrize("check", conformance_checks(CAPABILITIES), ids=str)
async def test_conformance(
    check: ConformanceCheck, store: LocalFilesystemArtifactStore, scratch: Path
) -> None:
    await store.put("warm-up", b"")  # opens the index: its files are not a leak
    await store.delete("warm-up")
    before = open_fds()
    await check(store, scratch)
    for _ in range(50):  # closes are queued on the worker: give them a moment
        gc.collect()  # a cancelled task's traceback may keep a stream in a cycle
        await store.exists("x")  # a round trip: closes queued before it have run
        if open_fds() <= before:
            break
        await asyncio.sleep(0.02)
    assert open_fds() <= before, "file descriptors leaked"
    assert not _temporaries(Path(store.root)), "temporary files left behind"


@pytest.mark.parametrize("check", conformance_checks(CAPABILITIES), ids=str)
async def test_conformance_not_durable(
    check: ConformanceCheck, tmp_path: Path, scratch: Path
) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False) as s:
        await check(s, scratch)
    assert not _temporaries(tmp_path / "DataRoom"), "temporary files left behind"


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".artifactstore.*") if p.is_file()]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ------------------------------------------------------------------- layout


async def test_layout_is_browsable(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/emails/m.eml", b"mail", metadata={"from": "banker"})
    root = Path(store.root)
    assert (root / "DEAL-1/emails/m.eml").read_bytes() == b"mail"
    assert sorted(p.name for p in root.iterdir()) == [".artifactstore", "DEAL-1"]
    assert [p.name for p in (root / "DEAL-1/emails").iterdir()] == ["m.eml"]
    assert await store.get_url("DEAL-1/emails/m.eml") == (root / "DEAL-1/emails/m.eml").as_uri()


def test_constructor_creates_nothing(tmp_path: Path) -> None:
    LocalFilesystemArtifactStore(tmp_path / "later")
    assert not (tmp_path / "later").exists()


async def test_missing_root_without_create(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "absent", create=False) as s:
        with pytest.raises(StorageConfigError, match="does not exist"):
            await s.put("a.txt", b"x")
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
async def test_modes_hold_under_any_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as s:
            await s.put("DEAL-1/documents/cim/c.pdf", b"x")
            await s.put("DEAL-1/big.bin", os.urandom(5 * 1024 * 1024))
        root = Path(tmp_path / "DataRoom")
        assert _mode(root / "DEAL-1/documents/cim/c.pdf") == 0o640
        assert _mode(root / "DEAL-1/big.bin") == 0o640
        for folder in [
            root,
            root / "DEAL-1",
            root / "DEAL-1/documents",
            root / "DEAL-1/documents/cim",
        ]:
            assert _mode(folder) == 0o750
        assert _mode(root / ".artifactstore/index.sqlite3") == 0o640
    finally:
        os.umask(old)


async def test_custom_modes(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "R", file_mode=0o600, dir_mode=0o700) as s:
        await s.put("D/x.txt", b"x")
    assert _mode(tmp_path / "R/D/x.txt") == 0o600
    assert _mode(tmp_path / "R/D") == 0o700


async def test_file_and_folder_cannot_share_a_name(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/a", b"file")
    with pytest.raises(InvalidKeyError, match="folder and a file"):
        await store.put("DEAL-1/a/b", b"x")
    await store.put("DEAL-2/a/b", b"x")
    with pytest.raises(InvalidKeyError, match="folder and a file"):
        await store.put("DEAL-2/a", b"file")
    with pytest.raises(ArtifactNotFoundError):
        await store.get("DEAL-2/a")
    assert await store.delete("DEAL-2/a") is False
    assert await keys_of(store) == ["DEAL-1/a", "DEAL-2/a/b"]


# ------------------------------------------------------------- key spellings


async def test_absolute_paths_inside_the_root(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/emails/m.eml", b"mail")
    absolute = f"{store.root}/DEAL-1/emails/m.eml"
    assert store.normalize_key(absolute) == "DEAL-1/emails/m.eml"
    assert await store.get(absolute) == b"mail"
    assert await store.get(Path(absolute).as_uri()) == b"mail"
    for outside in ["/etc/passwd", f"{store.root}/../x", f"{store.root}x/y", f"{store.root}/"]:
        with pytest.raises(InvalidKeyError):
            store.normalize_key(outside)
    with pytest.raises(InvalidKeyError, match="another host"):
        store.normalize_key(f"file://evil.example{absolute}")


async def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    async with LocalFilesystemArtifactStore(tmp_path / "link") as s:
        await s.put("D/x.txt", b"x")
        assert s.root == str(tmp_path / "real")
        assert await s.get(str(tmp_path / "link/D/x.txt")) == b"x"
        assert await s.get(str(tmp_path / "real/D/x.txt")) == b"x"


# ------------------------------------------------------------------ symlinks


async def test_symlinks_out_of_the_root_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root = tmp_path / "DataRoom"
    async with LocalFilesystemArtifactStore(root) as s:
        await s.put("DEAL-1/ok.txt", b"ok")
        (root / "DEAL-1/leak.txt").symlink_to(outside / "secret.txt")
        (root / "DEAL-1/escape").symlink_to(outside)
        for key in ["DEAL-1/leak.txt", "DEAL-1/escape/secret.txt"]:
            with pytest.raises(InvalidKeyError, match="symlink"):
                await s.get(key)
            with pytest.raises(InvalidKeyError, match="symlink"):
                await s.get_metadata(key)
            with pytest.raises(InvalidKeyError, match="symlink"):
                await s.exists(key)
            with pytest.raises(InvalidKeyError, match="symlink"):
                await s.delete(key)
        with pytest.raises(InvalidKeyError, match="symlink"):
            await s.put("DEAL-1/escape/new.txt", b"evil")
        with pytest.raises(InvalidKeyError, match="symlink"):
            await s.put("DEAL-1/escape/deeper/new.txt", b"evil")
        assert await keys_of(s) == ["DEAL-1/ok.txt"]
        assert [p async for p in s.list_prefixes("DEAL-1")] == []
    assert sorted(p.name for p in outside.rglob("*")) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert (root / "DEAL-1/leak.txt").is_symlink()


async def test_symlinks_inside_the_root_are_followed(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/documents/cim/v3.pdf", b"v3")
    root = Path(store.root)
    (root / "DEAL-1/documents/cim/latest.pdf").symlink_to(root / "DEAL-1/documents/cim/v3.pdf")
    assert await store.get("DEAL-1/documents/cim/latest.pdf") == b"v3"
    assert await keys_of(store) == [
        "DEAL-1/documents/cim/latest.pdf",
        "DEAL-1/documents/cim/v3.pdf",
    ]


# --------------------------------------------------------- files put by others


async def test_legacy_files_are_artifacts(store: LocalFilesystemArtifactStore) -> None:
    root = Path(store.root)
    (root / "DEAL-7/generated/loi").mkdir(parents=True)
    (root / "DEAL-7/generated/loi/old.pdf").write_bytes(b"written the old way")
    (root / "DEAL-7/empty-folder").mkdir()
    listed = [m async for m in store.list("DEAL-7")]
    assert [m.storage_key for m in listed] == ["DEAL-7/generated/loi/old.pdf"]
    assert listed[0].sha256 is None  # not known without reading the file
    assert listed[0].mime_type == "application/pdf"
    meta = await store.get_metadata("DEAL-7/generated/loi/old.pdf")
    assert meta.sha256 == sha(b"written the old way")
    assert await store.get("DEAL-7/generated/loi/old.pdf", verify=True) == b"written the old way"
    listed = [m async for m in store.list("DEAL-7")]
    assert listed[0].sha256 is None  # a folder without an index: reads create none
    assert not (root / ".artifactstore").exists()
    await store.put("DEAL-8/new.txt", b"a write makes the folder a DataRoom")
    assert (await store.get_metadata("DEAL-7/generated/loi/old.pdf")).sha256 == meta.sha256
    listed = [m async for m in store.list("DEAL-7")]
    assert listed[0].sha256 == meta.sha256  # recorded once computed (an index exists)
    assert [p async for p in store.list_prefixes("DEAL-7")] == ["DEAL-7/generated"]


async def test_file_changed_outside_is_rehashed(store: LocalFilesystemArtifactStore) -> None:
    meta = await store.put("DEAL-1/financials.csv", b"revenue,100\n")
    path = Path(store.root) / "DEAL-1/financials.csv"
    path.write_bytes(b"revenue,999\n")  # same size, rewritten in place by legacy code
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    fresh = await store.get_metadata("DEAL-1/financials.csv")
    assert fresh.sha256 == sha(b"revenue,999\n") != meta.sha256
    assert await store.get("DEAL-1/financials.csv", verify=True) == b"revenue,999\n"
    path.write_bytes(b"replaced entirely, longer")
    listed = [m async for m in store.list("DEAL-1")]
    assert listed[0].sha256 in (None, sha(b"replaced entirely, longer"))
    assert (await store.get_metadata("DEAL-1/financials.csv")).sha256 == sha(
        b"replaced entirely, longer"
    )


async def test_large_legacy_file_hashed_in_chunks(store: LocalFilesystemArtifactStore) -> None:
    data = os.urandom(_read.SMALL_FILE * 2 + 5)
    path = Path(store.root) / "DEAL-1/huge.bin"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    assert (await store.get_metadata("DEAL-1/huge.bin")).sha256 == sha(data)
    assert await store.get("DEAL-1/huge.bin", verify=True) == data
    async with store.stream("DEAL-1/huge.bin", start=5, end=10) as s:
        assert s.metadata.sha256 == sha(data)
        assert b"".join([c async for c in s]) == data[5:10]


@pytest.mark.parametrize("size", [100, _read.SMALL_FILE + 100])
async def test_verify_detects_silent_corruption(
    store: LocalFilesystemArtifactStore, size: int
) -> None:
    data = os.urandom(size)
    await store.put("DEAL-1/cim.pdf", data)
    path = Path(store.root) / "DEAL-1/cim.pdf"
    before = path.stat()
    with path.open("r+b") as f:  # bit rot: same inode, size and mtime
        f.seek(size // 2)
        f.write(bytes([data[size // 2] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert await store.get("DEAL-1/cim.pdf") != data  # not verified: returned as is
    with pytest.raises(ArtifactIntegrityError) as raised:
        await store.get("DEAL-1/cim.pdf", verify=True)
    assert raised.value.key == "DEAL-1/cim.pdf"
    assert raised.value.expected == sha(data)
    assert "corrupt" in str(raised.value)


# ---------------------------------------------------------------- the index


async def test_metadata_survives_a_new_store(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        await s.put("D/r.json", b"{}", mime_type="application/x-report", metadata={"v": "1"})
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        meta = await s.get_metadata("D/r.json")
        assert meta.mime_type == "application/x-report"
        assert dict(meta.metadata) == {"v": "1"}
        assert meta.sha256 == sha(b"{}")


async def test_two_stores_racing_on_one_key_never_disagree(tmp_path: Path) -> None:
    a = LocalFilesystemArtifactStore(tmp_path / "R")
    b = LocalFilesystemArtifactStore(tmp_path / "R")
    try:
        for round_ in range(20):
            payloads = [os.urandom(500 + i) for i in range(8)]
            await asyncio.gather(
                *(
                    (a if i % 2 else b).put("D/one.bin", p, metadata={"writer": str(i)})
                    for i, p in enumerate(payloads)
                )
            )
            for reader in (a, b):
                data = await reader.get("D/one.bin", verify=True)
                meta = await reader.get_metadata("D/one.bin")
                assert data in payloads, round_
                assert meta.sha256 == sha(data)
                if meta.metadata:  # the row of exactly this version, or none
                    assert meta.metadata["writer"] == str(payloads.index(data))
    finally:
        await a.aclose()
        await b.aclose()


async def test_index_lost_is_rebuilt_on_demand(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        await s.put("D/x.txt", b"x")
    for name in os.listdir(tmp_path / "R/.artifactstore"):
        os.remove(tmp_path / "R/.artifactstore" / name)
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        assert (await s.get_metadata("D/x.txt")).sha256 == hashlib.sha256(b"x").hexdigest()


# --------------------------------------------------------- resources, closing


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    s = LocalFilesystemArtifactStore(tmp_path / "R")
    await s.put("D/x.txt", b"x")
    await s.aclose()
    await s.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await s.get("D/x.txt")


async def test_the_blocking_detector_can_fail(
    store: LocalFilesystemArtifactStore, no_blocking_io_on_the_loop: list[str]
) -> None:
    await store.put("D/x.txt", b"x")
    # Lane jobs, run on the loop on purpose:
    _read.close(_read.open_reader(store._local._room, "D/x.txt"))
    assert any(v.startswith("open") for v in no_blocking_io_on_the_loop)
    no_blocking_io_on_the_loop.clear()


def test_repr_names_the_root(tmp_path: Path) -> None:
    s = LocalFilesystemArtifactStore(tmp_path / "R", durable=False)
    uri = (tmp_path / "R").resolve().as_uri()
    assert repr(s) == f"LocalFilesystemArtifactStore('{uri}?durable=false')"
    assert str(LocalFilesystemArtifactStore(tmp_path / "R")) == uri


async def test_index_files_keep_the_file_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
            await s.put("D/x.txt", b"x")
            index = Path(s.root) / ".artifactstore"
            for name in ["index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"]:
                assert _mode(index / name) == 0o640, name
    finally:
        os.umask(old)


async def test_unreadable_index_means_rehash_not_failure(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        await s.put("D/x.txt", b"payload")
    index = tmp_path / "R/.artifactstore"
    for name in os.listdir(index):
        (index / name).write_bytes(b"this is not a database" * 100)
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        assert (await s.get_metadata("D/x.txt")).sha256 == sha(b"payload")
        assert [m.storage_key async for m in s.list("D")] == ["D/x.txt"]
        # Refused: its metadata could not be committed, nor its holds checked.
        with pytest.raises(StorageBackendError, match=r"durable|holds could not be read"):
            await s.put("D/y.txt", b"y")


def test_home_in_the_root_is_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert LocalFilesystemArtifactStore("~/DataRoom").root == str(tmp_path / "DataRoom")


async def test_cleanup_removes_only_dead_writers_temporaries(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
        await s.put("D/x.txt", b"x")
        folder = Path(s.root) / "D"
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        ns = await anyio.to_thread.run_sync(namespace_id)  # this PID namespace's
        (folder / f".artifactstore.ab12-n{ns}-{dead}-1.tmp").write_bytes(b"half a put")
        mine = folder / f".artifactstore.ab12-n{ns}-{os.getpid()}-9.tmp"
        mine.write_bytes(b"a put in progress")
        (folder / "notes.tmp").write_bytes(b"not ours")
        assert await s.cleanup() == 1
        assert sorted(p.name for p in folder.iterdir()) == [mine.name, "notes.tmp", "x.txt"]
        os.utime(mine, (time.time() - 7200, time.time() - 7200))
        assert await s.cleanup(older_than=3600) == 1
        assert sorted(p.name for p in folder.iterdir()) == ["notes.tmp", "x.txt"]


@pytest.mark.parametrize("durable", [True, False])
async def test_what_durable_means(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    async with LocalFilesystemArtifactStore(tmp_path / "R", durable=durable) as s:
        await s.put("warm/up.txt", b"")
        monkeypatch.setattr(os, "fsync", recording_fsync)
        await s.put("DEAL-1/emails/m.eml", b"mail")  # a new folder, too
        await s.put("DEAL-1/big.bin", os.urandom(5 * 1024 * 1024))  # the streamed path
        monkeypatch.setattr(os, "fsync", real_fsync)
        root = s.root
    ours = [p for p in synced if not p.startswith(f"{root}/.artifactstore/")]
    if not durable:
        assert ours == []
        return
    # Each file's bytes before its rename (fsynced as the temporary file) ...
    assert sum(1 for p in ours if "/.artifactstore." in p and p.endswith(".tmp")) == 2
    # ... then the folders that gained an entry or a new sub-folder, after the renames.
    for folder in (f"{root}/DEAL-1/emails", f"{root}/DEAL-1", root):
        assert folder in ours, folder
    assert ours.index(f"{root}/DEAL-1/emails") > min(
        i for i, p in enumerate(ours) if p.endswith(".tmp")
    )


async def test_a_stream_dropped_after_its_store_closed_still_closes(tmp_path: Path) -> None:
    store = LocalFilesystemArtifactStore(tmp_path / "R")
    await store.put("D/x.bin", b"x" * 100_000)
    await store.exists("warm")
    before = open_fds()
    stream = store.stream("D/x.bin", chunk_size=1000)
    await stream.__anext__()
    assert open_fds() == before + 1
    await store.aclose()
    del stream
    gc.collect()
    await asyncio.sleep(0.05)
    assert open_fds() <= before - 3  # the file, and the index's three files, are closed


def _temporaries(root: Path) -> list[str]:
    return [name for _, _, names in os.walk(root) for name in names if name.endswith(".tmp")]


@pytest.mark.parametrize("operation", ["put", "copy"])
async def test_a_failed_write_leaves_no_temporary_file_once_it_raises(
    tmp_path: Path, operation: str
) -> None:
    """The clean-up of a failed large put (or copy) is awaited, not merely queued: when
    the error reaches the caller, no temporary file is left. The worker lane is held
    busy at the moment of the failure, so a clean-up that was only queued is still
    waiting when the caller looks."""
    store = LocalFilesystemArtifactStore(tmp_path / "room")
    gate = threading.Event()

    def hold_the_lane() -> None:
        store._local._large.submit(gate.wait, 10)
        threading.Timer(0.3, gate.set).start()

    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(3 * 1024 * 1024)
        hold_the_lane()
        raise RuntimeError("the source broke")

    async with store:
        if operation == "put":
            with pytest.raises(RuntimeError, match="the source broke"):
                await store.put("DEAL-1/big.bin", failing())
        else:
            await store.put("DEAL-1/big.bin", os.urandom(3 * 1024 * 1024))
            original = store._local._run  # the copy's commit fails

            async def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
                if getattr(fn, "__name__", "") == "commit_copy":
                    hold_the_lane()
                    raise RuntimeError("the commit broke")
                return await original(fn, *args, **kwargs)

            store._local._run = run  # type: ignore[method-assign]
            with pytest.raises(RuntimeError, match="the commit broke"):
                await store.copy("DEAL-1/big.bin", "DEAL-1/copy.bin")
        assert _temporaries(tmp_path / "room") == []
        gate.set()


async def test_a_put_cancelled_while_cleaning_up_still_removes_its_temporary_file(
    tmp_path: Path,
) -> None:
    """Cancelled while it awaits the clean-up of its failure: the clean-up job it
    abandons is queued again, not skipped, so the temporary file still goes."""
    store = LocalFilesystemArtifactStore(tmp_path / "room")
    gate = threading.Event()
    failed = asyncio.Event()

    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(3 * 1024 * 1024)
        store._local._large.submit(gate.wait, 10)  # the clean-up waits behind this
        failed.set()
        raise RuntimeError("the source broke")

    async with store:
        task = asyncio.create_task(store.put("DEAL-1/big.bin", failing()))
        await failed.wait()
        await asyncio.sleep(0.05)  # the put is now awaiting its clean-up
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        await store._local._large.run(lambda: None)  # everything queued before has run
        assert _temporaries(tmp_path / "room") == []
