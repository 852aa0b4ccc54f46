"""The S3 backend against a moto server over HTTP: the conformance suite, then S3 specifics."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactStore, BackendInfo, S3ArtifactStore
from artifactstore.backends.s3 import S3Backend
from artifactstore.testing import ConformanceCheck, conformance_checks

from .s3server import CREDENTIALS, MotoServer, boto3_client, new_bucket

CAPABILITIES = S3Backend.info


def make_store(server: MotoServer, bucket: str, **options: Any) -> S3ArtifactStore:
    return S3ArtifactStore(
        bucket, endpoint_url=server.endpoint, region="us-east-1", **{**CREDENTIALS, **options}
    )


@pytest.fixture
async def store(moto_server: MotoServer) -> AsyncIterator[S3ArtifactStore]:
    async with make_store(moto_server, new_bucket(moto_server)) as s:
        yield s


def test_declared_capabilities() -> None:
    expected = BackendInfo(name="s3", scheme="s3", readable_urls=True, staged_puts=True, holds=True)
    assert S3Backend.info == expected


@pytest.mark.parametrize("check", conformance_checks(CAPABILITIES), ids=str)
async def test_conformance(check: ConformanceCheck, store: ArtifactStore, scratch: Path) -> None:
    await check(store, scratch)


@pytest.mark.parametrize("check", conformance_checks(CAPABILITIES), ids=str)
async def test_conformance_with_prefix(
    check: ConformanceCheck, moto_server: MotoServer, scratch: Path
) -> None:
    bucket = new_bucket(moto_server)
    async with make_store(moto_server, bucket, prefix="tenant-a/artifacts") as s:
        await check(s, scratch)
    # Everything the store wrote lives under its prefix.
    listed = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)
    assert all(o["Key"].startswith("tenant-a/artifacts/") for o in listed.get("Contents", []))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_plain_boto3_reads_what_we_wrote(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    data = os.urandom(100_000)
    meta = await store.put("DEAL-1/documents/cim/c.pdf", data, metadata={"source": "banker"})
    got = boto3_client(moto_server.endpoint).get_object(
        Bucket=store.bucket, Key="DEAL-1/documents/cim/c.pdf"
    )
    body = got["Body"].read()
    assert body == data
    assert sha(body) == meta.sha256 == got["Metadata"]["artifactstore-sha256"]
    assert got["ContentType"] == "application/pdf"
    assert got["Metadata"]["source"] == "banker"
    assert meta.storage_uri == f"s3://{store.bucket}/DEAL-1/documents/cim/c.pdf"


MiB = 1024 * 1024


def multipart_uploads(server: MotoServer, bucket: str) -> list[Any]:
    answer = boto3_client(server.endpoint).list_multipart_uploads(Bucket=bucket)
    return list(answer.get("Uploads", []))


async def stream_of(data: bytes, piece: int = 300_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return new_bucket(moto_server)


# ------------------------------------------------------------------ multipart


@pytest.mark.parametrize("kind", ["stream", "path", "file", "bytes"])
async def test_multipart_upload_records_sha256(
    moto_server: MotoServer, bucket: str, scratch: Path, kind: str
) -> None:
    data = os.urandom(12 * MiB + 12345)  # three parts of 5 MiB
    source: Any
    if kind == "stream":
        source = stream_of(data)
    elif kind in ("path", "file"):
        (scratch / "big.bin").write_bytes(data)
        source = scratch / "big.bin" if kind == "path" else (scratch / "big.bin").open("rb")
    else:
        source = data
    async with make_store(
        moto_server, bucket, part_size=5 * MiB, multipart_threshold=5 * MiB, parts_in_flight=2
    ) as s:
        meta = await s.put("DEAL-1/big.bin", source, metadata={"kind": kind})
        assert meta.sha256 == sha(data)
        assert meta.size_bytes == len(data)
        head = await s.get_metadata("DEAL-1/big.bin")
        assert head.sha256 == sha(data)
        assert dict(head.metadata) == {"kind": kind}
        assert await s.get("DEAL-1/big.bin", verify=True) == data
    if kind == "file":
        source.close()
    raw = boto3_client(moto_server.endpoint).head_object(Bucket=bucket, Key="DEAL-1/big.bin")
    # Really a three-part upload, never rewritten by a copy afterwards.
    assert raw["ETag"].strip('"').endswith("-3")
    recorded = raw["Metadata"]["artifactstore-sha256"]
    if kind == "bytes":  # in memory: hashed first, the SHA-256 in the metadata
        assert recorded == sha(data)
    else:  # read once, hashed as uploaded: the SHA-256 in a tag bound to the ETag
        assert recorded == "tag"
        tags = boto3_client(moto_server.endpoint).get_object_tagging(
            Bucket=bucket, Key="DEAL-1/big.bin"
        )["TagSet"]
        assert {t["Key"]: t["Value"] for t in tags} == {
            "artifactstore-sha256": sha(data),
            "artifactstore-etag": raw["ETag"].strip('"'),
        }
    assert multipart_uploads(moto_server, bucket) == []


async def test_multipart_if_not_exists(moto_server: MotoServer, bucket: str) -> None:
    from artifactstore import ArtifactExistsError

    async with make_store(moto_server, bucket, part_size=5 * MiB, multipart_threshold=5 * MiB) as s:
        await s.put("DEAL-1/big.bin", stream_of(b"a" * (6 * MiB)), if_not_exists=True)
        with pytest.raises(ArtifactExistsError):
            await s.put("DEAL-1/big.bin", stream_of(b"b" * (6 * MiB)), if_not_exists=True)
        assert await s.get("DEAL-1/big.bin") == b"a" * (6 * MiB)
    assert multipart_uploads(moto_server, bucket) == []


async def test_abort_when_the_source_fails_midway(moto_server: MotoServer, bucket: str) -> None:
    async def failing() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield os.urandom(5 * MiB)
        raise ConnectionResetError("the client went away")

    async with make_store(moto_server, bucket, part_size=5 * MiB, multipart_threshold=5 * MiB) as s:
        with pytest.raises(ConnectionResetError):
            await s.put("DEAL-1/partial.bin", failing())
        assert not await s.exists("DEAL-1/partial.bin")
    assert multipart_uploads(moto_server, bucket) == []


async def test_abort_when_cancelled(moto_server: MotoServer, bucket: str) -> None:
    async def slow() -> AsyncIterator[bytes]:
        while True:
            yield os.urandom(MiB)
            await asyncio.sleep(0.01)

    async with make_store(moto_server, bucket, part_size=5 * MiB, multipart_threshold=5 * MiB) as s:
        task = asyncio.create_task(s.put("DEAL-1/cancelled.bin", slow()))
        while not multipart_uploads(moto_server, bucket):  # until the upload has begun
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await s.exists("DEAL-1/cancelled.bin")
    assert multipart_uploads(moto_server, bucket) == []


async def test_empty_stream_is_an_empty_object(moto_server: MotoServer, bucket: str) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        return
        yield b""

    async with make_store(moto_server, bucket) as s:
        meta = await s.put("DEAL-1/empty.bin", nothing())
        assert meta.size_bytes == 0
        assert meta.sha256 == sha(b"")
        assert await s.get("DEAL-1/empty.bin") == b""


# ------------------------------------------------------------ failures, errors


async def test_wrong_credentials() -> None:
    from artifactstore import StoragePermissionError

    # A moto server of its own that checks signatures after its first request.
    server = MotoServer.start(INITIAL_NO_AUTH_ACTION_COUNT="1")
    try:
        boto3_client(server.endpoint).create_bucket(Bucket="guarded")
        store = S3ArtifactStore(
            "guarded",
            endpoint_url=server.endpoint,
            aws_access_key_id="AKIASENTINELKEYID000",
            aws_secret_access_key="sentinel-secret-value-123",
            max_attempts=1,
        )
        async with store:
            with pytest.raises(StoragePermissionError, match="credentials") as raised:
                await store.put("DEAL-1/x.txt", b"x")
            with pytest.raises(StoragePermissionError):
                await store.get("DEAL-1/x.txt")
        for text in (str(raised.value), repr(raised.value), repr(store)):
            assert "sentinel-secret-value-123" not in text
            assert "AKIASENTINELKEYID000" not in text
    finally:
        server.stop()


async def test_missing_bucket_is_a_config_error(moto_server: MotoServer) -> None:
    from artifactstore import StorageConfigError

    async with make_store(moto_server, "no-such-bucket-here") as s:
        with pytest.raises(StorageConfigError, match="no-such-bucket-here") as raised:
            await s.put("DEAL-1/x.txt", b"x")
        assert raised.value.setting == "AWS_S3_BUCKET"


async def test_missing_bucket_without_the_startup_check(moto_server: MotoServer) -> None:
    from artifactstore import StorageConfigError

    async with make_store(moto_server, "no-such-bucket-either", verify_bucket=False) as s:
        with pytest.raises(StorageConfigError, match="no-such-bucket-either"):
            await s.put("DEAL-1/x.txt", b"x")
        with pytest.raises(StorageConfigError, match="no-such-bucket-either"):
            await s.get("DEAL-1/x.txt")


async def test_server_down_is_a_backend_error_not_a_hang() -> None:
    from artifactstore import StorageBackendError

    from .s3server import free_port

    store = S3ArtifactStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=2,
        connect_timeout=2,
        read_timeout=2,
        **CREDENTIALS,
    )
    async with store:
        for operation in (store.put("k", b"x"), store.get("k"), store.exists("k")):
            with pytest.raises(StorageBackendError, match="unreachable"):
                await asyncio.wait_for(operation, timeout=60)


async def test_abandoned_streams_do_not_exhaust_the_pool(
    moto_server: MotoServer, bucket: str
) -> None:
    async with make_store(moto_server, bucket, max_pool_connections=10, parts_in_flight=2) as s:
        await s.put("DEAL-1/c.pdf", os.urandom(2 * MiB))

        async def abandon() -> None:
            async for _chunk in s.stream("DEAL-1/c.pdf", chunk_size=64 * 1024):
                break

        for _ in range(1000):
            await asyncio.wait_for(abandon(), timeout=30)
        assert len(await asyncio.wait_for(s.get("DEAL-1/c.pdf"), timeout=30)) == 2 * MiB


# ----------------------------------------------------------- urls and others


async def test_presigned_url_works_with_a_plain_http_client(store: S3ArtifactStore) -> None:
    import urllib.request

    data = os.urandom(5000)
    await store.put("DEAL-1/loi.pdf", data)
    url = await store.get_url("DEAL-1/loi.pdf", expires_in=600)
    assert url.startswith("http://127.0.0.1:")
    assert "X-Amz-Expires=600" in url or "Expires=" in url

    def fetch() -> bytes:
        with urllib.request.urlopen(url, timeout=10) as answer:
            body: bytes = answer.read()
            return body

    assert await asyncio.to_thread(fetch) == data


async def test_objects_written_by_others(store: S3ArtifactStore, moto_server: MotoServer) -> None:
    data = b"uploaded by another tool"
    boto3_client(moto_server.endpoint).put_object(
        Bucket=store.bucket, Key="DEAL-9/other.txt", Body=data
    )
    listed = [m async for m in store.list("DEAL-9")]
    assert [m.storage_key for m in listed] == ["DEAL-9/other.txt"]
    assert listed[0].sha256 is None  # a listing does not HEAD every object
    meta = await store.get_metadata("DEAL-9/other.txt")
    assert meta.sha256 == sha(data)
    async with store.stream("DEAL-9/other.txt") as s:
        assert s.metadata.sha256 == sha(data)


async def test_storage_uri_of_another_bucket_refused(store: S3ArtifactStore) -> None:
    from artifactstore import InvalidKeyError

    with pytest.raises(InvalidKeyError, match="not in bucket"):
        store.normalize_key("s3://another-bucket/DEAL-1/x.txt")


async def test_server_side_encryption(moto_server: MotoServer, bucket: str) -> None:
    async with make_store(moto_server, bucket, sse="AES256") as s:
        await s.put("DEAL-1/x.txt", b"secret")
        await s.put("DEAL-1/big.bin", stream_of(os.urandom(9 * MiB)))
    client = boto3_client(moto_server.endpoint)
    for key in ["DEAL-1/x.txt", "DEAL-1/big.bin"]:
        assert client.head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"


def test_bad_options_are_config_errors() -> None:
    from artifactstore import StorageConfigError

    for options in [
        {"part_size": 1024},
        {"sse": "rot13"},
        {"retry_mode": "eventually"},
        {"sse_kms_key_id": "k"},
        {"parts_in_flight": 1000},
    ]:
        with pytest.raises(StorageConfigError) as raised:
            S3ArtifactStore("bucket", **options)
        assert raised.value.setting == next(iter(options))
    with pytest.raises(StorageConfigError, match="AWS_S3_BUCKET"):
        S3ArtifactStore("")
    with pytest.raises(TypeError, match="unknown"):
        S3ArtifactStore("bucket", colour="blue")


async def test_from_the_environment(
    moto_server: MotoServer, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from artifactstore import create_artifact_store

    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
    monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", "true")
    monkeypatch.setenv("AWS_S3_BUCKET", bucket)
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", moto_server.endpoint)
    monkeypatch.setenv("ARTIFACT_S3_PREFIX", "deals")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    store = create_artifact_store()
    assert isinstance(store, S3ArtifactStore)
    async with store:
        meta = await store.put("DEAL-1/x.txt", b"x")
        assert meta.storage_backend == "s3"
    keys = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in keys] == ["deals/DEAL-1/x.txt"]


async def test_big_streams_are_stamped_part_by_part(moto_server: MotoServer, bucket: str) -> None:
    # Recording by a copy (the fallback where tagging is refused): above S3's 5 GiB
    # CopyObject limit the stamp is a multipart copy, shown here with the limit
    # lowered to 6 MiB.
    data = os.urandom(13 * MiB)
    async with make_store(
        moto_server,
        bucket,
        part_size=5 * MiB,
        multipart_threshold=5 * MiB,
        single_copy_limit=6 * MiB,
        sha256_record="copy",
    ) as s:
        meta = await s.put("DEAL-1/huge.bin", stream_of(data), metadata={"k": "v"})
        head = await s.get_metadata("DEAL-1/huge.bin")
        assert meta.sha256 == head.sha256 == sha(data)
        assert dict(head.metadata) == {"k": "v"}
        assert await s.get("DEAL-1/huge.bin") == data
    raw = boto3_client(moto_server.endpoint).head_object(Bucket=bucket, Key="DEAL-1/huge.bin")
    assert raw["Metadata"]["artifactstore-sha256"] == sha(data)
    assert multipart_uploads(moto_server, bucket) == []


async def test_non_ascii_metadata_values(store: S3ArtifactStore, moto_server: MotoServer) -> None:
    meta = await store.put(
        "DEAL-1/x.txt", b"x", metadata={"client": "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale"}
    )
    assert (await store.get_metadata("DEAL-1/x.txt")).metadata == meta.metadata
    raw = boto3_client(moto_server.endpoint).head_object(Bucket=store.bucket, Key="DEAL-1/x.txt")
    assert raw["Metadata"]["client"].isascii()  # an RFC 2047 encoded-word on the wire


async def test_a_closed_store_refuses_work(moto_server: MotoServer, bucket: str) -> None:
    s = make_store(moto_server, bucket)
    await s.put("DEAL-1/x.txt", b"x")
    await s.aclose()
    await s.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await s.get("DEAL-1/x.txt")


async def test_too_many_parts_is_refused_and_aborted(moto_server: MotoServer, bucket: str) -> None:
    from artifactstore.backends.s3 import _upload

    original = _upload.MAX_PARTS
    _upload.MAX_PARTS = 2
    try:
        async with make_store(
            moto_server, bucket, part_size=5 * MiB, multipart_threshold=5 * MiB
        ) as s:
            with pytest.raises(ValueError, match="part_size"):
                await s.put("DEAL-1/too-big.bin", stream_of(os.urandom(16 * MiB)))
            assert not await s.exists("DEAL-1/too-big.bin")
    finally:
        _upload.MAX_PARTS = original
    assert multipart_uploads(moto_server, bucket) == []


async def test_encoded_word_lookalikes_round_trip(store: S3ArtifactStore) -> None:
    value = "=?UTF-8?B?aGk=?="  # ASCII that looks like an encoded-word
    await store.put("DEAL-1/x.txt", b"x", metadata={"note": value})
    assert (await store.get_metadata("DEAL-1/x.txt")).metadata["note"] == value


def test_web_aiohttp_does_not_need_starlette() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['starlette'] = None; "
        "import artifactstore.web.aiohttp as m; print(m.artifact_response.__name__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
