"""Where the S3 backend keeps SHA-256s, and what finding one costs, counted at the server.

Requests are counted by a pass-through proxy in front of the moto server
(``FaultProxy``): what reached the server, not what the client believes it sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactIntegrityError, S3ArtifactStore
from artifactstore.errors import ArtifactExistsError

from .faultproxy import FaultProxy
from .s3server import MotoServer, boto3_client, new_bucket
from .test_s3 import make_store, multipart_uploads

MiB = 1024 * 1024
KEY = "DEAL-1/big.bin"
TEST_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
SECRET = "the-stores-shared-secret-0123"
SMALL_PARTS = {"part_size": 5 * MiB, "multipart_threshold": 5 * MiB, "parts_in_flight": 2}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def chunks(data: bytes, piece: int = 1 << 20) -> AsyncIterator[bytes]:
    for i in range(0, len(data), piece):
        yield data[i : i + piece]


@pytest.fixture
def bucket(moto_server: MotoServer) -> str:
    return new_bucket(moto_server)


def through(proxy: FaultProxy, bucket: str, **options: Any) -> S3ArtifactStore:
    """A store whose every request goes through ``proxy``."""
    return S3ArtifactStore(
        bucket,
        endpoint_url=proxy.endpoint,
        region="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        verify_bucket=False,
        **options,
    )


def on_object(proxy: FaultProxy, bucket: str, key: str = KEY) -> list[tuple[str, str]]:
    """(request line, Range) of every request on ``key`` since the proxy started."""
    path = f"/{bucket}/{key}"
    return [
        (line, rng)
        for line, rng in zip(proxy.requests, proxy.ranges, strict=True)
        if line.split(" ", 1)[1].split("?", 1)[0] == path
    ]


def operation(line: str) -> str:
    """The S3 operation a request line is (the few this module sees)."""
    method, target = line.split(" ", 1)
    query = target.partition("?")[2]
    names = {part.partition("=")[0] for part in query.split("&") if part}
    if "tagging" in names:
        return {"GET": "GetObjectTagging", "PUT": "PutObjectTagging"}[method]
    if "uploads" in names:
        return "CreateMultipartUpload"
    if "partNumber" in names:
        return "UploadPart"
    if "uploadId" in names:
        return {"POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload"}[method]
    return {"HEAD": "HeadObject", "GET": "GetObject", "PUT": "PutObject or CopyObject"}.get(
        method, method
    )


def operations(proxy: FaultProxy, bucket: str, key: str = KEY) -> list[str]:
    return [operation(line) for line, _ in on_object(proxy, bucket, key)]


def full_downloads(proxy: FaultProxy, bucket: str, key: str = KEY) -> int:
    return sum(
        1
        for line, rng in on_object(proxy, bucket, key)
        if line.startswith("GET ") and "?" not in line and not rng
    )


def tags_of(server: MotoServer, bucket: str, key: str = KEY) -> dict[str, str]:
    tags = boto3_client(server.endpoint).get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tags}


# ---------------------------------------------------------------- library objects


@pytest.mark.parametrize("kind", ["stream", "path", "file", "bytes"])
async def test_multipart_sha256_is_read_back_in_at_most_two_requests(
    moto_server: MotoServer, proxy: FaultProxy, bucket: str, scratch: Path, kind: str
) -> None:
    data = os.urandom(11 * MiB + 7)
    (scratch / "big.bin").write_bytes(data)
    sources: dict[str, Any] = {
        "stream": lambda: chunks(data),
        "path": lambda: scratch / "big.bin",
        "file": lambda: (scratch / "big.bin").open("rb"),
        "bytes": lambda: data,
    }
    # Tags are trusted under the stores' shared secret (without one they are hints).
    async with make_store(moto_server, bucket, sha256_key=SECRET, **SMALL_PARTS) as writer:
        meta = await writer.put(KEY, sources[kind](), metadata={"kind": kind})
        assert meta.sha256 == sha(data)
    async with through(proxy, bucket, sha256_key=SECRET) as reader:  # another process
        first = await reader.get_metadata(KEY)
        assert (first.sha256, first.size_bytes, first.metadata) == (
            sha(data),
            len(data),
            {"kind": kind},
        )
        # Known by this version from now on: one HEAD, and a stream carries it too.
        again = await reader.get_metadata(KEY)
        async with reader.stream(KEY, start=5, end=9) as s:
            assert s.metadata.sha256 == sha(data)
            assert b"".join([c async for c in s]) == data[5:9]
    assert again.sha256 == sha(data)
    tagged = ["GetObjectTagging"] if kind != "bytes" else []
    assert operations(proxy, bucket) == ["HeadObject", *tagged, "HeadObject", "GetObject"]
    assert full_downloads(proxy, bucket) == 0


async def test_the_writing_store_reads_its_own_sha256_with_one_head(
    moto_server: MotoServer, proxy: FaultProxy, bucket: str
) -> None:
    data = os.urandom(6 * MiB)
    async with through(proxy, bucket, **SMALL_PARTS) as s:
        await s.put(KEY, chunks(data))
        assert (await s.get_metadata(KEY)).sha256 == sha(data)
    # No rewrite (no CopyObject), and no tag read back: this store learned it. The
    # HEAD after the tagging checks that no newer version's tag was clobbered.
    assert operations(proxy, bucket) == [
        "CreateMultipartUpload",
        "UploadPart",
        "UploadPart",
        "CompleteMultipartUpload",
        "PutObjectTagging",
        "HeadObject",
        "HeadObject",
    ]


async def test_a_path_put_reads_the_file_once(
    moto_server: MotoServer, bucket: str, scratch: Path
) -> None:
    data = os.urandom(11 * MiB)
    path = scratch / "once.bin"
    path.write_bytes(data)
    opened: list[str] = []

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args and str(args[0]) == str(path):
            opened.append(event)

    sys.addaudithook(hook)
    async with make_store(moto_server, bucket, **SMALL_PARTS) as s:
        meta = await s.put(KEY, path)
        assert meta.sha256 == sha(data)
        opened_by_put = len(opened)
        assert (await s.get_metadata(KEY)).sha256 == sha(data)
    assert opened_by_put == 1
    assert tags_of(moto_server, bucket)["artifactstore-sha256"] == sha(data)


async def test_overwrites_never_inherit_a_recorded_sha256(
    moto_server: MotoServer, bucket: str
) -> None:
    one, two, three = os.urandom(6 * MiB), os.urandom(100), os.urandom(7 * MiB)
    async with make_store(moto_server, bucket, **SMALL_PARTS) as s:
        await s.put(KEY, chunks(one))
        await s.put(KEY, two)  # a PutObject over a tagged object
        assert tags_of(moto_server, bucket) == {}
        assert (await s.get_metadata(KEY)).sha256 == sha(two)
        await s.put(KEY, chunks(three))
    async with make_store(moto_server, bucket) as fresh:
        assert (await fresh.get_metadata(KEY)).sha256 == sha(three)
        assert await fresh.get(KEY, verify=True) == three


async def test_if_not_exists_leaves_the_existing_object_and_its_tag(
    moto_server: MotoServer, bucket: str
) -> None:
    first, second = os.urandom(6 * MiB), os.urandom(6 * MiB)
    async with make_store(moto_server, bucket, **SMALL_PARTS) as s:
        await s.put(KEY, chunks(first), if_not_exists=True)
        before = tags_of(moto_server, bucket)
        with pytest.raises(ArtifactExistsError):
            await s.put(KEY, chunks(second), if_not_exists=True)
    assert tags_of(moto_server, bucket) == before
    async with make_store(moto_server, bucket) as fresh:
        assert (await fresh.get_metadata(KEY)).sha256 == sha(first)
    assert multipart_uploads(moto_server, bucket) == []


async def test_a_tag_meant_for_another_version_is_not_believed(
    moto_server: MotoServer, bucket: str
) -> None:
    """A writer replaces the object between our completion and our tag: the tag lands on
    theirs, naming our ETag; readers hash theirs instead of believing it."""
    ours, theirs = os.urandom(6 * MiB), os.urandom(6 * MiB)
    raw = boto3_client(moto_server.endpoint)
    store = make_store(moto_server, bucket, **SMALL_PARTS)
    async with store as s:
        client = await store._s3._client.get()

        def overwrite(**_: Any) -> None:  # blocking, on purpose: nothing else may run
            raw.put_object(
                Bucket=bucket, Key=KEY, Body=theirs, Metadata={"artifactstore-sha256": "tag"}
            )

        client.meta.events.register("before-call.s3.PutObjectTagging", overwrite)
        assert (await s.put(KEY, chunks(ours))).sha256 == sha(ours)
    # Our tag landed on theirs, which (marked "tag") had lost any record: the writer
    # saw it (one HEAD after tagging) and tagged theirs with its own SHA-256.
    assert tags_of(moto_server, bucket)["artifactstore-sha256"] == sha(theirs)
    async with make_store(moto_server, bucket) as fresh:
        assert (await fresh.get_metadata(KEY)).sha256 == sha(theirs)


# ---------------------------------------------------------------- the fallback


@pytest.mark.parametrize(("status", "code"), [(501, "NotImplemented"), (403, "AccessDenied")])
async def test_without_tagging_the_sha256_is_recorded_by_a_copy(
    moto_server: MotoServer,
    proxy: FaultProxy,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
    status: int,
    code: str,
) -> None:
    proxy.refuse.append((lambda line: "?tagging" in line, status, code))
    one, two = os.urandom(6 * MiB), os.urandom(7 * MiB)
    with caplog.at_level(logging.WARNING, logger="artifactstore"):
        async with through(proxy, bucket, **SMALL_PARTS) as s:
            assert (await s.put(KEY, chunks(one))).sha256 == sha(one)
            assert (await s.put("DEAL-1/two.bin", chunks(two))).sha256 == sha(two)
    assert proxy.counts["refused"] == 1  # learned once: the second put went straight to a copy
    assert sum("refused object tagging" in r.getMessage() for r in caplog.records) == 1
    raw = boto3_client(moto_server.endpoint)
    for key, data in ((KEY, one), ("DEAL-1/two.bin", two)):
        assert raw.head_object(Bucket=bucket, Key=key)["Metadata"]["artifactstore-sha256"] == sha(
            data
        )
    proxy.requests.clear()
    proxy.ranges.clear()
    async with through(proxy, bucket) as fresh:
        assert (await fresh.get_metadata(KEY)).sha256 == sha(one)
    assert operations(proxy, bucket) == ["HeadObject"]


async def test_a_put_whose_recording_fails_still_succeeds(
    moto_server: MotoServer, proxy: FaultProxy, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The bytes are stored when the tagging fails (here: 500s, retried, then given up):
    the put returns its metadata, a warning says so, and readers hash the object."""
    proxy.refuse.append((lambda line: "?tagging" in line, 500, "InternalError"))
    data = os.urandom(6 * MiB)
    with caplog.at_level(logging.WARNING, logger="artifactstore"):
        async with through(proxy, bucket, max_attempts=2, **SMALL_PARTS) as s:
            assert (await s.put(KEY, chunks(data))).sha256 == sha(data)
            assert (await s.get_metadata(KEY)).sha256 == sha(data)  # this store knows
    assert proxy.counts["refused"] >= 2  # retried: an error, not a refusal of tagging...
    head = boto3_client(moto_server.endpoint).head_object(Bucket=bucket, Key=KEY)
    assert head["ETag"].strip('"').endswith("-2")  # ...so no copy was made instead
    assert any("could not be recorded" in r.getMessage() for r in caplog.records)
    proxy.refuse.clear()
    async with through(proxy, bucket) as fresh:
        assert (await fresh.get_metadata(KEY)).sha256 == sha(data)
    assert full_downloads(proxy, bucket) == 1


async def test_sha256_record_copy_never_tags(
    moto_server: MotoServer, proxy: FaultProxy, bucket: str
) -> None:
    data = os.urandom(6 * MiB)
    async with through(proxy, bucket, sha256_record="copy", **SMALL_PARTS) as s:
        assert (await s.put(KEY, chunks(data))).sha256 == sha(data)
        assert "sha256_record=copy" in s.url
    assert not any("?tagging" in line for line in proxy.requests)
    head = boto3_client(moto_server.endpoint).head_object(Bucket=bucket, Key=KEY)
    assert head["Metadata"]["artifactstore-sha256"] == sha(data)


# moto ignores the copy's condition (x-amz-copy-source-if-match), which AWS honours;
# the copy's parts are checked against our ETag before its completion (see
# _proof), so theirs is never given our SHA-256 either way.
@pytest.mark.parametrize("limit", [5 * 1024**3, 6 * MiB], ids=["one-part", "parts"])
async def test_the_copy_skips_an_object_another_writer_put_meanwhile(
    moto_server: MotoServer, bucket: str, limit: int
) -> None:
    """The fallback copy is conditional on our ETag: theirs is never given our SHA-256."""
    ours, theirs = os.urandom(7 * MiB), os.urandom(100)
    raw = boto3_client(moto_server.endpoint)
    store = make_store(
        moto_server, bucket, sha256_record="copy", single_copy_limit=limit, **SMALL_PARTS
    )
    async with store as s:
        client = await store._s3._client.get()
        replaced: list[bool] = []

        def overwrite(**_: Any) -> None:
            if not replaced:
                replaced.append(True)
                raw.put_object(Bucket=bucket, Key=KEY, Body=theirs, Metadata={"owner": "them"})

        client.meta.events.register("after-call.s3.CompleteMultipartUpload", overwrite)
        meta = await s.put(KEY, chunks(ours))  # completes, then finds theirs: no stamp
        assert replaced
        assert meta.sha256 == sha(ours)
    head = raw.head_object(Bucket=bucket, Key=KEY)
    assert head["Metadata"] == {"owner": "them"}
    assert raw.get_object(Bucket=bucket, Key=KEY)["Body"].read() == theirs
    assert multipart_uploads(moto_server, bucket) == []


def test_sha256_record_is_checked() -> None:
    from artifactstore.errors import StorageConfigError

    with pytest.raises(StorageConfigError, match="sha256_record"):
        S3ArtifactStore("b", sha256_record="manifest")


# ---------------------------------------------------------------- foreign objects


@pytest.fixture
def foreign(moto_server: MotoServer, bucket: str) -> bytes:
    """A 16 MiB object written by another tool: no SHA-256 anywhere."""
    data = os.urandom(16 * MiB)
    boto3_client(moto_server.endpoint).put_object(Bucket=bucket, Key=KEY, Body=data)
    return data


async def test_a_foreign_object_is_downloaded_at_most_once(
    proxy: FaultProxy, bucket: str, foreign: bytes
) -> None:
    async with through(proxy, bucket) as s:
        for _ in range(3):
            assert (await s.get_metadata(KEY)).sha256 == sha(foreign)
        async with s.stream(KEY, start=100, end=110) as stream:
            assert stream.metadata.sha256 == sha(foreign)
            assert b"".join([c async for c in stream]) == foreign[100:110]
    assert full_downloads(proxy, bucket) == 1
    assert [rng for _, rng in on_object(proxy, bucket) if rng] == ["bytes=100-109"]


async def test_concurrent_lookups_share_one_download(
    proxy: FaultProxy, bucket: str, foreign: bytes
) -> None:
    async with through(proxy, bucket) as s:
        found = await asyncio.gather(*(s.get_metadata(KEY) for _ in range(4)))
    assert {m.sha256 for m in found} == {sha(foreign)}
    assert full_downloads(proxy, bucket) == 1


async def test_a_ranged_stream_never_downloads_the_whole_object(
    proxy: FaultProxy, bucket: str, foreign: bytes
) -> None:
    async with through(proxy, bucket) as s:
        async with s.stream(KEY, start=0, end=10) as stream:
            assert stream.metadata.size_bytes == len(foreign)
            assert stream.metadata.sha256 is None  # not known without reading it all
            assert b"".join([c async for c in stream]) == foreign[:10]
        async with s.stream(KEY, start=5, end=5) as empty:  # an empty range: a HEAD
            assert [c async for c in empty] == []
    assert full_downloads(proxy, bucket) == 0


async def test_a_full_stream_teaches_the_sha256(
    proxy: FaultProxy, bucket: str, foreign: bytes
) -> None:
    async with through(proxy, bucket) as s:
        assert await s.get(KEY) == foreign
        assert (await s.get_metadata(KEY)).sha256 == sha(foreign)
    assert full_downloads(proxy, bucket) == 1


async def test_an_overwrite_while_hashing_is_not_clobbered(
    moto_server: MotoServer, bucket: str, foreign: bytes
) -> None:
    """Replaced between the HEAD and the hashing GET: the new version is the one hashed,
    and nothing is written to it."""
    newer = os.urandom(3 * MiB)
    raw = boto3_client(moto_server.endpoint)
    store = make_store(moto_server, bucket)
    async with store as s:
        client = await store._s3._client.get()
        replaced: list[bool] = []

        def overwrite(params: dict[str, Any], **_: Any) -> None:
            if params.get("IfMatch") and not replaced:  # the hashing GET of the old version
                replaced.append(True)
                raw.put_object(Bucket=bucket, Key=KEY, Body=newer, Metadata={"owner": "them"})

        client.meta.events.register("before-parameter-build.s3.GetObject", overwrite)
        meta = await s.get_metadata(KEY)
        assert replaced
        assert meta.sha256 == sha(newer)
        assert meta.metadata == {"owner": "them"}
        assert (await s.get_metadata(KEY)).sha256 == sha(newer)
    head = raw.head_object(Bucket=bucket, Key=KEY)
    assert head["Metadata"] == {"owner": "them"}
    assert tags_of(moto_server, bucket) == {}
    assert raw.get_object(Bucket=bucket, Key=KEY)["Body"].read() == newer


@pytest.mark.parametrize("kind", ["uvicorn", "aiohttp"])
def test_serving_ranges_of_a_foreign_object_downloads_it_once(
    proxy: FaultProxy, bucket: str, foreign: bytes, kind: str
) -> None:
    """``artifact_response``: a HEAD and three Range requests, each planned from
    ``get_metadata``, cost one download of the whole object (to hash it), not four."""
    import httpx

    from .webserver import AppServer

    env = {
        "ARTIFACT_STORAGE_BACKEND": "s3",
        "ALLOW_CLOUD_DEFAULT": "true",
        "AWS_S3_BUCKET": bucket,
        "AWS_S3_ENDPOINT_URL": proxy.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    app = "tests.webapp:app" if kind == "uvicorn" else "tests.aiohttp_app:make_app"
    server = AppServer.start(kind, env, app)
    try:
        url = f"{server.url}/artifacts/{KEY}"
        head = httpx.head(url)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(foreign))
        for first in (0, 1000, len(foreign) - 10):
            answer = httpx.get(url, headers={"Range": f"bytes={first}-{first + 9}"})
            assert answer.status_code == 206
            assert answer.content == foreign[first : first + 10]
    finally:
        server.stop()
    assert full_downloads(proxy, bucket) == 1


# ---------------------------------------------------------------- what a store keeps


async def test_known_sha256s_are_bounded_and_a_failed_hashing_is_retried() -> None:
    from artifactstore.backends.s3._sha import Known

    known = Known(limit=2)
    for n in range(3):
        known.remember(("k", str(n), 1), str(n))
    assert known.get(("k", "0", 1)) is None  # the least recently used went
    assert known.get(("k", "2", 1)) == "2"

    started = asyncio.Event()
    calls: list[str] = []

    async def failing() -> str | None:
        calls.append("failing")
        started.set()
        await asyncio.sleep(0.05)
        raise OSError("the connection dropped")

    async def working() -> str | None:
        calls.append("working")
        return "f" * 64

    version = ("k", "x", 5)
    first = asyncio.create_task(known.once(version, failing))
    await started.wait()
    second = asyncio.create_task(known.once(version, working))  # waits for the first
    with pytest.raises(OSError):
        await first
    assert await second == "f" * 64  # then computes it itself
    assert calls == ["failing", "working"]
    assert await known.once(version, failing) == "f" * 64  # known: nothing computed
    assert calls == ["failing", "working"]


# ---------------------------------------------------------------- signing


async def test_signed_payload_hashes_are_those_of_the_bodies(
    proxy: FaultProxy, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payload hash the store gives the signer is the SHA-256 of the very bytes
    sent (each part's, and a PutObject's), and botocore does not hash them again."""
    import botocore.auth

    hashed_by_botocore: list[str] = []
    original = botocore.auth.S3SigV4Auth.payload

    def counting(self: Any, request: Any) -> str:
        if request.body:
            hashed_by_botocore.append(request.url)
        return original(self, request)  # type: ignore[no-any-return]

    monkeypatch.setattr(botocore.auth.S3SigV4Auth, "payload", counting)
    data, small = os.urandom(11 * MiB + 5), os.urandom(3000)
    async with through(proxy, bucket, **SMALL_PARTS) as s:
        await s.put(KEY, chunks(data))
        await s.put("DEAL-1/small.txt", small)
    # Neither a part nor the PutObject (the tagging and the completion: small XML bodies).
    bodies = [url for url in hashed_by_botocore if "partNumber=" in url or "?" not in url]
    assert bodies == []
    sent = {
        operation(line): (line, sha256)
        for line, sha256 in zip(proxy.requests, proxy.payload_hashes, strict=True)
        if line.startswith("PUT ")
    }
    parts = {
        line.split("partNumber=")[1].split("&")[0]: sha256
        for line, sha256 in zip(proxy.requests, proxy.payload_hashes, strict=True)
        if operation(line) == "UploadPart"
    }
    assert parts == {
        "1": sha(data[: 5 * MiB]),
        "2": sha(data[5 * MiB : 10 * MiB]),
        "3": sha(data[10 * MiB :]),
    }
    assert sent["PutObject or CopyObject"][1] == sha(small)


async def test_given_payload_hashes_make_valid_signatures() -> None:
    """Against a moto server that checks every signature, with an IAM user's keys."""
    server = MotoServer.start(INITIAL_NO_AUTH_ACTION_COUNT="4")
    try:
        import boto3

        iam = boto3.client(
            "iam", endpoint_url=server.endpoint, region_name="us-east-1", **TEST_KEYS
        )
        iam.create_user(UserName="dealteam")
        iam.put_user_policy(
            UserName="dealteam",
            PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "s3:*", "Resource": "*"}]}',
        )
        key = iam.create_access_key(UserName="dealteam")["AccessKey"]
        boto3_client(server.endpoint).create_bucket(Bucket="signed")  # the 4th free action
        data = os.urandom(11 * MiB)
        store = S3ArtifactStore(
            "signed",
            endpoint_url=server.endpoint,
            region="us-east-1",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            max_attempts=1,
            **SMALL_PARTS,
        )
        async with store as s:
            assert (await s.put(KEY, chunks(data))).sha256 == sha(data)
            assert (await s.put("DEAL-1/small.txt", b"signed")).sha256 == sha(b"signed")
            assert await s.get(KEY, verify=True) == data
            assert await s.get("DEAL-1/small.txt") == b"signed"
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("endpoint", "signed"),
    [(None, False), ("https://s3.example.test", False), ("HTTP://127.0.0.1:9", True)],
)
async def test_bodies_are_signed_over_plain_http_only(endpoint: str | None, signed: bool) -> None:
    """Over TLS, bodies go as UNSIGNED-PAYLOAD (no second SHA-256 pass per part)."""
    store = S3ArtifactStore("b", endpoint_url=endpoint, verify_bucket=False, **TEST_KEYS)
    async with store:
        client = await store._s3._client.get()  # no request: the bucket is not checked
        assert ("payload_signing_enabled" not in client.meta.config.s3) is signed
        assert store.settings.signs_payloads is signed


async def test_a_verified_get_of_an_object_with_no_recorded_sha256_fails_as_the_cli_does(
    proxy: FaultProxy, bucket: str, foreign: bytes
) -> None:
    # Issue 23, item 9: get(verify=True) returned these bytes unchecked, while
    # `artifactstore get --verify` failed; a verified read is one that matched a record.
    async with through(proxy, bucket) as s:
        with pytest.raises(ArtifactIntegrityError, match="cannot be verified") as raised:
            await s.get(KEY, verify=True)
        assert raised.value.expected == ""
        assert raised.value.actual == sha(foreign)
        assert await s.get(KEY) == foreign  # an unverified read is what it always was
