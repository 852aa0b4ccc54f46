"""Migration between stores, comparison and the scrub (``artifactstore.transfer``).

Real stores only: local DataRooms under ``tmp_path`` and S3 buckets on the moto
server. Corruption is made the way it happens: a byte flipped in place, size and
mtime kept, so the index still trusts the SHA-256 recorded at the put.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactMetadata, ArtifactStore, LocalFilesystemArtifactStore
from artifactstore.transfer import (
    CheckReport,
    TransferReport,
    VerifyReport,
    check_artifacts,
    copy_artifacts,
    verify_artifacts,
)

from .s3server import MotoServer, boto3_client
from .test_s3 import make_store, new_bucket

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent
MIME_TYPES = ["application/pdf", "text/csv", None, "message/rfc822", "application/x-custom"]

MakeStore = Callable[[str], ArtifactStore]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
async def make(tmp_path: Path, moto_server: MotoServer) -> AsyncIterator[MakeStore]:
    """``make("local")`` or ``make("s3")``: a new empty store, closed after the test."""
    opened: list[ArtifactStore] = []

    def build(kind: str) -> ArtifactStore:
        store: ArtifactStore
        if kind == "local":
            store = LocalFilesystemArtifactStore(tmp_path / f"dataroom-{len(opened)}")
        else:
            store = make_store(moto_server, new_bucket(moto_server))
        opened.append(store)
        return store

    yield build
    for store in opened:
        await store.aclose()


async def put_all(store: ArtifactStore, items: dict[str, bytes], **options: object) -> None:
    slots = asyncio.Semaphore(16)

    async def one(i: int, key: str, data: bytes) -> None:
        async with slots:
            meta = {"index": str(i), "source": "bänker ünicode"} if i % 3 == 0 else None
            await store.put(key, data, mime_type=MIME_TYPES[i % 5], metadata=meta, **options)  # type: ignore[arg-type]

    await asyncio.gather(*(one(i, k, d) for i, (k, d) in enumerate(items.items())))


def mixed_artifacts(count: int, big: int = 0) -> dict[str, bytes]:
    """``count`` artifacts: empty ones, small ones, 1 MiB and just over, and a big one."""
    rng = random.Random(count)
    items: dict[str, bytes] = {}
    for i in range(count):
        if i % 50 == 0:
            size = 0
        elif i % 60 == 1:
            size = MiB + (i % 2)  # read whole / streamed: both sides of the limit
        else:
            size = rng.randrange(1, 40_000)
        items[f"DEAL-{i % 7}/docs/{i:03d}.pdf"] = rng.randbytes(size)
    if big:
        items["DEAL-BIG/data-room-export.bin"] = rng.randbytes(big)
    return items


Described = dict[str, tuple[str | None, str | None, dict[str, str]]]


async def describe(store: ArtifactStore, keys: Iterable[str]) -> Described:
    """Each artifact's SHA-256, mime type and user metadata."""
    metas = await asyncio.gather(*(store.get_metadata(key) for key in keys))
    return {m.storage_key: (m.sha256, m.mime_type, dict(m.metadata)) for m in metas}


async def assert_holds(
    dst: ArtifactStore, expected: dict[str, bytes], described: Described
) -> None:
    """``dst`` holds exactly ``expected``, with the metadata ``described``."""
    assert {m.storage_key async for m in dst.list()} == set(expected)
    slots = asyncio.Semaphore(16)

    async def one(key: str, data: bytes) -> None:
        async with slots, dst.stream(key) as stream:  # bytes and metadata: one request
            got = b"".join([chunk async for chunk in stream])
            meta = stream.metadata
        assert got == data, key
        assert meta.sha256 == sha(data), key
        assert (meta.sha256, meta.mime_type, dict(meta.metadata)) == described[key], key

    await asyncio.gather(*(one(k, d) for k, d in expected.items()))


def no_multipart_uploads(store: ArtifactStore, server: MotoServer) -> bool:
    bucket = store.bucket  # type: ignore[attr-defined]
    return not boto3_client(server.endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads")


def flip_byte(path: Path, offset: int) -> None:
    """Corrupt a file in place the way bit rot does: same size, same mtime."""
    before = path.stat()
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


# ------------------------------------------------------------------ migration


async def test_local_to_s3_and_back(make: MakeStore, moto_server: MotoServer) -> None:
    src = make("local")
    expected = mixed_artifacts(300, big=20 * MiB + 3)  # the big one goes multipart
    await put_all(src, expected)
    legacy = b"%PDF-1.4 written by the old code, straight into the DataRoom\n" * 100
    path = Path(src.root) / "LEGACY" / "notes.pdf"  # type: ignore[attr-defined]
    path.parent.mkdir()
    path.write_bytes(legacy)
    expected["LEGACY/notes.pdf"] = legacy
    total = sum(map(len, expected.values()))

    described = await describe(src, expected)
    assert described["LEGACY/notes.pdf"][1:] == ("application/pdf", {})
    assert described["DEAL-3/docs/003.pdf"][2] == {"index": "3", "source": "bänker ünicode"}
    s3 = make("s3")
    calls: list[tuple[int, int | None, int]] = []
    report = await copy_artifacts(src, s3, progress=lambda *a: calls.append(a))
    assert report.ok, report
    assert (report.total, report.copied, report.skipped) == (len(expected), len(expected), 0)
    assert report.bytes_copied == total
    assert report.copied_keys == tuple(sorted(expected))
    assert [c[0] for c in calls] == list(range(1, len(expected) + 1))
    assert {c[1] for c in calls} == {len(expected)}
    assert [c[2] for c in calls] == sorted(c[2] for c in calls)
    assert calls[-1][2] == total
    await assert_holds(s3, expected, described)
    assert no_multipart_uploads(s3, moto_server)

    again = await copy_artifacts(src, s3)
    assert (again.copied, again.skipped, again.bytes_copied) == (0, len(expected), 0)
    assert again.ok
    check = await check_artifacts(src, s3)
    assert check.ok
    assert check.same == tuple(sorted(expected))

    back = make("local")
    report = await copy_artifacts(s3, back, concurrency=8)
    assert report.ok
    assert report.copied == len(expected)
    await assert_holds(back, expected, described)
    again = await copy_artifacts(s3, back)
    assert (again.copied, again.skipped) == (0, len(expected))
    assert (await verify_artifacts(back)).ok


@pytest.mark.parametrize(
    ("src_kind", "dst_kind"), [("local", "s3"), ("s3", "local"), ("local", "local")]
)
async def test_conflicts_left_alone_then_overwritten(
    make: MakeStore, src_kind: str, dst_kind: str
) -> None:
    src, dst = make(src_kind), make(dst_kind)
    await src.put("D/same.txt", b"same bytes")
    await src.put("D/swapped.txt", b"source bytes", metadata={"v": "src"})
    await src.put("D/longer.txt", b"a longer source artifact")
    await src.put("D/new.txt", b"only in the source")
    await dst.put("D/same.txt", b"same bytes")
    await dst.put("D/swapped.txt", b"theirs bytes")  # same size, other bytes: needs the SHA
    await dst.put("D/longer.txt", b"short")
    await dst.put("D/extra.txt", b"only in the destination")

    check = await check_artifacts(src, dst)
    assert not check.ok
    assert check.same == ("D/same.txt",)
    assert check.different == ("D/longer.txt", "D/swapped.txt")
    assert check.missing_in_dst == ("D/new.txt",)
    assert check.missing_in_src == ("D/extra.txt",)

    report = await copy_artifacts(src, dst)
    assert not report.ok
    assert (report.copied, report.skipped, report.conflicts) == (1, 1, 2)
    assert report.copied_keys == ("D/new.txt",)
    assert [key for key, _ in report.conflict_keys] == ["D/longer.txt", "D/swapped.txt"]
    assert all(message for _, message in report.conflict_keys)
    assert await dst.get("D/swapped.txt") == b"theirs bytes"  # left alone
    assert await dst.get("D/longer.txt") == b"short"

    report = await copy_artifacts(src, dst, overwrite=True)
    assert report.ok
    assert report.copied_keys == report.replaced_keys == ("D/longer.txt", "D/swapped.txt")
    assert report.skipped == 2
    assert await dst.get("D/swapped.txt") == b"source bytes"
    assert dict((await dst.get_metadata("D/swapped.txt")).metadata) == {"v": "src"}
    check = await check_artifacts(src, dst)
    assert check.missing_in_src == ("D/extra.txt",)
    assert not check.different
    assert not check.missing_in_dst


@pytest.mark.parametrize("dst_kind", ["s3", "local"])
async def test_corrupt_source_is_reported_not_copied(
    make: MakeStore, moto_server: MotoServer, dst_kind: str
) -> None:
    src = make("local")
    items = {
        "C/good.bin": os.urandom(5000),
        "C/bad.bin": os.urandom(5000),
        "C/bad-large.bin": os.urandom(12 * MiB),  # streamed; multipart on S3
        "C/good-large.bin": os.urandom(9 * MiB),
    }
    await put_all(src, items)
    flip_byte(Path(src.root) / "C/bad.bin", 1234)  # type: ignore[attr-defined]
    flip_byte(Path(src.root) / "C/bad-large.bin", 11 * MiB)  # type: ignore[attr-defined]
    dst = make(dst_kind)

    for _run in range(2):  # a corrupt artifact is never skipped as "done"
        report = await copy_artifacts(src, dst)
        assert not report.ok
        assert report.corrupt == 2
        assert [key for key, _ in report.corrupt_keys] == ["C/bad-large.bin", "C/bad.bin"]
        assert all("recorded" in message for _, message in report.corrupt_keys)
        assert report.failed == report.conflicts == 0
        assert not await dst.exists("C/bad.bin")
        assert not await dst.exists("C/bad-large.bin")
    assert {m.storage_key async for m in dst.list()} == {"C/good.bin", "C/good-large.bin"}
    if dst_kind == "s3":
        assert no_multipart_uploads(dst, moto_server)  # the aborted upload is gone
    else:
        leftovers = [n for _, _, names in os.walk(dst.root) for n in names if n.endswith(".tmp")]  # type: ignore[attr-defined]
        assert not leftovers

    scrub = await verify_artifacts(src)
    assert not scrub.ok
    assert scrub.corrupt == ("C/bad-large.bin", "C/bad.bin")
    assert scrub.checked == 4
    assert scrub.bytes_checked == sum(map(len, items.values()))
    clean = await verify_artifacts(dst, concurrency=1)
    assert clean.ok
    assert clean.checked == 2
    assert not clean.corrupt


async def test_verify_bytes_and_dry_run(make: MakeStore) -> None:
    src, dst = make("local"), make("s3")
    items = mixed_artifacts(40, big=9 * MiB)
    await put_all(src, items)

    dry = await copy_artifacts(src, dst, dry_run=True)
    assert dry.dry_run
    assert dry.ok
    assert (dry.copied, dry.bytes_copied) == (len(items), sum(map(len, items.values())))
    assert [m async for m in dst.list()] == []  # nothing written

    report = await copy_artifacts(src, dst, verify="bytes", concurrency=3)
    assert report.ok
    assert report.copied == len(items)
    await assert_holds(dst, items, await describe(src, items))

    await dst.put("DEAL-1/docs/001.pdf", b"changed")
    dry = await copy_artifacts(src, dst, dry_run=True, overwrite=True)
    assert (dry.copied, dry.skipped) == (1, len(items) - 1)
    assert dry.replaced_keys == ("DEAL-1/docs/001.pdf",)
    assert await dst.get("DEAL-1/docs/001.pdf") == b"changed"


async def test_prefix_is_whole_segments(make: MakeStore) -> None:
    src, dst = make("local"), make("local")
    for key in ("DEAL-1/a.pdf", "DEAL-1/sub/b.pdf", "DEAL-10/c.pdf", "OTHER/d.pdf"):
        await src.put(key, key.encode())
    report = await copy_artifacts(src, dst, prefix="DEAL-1")
    assert report.copied_keys == ("DEAL-1/a.pdf", "DEAL-1/sub/b.pdf")
    assert {m.storage_key async for m in dst.list()} == {"DEAL-1/a.pdf", "DEAL-1/sub/b.pdf"}
    assert (await check_artifacts(src, dst, prefix="DEAL-1/")).ok
    assert not (await check_artifacts(src, dst)).ok
    assert (await verify_artifacts(src, prefix="DEAL-10")).checked == 1


async def test_one_failure_does_not_stop_the_run(make: MakeStore) -> None:
    # S3 holds "x/a" and "x/a/b"; a filesystem cannot hold both: one of them fails.
    src, dst = make("s3"), make("local")
    keys = ["x/a", "x/a/b", *(f"y/{i}.txt" for i in range(10))]
    for key in keys:
        await src.put(key, key.encode())
    report = await copy_artifacts(src, dst)
    assert not report.ok
    assert (report.copied, report.failed) == (11, 1)
    [(key, message)] = report.failures
    assert key in ("x/a", "x/a/b")
    assert message
    assert set(report.copied_keys) == set(keys) - {key}
    json.dumps(report.to_dict())


async def test_bad_arguments_write_nothing(make: MakeStore) -> None:
    src, dst = make("local"), make("local")
    await src.put("a/b.txt", b"x")
    with pytest.raises(ValueError, match="same store"):
        await copy_artifacts(src, src)
    with pytest.raises(ValueError, match="concurrency"):
        await copy_artifacts(src, dst, concurrency=0)
    with pytest.raises(ValueError, match="verify"):
        await copy_artifacts(src, dst, verify="sha1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await copy_artifacts(src, "s3://bucket")  # type: ignore[arg-type]

    def broken(done: int, total: int | None, size: int) -> None:
        raise BrokenPipeError("the caller's progress bar broke")

    # Its bug, not ours to hide, nor an artifact's failure (an OSError otherwise is).
    with pytest.raises(BrokenPipeError, match="progress bar"):
        await copy_artifacts(src, dst, progress=broken)
    assert [m async for m in dst.list()] in ([], [await dst.get_metadata("a/b.txt")])


async def test_reports_to_json(make: MakeStore) -> None:
    src, dst = make("local"), make("local")
    await src.put("k/one.txt", b"1")
    await dst.put("k/one.txt", b"2")
    report = await copy_artifacts(src, dst)
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] is False
    assert doc["conflicts"] == 1
    assert doc["conflict_keys"][0]["key"] == "k/one.txt"
    assert isinstance(report, TransferReport)
    with pytest.raises(AttributeError):
        report.copied = 3  # type: ignore[misc]
    check = await check_artifacts(src, dst)
    assert isinstance(check, CheckReport)
    assert json.loads(json.dumps(check.to_dict()))["different"] == ["k/one.txt"]
    scrub = await verify_artifacts(src)
    assert isinstance(scrub, VerifyReport)
    assert json.loads(json.dumps(scrub.to_dict())) == {
        "checked": 1,
        "bytes_checked": 1,
        "corrupt": [],
        "failures": [],
        "held_damaged": [],
        "skipped_invalid": [],
        "ok": True,
    }


# ------------------------------------------------------- killed runs, memory


async def test_a_killed_copy_resumes_without_copying_twice(
    make: MakeStore, moto_server: MotoServer, tmp_path: Path
) -> None:
    src, dst = make("local"), make("s3")
    items = mixed_artifacts(190)
    for i in range(4):  # large ones first in key order: in flight when the kill comes
        items[f"A-LARGE/{i}.bin"] = os.urandom(10 * MiB + i)
    await put_all(src, items)
    progress = tmp_path / "progress"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.transfer_child",
            "copy",
            src.root,  # type: ignore[attr-defined]
            moto_server.endpoint,
            dst.bucket,  # type: ignore[attr-defined]
            str(progress),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            lines = progress.read_text().splitlines() if progress.exists() else []
            if len(lines) >= 3:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    lines = progress.read_text().splitlines()
    assert len(lines) >= 3
    assert not lines[-1].startswith("finished"), "killed too late"

    present = [m.storage_key async for m in dst.list()]
    assert 0 < len(present) < len(items)
    for key in present:  # nothing partial: every artifact there is whole and verified
        data = await dst.get(key, verify=True)
        assert data == items[key]
        assert (await dst.get_metadata(key)).sha256 == sha(data)

    report = await copy_artifacts(src, dst)
    assert report.ok
    assert report.copied == len(items) - len(present)
    assert report.skipped == len(present)
    assert set(report.skipped_keys) == set(present)
    assert (await check_artifacts(src, dst)).ok
    await dst.cleanup(older_than=0)  # the killed child's multipart uploads
    assert no_multipart_uploads(dst, moto_server)


async def test_peak_memory_of_a_large_artifact(
    make: MakeStore, moto_server: MotoServer, tmp_path: Path
) -> None:
    src, dst = make("local"), make("s3")
    source = tmp_path / "big.bin"
    with open(source, "wb") as f:
        for _ in range(32):
            f.write(os.urandom(8 * MiB))
    await src.put("BIG/export.bin", source)
    source.unlink()
    recorded = (await src.get_metadata("BIG/export.bin")).sha256
    await src.aclose()  # the child opens the DataRoom itself
    concurrency = 16  # the default
    answer = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.transfer_child",
            "rss",
            src.root,  # type: ignore[attr-defined]
            moto_server.endpoint,
            dst.bucket,  # type: ignore[attr-defined]
            str(concurrency),
        ],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=120,
    )
    result = json.loads(answer.stdout)
    assert result["copied"] == 1
    assert result["ok"]
    growth = result["peak"] - result["baseline"]
    print(f"peak RSS growth copying 256 MiB: {growth / MiB:.1f} MiB")
    assert growth < concurrency * 8 * MiB + 64 * MiB, growth / MiB
    meta = await dst.get_metadata("BIG/export.bin")
    assert meta.size_bytes == 256 * MiB
    assert meta.sha256 == recorded
    await dst.delete("BIG/export.bin")  # 256 MiB less for the shared server to hold


class _RottingStore(LocalFilesystemArtifactStore):
    """A real local store whose disk flips a byte of each file right after a put."""

    async def put(self, key: str, data: Any, **options: Any) -> ArtifactMetadata:
        meta = await super().put(key, data, **options)
        await asyncio.to_thread(_flip_first_byte, Path(self.root) / meta.storage_key)
        return meta


def _flip_first_byte(path: Path) -> None:
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[0] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the index still trusts it


async def test_a_copy_that_fails_byte_verification_is_not_left_to_be_skipped(
    tmp_path: Path,
) -> None:
    async with (
        LocalFilesystemArtifactStore(tmp_path / "src") as src,
        _RottingStore(tmp_path / "dst") as dst,
    ):
        await src.put("k/a.bin", os.urandom(5000))
        first = await copy_artifacts(src, dst, verify="bytes")
        assert (first.failed, first.copied) == (1, 0)
        assert "the bad copy was deleted" in first.failures[0][1]
        assert not await dst.exists("k/a.bin")
        # The next run does not mistake a bad copy for a done one.
        second = await copy_artifacts(src, dst, verify="bytes")
        assert (second.failed, second.skipped) == (1, 0)
