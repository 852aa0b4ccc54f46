"""The local backend keeps the folders it walked to open, and checks them on every use.

A walk from the root, one segment at a time, is paid once per folder; a cached
folder is used only while it is still where the walk would lead. These tests
move, remove and replace cached folders behind the store's back (as another
process would) and check that every operation then behaves as a fresh walk does:
nothing lands in a folder moved away or removed, no symlink is followed against
the rule, nothing escapes the root.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifactstore import (
    ArtifactNotFoundError,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
)
from artifactstore.backends.local import _folder_cache
from artifactstore.backends.local._folder_cache import FolderCache
from artifactstore.backends.local._tree import Folder, Tree

from .conftest import open_paths_under

pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd"), reason="the cache needs /proc/self/fd"
)


def _cache_of(root: str | os.PathLike[str]) -> FolderCache:
    """The folder cache of the open store at ``root``."""
    prefix = os.path.realpath(root) + "/"
    found = [c for c in list(_folder_cache._live) if c.enabled and c._prefix == prefix]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(autouse=True)
def _no_idle_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder unused for a second is closed: never while a test looks, on a slow machine."""
    monkeypatch.setattr(_folder_cache, "IDLE", 3600.0)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalFilesystemArtifactStore]:
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as s:
        yield s


def _tree(root: Path) -> Tree:
    tree = Tree(str(root), given_root=str(root), dir_mode=0o750, create=True, on_created=_ignore)
    tree.open_root()
    return tree


def _ignore(_folder: Folder) -> None:
    pass


# ------------------------------------------------------------------------ hits


async def test_each_folder_is_walked_once(store: LocalFilesystemArtifactStore) -> None:
    for i in range(20):
        for deal in range(3):
            await store.put(f"DEAL-{deal}/documents/cim/f{i}.bin", b"x" * i)
    for i in range(20):
        for deal in range(3):
            assert await store.get(f"DEAL-{deal}/documents/cim/f{i}.bin") == b"x" * i
    cache = _cache_of(store.root)
    assert cache.misses <= 3 + 3  # the first put into each folder (and its first check)
    assert cache.hits >= 2 * 60 - 3
    assert sorted(cache._entries) == [f"DEAL-{d}/documents/cim" for d in range(3)]


async def test_shallow_folders_are_walked(store: LocalFilesystemArtifactStore) -> None:
    """One or two segments cost less to open than the cache's check does."""
    for key in ("a.bin", "DEAL-1/a.bin", "DEAL-1/emails/a.bin"):
        await store.put(key, b"a")
        assert await store.get(key) == b"a"
    assert len(_cache_of(store.root)) == 0
    await store.put("DEAL-1/emails/2026/a.bin", b"a")
    assert list(_cache_of(store.root)._entries) == ["DEAL-1/emails/2026"]


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    root = tmp_path / "R"
    tree = _tree(root)
    tree.cache.capacity = 4
    try:
        for i in range(12):
            folder = tree.folder(f"D{i}/a/sub", f"D{i}/a/sub/x", create=True)
            assert folder is not None
            folder.close()
        assert list(tree.cache._entries) == [f"D{i}/a/sub" for i in range(8, 12)]  # LRU order
        expected = [f"{os.path.realpath(root)}/D{i}/a/sub" for i in range(8, 12)]
        # .artifactstore is opened (and made) only for the index: folders need none.
        assert open_paths_under(root) == sorted(expected)
        tree.cache.expire(idle=0)  # unused for 0 s: all of them
        assert len(tree.cache) == 0
        assert open_paths_under(root) == []
    finally:
        tree.close()
    assert open_paths_under(root) == []


def test_a_caller_owns_its_descriptor(tmp_path: Path) -> None:
    """Evicting an entry never closes a descriptor a job still uses (the other lane's)."""
    tree = _tree(tmp_path / "R")
    tree.cache.capacity = 1
    try:
        first = tree.folder("A/a/a", "A/a/a/x", create=True)
        again = tree.folder("A/a/a", "A/a/a/x")  # from the cache
        assert first is not None
        assert again is not None
        assert tree.cache.hits == 1
        other = tree.folder("B/b/b", "B/b/b/x", create=True)  # evicts A
        assert other is not None
        assert "A/a/a" not in tree.cache._entries
        for name, folder in (("first", first), ("again", again)):
            assert stat.S_ISDIR(os.fstat(folder.fd).st_mode)
            os.mkdir(name, dir_fd=folder.fd)
            folder.close()
        other.close()
        assert sorted(os.listdir(tmp_path / "R" / "A" / "a" / "a")) == ["again", "first"]
    finally:
        tree.close()


# ----------------------------------------------------- changed behind our back


async def test_a_cached_folder_moved_out_of_the_root(
    store: LocalFilesystemArtifactStore, tmp_path: Path
) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    os.rename(
        root / "DEAL-1" / "documents" / "cim", tmp_path / "moved"
    )  # another process moves it out
    await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert (
        root / "DEAL-1" / "documents" / "cim" / "b.bin"
    ).read_bytes() == b"b"  # a new folder there
    assert sorted(os.listdir(tmp_path / "moved")) == ["a.bin"]  # nothing out there
    with pytest.raises(ArtifactNotFoundError):
        await store.get("DEAL-1/documents/cim/a.bin")
    assert not await store.exists("DEAL-1/documents/cim/a.bin")


async def test_a_cached_folder_removed(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    shutil.rmtree(root / "DEAL-1")
    # A write into the removed folder would succeed and be lost: it must not happen.
    meta = await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert (root / "DEAL-1" / "documents" / "cim" / "b.bin").read_bytes() == b"b"
    assert await store.get("DEAL-1/documents/cim/b.bin") == b"b"
    assert (await store.get_metadata("DEAL-1/documents/cim/b.bin")).sha256 == meta.sha256
    with pytest.raises(ArtifactNotFoundError):
        await store.get("DEAL-1/documents/cim/a.bin")


async def test_a_cached_folder_replaced_by_another(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    os.rename(root / "DEAL-1" / "documents" / "cim", root / "DEAL-1" / "documents" / "old")
    (root / "DEAL-1" / "documents" / "cim").mkdir()
    (root / "DEAL-1" / "documents" / "cim" / "a.bin").write_bytes(b"the new folder's")
    assert await store.get("DEAL-1/documents/cim/a.bin") == b"the new folder's"
    await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert sorted(os.listdir(root / "DEAL-1" / "documents" / "cim")) == ["a.bin", "b.bin"]
    assert sorted(os.listdir(root / "DEAL-1" / "documents" / "old")) == ["a.bin"]


async def test_a_cached_ancestor_renamed(store: LocalFilesystemArtifactStore) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    os.rename(root / "DEAL-1", root / "DEAL-1-renamed")
    assert not await store.exists("DEAL-1/documents/cim/a.bin")
    await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert (root / "DEAL-1" / "documents" / "cim" / "b.bin").read_bytes() == b"b"
    assert sorted(os.listdir(root / "DEAL-1-renamed" / "documents" / "cim")) == ["a.bin"]


@pytest.mark.parametrize("level", ["DEAL-1", "DEAL-1/documents", "DEAL-1/documents/cim"])
async def test_a_cached_folder_swapped_for_a_symlink_out_of_the_root(
    store: LocalFilesystemArtifactStore, tmp_path: Path, level: str
) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    outside = tmp_path / "outside"
    shutil.copytree(root / level, outside)  # what the link leads to looks the same
    os.rename(root / level, tmp_path / "away")
    os.symlink(outside, root / level)
    for attempt in (
        store.put("DEAL-1/documents/cim/b.bin", b"b"),
        store.get("DEAL-1/documents/cim/a.bin"),
        store.delete("DEAL-1/documents/cim/a.bin"),
    ):
        with pytest.raises(InvalidKeyError):
            await attempt
    assert not any(p.name == "b.bin" for p in outside.rglob("*"))
    assert not any(p.name == "b.bin" for p in (tmp_path / "away").rglob("*"))
    assert next(outside.rglob("a.bin")).read_bytes() == b"a"  # not deleted either


async def test_a_cached_folder_swapped_for_a_symlink_inside_the_root(
    store: LocalFilesystemArtifactStore,
) -> None:
    """A link the rule allows is followed, as by a fresh walk; never cached as the link."""
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    root = Path(store.root)
    os.rename(root / "DEAL-1", root / "DEAL-1-real")
    os.symlink("DEAL-1-real", root / "DEAL-1")
    assert await store.get("DEAL-1/documents/cim/a.bin") == b"a"
    await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert (root / "DEAL-1-real" / "documents" / "cim" / "b.bin").read_bytes() == b"b"
    assert "DEAL-1/documents/cim" not in _cache_of(store.root)._entries
    os.unlink(root / "DEAL-1")  # the link goes: the key goes with it
    assert not await store.exists("DEAL-1/documents/cim/a.bin")


async def test_a_folder_the_store_removes_is_forgotten(
    store: LocalFilesystemArtifactStore,
) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    await store.put("DEAL-2/documents/cim/a.bin", b"a")
    cache = _cache_of(store.root)
    assert {"DEAL-1/documents/cim", "DEAL-2/documents/cim"} <= set(cache._entries)
    assert await store.delete_prefix("DEAL-1") == 1
    assert "DEAL-1/documents/cim" not in cache._entries
    assert "DEAL-2/documents/cim" in cache._entries
    await store.put("DEAL-1/documents/cim/b.bin", b"b")
    assert (Path(store.root) / "DEAL-1" / "documents" / "cim" / "b.bin").read_bytes() == b"b"


async def test_a_durable_put_into_a_cached_folder_syncs_it(
    store: LocalFilesystemArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("DEAL-1/documents/cim/a.bin", b"a")
    assert "DEAL-1/documents/cim" in _cache_of(store.root)._entries  # the walk was cached
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    for name in ("b", "c"):  # each its own batch, each into the cached folder
        await store.put(f"DEAL-1/documents/cim/{name}.bin", b"x")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert _cache_of(store.root).hits >= 2
    assert synced.count(f"{store.root}/DEAL-1/documents/cim") == 2


# ------------------------------------------------------------ no /proc, fork


def test_without_proc_every_lookup_walks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def no_proc(path: str, *args: object, **kwargs: object) -> int:
        if path == "/proc/self/fd":
            raise OSError(errno.ENOENT, "no /proc here")
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", no_proc)
    tree = _tree(tmp_path / "R")
    try:
        assert not tree.cache.enabled
        for _ in range(3):
            folder = tree.folder("A/B/C", "A/B/C/x", create=True)
            assert folder is not None
            folder.close()
        assert len(tree.cache) == 0
    finally:
        tree.close()


def test_not_on_a_network_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS, SMB or FUSE a rename by another client may reach this kernel's names late."""
    monkeypatch.setattr(_folder_cache, "LOCAL_FILESYSTEMS", frozenset({"not-this-one"}))
    tree = _tree(tmp_path / "R")
    try:
        assert not tree.cache.enabled
        for _ in range(2):
            folder = tree.folder("A/a/a", "A/a/a/x", create=True)
            assert folder is not None
            folder.close()
        assert len(tree.cache) == 0
    finally:
        tree.close()


def test_a_folder_on_another_device_is_not_cached(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "R")
    try:
        assert tree.cache.enabled
        tree.cache._dev = -2  # as if every folder were a mount of another file system
        folder = tree.folder("A/a/a", "A/a/a/x", create=True)
        assert folder is not None
        folder.close()
        assert len(tree.cache) == 0
    finally:
        tree.close()


def test_a_forked_child_has_its_own_cache(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "R")
    try:
        folder = tree.folder("A/B/C", "A/B/C/x", create=True)
        assert folder is not None
        folder.close()
        inherited = tree.cache._entries["A/B/C"].fd
        pid = os.fork()
        if pid == 0:  # the child: report through the exit status only
            status = 1
            try:
                assert len(tree.cache) == 0  # the parent's copies were closed ...
                try:
                    where = os.readlink(f"/proc/self/fd/{inherited}")
                except OSError:
                    where = ""
                assert not where.endswith("/A/B/C")
                child = tree.folder("A/B/C", "A/B/C/x")  # ... and it walks, then caches, anew
                assert child is not None
                child.close()
                child = tree.folder("A/B/C", "A/B/C/x")
                assert child is not None
                assert tree.cache.hits >= 1
                os.mkdir("from-the-child", dir_fd=child.fd)
                child.close()
                status = 0
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        again = tree.folder("A/B/C", "A/B/C/x")  # the parent's entry is untouched
        assert again is not None
        assert os.listdir(again.fd) == ["from-the-child"]
        again.close()
    finally:
        tree.close()
