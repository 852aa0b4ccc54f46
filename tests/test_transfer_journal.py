"""The migration journal (``copy_artifacts(journal=...)``): a rerun without a HEAD per artifact.

Real stores only: a local DataRoom under ``tmp_path`` and buckets on the moto
server, reached through a pass-through ``FaultProxy`` that logs every request, so
that the HEADs (and object GETs) a rerun sends are counted, not assumed. Objects
are changed behind the library's back with boto3, as another tool would.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactStore, LocalFilesystemArtifactStore, S3ArtifactStore
from artifactstore.transfer import check_artifacts, copy_artifacts

from .faultproxy import FaultProxy
from .s3server import CREDENTIALS, MotoServer, boto3_client, new_bucket

MiB = 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def artifacts(count: int, *, large: int = 0, seed: int = 7) -> dict[str, bytes]:
    """``count`` small artifacts (an empty one among them) and ``large`` streamed ones."""
    rng = random.Random(seed)
    items = {
        f"DEAL-{i % 5}/docs/{i:03d}.pdf": rng.randbytes(0 if i == 3 else rng.randrange(1, 30_000))
        for i in range(count)
    }
    for i in range(large):  # over 8 MiB: a multipart upload whose SHA-256 goes in a tag
        items[f"DEAL-BIG/{i}.bin"] = rng.randbytes(9 * MiB + i)
    return items


async def put_all(store: ArtifactStore, items: dict[str, bytes]) -> None:
    for i, (key, data) in enumerate(items.items()):
        await store.put(key, data, metadata={"seq": str(i)})


def heads(proxy: FaultProxy) -> list[str]:
    """HEADs of artifacts (not of the bucket, nor of the holds registry's own objects)."""
    return [
        line
        for line in proxy.requests
        if line.startswith("HEAD ")
        and line.split(" ")[1].count("/") >= 2
        and "/.artifactstore/" not in line
    ]


def object_gets(proxy: FaultProxy) -> list[str]:
    """GETs of objects (a listing, a tagging or the holds area have a query or a folder)."""
    return [
        line
        for line in proxy.requests
        if line.startswith("GET ") and "?" not in line.split(" ")[1]
        and "/.artifactstore/" not in line
    ]  # fmt: skip


Opened = Callable[..., Any]


@pytest.fixture
async def stores(
    tmp_path: Path, moto_server: MotoServer, proxy: FaultProxy
) -> AsyncIterator[Opened]:
    """``stores("local")``: a new DataRoom; ``stores("s3", bucket=None)``: a store
    through the proxy, on a new bucket unless one is named."""
    opened: list[ArtifactStore] = []

    def build(kind: str, bucket: str | None = None) -> ArtifactStore:
        store: ArtifactStore
        if kind == "local":
            store = LocalFilesystemArtifactStore(tmp_path / f"dataroom-{len(opened)}")
        else:
            store = S3ArtifactStore(
                bucket or new_bucket(moto_server),
                endpoint_url=proxy.endpoint,
                region="us-east-1",
                **CREDENTIALS,
            )
        opened.append(store)
        return store

    yield build
    for store in opened:
        await store.aclose()


# ------------------------------------------------------------------ the rerun


async def test_a_rerun_with_the_journal_sends_no_head(
    stores: Opened, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, dst = stores("local"), stores("s3")
    items = artifacts(40, large=1)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"

    first = await copy_artifacts(src, dst, journal=journal)
    assert first.ok
    assert first.copied == len(items)
    assert journal.is_file()
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600

    proxy.requests.clear()
    again = await copy_artifacts(src, dst, journal=journal)
    assert again.ok
    assert again.skipped == len(items)
    assert again.copied == 0
    assert heads(proxy) == []
    assert object_gets(proxy) == []
    # The journal is not what the check trusts: it reads each side's SHA-256.
    assert (await check_artifacts(src, dst)).ok

    # Without the journal, the same rerun costs a HEAD per artifact (the slow path).
    proxy.requests.clear()
    plain = await copy_artifacts(src, dst)
    assert plain.skipped == len(items)
    assert len(heads(proxy)) == len(items)


async def test_a_rerun_from_s3_sends_no_head_either(
    stores: Opened, proxy: FaultProxy, tmp_path: Path
) -> None:
    # S3 -> local: the source's listing lacks the SHA-256, the destination's has it.
    src, dst = stores("s3"), stores("local")
    items = artifacts(15, large=1)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"
    assert (await copy_artifacts(src, dst, journal=journal)).copied == len(items)
    proxy.requests.clear()
    again = await copy_artifacts(src, dst, journal=journal)
    assert again.ok
    assert again.skipped == len(items)
    assert heads(proxy) == []
    assert object_gets(proxy) == []


async def test_the_etag_is_in_listings_heads_and_puts(
    stores: Opened, moto_server: MotoServer
) -> None:
    dst = stores("s3")
    small = await dst.put("a/small.txt", b"hello")
    large = await dst.put("a/large.bin", os.urandom(9 * MiB))  # a multipart upload, tagged
    s3 = boto3_client(moto_server.endpoint)
    bucket = dst.bucket  # type: ignore[attr-defined]
    for meta in (small, large):
        etag = s3.head_object(Bucket=bucket, Key=meta.storage_key)["ETag"].strip('"')
        assert meta.etag == etag
        assert (await dst.get_metadata(meta.storage_key)).etag == etag
    assert {m.storage_key: m.etag async for m in dst.list("a")} == {
        "a/small.txt": small.etag,
        "a/large.bin": large.etag,
    }
    head = await dst.get_metadata("a/small.txt")
    assert dataclasses.replace(small, last_modified=head.last_modified, etag="other") == head


async def test_listed_times_are_those_s3_gives(stores: Opened, moto_server: MotoServer) -> None:
    # Listings parse LastModified on a fast path of their own (ISO 8601 with a Z).
    dst = stores("s3")
    await dst.put("a/one.txt", b"one")
    listed = [m async for m in dst.list("a")]
    bucket = dst.bucket  # type: ignore[attr-defined]
    raw = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket, Prefix="a/")
    assert listed[0].last_modified == raw["Contents"][0]["LastModified"]
    assert listed[0].last_modified.utcoffset() == timedelta(0)
    head = await dst.get_metadata("a/one.txt")  # an RFC 1123 header: botocore's parser
    assert head.last_modified == listed[0].last_modified.replace(microsecond=0)


async def test_a_destination_changed_behind_its_back_is_seen_and_recopied(
    stores: Opened, proxy: FaultProxy, moto_server: MotoServer, tmp_path: Path
) -> None:
    src, dst = stores("local"), stores("s3")
    items = artifacts(20)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"
    assert (await copy_artifacts(src, dst, journal=journal)).ok

    key = "DEAL-1/docs/001.pdf"
    changed = bytes(b ^ 0xFF for b in items[key])  # same size, other bytes
    s3 = boto3_client(moto_server.endpoint)
    bucket = dst.bucket  # type: ignore[attr-defined]
    s3.put_object(Bucket=bucket, Key=key, Body=changed)

    proxy.requests.clear()
    report = await copy_artifacts(src, dst, journal=journal)
    assert report.conflict_keys
    assert [k for k, _ in report.conflict_keys] == [key]
    assert report.skipped == len(items) - 1
    assert [line.split(" ")[1] for line in heads(proxy)] == [f"/{bucket}/{key}"]
    assert (await check_artifacts(src, dst)).different == (key,)

    replaced = await copy_artifacts(src, dst, journal=journal, overwrite=True)
    assert replaced.ok
    assert replaced.replaced_keys == (key,)
    assert await dst.get(key) == items[key]

    proxy.requests.clear()
    settled = await copy_artifacts(src, dst, journal=journal)
    assert settled.ok
    assert settled.skipped == len(items)
    assert heads(proxy) == []


async def test_a_changed_source_is_recopied(
    stores: Opened, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, dst = stores("local"), stores("s3")
    items = artifacts(20)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"
    assert (await copy_artifacts(src, dst, journal=journal)).ok

    key = "DEAL-3/docs/003.pdf"
    await src.put(key, b"a new version")
    report = await copy_artifacts(src, dst, journal=journal)
    assert [k for k, _ in report.conflict_keys] == [key]  # no overwrite: left alone
    assert await dst.get(key) == items[key]

    replaced = await copy_artifacts(src, dst, journal=journal, overwrite=True)
    assert replaced.ok
    assert replaced.replaced_keys == (key,)
    assert await dst.get(key) == b"a new version"
    proxy.requests.clear()
    settled = await copy_artifacts(src, dst, journal=journal)
    assert settled.ok
    assert settled.skipped == len(items)
    assert heads(proxy) == []


async def test_a_journal_of_another_destination_is_ignored(
    stores: Opened, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, first, second = stores("local"), stores("s3"), stores("s3")
    items = artifacts(15, large=1)
    await put_all(src, items)
    # The second bucket gets the very same objects (so the same ETags), without a journal.
    assert (await copy_artifacts(src, second)).ok
    journal = tmp_path / "migration.journal"
    assert (await copy_artifacts(src, first, journal=journal)).ok

    proxy.requests.clear()
    report = await copy_artifacts(src, second, journal=journal)
    assert report.ok
    assert report.skipped == len(items)
    assert len(heads(proxy)) == len(items)  # the first bucket's entries were not believed

    proxy.requests.clear()  # the journal is the second bucket's now
    assert (await copy_artifacts(src, second, journal=journal)).skipped == len(items)
    assert heads(proxy) == []


# ------------------------------------------------------ bad, damaged journals


async def test_a_damaged_journal_is_read_as_far_as_it_is_sound(
    stores: Opened, proxy: FaultProxy, tmp_path: Path
) -> None:
    src, dst = stores("local"), stores("s3")
    items = artifacts(12)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"
    assert (await copy_artifacts(src, dst, journal=journal)).ok
    lines = journal.read_text().splitlines()
    assert len(lines) == 1 + len(items)  # a header, then one line per artifact copied
    # A truncated last line (killed mid-write), garbage, a forged SHA-256 for one key.
    forged = json.loads(lines[2])
    forged["sha256"] = "0" * 64
    damaged = [*lines[:2], json.dumps(forged), "{not json", *lines[3:], lines[-1][:20]]
    journal.write_text("\n".join(damaged))
    proxy.requests.clear()
    report = await copy_artifacts(src, dst, journal=journal)
    assert report.ok
    assert report.skipped == len(items)
    # The forged entry does not match the source's SHA-256: that key is looked at.
    assert [line.split(" ")[1].split("/", 2)[2] for line in heads(proxy)] == [forged["key"]]


@pytest.mark.parametrize(
    "problem", ["missing folder", "writable by others", "not a journal", "in use"]
)
async def test_an_unusable_journal_is_refused_before_anything_is_copied(
    stores: Opened, tmp_path: Path, problem: str
) -> None:
    src, dst = stores("local"), stores("s3")
    await put_all(src, artifacts(3))
    journal = tmp_path / "migration.journal"
    before = None
    if problem == "missing folder":
        journal = tmp_path / "nowhere" / "migration.journal"
    elif problem == "writable by others":
        journal.write_text("")
        journal.chmod(0o666)
        before = b""
    elif problem == "not a journal":
        journal.write_bytes(b"\x00\x01 a file of something else\n")
        before = journal.read_bytes()
    else:  # another run holds it
        journal.write_text("")
        journal.chmod(0o600)
        before = b""
    with open(journal, "ab") if problem == "in use" else open(os.devnull) as held:
        if problem == "in use":
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="journal"):
            await copy_artifacts(src, dst, journal=journal)
    assert [m async for m in dst.list()] == []
    if before is not None:
        assert journal.read_bytes() == before


async def test_a_dry_run_writes_no_journal(stores: Opened, tmp_path: Path) -> None:
    src, dst = stores("local"), stores("s3")
    await put_all(src, artifacts(3))
    journal = tmp_path / "migration.journal"
    report = await copy_artifacts(src, dst, journal=journal, dry_run=True)
    assert report.copied == 3
    assert not journal.exists()


# -------------------------------------------------------- killed runs, the CLI


async def test_a_killed_copy_with_a_journal_resumes(
    stores: Opened, moto_server: MotoServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    src = stores("local")
    bucket = new_bucket(moto_server)
    items = artifacts(120)
    for i in range(2):
        items[f"A-LARGE/{i}.bin"] = os.urandom(10 * MiB + i)
    await put_all(src, items)
    journal = tmp_path / "migration.journal"
    progress = tmp_path / "progress"
    argv = [sys.executable, "-m", "tests.transfer_child", "copy", src.root]  # type: ignore[attr-defined]
    child = subprocess.Popen([*argv, proxy.endpoint, bucket, str(progress), str(journal)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            lines = progress.read_text().splitlines() if progress.exists() else []
            if len(lines) >= 40:
                break
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert not progress.read_text().splitlines()[-1].startswith("finished"), "killed too late"

    dst = stores("s3", bucket)
    present = {m.storage_key async for m in dst.list()}
    assert 0 < len(present) < len(items)
    report = await copy_artifacts(src, dst, journal=journal)
    assert report.ok
    assert report.copied == len(items) - len(present)
    assert set(report.skipped_keys) == present
    assert (await check_artifacts(src, dst)).ok
    proxy.requests.clear()
    again = await copy_artifacts(src, dst, journal=journal)
    assert again.skipped == len(items)
    assert heads(proxy) == []
    await dst.cleanup(older_than=0)


def test_the_cli_copy_keeps_a_journal(
    moto_server: MotoServer, proxy: FaultProxy, tmp_path: Path
) -> None:
    root = tmp_path / "dataroom"
    items = artifacts(10)

    async def fill() -> None:
        async with LocalFilesystemArtifactStore(root) as src:
            await put_all(src, items)

    import asyncio

    asyncio.run(fill())
    bucket = new_bucket(moto_server)
    url = f"s3://{bucket}?endpoint_url={proxy.endpoint}&region=us-east-1"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    journal = tmp_path / "j"
    command = [sys.executable, "-m", "artifactstore", "copy", str(root), url, "--json"]
    first = subprocess.run([*command, "--journal", str(journal)], env=env, capture_output=True)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["copied"] == len(items)
    proxy.requests.clear()
    again = subprocess.run([*command, "--journal", str(journal)], env=env, capture_output=True)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == len(items)
    assert heads(proxy) == []

    bad = subprocess.run(
        [*command, "--journal", str(tmp_path / "nowhere" / "j")], env=env, capture_output=True
    )
    assert bad.returncode == 2
    assert bad.stdout == b""
    lines = bad.stderr.decode().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("artifactstore: error: ")
    assert "journal" in lines[0]
