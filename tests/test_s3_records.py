"""What the S3 backend believes about an object, and what it writes: issue 23's third round.

- A SHA-256 in an object's tags is trusted only with a valid HMAC under the
  store's secret (``sha256_key``); otherwise it is a hint, never the basis of
  ``get_metadata``, ``check_artifacts`` or ``copy_artifacts``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from artifactstore import (
    ArtifactIntegrityError,
    InvalidKeyError,
    MemoryArtifactStore,
    S3ArtifactStore,
)
from artifactstore.transfer import check_artifacts, copy_artifacts

from .s3server import MotoServer, boto3_client, new_bucket
from .test_s3 import make_store

MiB = 1024 * 1024
KEY = "DEAL-1/big.bin"
SMALL_PARTS = {"part_size": 5 * MiB, "multipart_threshold": 5 * MiB, "parts_in_flight": 2}
SECRET = "a-secret-of-the-store-0123456789"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunks(data: bytes, piece: int = 1 << 20) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return new_bucket(moto_server)


def forge(server: MotoServer, bucket: str, key: str, sha256: str, **extra: str) -> None:
    """What a principal allowed only s3:PutObjectTagging can do: the ETag is public."""
    raw = boto3_client(server.endpoint)
    etag = raw.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    tags = {"artifactstore-sha256": sha256, "artifactstore-etag": etag, **extra}
    raw.put_object_tagging(
        Bucket=bucket,
        Key=key,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
    )


def tags_of(server: MotoServer, bucket: str, key: str = KEY) -> dict[str, str]:
    tags = boto3_client(server.endpoint).get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tags}


# ---------------------------------------------------------------- item 1: forged tags


@pytest.mark.parametrize("secret", [None, SECRET])
async def test_a_forged_tag_is_not_reported_as_the_sha256(
    moto_server: MotoServer, bucket: str, secret: str | None
) -> None:
    real, other = os.urandom(6 * MiB), os.urandom(6 * MiB)
    async with make_store(moto_server, bucket, sha256_key=secret, **SMALL_PARTS) as writer:
        assert (await writer.put(KEY, chunks(real))).sha256 == sha(real)
    genuine = tags_of(moto_server, bucket)
    assert ("artifactstore-sha256-mac" in genuine) == (secret is not None)
    forge(
        moto_server,
        bucket,
        KEY,
        sha(other),
        **{k: v for k, v in genuine.items() if k == "artifactstore-sha256-mac"},
    )  # a MAC copied along does not fit another SHA-256
    async with make_store(moto_server, bucket, sha256_key=secret) as reader:
        assert (await reader.get_metadata(KEY)).sha256 == sha(real)
    async with make_store(moto_server, bucket, sha256_key=secret) as reader:
        # A read checks its bytes against the tag: the forgery is caught there too.
        with pytest.raises(ArtifactIntegrityError):
            await reader.get(KEY, verify=True)
        # ... and what it learned from the bytes is the truth, not the tag.
        assert (await reader.get_metadata(KEY)).sha256 == sha(real)


async def test_with_a_secret_a_genuine_tag_is_trusted_without_a_download(
    moto_server: MotoServer, bucket: str
) -> None:
    data = os.urandom(6 * MiB)
    async with make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS) as writer:
        await writer.put(KEY, chunks(data))
    # Believed from the tag (no GetObject) by a store with the same secret; hashed by
    # a store with another one.
    async with make_store(moto_server, bucket, sha256_key=SECRET) as reader:
        assert (await reader.get_metadata(KEY)).sha256 == sha(data)
    async with make_store(moto_server, bucket, sha256_key="another-secret-0123456") as other:
        assert (await other.get_metadata(KEY)).sha256 == sha(data)  # hashed: not trusted


@pytest.mark.parametrize("forged_side", ["dst", "src"])
async def test_check_and_copy_do_not_trust_a_forged_tag(
    moto_server: MotoServer, bucket: str, forged_side: str
) -> None:
    """Same size, different bytes; the S3 side's tag claims the other side's SHA-256."""
    s3_bytes, mem_bytes = os.urandom(6 * MiB), os.urandom(6 * MiB)
    memory = MemoryArtifactStore()
    await memory.put(KEY, mem_bytes)
    async with make_store(moto_server, bucket, **SMALL_PARTS) as s3:
        await s3.put(KEY, chunks(s3_bytes))
        forge(moto_server, bucket, KEY, sha(mem_bytes))
    async with make_store(moto_server, bucket, **SMALL_PARTS) as s3:
        src, dst = (memory, s3) if forged_side == "dst" else (s3, memory)
        checked = await check_artifacts(src, dst)
        assert checked.different == (KEY,)
        assert checked.same == ()
        copied = await copy_artifacts(src, dst)
        assert copied.skipped == 0
        assert copied.conflicts == 1


def test_the_secret_comes_from_the_environment_and_stays_out_of_sight() -> None:
    from artifactstore.backends.s3 import S3Settings
    from artifactstore.errors import StorageConfigError

    environ = {"ALLOW_CLOUD_DEFAULT": "true", "AWS_S3_BUCKET": "b"}
    settings = S3Settings.from_env({**environ, "ARTIFACT_S3_SHA256_KEY": SECRET})
    assert settings.sha256_key == SECRET
    assert SECRET not in repr(settings)
    with pytest.raises(StorageConfigError) as bad:
        S3Settings.from_env({**environ, "ARTIFACT_S3_SHA256_KEY": "short"})
    assert bad.value.setting == "ARTIFACT_S3_SHA256_KEY"
    assert "short" not in str(bad.value)
    with pytest.raises(StorageConfigError):
        S3Settings.build("b", sha256_key="short")
    store = S3ArtifactStore("b", sha256_key=SECRET)
    assert SECRET not in store.url
    assert SECRET not in repr(store)


# ---------------------------------------------------------------- item 10: copies


@pytest.mark.parametrize("size", [300_000, 11 * MiB], ids=["single-part", "multipart"])
async def test_a_copy_never_records_a_sha256_it_did_not_prove(
    moto_server: MotoServer, bucket: str, size: int
) -> None:
    """The source is replaced between the copy's HEAD and its UploadPartCopy, and moto
    copies despite the stale x-amz-copy-source-if-match: the SHA-256 recorded at the
    destination must still be that of the bytes it holds."""
    first, second = os.urandom(size), os.urandom(size)
    raw = boto3_client(moto_server.endpoint)
    async with make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS) as store:
        await store.put("DEAL-1/a.bin", chunks(first) if size > 5 * MiB else first)
        client = await store._s3._client.get()
        replaced: list[bool] = []

        def race(**_: Any) -> None:
            if not replaced:  # blocking, on purpose: nothing else may run
                replaced.append(True)
                raw.put_object(Bucket=bucket, Key="DEAL-1/a.bin", Body=second)

        for name in ("CopyObject", "UploadPartCopy"):
            client.meta.events.register(f"before-call.s3.{name}", race)
        meta = await store.copy("DEAL-1/a.bin", "DEAL-1/b.bin")
        assert replaced
        assert meta.sha256 == sha(second)
    async with make_store(moto_server, bucket, sha256_key=SECRET) as fresh:
        assert await fresh.get("DEAL-1/b.bin", verify=True) == second
        assert (await fresh.get_metadata("DEAL-1/b.bin")).sha256 == sha(second)
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


async def test_a_copy_that_nothing_proves_is_hashed_before_its_sha256_is_recorded(
    moto_server: MotoServer, bucket: str
) -> None:
    """A source uploaded by another tool in parts of unequal sizes: no copy can have
    its part ETags, so the destination is hashed, then its SHA-256 recorded."""
    parts = [os.urandom(5 * MiB), os.urandom(6 * MiB), os.urandom(MiB)]
    raw = boto3_client(moto_server.endpoint)
    upload = raw.create_multipart_upload(Bucket=bucket, Key="DEAL-1/odd.bin")
    done = [
        {"PartNumber": n, "ETag": raw.upload_part(
            Bucket=bucket, Key="DEAL-1/odd.bin", UploadId=upload["UploadId"], PartNumber=n, Body=p
        )["ETag"]}
        for n, p in enumerate(parts, start=1)
    ]  # fmt: skip
    raw.complete_multipart_upload(
        Bucket=bucket,
        Key="DEAL-1/odd.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": done},
    )
    data = b"".join(parts)
    async with make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS) as store:
        meta = await store.copy("DEAL-1/odd.bin", "DEAL-2/odd.bin")
        assert meta.sha256 == sha(data)
    async with make_store(moto_server, bucket, sha256_key=SECRET) as fresh:
        assert (await fresh.get_metadata("DEAL-2/odd.bin")).sha256 == sha(data)
        assert await fresh.get("DEAL-2/odd.bin", verify=True) == data
    assert tags_of(moto_server, bucket, "DEAL-2/odd.bin")["artifactstore-sha256"] == sha(data)
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# ---------------------------------------------------------------- item 11: storage_uri


async def test_storage_uri_is_the_objects_address_and_is_accepted_back(
    moto_server: MotoServer, bucket: str
) -> None:
    raw = boto3_client(moto_server.endpoint)
    async with (
        make_store(moto_server, bucket, prefix="prod") as prod,
        make_store(moto_server, bucket, prefix="staging") as staging,
    ):
        a = await prod.put("DEAL-42/x.pdf", b"prod bytes")
        b = await staging.put("DEAL-42/x.pdf", b"staging bytes")
        assert a.storage_uri == f"s3://{bucket}/prod/DEAL-42/x.pdf"
        assert b.storage_uri == f"s3://{bucket}/staging/DEAL-42/x.pdf"
        assert a.to_db_row()["storage_uri"] != b.to_db_row()["storage_uri"]
        # The URI is where other S3 tools find the object.
        assert raw.get_object(Bucket=bucket, Key="prod/DEAL-42/x.pdf")["Body"].read() == (
            b"prod bytes"
        )
        listed = [m async for m in prod.list("DEAL-42")]
        assert [m.storage_uri for m in listed] == [a.storage_uri]
        # Its own URI, new form and old form (written before), name its own key.
        assert await prod.get(a.storage_uri) == b"prod bytes"
        assert await prod.get(f"s3://{bucket}/DEAL-42/x.pdf") == b"prod bytes"
        assert prod.normalize_key(a.storage_uri) == "DEAL-42/x.pdf"
        # A key starting with the prefix's name: its new-form URI is unambiguous.
        c = await prod.put("prod/y.pdf", b"y")
        assert c.storage_uri == f"s3://{bucket}/prod/prod/y.pdf"
        assert prod.normalize_key(c.storage_uri) == "prod/y.pdf"
        # Another bucket is refused; so is another prefix once the old form is off.
        with pytest.raises(InvalidKeyError):
            await prod.get("s3://other-bucket/prod/DEAL-42/x.pdf")
    async with make_store(moto_server, bucket, prefix="prod", legacy_uris=False) as strict:
        assert await strict.get(a.storage_uri) == b"prod bytes"
        with pytest.raises(InvalidKeyError, match="another store"):
            await strict.get(b.storage_uri)
        with pytest.raises(InvalidKeyError):
            strict.normalize_key(f"s3://{bucket}/DEAL-42/x.pdf")
        assert "legacy_uris=false" in strict.url


def test_a_sync_store_takes_the_uri_too(moto_server: MotoServer, bucket: str) -> None:
    from artifactstore.sync import SyncArtifactStore

    with SyncArtifactStore(make_store(moto_server, bucket, prefix="prod")) as store:
        meta = store.put("DEAL-1/a.txt", b"a")
        assert meta.storage_uri == f"s3://{bucket}/prod/DEAL-1/a.txt"
        assert store.get(meta.storage_uri) == b"a"


# ---------------------------------------------------------------- item 9d: cleanup


@pytest.mark.parametrize("prefix", ["", "prod"])
async def test_cleanup_aborts_only_the_librarys_own_uploads(
    moto_server: MotoServer, bucket: str, prefix: str
) -> None:
    raw = boto3_client(moto_server.endpoint)
    under = f"{prefix}/" if prefix else ""
    # Other tools' uploads, at keys this store could write, plain and with a checksum.
    theirs = {
        raw.create_multipart_upload(Bucket=bucket, Key=f"{under}DEAL-1/theirs.bin")["UploadId"],
        raw.create_multipart_upload(
            Bucket=bucket, Key=f"{under}DEAL-1/crc.bin", ChecksumAlgorithm="CRC32"
        )["UploadId"],
    }
    # One of ours, left behind as by a killed process: its abort never reaches S3.
    store = make_store(moto_server, bucket, prefix=prefix, **SMALL_PARTS)
    async with store:
        client = await store._s3._client.get()

        def refuse(**_: Any) -> None:
            raise ConnectionError("the process died")

        client.meta.events.register("before-call.s3.AbortMultipartUpload", refuse)

        async def failing() -> AsyncIterator[bytes]:
            yield os.urandom(6 * MiB)
            raise OSError("the source broke")

        with pytest.raises(OSError, match="the source broke"):
            await store.put("DEAL-1/ours.bin", failing())
        client.meta.events.unregister("before-call.s3.AbortMultipartUpload", refuse)
        left = raw.list_multipart_uploads(Bucket=bucket)["Uploads"]
        assert len(left) == 3
        assert await store.cleanup(older_than=0) == 1
    remaining = raw.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert {u["UploadId"] for u in remaining} == theirs


# ---------------------------------------------------------------- item 5: metadata


async def test_control_characters_in_foreign_metadata_are_escaped_on_read_back(
    moto_server: MotoServer, bucket: str
) -> None:
    """Another tool writes metadata that decodes (RFC 2047) to ESC, BEL, CSI, a C1
    control and a bidi override: get_metadata, a stream and a copy show them escaped,
    never raw, and the escaped values can be put again as they are."""
    raw = boto3_client(moto_server.endpoint)

    def word(text: str) -> str:
        return f"=?UTF-8?B?{base64.b64encode(text.encode()).decode()}?="

    raw.put_object(
        Bucket=bucket,
        Key="DEAL-1/x.txt",
        Body=b"foreign",
        Metadata={
            "title": word("\x1b[31mred\x07"),
            "csi": word("a\x9b2Jb"),
            "name": word("invoice\u202efdp.exe"),
            "plain": "ok",
            "quoted": "=?utf-8?q?tab=09here?=",
        },
    )
    expected = {
        "title": "\\u001b[31mred\\u0007",
        "csi": "a\\u009b2Jb",
        "name": "invoice\\u202efdp.exe",
        "plain": "ok",
        "quoted": "tab\\u0009here",
    }
    memory = MemoryArtifactStore()
    async with make_store(moto_server, bucket) as store:
        meta = await store.get_metadata("DEAL-1/x.txt")
        assert dict(meta.metadata) == expected
        async with store.stream("DEAL-1/x.txt") as stream:
            assert dict(stream.metadata.metadata) == expected
        copied = await store.copy("DEAL-1/x.txt", "DEAL-2/x.txt")
        assert dict(copied.metadata) == expected
        assert dict((await store.get_metadata("DEAL-2/x.txt")).metadata) == expected
        report = await copy_artifacts(store, memory)  # puts the escaped values again
        assert report.failed == 0
        assert report.copied == 2
    assert dict((await memory.get_metadata("DEAL-1/x.txt")).metadata) == expected


def test_a_store_url_takes_the_secret_from_the_environment_never_from_the_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from artifactstore import store_from_url
    from artifactstore.errors import StorageConfigError

    monkeypatch.setenv("ARTIFACT_S3_SHA256_KEY", SECRET)
    store = store_from_url("s3://deals/prod")
    assert isinstance(store, S3ArtifactStore)
    assert store.settings.sha256_key == SECRET
    assert SECRET not in store.url
    with pytest.raises(StorageConfigError):
        store_from_url(f"s3://deals/prod?sha256_key={SECRET}")


async def test_a_verified_read_between_completion_and_tag_waits_for_the_tag(
    moto_server: MotoServer, bucket: str
) -> None:
    """A streamed put's SHA-256 is tagged right after its completion: a reader in
    between (another process, as it were) does not fail for want of a record."""
    import threading

    import anyio

    from artifactstore.sync import SyncArtifactStore

    data = os.urandom(6 * MiB)
    completed = threading.Event()
    writer_store = make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS)
    with SyncArtifactStore(writer_store) as writer:
        writer.exists("DEAL-1/x")  # the writer's client exists from here on

        async def hooks() -> None:
            client = await writer_store._s3._client.get()
            client.meta.events.register(
                "after-call.s3.CompleteMultipartUpload", lambda **_: completed.set()
            )
            client.meta.events.register(  # its loop thread only: the tag comes late
                "before-call.s3.PutObjectTagging", lambda **_: time.sleep(0.3)
            )

        writer._call(hooks)  # type: ignore[attr-defined]

        def put() -> None:
            writer.put(KEY, io.BytesIO(data))

        async with (
            make_store(moto_server, bucket, sha256_key=SECRET) as reader,
            anyio.create_task_group() as group,
        ):
            group.start_soon(anyio.to_thread.run_sync, put)
            await anyio.to_thread.run_sync(completed.wait, 30)
            assert await reader.get(KEY, verify=True) == data


async def test_a_late_tag_that_clobbers_a_newer_versions_tag_is_repaired(
    moto_server: MotoServer, bucket: str
) -> None:
    """Our streamed put completes; another writer's streamed put replaces it and tags
    it; then our tagging lands, replacing their tag set. Theirs gets its record back."""
    from artifactstore.backends.s3._sha import mac

    ours, theirs = os.urandom(6 * MiB), os.urandom(100)
    raw = boto3_client(moto_server.endpoint)
    store = make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS)
    async with store as s:
        client = await store._s3._client.get()

        replaced: list[bool] = []

        def overwrite(**_: Any) -> None:  # blocking, on purpose: nothing else may run
            if replaced:
                return
            replaced.append(True)
            raw.put_object(
                Bucket=bucket, Key=KEY, Body=theirs, Metadata={"artifactstore-sha256": "tag"}
            )
            etag = raw.head_object(Bucket=bucket, Key=KEY)["ETag"].strip('"')
            signature = mac(SECRET.encode(), bucket, KEY, etag, sha(theirs))
            tags = {"artifactstore-sha256": sha(theirs), "artifactstore-etag": etag}
            tags["artifactstore-sha256-mac"] = signature
            raw.put_object_tagging(
                Bucket=bucket,
                Key=KEY,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )

        client.meta.events.register("before-call.s3.PutObjectTagging", overwrite)
        await s.put(KEY, chunks(ours))
        client.meta.events.unregister("before-call.s3.PutObjectTagging", overwrite)
    assert tags_of(moto_server, bucket)["artifactstore-sha256"] == sha(theirs)
    async with make_store(moto_server, bucket, sha256_key=SECRET) as fresh:
        assert await fresh.get(KEY, verify=True) == theirs


async def test_a_read_of_a_version_replaced_before_its_tag_reads_the_new_one(
    moto_server: MotoServer, bucket: str
) -> None:
    """A streamed put's version (marked, tag to follow) is replaced before its writer
    tags it: it never gets a record. A verified read that opened it reads again."""
    first, second = os.urandom(1000), os.urandom(2000)
    raw = boto3_client(moto_server.endpoint)
    raw.put_object(Bucket=bucket, Key=KEY, Body=first, Metadata={"artifactstore-sha256": "tag"})
    async with make_store(moto_server, bucket, sha256_key=SECRET) as reader:
        client = await reader._s3._client.get()
        replaced: list[bool] = []

        def replace(**_: Any) -> None:  # blocking, on purpose: nothing else may run
            if not replaced:
                replaced.append(True)
                raw.put_object(
                    Bucket=bucket,
                    Key=KEY,
                    Body=second,
                    Metadata={"artifactstore-sha256": sha(second)},
                )

        client.meta.events.register("after-call.s3.GetObject", replace)
        assert await reader.get(KEY, verify=True) == second
        assert replaced
