"""The local backend's copy, move, delete_prefix and URL: what only a filesystem has.

The generic contract of the three operations is in the conformance suite; these
are the local specifics (rename semantics, the index rows, modes, symlinks,
temporaries, legacy files) checked against real files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifactstore import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
)
from artifactstore.backends.local._manage import (
    COPY_CHUNK,
    CopySlot,
    begin_copy,
    commit_copy,
    copy_more,
    hash_copy,
)


async def settle(root: Path) -> None:
    """Wait (up to 5 s) for queued clean-ups to remove temporary files."""
    for _ in range(500):
        if not temporaries(root):
            return
        await asyncio.sleep(0.01)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalFilesystemArtifactStore]:
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as s:
        yield s


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".artifactstore.*") if p.is_file()]


def index_rows(root: Path) -> dict[str, tuple[int, str, str, str]]:
    """key -> (inode, sha256, mime type, metadata JSON), read straight from SQLite."""
    conn = sqlite3.connect(root / ".artifactstore" / "index.sqlite3")
    try:
        found = conn.execute("SELECT key, inode, sha256, mime_type, metadata FROM artifacts")
        return {key: (inode, digest, mime, meta) for key, inode, digest, mime, meta in found}
    finally:
        conn.close()


# ---------------------------------------------------------------------- copy


async def test_copy_carries_bytes_sha_mime_and_metadata(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    root = tmp_path / "DataRoom"
    async with LocalFilesystemArtifactStore(root) as store:
        src = await store.put(
            "DEAL-1/a.bin", data, mime_type="application/x-deal", metadata={"who": "ana"}
        )
        copied = await store.copy("DEAL-1/a.bin", "DEAL-2/b.pdf")
        assert copied.storage_key == "DEAL-2/b.pdf"
        assert copied.storage_uri == (Path(store.root) / "DEAL-2/b.pdf").as_uri()
        assert (copied.sha256, copied.size_bytes) == (src.sha256, len(data))
        # The source's mime type, not a guess from the new name (.pdf).
        assert copied.mime_type == "application/x-deal"
        assert copied.metadata == {"who": "ana"}
        assert await store.get("DEAL-2/b.pdf") == data
        src_inode = (Path(store.root) / "DEAL-1/a.bin").stat().st_ino
        dst_inode = (Path(store.root) / "DEAL-2/b.pdf").stat().st_ino
        assert src_inode != dst_inode  # a copy, not a link
    rows = index_rows(Path(root).resolve())
    assert rows["DEAL-2/b.pdf"] == (dst_inode, sha(data), "application/x-deal", '{"who": "ana"}')
    async with LocalFilesystemArtifactStore(root) as again:  # the row survives
        meta = await again.get_metadata("DEAL-2/b.pdf")
        assert (meta.sha256, meta.mime_type, meta.metadata) == (
            sha(data),
            "application/x-deal",
            {"who": "ana"},
        )
        assert await again.get("DEAL-2/b.pdf", verify=True) == data
        assert not temporaries(Path(again.root))


@pytest.mark.parametrize(("umask", "file_mode"), [(0o000, 0o640), (0o077, 0o644)])
async def test_copy_gets_file_mode_whatever_the_umask(
    tmp_path: Path, umask: int, file_mode: int
) -> None:
    old = os.umask(umask)
    try:
        async with LocalFilesystemArtifactStore(tmp_path / "DR", file_mode=file_mode) as store:
            await store.put("a", b"x")
            await store.copy("a", "new/folder/b")
            await store.move("a", "moved/here/c")
            root = Path(store.root)
            assert stat.S_IMODE((root / "new/folder/b").stat().st_mode) == file_mode
            for folder in ("new", "new/folder", "moved", "moved/here"):
                assert stat.S_IMODE((root / folder).stat().st_mode) == 0o750, folder
    finally:
        os.umask(old)


async def test_copy_if_not_exists_leaves_destination_alone(
    store: LocalFilesystemArtifactStore,
) -> None:
    await store.put("src", b"new bytes", metadata={"v": "2"})
    await store.put("dst", b"old", metadata={"v": "1"})
    with pytest.raises(ArtifactExistsError):
        await store.copy("src", "dst", if_not_exists=True)
    meta = await store.get_metadata("dst")
    assert (meta.sha256, meta.metadata) == (sha(b"old"), {"v": "1"})
    assert await store.get("dst") == b"old"
    copied = await store.copy("src", "dst")  # without it: replaced, atomically
    assert (copied.sha256, copied.metadata) == (sha(b"new bytes"), {"v": "2"})
    assert await store.get("dst") == b"new bytes"
    assert not temporaries(Path(store.root))


async def test_copy_if_not_exists_loses_the_race_at_commit(
    store: LocalFilesystemArtifactStore,
) -> None:
    """The early check passed, then someone else created dst: the link-based commit refuses."""
    await store.put("src", b"mine")
    copy = await store._local._run(begin_copy, CopySlot(), "src", "dst", True)
    (Path(store.root) / "dst").write_bytes(b"theirs")
    while await store._local._run(copy_more, copy, COPY_CHUNK):
        pass
    with pytest.raises(ArtifactExistsError):
        await store._local._run(commit_copy, copy, True)
    assert (Path(store.root) / "dst").read_bytes() == b"theirs"
    assert not temporaries(Path(store.root))


async def test_copy_of_missing_source_or_onto_a_folder_writes_nothing(
    store: LocalFilesystemArtifactStore,
) -> None:
    with pytest.raises(ArtifactNotFoundError):
        await store.copy("nope", "dst")
    with pytest.raises(ArtifactNotFoundError):
        await store.move("nope", "dst")
    await store.put("folder/inside", b"x")
    await store.put("file", b"y")
    with pytest.raises(ArtifactNotFoundError):
        await store.copy("folder", "dst")  # a folder is not an artifact
    with pytest.raises(InvalidKeyError):
        await store.copy("file", "folder")  # a file cannot replace a folder
    with pytest.raises(InvalidKeyError):
        await store.move("file", "folder")
    assert not await store.exists("dst")
    assert await store.get("file") == b"y"
    assert sorted(p.name for p in Path(store.root).iterdir()) == [
        ".artifactstore",
        "file",
        "folder",
    ]


async def test_copy_of_a_legacy_file_records_its_true_sha(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    root.mkdir()
    data = os.urandom(5 * 1024 * 1024)  # above SMALL_FILE: not hashed when opened
    (root / "DEAL-1").mkdir()
    (root / "DEAL-1" / "legacy.pdf").write_bytes(data)  # no index row
    async with LocalFilesystemArtifactStore(root) as store:
        copied = await store.copy("DEAL-1/legacy.pdf", "DEAL-1/copy.pdf")
        assert copied.sha256 == sha(data)
        assert copied.mime_type == "application/pdf"
        assert copied.metadata == {}
        assert await store.get("DEAL-1/copy.pdf", verify=True) == data
    assert index_rows(root.resolve())["DEAL-1/copy.pdf"][1] == sha(data)


async def test_source_changed_in_place_after_it_was_hashed(
    store: LocalFilesystemArtifactStore,
) -> None:
    """The recorded SHA-256 describes an older version: the copy is hashed afresh."""
    path = Path(store.root) / "doc"
    await store.put("doc", b"A" * 1000)
    with open(path, "r+b") as f:  # legacy code edits it in place, same size
        f.write(b"B" * 10)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))  # a later mtime
    expected = b"B" * 10 + b"A" * 990
    copied = await store.copy("doc", "doc-copy")
    assert copied.sha256 == sha(expected)
    assert await store.get("doc-copy", verify=True) == expected


async def test_source_changed_during_the_copy(store: LocalFilesystemArtifactStore) -> None:
    """Changed between opening and copying: the copied bytes are hashed, not the record."""
    data = os.urandom(COPY_CHUNK + 1000)  # two chunks
    await store.put("big", data)
    copy = await store._local._run(begin_copy, CopySlot(), "big", "big-copy", False)
    assert copy.sha256 == sha(data)  # trusted so far
    with open(Path(store.root) / "big", "ab") as f:
        f.write(b"appended meanwhile")
    while await store._local._run(copy_more, copy, COPY_CHUNK):
        pass
    assert copy.sha256 is None  # the fingerprint moved: no longer trusted
    offset = 0
    while n := await store._local._run(hash_copy, copy, offset, COPY_CHUNK):
        offset += n
    meta = await store._local._run(commit_copy, copy, False)
    on_disk = (Path(store.root) / "big-copy").read_bytes()
    assert meta.sha256 == sha(on_disk)
    assert on_disk == data + b"appended meanwhile"
    assert await store.get("big-copy", verify=True) == on_disk


async def test_large_copy_spans_several_jobs(store: LocalFilesystemArtifactStore) -> None:
    data = os.urandom(2 * COPY_CHUNK + 12345)
    await store.put("big", data)
    other = asyncio.create_task(store.copy("big", "big2"))
    # Small operations get through while the copy runs (a chunk per job).
    for i in range(5):
        await store.put(f"small-{i}", b"s")
    copied = await other
    assert copied.sha256 == sha(data)
    assert (Path(store.root) / "big2").read_bytes() == data


async def test_cancelled_large_copy_leaves_no_temporary(
    store: LocalFilesystemArtifactStore,
) -> None:
    big = await store.put("big", os.urandom(64 * 1024 * 1024))
    root = Path(store.root)
    cancelled = 0
    # Cancelled at various moments (before, while and just after opening), then
    # three times as soon as its temporary file exists: mid-copy.
    for i, delay in enumerate((0, 0.001, 0.002, 0.005, 0.01, 0.02, None, None, None)):
        task = asyncio.create_task(store.copy("big", f"copy-{i}"))
        if delay is None:
            while not temporaries(root) and not task.done():
                await asyncio.sleep(0)
        else:
            await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            cancelled += 1
        await settle(root)  # the clean-up is queued on the large lane
        assert not temporaries(root), delay
    assert cancelled >= 3
    # A copy cancelled during its commit may have landed: then whole, never partial.
    for path in root.glob("copy-*"):
        meta = await store.get_metadata(path.name)
        assert (meta.size_bytes, meta.sha256) == (big.size_bytes, big.sha256)


async def test_cancelled_just_as_the_copy_opened(store: LocalFilesystemArtifactStore) -> None:
    """The opening job's result arrives, then the task is cancelled before it resumes.

    The task never sees that result (asyncio throws the cancellation in instead),
    so the clean-up must not depend on it.
    """
    await store.put("big", os.urandom(8 * 1024 * 1024))
    for i in range(3):
        task = asyncio.create_task(store.copy("big", f"c{i}"))
        await asyncio.sleep(0)  # the task queues its first job
        time.sleep(0.2)  # the worker runs it and posts the result to this loop
        await asyncio.sleep(0)  # the result is set; the task's wake-up is queued after us
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle(Path(store.root))  # the clean-up is queued on the large lane
        assert not temporaries(Path(store.root)), i
        assert not await store.exists(f"c{i}")


# ---------------------------------------------------------------------- move


async def test_move_is_a_rename_and_the_row_follows(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    data = os.urandom(6 * 1024 * 1024)
    async with LocalFilesystemArtifactStore(root) as store:
        put = await store.put("in/a.bin", data, mime_type="x/y", metadata={"k": "v"})
        src = Path(store.root) / "in/a.bin"
        st = src.stat()
        moved = await store.move("in/a.bin", "out/deep/b.bin")
        dst = Path(store.root) / "out/deep/b.bin"
        assert not src.exists()
        after = dst.stat()
        assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)  # same file
        assert (moved.sha256, moved.mime_type, moved.metadata) == (put.sha256, "x/y", {"k": "v"})
        assert moved.storage_key == "out/deep/b.bin"
        assert not await store.exists("in/a.bin")
    rows = index_rows(root.resolve())
    assert "in/a.bin" not in rows
    # The row moved as it was (user metadata kept, so it was not re-hashed).
    assert rows["out/deep/b.bin"] == (st.st_ino, sha(data), "x/y", '{"k": "v"}')
    async with LocalFilesystemArtifactStore(root) as again:
        meta = await again.get_metadata("out/deep/b.bin")
        assert (meta.sha256, meta.metadata) == (sha(data), {"k": "v"})


async def test_move_if_not_exists_onto_an_existing_key(
    store: LocalFilesystemArtifactStore,
) -> None:
    await store.put("a", b"aaa", metadata={"n": "a"})
    await store.put("b", b"bbb", metadata={"n": "b"})
    with pytest.raises(ArtifactExistsError):
        await store.move("a", "b", if_not_exists=True)
    assert (await store.get("a"), (await store.get_metadata("a")).metadata) == (
        b"aaa",
        {"n": "a"},
    )
    assert (await store.get("b"), (await store.get_metadata("b")).metadata) == (
        b"bbb",
        {"n": "b"},
    )
    ino = (Path(store.root) / "a").stat().st_ino
    moved = await store.move("a", "c", if_not_exists=True)  # link, then unlink
    assert (Path(store.root) / "c").stat().st_ino == ino
    assert (Path(store.root) / "c").stat().st_nlink == 1
    assert not (Path(store.root) / "a").exists()
    assert moved.metadata == {"n": "a"}
    replaced = await store.move("c", "b")  # replaces
    assert replaced.sha256 == sha(b"aaa")
    assert await store.get("b") == b"aaa"


async def test_move_of_a_legacy_file(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    root.mkdir()
    (root / "old.txt").write_bytes(b"legacy")
    async with LocalFilesystemArtifactStore(root) as store:
        moved = await store.move("old.txt", "DEAL-9/old.txt")
        assert (moved.sha256, moved.mime_type) == (sha(b"legacy"), "text/plain")
        assert await store.get("DEAL-9/old.txt", verify=True) == b"legacy"
        assert not (root / "old.txt").exists()


async def test_move_of_a_symlink_inside_the_root_moves_its_bytes(
    store: LocalFilesystemArtifactStore,
) -> None:
    await store.put("real", b"target bytes")
    (Path(store.root) / "alias").symlink_to(Path(store.root) / "real")
    moved = await store.move("alias", "elsewhere")
    assert moved.sha256 == sha(b"target bytes")
    assert not (Path(store.root) / "alias").is_symlink()
    assert not (Path(store.root) / "elsewhere").is_symlink()
    assert await store.get("real") == b"target bytes"  # the link's target is untouched


# --------------------------------------------------------------------- symlinks


async def test_symlinked_folder_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not an artifact")
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        await store.put("a", b"artifact")
        (Path(store.root) / "link").symlink_to(outside, target_is_directory=True)
        with pytest.raises(InvalidKeyError):
            await store.copy("a", "link/x")
        with pytest.raises(InvalidKeyError):
            await store.move("a", "link/x")
        with pytest.raises(InvalidKeyError):
            await store.move("a", "link/x", if_not_exists=True)
        with pytest.raises(InvalidKeyError):
            await store.copy("link/secret", "stolen")
        with pytest.raises(InvalidKeyError):
            await store.move("link/secret", "stolen")
        with pytest.raises(InvalidKeyError):
            await store.delete_prefix("link")
        assert await store.get("a") == b"artifact"
        assert not await store.exists("stolen")
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"not an artifact"


# ------------------------------------------------------------- delete_prefix


async def test_delete_prefix(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    async with LocalFilesystemArtifactStore(root) as store:
        real = Path(store.root)
        keys = ["DEAL-1/a", "DEAL-1/sub/b", "DEAL-1/sub/deeper/c"]
        for key in keys:
            await store.put(key, key.encode(), metadata={"k": key})
        await store.put("DEAL-10/x", b"keep")
        await store.put("DEAL-1.txt", b"keep")
        await store.put("DEAL-1/sub/gone", b"deleted behind our back")
        (real / "DEAL-1/sub/gone").unlink()  # its index row is stale now
        (real / "DEAL-1/legacy").write_bytes(b"legacy")  # no row: still an artifact
        (real / "DEAL-1/sub/empty").mkdir()
        assert await store.delete_prefix("DEAL-1") == 4
        assert not (real / "DEAL-1").exists()  # the folders it emptied are gone
        assert await store.get("DEAL-10/x") == b"keep"
        assert await store.get("DEAL-1.txt") == b"keep"
        assert [m.storage_key async for m in store.list("DEAL-1")] == []
        assert await store.delete_prefix("DEAL-1") == 0
        assert await store.delete_prefix("DEAL-10/x") == 0  # a file, not a folder
        assert await store.delete_prefix("no/such/folder") == 0
        assert await store.get("DEAL-10/x") == b"keep"
        assert not temporaries(real)
    assert sorted(index_rows(root.resolve())) == ["DEAL-1.txt", "DEAL-10/x"]
    async with LocalFilesystemArtifactStore(root) as again:  # the keys are free again
        for key in keys:
            await again.put(key, b"again", if_not_exists=True)
            assert (await again.get_metadata(key)).metadata == {}
            assert await again.get(key) == b"again"


async def test_delete_prefix_spares_what_is_not_an_artifact(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o").write_bytes(b"outside")
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        real = Path(store.root)
        await store.put("D/a/x", b"x")
        await store.put("target", b"t")
        (real / "D/a/.artifactstore-reserved").write_bytes(b"ours")
        (real / "D/out").symlink_to(outside / "o")  # leads out: not an artifact
        (real / "D/dirlink").symlink_to(real / "elsewhere", target_is_directory=True)
        (real / "elsewhere").mkdir()
        (real / "elsewhere/e").write_bytes(b"e")
        (real / "D/in").symlink_to(real / "target")  # inside: an artifact (the link)
        assert await store.delete_prefix("D") == 2  # D/a/x and the link D/in
        assert (real / "D/a/.artifactstore-reserved").read_bytes() == b"ours"
        assert (real / "D/out").is_symlink()
        assert (real / "elsewhere/e").read_bytes() == b"e"  # symlinked folders not descended
        assert await store.get("target") == b"t"  # the link went, not its target
        assert (outside / "o").read_bytes() == b"outside"


async def test_delete_prefix_of_many_files_in_a_few_jobs(
    store: LocalFilesystemArtifactStore,
) -> None:
    await asyncio.gather(*(store.put(f"P/{i % 7}/{i}", b"x") for i in range(2500)))
    await store.put("Q/keep", b"k")
    assert await store.delete_prefix("P") == 2500
    assert [m.storage_key async for m in store.list()] == ["Q/keep"]
    assert not (Path(store.root) / "P").exists()


# ----------------------------------------------------------------------- URL


async def test_str_and_repr_are_the_file_uri(tmp_path: Path) -> None:
    root = tmp_path / "Data Room é"
    secret = "s3cr3t-" + "x" * 40
    async with LocalFilesystemArtifactStore(
        root, url_base="https://example.com/dl", url_secret=secret
    ) as store:
        uri = Path(store.root).as_uri()
        assert "%20" in uri
        assert "%C3%A9" in uri
        assert str(store) == store.url == uri
        assert repr(store) == f"LocalFilesystemArtifactStore({uri!r})"
        assert secret not in repr(store)
        assert secret not in str(store)
        await store.put("a b", b"x")
        assert (await store.get_metadata("a b")).storage_uri == uri + "/a%20b"


def test_delete_prefix_never_unlinks_through_a_folder_swapped_for_a_symlink(
    tmp_path: Path,
) -> None:
    """A folder replaced by a symlink between the plan and the unlinks is not entered.

    The jobs are called directly, outside any event loop, with the swap in between.
    """
    from artifactstore.backends.local._prune import delete_keys, plan_prefix

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"not the DataRoom's")
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom")

    async def prepare() -> None:
        await store.put("deal/sub/x.txt", b"x")
        await store.put("deal/y.txt", b"y")

    asyncio.run(prepare())
    try:
        fs = store._local._room
        plan = plan_prefix(fs, "deal")
        assert sorted(plan.keys) == ["deal/sub/x.txt", "deal/y.txt"]
        sub = tmp_path / "DataRoom/deal/sub"
        (sub / "x.txt").unlink()
        sub.rmdir()
        sub.symlink_to(outside)  # the swap, after the plan
        assert delete_keys(fs, plan.keys) == 1
    finally:
        asyncio.run(store.aclose())
    assert (outside / "x.txt").read_bytes() == b"not the DataRoom's"
    assert not (tmp_path / "DataRoom/deal/y.txt").exists()


async def test_delete_prefix_of_a_symlinked_folder_deletes_nothing(tmp_path: Path) -> None:
    async with LocalFilesystemArtifactStore(tmp_path / "DataRoom") as store:
        await store.put("real/x.txt", b"x")
        await store.put("real/y.txt", b"y")
        (tmp_path / "DataRoom/alias").symlink_to(tmp_path / "DataRoom/real")
        assert await store.delete_prefix("alias") == 0
        assert await store.get("real/x.txt") == b"x"
        assert await store.get("real/y.txt") == b"y"
        assert await store.delete_prefix("real") == 2
