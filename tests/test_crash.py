"""Crashes: a process doing puts is killed with SIGKILL at random moments.

After every kill: every put that returned is intact (bytes and SHA-256), no key
shows partial content, nothing temporary is listed, leftover temporaries are
removed by the next store (``cleanup``), and no incomplete multipart upload
survives ``cleanup``. ``make test`` kills the local writer 100 times and the S3
one 30 times; ``make soak`` 300 and 100.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import select
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from artifactstore import (
    ArtifactNotFoundError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
)

from .crash_child import KEYS, parse, payload
from .s3server import CREDENTIALS, MotoServer, boto3_client

ROOT = Path(__file__).resolve().parent.parent


def kills(config: pytest.Config, normal: int, soak: int) -> int:
    return soak if config.getoption("--run-soak") else normal


def read_journal(path: Path) -> dict[str, tuple[int, int, str]]:
    """The last acknowledged put of each key."""
    last: dict[str, tuple[int, int, str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, run, counter, sha = line.split()
            last[key] = (int(run), int(counter), sha)
    return last


async def check_store(store: ArtifactStore, journal: dict[str, tuple[int, int, str]]) -> None:
    listed = {m.storage_key async for m in store.list("CRASH")}
    assert listed <= set(KEYS), listed - set(KEYS)  # nothing temporary, nothing foreign
    assert set(journal) <= listed  # every acknowledged key is there
    for key in listed:
        try:
            data = await store.get(key, verify=True)
        except ArtifactNotFoundError:
            pytest.fail(f"{key} listed but unreadable")
        claimed = parse(data)
        assert claimed is not None, f"{key}: partial content"
        assert claimed[0] == key, f"{key}: another key's content"
        assert data == payload(*claimed), f"{key}: torn content"
        meta = await store.get_metadata(key)
        assert meta.sha256 == hashlib.sha256(data).hexdigest(), f"{key}: metadata disagrees"
        if key in journal:
            run, counter, sha = journal[key]
            assert claimed[1:] >= (run, counter), f"{key}: an acknowledged put was lost"
            if claimed[1:] == (run, counter):
                assert meta.sha256 == sha


def crash_loop(env: dict[str, str], journal: Path, times: int, make_store, after) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    for run in range(1, times + 1):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_child", str(journal), str(run)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
        )
        assert child.stdout is not None
        # Wait for its first acknowledged put (start-up takes 0.3 s idle, seconds under
        # load), then kill it at a random moment while it writes the next ones.
        ready, _, _ = select.select([child.stdout], [], [], 60)
        assert ready, "the writer did not start within 60 s"
        assert child.stdout.readline() == b"ready\n", "the writer died before its first put"
        time.sleep(rng.uniform(0.0, 0.9))
        child.send_signal(signal.SIGKILL)
        child.stdout.close()
        assert child.wait(timeout=30) == -signal.SIGKILL, "the writer died before the kill"

        async def verify() -> None:
            async with make_store() as store:
                await after(store)
                await check_store(store, read_journal(journal))

        asyncio.run(verify())
    acknowledged = sum(1 for _ in journal.open()) if journal.exists() else 0
    print(f"kills: {times}; puts acknowledged before the kills: {acknowledged}")
    assert len(read_journal(journal)) >= 6, "too few puts were acknowledged to prove much"


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".artifactstore.*.tmp")]


@pytest.mark.timeout(1800)  # 100 kills take about 90 s here; a slower machine, or soak, more
def test_sigkill_local(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    root = tmp_path / "DataRoom"
    env = {"ARTIFACT_STORAGE_BACKEND": "local", "DATAROOM_ROOT": str(root)}
    seen_leftovers = 0

    async def after(store: ArtifactStore) -> None:
        nonlocal seen_leftovers
        seen_leftovers += len(temporaries(root))
        await store.exists("CRASH/x")  # a new store's first touch starts its sweep
        deadline = time.monotonic() + 10
        while temporaries(root) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert temporaries(root) == [], "the new store did not sweep the leftovers"

    crash_loop(
        env,
        tmp_path / "journal",
        kills(pytestconfig, 100, 300),
        lambda: LocalFilesystemArtifactStore(root),
        after,
    )
    print(f"temporary files left by killed writers and removed: {seen_leftovers}")


@pytest.mark.timeout(1800)
def test_sigkill_s3(tmp_path: Path, moto_server: MotoServer, pytestconfig: pytest.Config) -> None:
    bucket = f"crash-{uuid.uuid4().hex[:12]}"
    client = boto3_client(moto_server.endpoint)
    client.create_bucket(Bucket=bucket)
    env = {
        "ARTIFACT_STORAGE_BACKEND": "s3",
        "ALLOW_CLOUD_DEFAULT": "true",
        "AWS_S3_BUCKET": bucket,
        "AWS_S3_ENDPOINT_URL": moto_server.endpoint,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }

    async def after(store: ArtifactStore) -> None:
        await store.cleanup(older_than=0)
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    crash_loop(
        env,
        tmp_path / "journal",
        kills(pytestconfig, 30, 100),
        lambda: S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS),
        after,
    )
