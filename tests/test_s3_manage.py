"""S3 specifics of copy, move, delete_prefix and the store URL, against the moto server.

The generic contract (missing source, if_not_exists, metadata carried) is in the
conformance suite; here: that the copy is server-side, the multipart copy path,
objects written by others, DeleteObjects batching, and the URL.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from artifactstore import S3ArtifactStore, store_from_url
from artifactstore.errors import ArtifactExistsError, ArtifactNotFoundError, StorageBackendError

from .s3server import CREDENTIALS, MotoServer, boto3_client
from .test_s3 import make_store, new_bucket

MiB = 1024 * 1024


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def count_requests(store: S3ArtifactStore) -> Counter[str]:
    """Count the S3 operations the store's client sends from now on, by name."""
    calls: Counter[str] = Counter()

    def seen(model: Any, **kwargs: Any) -> None:
        calls[model.name] += 1

    client = await store._s3._client.get()
    client.meta.events.register("before-call.s3.*", seen)
    return calls


def uploads_in_progress(server: MotoServer, bucket: str) -> list[Any]:
    return list(
        boto3_client(server.endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return new_bucket(moto_server)


@pytest.fixture
async def store(moto_server: MotoServer, bucket: str) -> AsyncIterator[S3ArtifactStore]:
    async with make_store(moto_server, bucket) as s:
        yield s


# ---------------------------------------------------------------------- copy


async def test_copy_is_server_side_and_carries_everything(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    data = os.urandom(300_000)
    metadata = {"source": "Crédit Agricole — Zürich", "plain": "ascii"}
    src = await store.put("DEAL-1/a.bin", data, mime_type="application/x-deal", metadata=metadata)
    calls = await count_requests(store)

    meta = await store.copy("DEAL-1/a.bin", "DEAL-2/b.bin")

    # A multipart copy, so nothing exists at the destination before its part is
    # checked against the source's ETag (see _proof): one part for this source.
    assert calls["UploadPartCopy"] == 1
    assert calls["CompleteMultipartUpload"] == 1
    assert calls["GetObject"] == 0  # no byte came through this process
    assert meta.storage_key == "DEAL-2/b.bin"
    assert meta.storage_uri == f"s3://{store.bucket}/DEAL-2/b.bin"
    assert (meta.sha256, meta.size_bytes, meta.mime_type) == (
        sha(data),
        len(data),
        "application/x-deal",
    )
    assert dict(meta.metadata) == metadata
    head = await store.get_metadata("DEAL-2/b.bin")
    assert (head.sha256, head.mime_type, dict(head.metadata)) == (
        src.sha256,
        "application/x-deal",
        metadata,
    )
    assert await store.get("DEAL-2/b.bin", verify=True) == data
    assert await store.get("DEAL-1/a.bin") == data  # the source stays
    raw = boto3_client(moto_server.endpoint).head_object(Bucket=store.bucket, Key="DEAL-2/b.bin")
    assert raw["Metadata"]["artifactstore-sha256"] == sha(data)


async def test_copy_of_an_object_written_by_others_records_its_sha256(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    data = b"deal,amount\n1,2\n" * 1000
    plain = boto3_client(moto_server.endpoint)
    plain.put_object(
        Bucket=store.bucket,
        Key="legacy/x.csv",
        Body=data,
        ContentType="text/csv",
        Metadata={"origin": "legacy"},
        ContentDisposition="attachment",
    )
    meta = await store.copy("legacy/x.csv", "DEAL-1/x.csv")
    assert meta.sha256 == sha(data)
    raw = plain.head_object(Bucket=store.bucket, Key="DEAL-1/x.csv")
    assert raw["Metadata"] == {"origin": "legacy", "artifactstore-sha256": sha(data)}
    assert raw["ContentType"] == "text/csv"
    assert raw["ContentDisposition"] == "attachment"
    assert (
        "artifactstore-sha256"
        not in plain.head_object(Bucket=store.bucket, Key="legacy/x.csv")["Metadata"]
    )  # the source is left as it was


async def test_multipart_copy_above_the_single_copy_limit(
    moto_server: MotoServer, bucket: str
) -> None:
    data = os.urandom(12 * MiB)
    async with make_store(
        moto_server,
        bucket,
        single_copy_limit=5 * MiB,
        part_size=5 * MiB,
        multipart_threshold=5 * MiB,
    ) as s:
        await s.put("DEAL-1/big.bin", data, metadata={"k": "v"})
        calls = await count_requests(s)
        meta = await s.copy("DEAL-1/big.bin", "DEAL-1/copy.bin")
        assert calls["UploadPartCopy"] == 3  # 5 + 5 + 2 MiB
        assert calls["CopyObject"] == calls["GetObject"] == 0
        assert meta.sha256 == sha(data)
        head = await s.get_metadata("DEAL-1/copy.bin")
        assert (head.sha256, head.size_bytes, dict(head.metadata)) == (
            sha(data),
            len(data),
            {"k": "v"},
        )
        assert await s.get("DEAL-1/copy.bin", verify=True) == data
    assert uploads_in_progress(moto_server, bucket) == []


async def test_a_cancelled_multipart_copy_is_aborted(moto_server: MotoServer, bucket: str) -> None:
    data = os.urandom(12 * MiB)
    async with make_store(
        moto_server, bucket, single_copy_limit=5 * MiB, part_size=5 * MiB, parts_in_flight=1
    ) as s:
        await s.put("DEAL-1/big.bin", data)
        started = asyncio.Event()

        async def stall_second_part(params: dict[str, Any], **kwargs: Any) -> None:
            if str(params["query_string"].get("partNumber")) == "2":
                started.set()
                await asyncio.sleep(60)

        client = await s._s3._client.get()
        client.meta.events.register("before-call.s3.UploadPartCopy", stall_second_part)
        task = asyncio.create_task(s.copy("DEAL-1/big.bin", "DEAL-1/copy.bin"))
        await asyncio.wait_for(started.wait(), 30)
        assert len(uploads_in_progress(moto_server, bucket)) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await s.exists("DEAL-1/copy.bin")
    assert uploads_in_progress(moto_server, bucket) == []


async def test_copy_if_not_exists_onto_an_existing_key(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    await store.put("DEAL-1/a.txt", b"new bytes")
    old = await store.put("DEAL-1/b.txt", b"old bytes", metadata={"v": "1"})
    with pytest.raises(ArtifactExistsError) as raised:
        await store.copy("DEAL-1/a.txt", "DEAL-1/b.txt", if_not_exists=True)
    assert raised.value.key == "DEAL-1/b.txt"
    assert await store.get("DEAL-1/b.txt") == b"old bytes"
    head = await store.get_metadata("DEAL-1/b.txt")
    assert (head.sha256, dict(head.metadata)) == (old.sha256, {"v": "1"})
    assert uploads_in_progress(moto_server, store.bucket) == []  # the copy was aborted
    # Onto a free key it is a plain (conditional) copy.
    meta = await store.copy("DEAL-1/a.txt", "DEAL-1/c.txt", if_not_exists=True)
    assert meta.sha256 == sha(b"new bytes")
    assert await store.get("DEAL-1/c.txt", verify=True) == b"new bytes"


async def test_copy_of_a_missing_source_names_it_and_writes_nothing(
    store: S3ArtifactStore,
) -> None:
    with pytest.raises(ArtifactNotFoundError) as raised:
        await store.copy("DEAL-1/none.txt", "DEAL-1/dst.txt")
    assert raised.value.key == "DEAL-1/none.txt"
    assert not await store.exists("DEAL-1/dst.txt")


async def test_copy_of_an_empty_artifact(store: S3ArtifactStore) -> None:
    await store.put("DEAL-1/empty", b"", metadata={"k": "v"})
    for if_not_exists in (False, True):
        dst = f"DEAL-1/empty-{if_not_exists}"
        meta = await store.copy("DEAL-1/empty", dst, if_not_exists=if_not_exists)
        assert (meta.size_bytes, meta.sha256) == (0, sha(b""))
        assert await store.get(dst) == b""
        assert dict((await store.get_metadata(dst)).metadata) == {"k": "v"}


async def test_a_source_replaced_during_the_copy_is_copied_again(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    # Another writer replaces the source between our HEAD and our UploadPartCopy. AWS
    # then fails the copy (CopySourceIfMatch, 412); moto does not check that
    # condition, so the handler answers the 412 as AWS would, after the real
    # replacement. The store must look again and carry the new bytes' SHA-256.
    await store.put("DEAL-1/a.txt", b"first version")
    plain = boto3_client(moto_server.endpoint)
    replaced: list[bool] = []

    def race(**kwargs: Any) -> Any:
        if replaced:
            return None  # the retry goes through to the server
        replaced.append(True)
        plain.put_object(Bucket=store.bucket, Key="DEAL-1/a.txt", Body=b"second version")
        error = {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions"}
        return SimpleNamespace(status_code=412, headers={}), {
            "Error": error,
            "ResponseMetadata": {"HTTPStatusCode": 412},
        }

    calls = await count_requests(store)
    client = await store._s3._client.get()
    client.meta.events.register("before-call.s3.UploadPartCopy", race)
    meta = await store.copy("DEAL-1/a.txt", "DEAL-1/b.txt")
    assert calls["UploadPartCopy"] == 2
    assert meta.sha256 == sha(b"second version")
    assert await store.get("DEAL-1/b.txt", verify=True) == b"second version"


# ---------------------------------------------------------------------- move


async def test_move_removes_the_source(store: S3ArtifactStore) -> None:
    data = os.urandom(10_000)
    await store.put("DEAL-1/inbox/a.pdf", data, metadata={"k": "v"})
    calls = await count_requests(store)
    meta = await store.move("DEAL-1/inbox/a.pdf", "DEAL-1/documents/a.pdf")
    assert calls["GetObject"] == 0
    assert (meta.storage_key, meta.sha256, dict(meta.metadata)) == (
        "DEAL-1/documents/a.pdf",
        sha(data),
        {"k": "v"},
    )
    assert not await store.exists("DEAL-1/inbox/a.pdf")
    assert await store.get("DEAL-1/documents/a.pdf", verify=True) == data


async def test_move_if_not_exists_leaves_both_alone(store: S3ArtifactStore) -> None:
    await store.put("DEAL-1/a", b"a")
    await store.put("DEAL-1/b", b"b")
    with pytest.raises(ArtifactExistsError):
        await store.move("DEAL-1/a", "DEAL-1/b", if_not_exists=True)
    assert (await store.get("DEAL-1/a"), await store.get("DEAL-1/b")) == (b"a", b"b")


# ------------------------------------------------------------- delete_prefix


def put_many(server: MotoServer, bucket: str, keys: list[str]) -> None:
    """Write small objects fast: boto3 clients are thread-safe."""
    client = boto3_client(server.endpoint)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=b"x"), keys))


async def test_delete_prefix_in_batches_of_1000(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    keys = [f"DEAL-1/docs/{i:05d}.txt" for i in range(2500)]
    put_many(moto_server, store.bucket, [*keys, "DEAL-10/keep.txt", "DEAL-1x/keep.txt"])
    calls = await count_requests(store)
    assert await store.delete_prefix("DEAL-1") == 2500
    assert calls["DeleteObjects"] == 3
    assert calls["DeleteObject"] == 0
    assert [m.storage_key async for m in store.list("DEAL-1")] == []
    assert [m.storage_key async for m in store.list()] == ["DEAL-10/keep.txt", "DEAL-1x/keep.txt"]
    assert await store.delete_prefix("DEAL-1") == 0


async def test_delete_prefix_respects_the_store_prefix(
    moto_server: MotoServer, bucket: str
) -> None:
    put_many(moto_server, bucket, ["DEAL-1/outside.txt", "other/DEAL-1/x.txt"])
    async with make_store(moto_server, bucket, prefix="tenant/a") as s:
        for i in range(3):
            await s.put(f"DEAL-1/{i}.txt", b"x")
        await s.put("DEAL-2/keep.txt", b"x")
        assert await s.delete_prefix("DEAL-1/") == 3
        assert [m.storage_key async for m in s.list()] == ["DEAL-2/keep.txt"]
    left = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in left) == [
        "DEAL-1/outside.txt",
        "other/DEAL-1/x.txt",
        "tenant/a/DEAL-2/keep.txt",
    ]


async def test_delete_prefix_reports_keys_s3_refused(
    store: S3ArtifactStore, moto_server: MotoServer
) -> None:
    # moto deletes everything it is asked to; a refusal (an object lock, a policy)
    # is written into its answer as S3 would send it, to show how it is reported.
    put_many(moto_server, store.bucket, [f"DEAL-1/{i:04d}" for i in range(1500)])

    def refuse_one(parsed: dict[str, Any], **kwargs: Any) -> None:
        parsed.setdefault("Errors", []).append(
            {"Key": "DEAL-1/0007", "Code": "AccessDenied", "Message": "Access Denied"}
        )

    client = await store._s3._client.get()
    client.meta.events.register("after-call.s3.DeleteObjects", refuse_one)
    with pytest.raises(StorageBackendError) as raised:
        await store.delete_prefix("DEAL-1")
    message = str(raised.value)
    assert "'DEAL-1/0007' (AccessDenied)" in message
    assert "2 artifact(s)" in message
    assert "1498 were deleted" in message
    # Both batches ran to the end despite the refusals.
    assert [m async for m in store.list("DEAL-1")] == []


async def test_delete_prefix_refuses_the_empty_prefix(store: S3ArtifactStore) -> None:
    await store.put("DEAL-1/a", b"a")
    with pytest.raises(ValueError, match="non-empty"):
        await store.delete_prefix("")
    assert await store.exists("DEAL-1/a")


# ----------------------------------------------------------------------- url


async def test_url_str_and_repr(moto_server: MotoServer, bucket: str) -> None:
    secret = CREDENTIALS["aws_secret_access_key"]
    s = S3ArtifactStore(
        bucket,
        endpoint_url=moto_server.endpoint,
        region="eu-west-1",
        prefix="tenant a/prod",
        **CREDENTIALS,
    )
    async with s:
        await s.put("DEAL-1/a.txt", b"hello")
        url = s.url
        assert str(s) == url
        assert repr(s) == f"S3ArtifactStore({url!r})"
        for text in (url, str(s), repr(s)):
            assert secret not in text
            assert CREDENTIALS["aws_access_key_id"] not in text
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == ("s3", bucket, "/tenant%20a/prod")
        assert parse_qs(parts.query) == {
            "endpoint_url": [moto_server.endpoint],
            "region": ["eu-west-1"],
        }
        # store_from_url reads it back: the same objects, under the same prefix.
        async with store_from_url(url, **CREDENTIALS) as again:
            assert again.url == url
            assert await again.get("DEAL-1/a.txt") == b"hello"


def test_url_of_a_plain_store_names_the_region_only() -> None:
    s = S3ArtifactStore("deals", region="us-east-1", sse="AES256")
    assert s.url == "s3://deals?region=us-east-1&sse=AES256"
    endpoint = S3ArtifactStore("deals", endpoint_url="http://user:pw@127.0.0.1:9000")
    assert endpoint.url == "s3://deals?endpoint_url=http%3A%2F%2F127.0.0.1%3A9000&region=us-east-1"
