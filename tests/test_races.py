"""Races and hostile input, on every backend: writers on one key, put against delete and
list, and hypothesis-generated keys that must never reach outside the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from artifactstore import (
    ArtifactMetadata,
    ArtifactNotFoundError,
    ArtifactStore,
    InvalidKeyError,
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
    StoragePermissionError,
)

from .s3server import CREDENTIALS, MotoServer, boto3_client


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, moto_server: MotoServer
) -> AsyncIterator[ArtifactStore]:
    if request.param == "local":
        s: ArtifactStore = LocalFilesystemArtifactStore(tmp_path / "DataRoom")
    else:
        bucket = f"race-{uuid.uuid4().hex[:12]}"
        boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
        s = S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS)
    async with s:
        yield s


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_50_writers_on_one_key(store: ArtifactStore) -> None:
    for round_ in range(3):
        payloads = [os.urandom(2000 + 97 * i) for i in range(50)]
        await asyncio.gather(*(store.put("RACE/one.bin", p) for p in payloads))
        data = await store.get("RACE/one.bin", verify=True)
        assert data in payloads, round_
        assert (await store.get_metadata("RACE/one.bin")).sha256 == sha(data)


async def test_if_not_exists_has_exactly_one_winner(store: ArtifactStore) -> None:
    for round_ in range(5):
        key = f"RACE/once-{round_}.bin"
        results = await asyncio.gather(
            *(store.put(key, f"{i}".encode(), if_not_exists=True) for i in range(20)),
            return_exceptions=True,
        )
        winners = [r for r in results if isinstance(r, ArtifactMetadata)]
        assert len(winners) == 1
        assert all(isinstance(r, FileExistsError) for r in results if r not in winners)


async def test_put_racing_delete_and_list(store: ArtifactStore) -> None:
    payloads = [os.urandom(5000 + i) for i in range(10)]
    errors: list[BaseException] = []

    async def writer() -> None:
        for i in range(60):
            await store.put(f"RACE/k{i % 3}.bin", payloads[i % len(payloads)])

    async def deleter() -> None:
        for i in range(60):
            await store.delete(f"RACE/k{i % 3}.bin")
            await asyncio.sleep(0)

    async def reader() -> None:
        for _ in range(60):
            async for m in store.list("RACE"):
                try:
                    data = await store.get(m.storage_key)
                except ArtifactNotFoundError:
                    continue  # deleted since it was listed: the one error allowed
                if data not in payloads:
                    errors.append(AssertionError(f"torn read of {m.storage_key}"))

    await asyncio.gather(writer(), deleter(), reader(), reader())
    assert errors == []


# ------------------------------------------------------------------- hostile keys

PIECES = [
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    "\uff0e\uff0e",
    "/",
    "\\",
    "./",
    "..%2f",
    "%00",
    "\x00",
    "~",
    "C:",
    "\u202e",
    "e\u0301",
    "\U0001f4c4",
    ".artifactstore",
    "a" * 300,
    "DEAL-1",
]
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), min_size=1, max_size=8).map(
    "".join
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=hostile)
def test_hostile_keys_never_leave_the_dataroom(
    tmp_path_factory: pytest.TempPathFactory, key: str
) -> None:
    base = tmp_path_factory.mktemp("hostile")
    root = base / "DataRoom"
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    root.mkdir()
    (root / "link").symlink_to(outside)

    async def attempt() -> None:
        async with LocalFilesystemArtifactStore(root) as s:
            for operation in (
                lambda: s.put(key, b"evil"),
                lambda: s.get(key),
                lambda: s.get_metadata(key),
                lambda: s.exists(key),
                lambda: s.delete(key),
            ):
                try:
                    await operation()
                except (InvalidKeyError, ArtifactNotFoundError):
                    pass
                except StoragePermissionError:
                    pass

    asyncio.run(attempt())
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"
    for path in root.rglob("*"):
        assert path.resolve().is_relative_to(root.resolve()) or path == root / "link"


# ------------------------------------------------------------------------ secrets


async def test_credentials_never_appear(
    moto_server: MotoServer, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "SENTINEL-SECRET-" + uuid.uuid4().hex
    key_id = "AKIASENTINEL" + uuid.uuid4().hex[:8].upper()
    bucket = f"secret-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    store = S3ArtifactStore(
        bucket,
        endpoint_url=moto_server.endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )
    texts += [repr(store), str(store)]
    async with store:
        await store.put("DEAL-1/x.txt", b"x")
        await store.get("DEAL-1/x.txt")
        # A presigned URL carries the access key id by design (SigV4), never the secret.
        url = await store.get_url("DEAL-1/x.txt")
        assert secret not in url
        for failing in (store.get("DEAL-1/none"), store.put("../x", b"x")):
            try:
                await failing
            except Exception as exc:
                texts += [str(exc), repr(exc), str(exc.__cause__), repr(exc.__cause__)]
    broken = S3ArtifactStore(
        "no-such-bucket",
        endpoint_url=moto_server.endpoint,
        aws_access_key_id="k",
        aws_secret_access_key=secret,
    )
    async with broken:
        with pytest.raises(Exception) as raised:
            await broken.put("x", b"x")
        texts += [str(raised.value), repr(raised.value)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records, "debug logging captured nothing: the check would be empty"
    assert not [t for t in texts if secret in t or key_id in t]
