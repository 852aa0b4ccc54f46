"""Local backend paths: symlinks swapped mid-operation, links to the reserved folder, to outside.

The rule under test (docs/local-backend.md): a symlink inside the DataRoom is followed
only when its target stays inside the root and outside ``.artifactstore``; anything
else is refused. It must hold on every lookup, so that a folder swapped for a symlink
between a check and its use cannot redirect a read or a write out of the root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
)

SECRET = b"OUTSIDE-SECRET"
SECRET_SHA = hashlib.sha256(SECRET).hexdigest()
INSIDE = b"inside"
REFUSED = (InvalidKeyError, ArtifactNotFoundError)
RACE_SECONDS = 2.0


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (links not followed) with its bytes."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


async def read_stream(store: LocalFilesystemArtifactStore, key: str) -> bytes:
    async with store.stream(key, chunk_size=4) as s:
        return b"".join([chunk async for chunk in s])


# -------------------------------------------------------------- the swap race


class Swapper(threading.Thread):
    """Flips ``link`` between targets, atomically (a new link renamed over it), until stopped."""

    def __init__(self, link: Path, targets: list[str], scratch: Path) -> None:
        super().__init__(name="symlink-swapper", daemon=True)
        self.link, self.targets, self.scratch = link, targets, scratch
        self.halt = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        tmp = self.scratch / "swap-tmp"  # outside the DataRoom, on the same filesystem
        while not self.halt.is_set():
            for target in self.targets:
                os.symlink(target, tmp)
                os.replace(tmp, self.link)
                self.swaps += 1

    def settle(self, target: str) -> None:
        self.halt.set()
        self.join(10)
        assert not self.is_alive()
        os.symlink(target, self.scratch / "swap-tmp")
        os.replace(self.scratch / "swap-tmp", self.link)


async def race(store: LocalFilesystemArtifactStore, via: str, seconds: float) -> dict[str, Any]:
    """Many operations on keys under ``via`` (the swapped link) until the time is up.

    Returns what was read through the link and the unexpected (non-library) errors.
    """
    deadline = time.monotonic() + seconds
    seen: dict[str, Any] = {"reads": [], "listed": [], "odd": [], "done": 0}
    counter = iter(range(1_000_000))

    async def attempt(op: Awaitable[Any]) -> Any:
        try:
            result = await op
            seen["done"] += 1
            return result
        except ArtifactStoreError:
            return None
        except Exception as exc:  # a raw OSError: not the library's error
            seen["odd"].append(repr(exc))
            return None

    async def small_chunks(data: bytes) -> AsyncIterator[bytes]:
        yield data[:3]
        await asyncio.sleep(0)
        yield data[3:]

    async def writer() -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            await attempt(store.put(f"{via}/new-{n}.txt", b"put-bytes"))
            await attempt(store.put(f"{via}/gen-{n}.txt", small_chunks(b"gen-bytes")))
            await attempt(store.copy("HOME/own.txt", f"{via}/cp-{n}.txt"))
            await attempt(store.put(f"HOME/mv-src-{n}.txt", b"moved-in"))
            await attempt(store.move(f"HOME/mv-src-{n}.txt", f"{via}/mv-{n}.txt"))

    async def reader() -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            for data in (
                await attempt(store.get(f"{via}/a.txt")),
                await attempt(read_stream(store, f"{via}/a.txt")),
            ):
                if data is not None:
                    seen["reads"].append(data)
            meta = await attempt(store.get_metadata(f"{via}/a.txt"))
            if meta is not None:
                seen["listed"].append(meta)
            await attempt(store.exists(f"{via}/a.txt"))
            await attempt(store.copy(f"{via}/a.txt", f"HOME/copied-{n}.txt"))
            await attempt(store.move(f"{via}/new-{n - 1}.txt", f"HOME/moved-{n}.txt"))

    async def lister() -> None:
        while time.monotonic() < deadline:

            async def listing() -> None:
                async for meta in store.list(via):
                    seen["listed"].append(meta)

            await attempt(listing())

    await asyncio.gather(writer(), writer(), reader(), reader(), lister())
    return seen


@pytest.mark.timeout(60)
@pytest.mark.parametrize("nested", [False, True], ids=["top-folder", "nested-folder"])
async def test_a_folder_swapped_for_a_symlink_never_leads_out(tmp_path: Path, nested: bool) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(SECRET)
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        root = Path(store.root)
        await store.put("DEAL-1/a.txt", INSIDE)
        await store.put("DEAL-1/docs-real/a.txt", INSIDE)
        await store.put("HOME/own.txt", b"own-bytes")
        if nested:  # DEAL-1/docs flips; DEAL-1 itself stays a real folder
            link, inside, via = root / "DEAL-1/docs", root / "DEAL-1/docs-real", "DEAL-1/docs"
        else:
            link, inside, via = root / "SWAP", root / "DEAL-1", "SWAP"
        targets = [
            os.path.relpath(inside, link.parent),
            str(outside),
            str(inside),
            os.path.relpath(outside, link.parent),
        ]
        link.symlink_to(targets[0], target_is_directory=True)  # in place before any put
        swapper = Swapper(link, targets, tmp_path)
        swapper.start()
        try:
            seen = await race(store, via, RACE_SECONDS)
        finally:
            swapper.settle(targets[0])
        assert swapper.swaps > 100, "the link hardly moved: the race was not run"
        assert seen["done"] > 50, seen["done"]

        leaked = [data for data in seen["reads"] if data == SECRET]
        assert leaked == [], f"{len(leaked)} reads returned the outside file's bytes"
        assert all(data == INSIDE for data in seen["reads"]), set(seen["reads"])
        through = [m.storage_key for m in seen["listed"] if m.sha256 == SECRET_SHA]
        through += [m.storage_key for m in seen["listed"] if m.size_bytes == len(SECRET)]
        assert through == [], f"metadata of the outside file was reported for {through}"
        assert snapshot(outside) == {"a.txt": SECRET}, "a write went out of the DataRoom"
        assert sorted(p.name for p in outside.iterdir()) == ["a.txt"]
        stolen = {k: v for k, v in snapshot(root).items() if v == SECRET}
        assert stolen == {}, f"the outside file's bytes were copied in: {sorted(stolen)}"
        assert seen["odd"] == [], f"errors that are not the library's: {seen['odd'][:5]}"
        # The store still works, and the link now leads inside: it is followed.
        assert await store.get(f"{via}/a.txt") == INSIDE
        assert await store.get("HOME/own.txt") == b"own-bytes"


# ------------------------------------------------------ links to .artifactstore


SQLITE_MAGIC = b"SQLite format 3\x00"
RESERVED_KEYS = [
    "DEAL-2/index.sqlite3",
    "DEAL-2/index.sqlite3-wal",
    "DEAL-2/index.sqlite3-shm",
    "DEAL-3/index.sqlite3",
    "DEAL-4/idx",
    "leak",
    "tmplink",
]


def reserved_state(root: Path) -> tuple[list[str], int | None, bytes]:
    """The reserved folder's entries, the index's inode and header (None, b"" if it is gone)."""
    index = root / ".artifactstore/index.sqlite3"
    if not index.exists():
        return sorted(os.listdir(root / ".artifactstore")), None, b""
    return sorted(os.listdir(root / ".artifactstore")), index.stat().st_ino, index.read_bytes()[:16]


@pytest.fixture
async def linked_store(tmp_path: Path) -> AsyncIterator[LocalFilesystemArtifactStore]:
    """A store whose DataRoom holds links into ``.artifactstore`` and to a temporary."""
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        await store.put("DEAL-1/a.txt", INSIDE)  # the index exists from here on
        root = Path(store.root)
        assert (root / ".artifactstore/index.sqlite3").read_bytes().startswith(SQLITE_MAGIC)
        (root / "DEAL-2").symlink_to(".artifactstore", target_is_directory=True)
        (root / "DEAL-3").symlink_to(root / ".artifactstore", target_is_directory=True)
        (root / "DEAL-4").mkdir()
        (root / "DEAL-4/idx").symlink_to("../.artifactstore/index.sqlite3")
        (root / "leak").symlink_to(".artifactstore/index.sqlite3")
        # A temporary-looking file of a live writer (this process): the sweep keeps it.
        tmp_name = f".artifactstore.0badc0de-{os.getpid()}-7.tmp"
        (root / "DEAL-1" / tmp_name).write_bytes(b"half-written")
        (root / "tmplink").symlink_to(f"DEAL-1/{tmp_name}")
        yield store


async def test_no_key_reads_the_reserved_folder_through_a_link(
    linked_store: LocalFilesystemArtifactStore,
) -> None:
    store = linked_store
    for key in RESERVED_KEYS:
        with pytest.raises(REFUSED):
            data = await store.get(key)
            pytest.fail(f"get({key!r}) returned {data[:16]!r}")
        with pytest.raises(REFUSED):
            data = await read_stream(store, key)
            pytest.fail(f"stream({key!r}) returned {data[:16]!r}")
        with pytest.raises(REFUSED):
            meta = await store.get_metadata(key)
            pytest.fail(f"get_metadata({key!r}) returned {meta}")
        try:
            assert not await store.exists(key), key
        except InvalidKeyError:
            pass


async def test_no_listing_shows_the_reserved_folder_through_a_link(
    linked_store: LocalFilesystemArtifactStore,
) -> None:
    store = linked_store
    for prefix in ["", "DEAL-2", "DEAL-3", "DEAL-4"]:
        try:
            keys = [m.storage_key async for m in store.list(prefix)]
        except InvalidKeyError:
            continue
        odd = [k for k in keys if any(s in k for s in ("index.sqlite3", "-wal", "-shm"))]
        assert odd == [], f"list({prefix!r}) showed {odd}"
        assert set(keys) <= {"DEAL-1/a.txt"}, f"list({prefix!r}) showed {keys}"
    folders = [p async for p in store.list_prefixes("")]
    assert set(folders) <= {"DEAL-1"}, folders


async def test_no_key_writes_or_deletes_in_the_reserved_folder(
    linked_store: LocalFilesystemArtifactStore,
) -> None:
    store = linked_store
    root = Path(store.root)
    before = reserved_state(root)
    await store.put("DEAL-1/b.txt", b"b")

    async def refused_or_harmless(op: Awaitable[Any], what: str) -> None:
        try:
            await op
        except REFUSED:
            pass
        assert reserved_state(root) == before, f"{what} changed .artifactstore"

    for key in ["DEAL-2/index.sqlite3", "DEAL-2/x", "DEAL-3/index.sqlite3", "DEAL-3/y/z"]:
        await refused_or_harmless(store.put(key, b"garbage"), f"put({key!r})")
    await refused_or_harmless(store.copy("DEAL-1/a.txt", "DEAL-2/index.sqlite3"), "copy onto")
    await refused_or_harmless(store.copy("DEAL-1/a.txt", "DEAL-3/c"), "copy into")
    await refused_or_harmless(store.move("DEAL-1/b.txt", "DEAL-2/x"), "move into")
    await refused_or_harmless(store.copy("DEAL-2/index.sqlite3", "stolen-1"), "copy from")
    await refused_or_harmless(store.copy("leak", "stolen-2"), "copy of a link")
    await refused_or_harmless(store.move("DEAL-3/index.sqlite3", "stolen-3"), "move from")
    await refused_or_harmless(store.move("DEAL-4/idx", "stolen-4"), "move of a link")
    await refused_or_harmless(store.delete("DEAL-2/index.sqlite3"), "delete through")
    await refused_or_harmless(store.delete("DEAL-3/index.sqlite3-wal"), "delete through")
    await refused_or_harmless(store.delete_prefix("DEAL-2"), "delete_prefix of a link")
    await refused_or_harmless(store.delete_prefix("DEAL-3"), "delete_prefix of a link")
    for n in range(1, 5):  # nothing readable was carried out under a new key either
        try:
            data = await store.get(f"stolen-{n}")
        except REFUSED:
            continue
        assert not data.startswith(SQLITE_MAGIC), f"the index was carried out to stolen-{n}"
    # Ordinary work still works, and the index still records it.
    payloads = {f"AFTER/{n}.bin": os.urandom(100 + n) for n in range(20)}
    await asyncio.gather(*(store.put(k, v, metadata={"n": k}) for k, v in payloads.items()))
    for key, data in payloads.items():
        assert await store.get(key, verify=True) == data
        meta = await store.get_metadata(key)
        assert (meta.sha256, meta.metadata) == (sha(data), {"n": key})
    assert reserved_state(root)[1:] == before[1:]


# ------------------------------------------------------------- links to outside


@pytest.fixture
async def outside_store(tmp_path: Path) -> AsyncIterator[tuple[LocalFilesystemArtifactStore, Path]]:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(SECRET)
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        await store.put("DEAL-1/a.txt", INSIDE)
        yield store, outside


async def test_links_out_of_the_root_are_refused(
    outside_store: tuple[LocalFilesystemArtifactStore, Path],
) -> None:
    store, outside = outside_store
    root = Path(store.root)
    (root / "OUT").symlink_to(outside, target_is_directory=True)
    (root / "out.txt").symlink_to(outside / "a.txt")
    (root / "hop1").symlink_to("hop2")  # a chain that ends outside
    (root / "hop2").symlink_to("DEAL-1/hop3")
    (root / "DEAL-1/hop3").symlink_to("../../outside/a.txt")
    for key in ["OUT/a.txt", "out.txt", "hop1", "hop2", "DEAL-1/hop3"]:
        with pytest.raises(InvalidKeyError):
            await store.get(key)
        with pytest.raises(InvalidKeyError):
            await read_stream(store, key)
    for key in ["OUT/x", "OUT/deeper/x", "out.txt/x"]:
        with pytest.raises(InvalidKeyError):
            await store.put(key, b"evil")
    with pytest.raises(InvalidKeyError):
        await store.copy("DEAL-1/a.txt", "OUT/copied")
    assert [m.storage_key async for m in store.list("")] == ["DEAL-1/a.txt"]
    assert snapshot(outside) == {"a.txt": SECRET}


async def test_links_that_stay_inside_are_followed(
    outside_store: tuple[LocalFilesystemArtifactStore, Path],
) -> None:
    store, _ = outside_store
    root = Path(store.root)
    (root / "LATEST").symlink_to("DEAL-1", target_is_directory=True)
    (root / "DEAL-1/alias.txt").symlink_to("a.txt")
    (root / "absolute.txt").symlink_to(root / "DEAL-1/a.txt")
    (root / "ABS-DIR").symlink_to(root / "DEAL-1", target_is_directory=True)
    for key in ["LATEST/a.txt", "DEAL-1/alias.txt", "absolute.txt", "ABS-DIR/a.txt"]:
        assert await store.get(key) == INSIDE, key
        assert await read_stream(store, key) == INSIDE, key
        assert (await store.get_metadata(key)).sha256 == sha(INSIDE), key
        assert await store.exists(key), key


async def test_chains_and_loops_end_in_an_error_not_a_hang(
    outside_store: tuple[LocalFilesystemArtifactStore, Path],
) -> None:
    store, outside = outside_store
    root = Path(store.root)
    (root / "c1").symlink_to("c2")  # a chain inside the root
    (root / "c2").symlink_to("c3")
    (root / "c3").symlink_to("DEAL-1/a.txt")
    (root / "loop-a").symlink_to("loop-b")
    (root / "loop-b").symlink_to("loop-a")
    (root / "self").symlink_to("self")
    try:
        data = await asyncio.wait_for(store.get("c1"), timeout=10)
        assert data == INSIDE  # followed link by link, each staying inside
    except ArtifactStoreError:
        pass  # or refused: a chain is allowed to be too much
    for key in ["loop-a", "loop-b", "self", "loop-a/x", "self/x/y"]:
        with pytest.raises(ArtifactStoreError):
            await asyncio.wait_for(store.get(key), timeout=10)
        with pytest.raises(ArtifactStoreError):
            await asyncio.wait_for(read_stream(store, key), timeout=10)
        try:
            assert not await asyncio.wait_for(store.exists(key), timeout=10)
        except ArtifactStoreError:
            pass
    for key in ["loop-a/x", "self/x/y"]:
        with pytest.raises(ArtifactStoreError):
            await asyncio.wait_for(store.put(key, b"x"), timeout=10)
    keys = [m.storage_key async for m in store.list("")]
    assert "DEAL-1/a.txt" in keys
    assert not {"loop-a", "loop-b", "self"} & set(keys)
    assert snapshot(outside) == {"a.txt": SECRET}


@pytest.mark.parametrize("durable", [True, False])
async def test_a_new_roots_parents_are_synced_when_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable: bool
) -> None:
    """A DataRoom created with its missing parents survives a crash: each created
    folder's entry is synced into its parent (a durable store only)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    root = tmp_path / "a" / "b" / "DataRoom"
    async with LocalFilesystemArtifactStore(root, durable=durable) as store:
        await store.put("DEAL-1/x.txt", b"x")
    parents = {str(tmp_path), str(tmp_path / "a"), str(tmp_path / "a" / "b")}
    assert parents <= set(synced) if durable else parents.isdisjoint(synced)
