"""Serving artifacts over HTTP: real server processes (uvicorn, aiohttp), real clients.

The clients are httpx and curl.

Every scenario runs on the local backend and on S3 (the moto server).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from artifactstore import (
    ArtifactNotFoundError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
    StorageConfigError,
)
from artifactstore.signing import sign

from .s3server import CREDENTIALS, MotoServer, boto3_client
from .webserver import AppServer

SECRET = "test-secret-" + "x" * 40
SVG = "DEAL-1/active/pic.svg"
HTML = "DEAL-1/active/page.html"
MiB = 1024 * 1024
BIG = 64 * MiB


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Deployment:
    """A configured backend, a store on it for the test, and the servers in front of it."""

    def __init__(self, backend: str, env: dict[str, str], make_store: Any) -> None:
        self.backend = backend
        self.env = env
        self.make_store = make_store
        self.payloads: dict[str, bytes] = {}
        self.uvicorn: AppServer
        self.aiohttp: AppServer


@pytest.fixture(scope="module", params=["local", "s3"])
def deployment(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    moto_server: MotoServer,
) -> Iterator[Deployment]:
    env = {"ARTIFACT_URL_SECRET": SECRET, "ARTIFACT_STORAGE_DURABLE": "false"}
    if request.param == "local":
        root = tmp_path_factory.mktemp("web") / "DataRoom"
        env |= {"ARTIFACT_STORAGE_BACKEND": "local", "DATAROOM_ROOT": str(root)}

        def make_store() -> ArtifactStore:
            return LocalFilesystemArtifactStore(root, durable=False)
    else:
        bucket = f"web-{uuid.uuid4().hex[:12]}"
        boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
        env |= {
            "ARTIFACT_STORAGE_BACKEND": "s3",
            "ALLOW_CLOUD_DEFAULT": "true",
            "AWS_S3_BUCKET": bucket,
            "AWS_S3_ENDPOINT_URL": moto_server.endpoint,
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }

        def make_store() -> ArtifactStore:
            return S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS)

    d = Deployment(request.param, env, make_store)
    d.payloads = {
        "DEAL-1/documents/cim/cim.pdf": os.urandom(300_000),
        "DEAL-1/emails/R\u00e9sum\u00e9 \u6587\u4ef6.eml": b"Subject: hi\r\n\r\nbody",
        "DEAL-1/big.bin": os.urandom(BIG),
        "DEAL-1/empty.txt": b"",
        SVG: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>',
        HTML: b"<html><script>alert(document.cookie)</script></html>",
    }

    async def seed() -> None:
        async with make_store() as store:
            for key, data in d.payloads.items():
                await store.put(key, data)

    asyncio.run(seed())
    port_env = {"ARTIFACT_URL_BASE": "http://127.0.0.1:1/dl"}  # replaced below
    d.uvicorn = AppServer.start("uvicorn", {**env, **port_env}, "tests.webapp:app")
    d.aiohttp = AppServer.start("aiohttp", {**env, **port_env}, "tests.aiohttp_app:make_app")
    d.env["ARTIFACT_URL_BASE"] = f"{d.uvicorn.url}/dl"
    try:
        yield d
    finally:
        d.uvicorn.stop()
        d.aiohttp.stop()


@pytest.fixture(params=["uvicorn", "aiohttp"])
def server(request: pytest.FixtureRequest, deployment: Deployment) -> AppServer:
    return deployment.uvicorn if request.param == "uvicorn" else deployment.aiohttp


def url(server: AppServer, key: str) -> str:
    return f"{server.url}/artifacts/{httpx.URL(key).raw_path.decode()}"


CIM = "DEAL-1/documents/cim/cim.pdf"


# ------------------------------------------------------------------ responses


def test_full_download(deployment: Deployment, server: AppServer) -> None:
    data = deployment.payloads[CIM]
    answer = httpx.get(url(server, CIM))
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["etag"] == f'"{sha(data)}"'
    assert answer.headers["content-length"] == str(len(data))
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["accept-ranges"] == "bytes"
    assert answer.headers["content-disposition"] == 'attachment; filename="cim.pdf"'
    assert answer.headers["last-modified"].endswith("GMT")


def test_non_ascii_filename(deployment: Deployment, server: AppServer) -> None:
    key = "DEAL-1/emails/R\u00e9sum\u00e9 \u6587\u4ef6.eml"
    answer = httpx.get(url(server, key))
    assert answer.status_code == 200
    assert answer.content == deployment.payloads[key]
    disposition = answer.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="R_sum_ __.eml"')
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E6%96%87%E4%BB%B6.eml" in disposition


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=10-99", slice(10, 100)),
        ("bytes=-100", slice(-100, None)),
        ("bytes=1000-", slice(1000, None)),
        ("bytes=299990-400000", slice(299990, None)),
    ],
)
def test_single_ranges(
    deployment: Deployment, server: AppServer, header: str, expected: slice
) -> None:
    data = deployment.payloads[CIM]
    answer = httpx.get(url(server, CIM), headers={"Range": header})
    assert answer.status_code == 206
    assert answer.content == data[expected]
    first = expected.start if expected.start >= 0 else len(data) + expected.start
    assert (
        answer.headers["content-range"]
        == f"bytes {first}-{first + len(answer.content) - 1}/{len(data)}"
    )


def test_unsatisfiable_range(deployment: Deployment, server: AppServer) -> None:
    size = len(deployment.payloads[CIM])
    answer = httpx.get(url(server, CIM), headers={"Range": f"bytes={size}-"})
    assert answer.status_code == 416
    assert answer.headers["content-range"] == f"bytes */{size}"
    empty = httpx.get(url(server, "DEAL-1/empty.txt"), headers={"Range": "bytes=0-10"})
    assert empty.status_code == 416


def test_malformed_or_multiple_ranges_get_everything(
    deployment: Deployment, server: AppServer
) -> None:
    data = deployment.payloads[CIM]
    for header in ["bytes=0-1,5-9", "lines=1-2", "bytes=abc"]:
        answer = httpx.get(url(server, CIM), headers={"Range": header})
        assert answer.status_code == 200
        assert answer.content == data


def test_conditional_requests(deployment: Deployment, server: AppServer) -> None:
    first = httpx.get(url(server, CIM))
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for headers in [
        {"If-None-Match": etag},
        {"If-None-Match": f'"x", W/{etag}'},
        {"If-Modified-Since": modified},
    ]:
        answer = httpx.get(url(server, CIM), headers=headers)
        assert answer.status_code == 304, headers
        assert answer.content == b""
        assert answer.headers["etag"] == etag
    assert httpx.get(url(server, CIM), headers={"If-None-Match": '"other"'}).status_code == 200
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert httpx.get(url(server, CIM), headers={"If-Modified-Since": old}).status_code == 200


def test_preconditions(deployment: Deployment, server: AppServer) -> None:
    """If-Match and If-Unmodified-Since (RFC 9110 13.1.1, 13.1.4): 412 when they fail,
    evaluated before If-None-Match and Range."""
    data = deployment.payloads[CIM]
    first = httpx.head(url(server, CIM))
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    for headers in [
        {"If-Match": '"other"'},
        {"If-Match": f"W/{etag}"},  # a weak tag never matches If-Match
        {"If-Unmodified-Since": old},
        {"If-Match": '"other"', "If-None-Match": etag},  # 412 first, not 304
        {"If-Match": '"other"', "Range": "bytes=0-9"},
    ]:
        for method in (httpx.get, httpx.head):
            answer = method(url(server, CIM), headers=headers)
            assert (answer.status_code, answer.content) == (412, b""), (method, headers)
    for headers in [
        {"If-Match": etag},
        {"If-Match": f'"x", {etag}'},
        {"If-Match": "*"},
        {"If-Unmodified-Since": modified},
        {"If-Match": etag, "If-Unmodified-Since": old},  # If-Match wins: no date check
        {"If-Unmodified-Since": "not a date"},  # ignored
    ]:
        answer = httpx.get(url(server, CIM), headers=headers)
        assert (answer.status_code, answer.content) == (200, data), headers
    ranged = httpx.get(url(server, CIM), headers={"If-Match": etag, "Range": "bytes=0-9"})
    assert (ranged.status_code, ranged.content) == (206, data[:10])


def test_if_range(deployment: Deployment, server: AppServer) -> None:
    data = deployment.payloads[CIM]
    etag = httpx.head(url(server, CIM)).headers["etag"]
    same = httpx.get(url(server, CIM), headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (same.status_code, same.content) == (206, data[:10])
    changed = httpx.get(url(server, CIM), headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert (changed.status_code, changed.content) == (200, data)


def test_head(deployment: Deployment, server: AppServer) -> None:
    answer = httpx.head(url(server, CIM))
    assert answer.status_code == 200
    assert answer.content == b""
    assert answer.headers["content-length"] == str(len(deployment.payloads[CIM]))
    assert answer.headers["etag"] == f'"{sha(deployment.payloads[CIM])}"'


def test_missing_and_invalid_keys(deployment: Deployment, server: AppServer) -> None:
    missing = httpx.get(url(server, "DEAL-1/none.pdf"))
    assert missing.status_code == 404
    invalid = httpx.get(f"{server.url}/artifacts/DEAL-1/a%5Cb")  # a backslash
    assert invalid.status_code == 400
    for answer in (missing, invalid):
        assert "DataRoom" not in answer.text
        assert "/tmp" not in answer.text


def test_without_the_request_everything_is_sent(deployment: Deployment) -> None:
    data = deployment.payloads[CIM]
    answer = httpx.get(f"{deployment.uvicorn.url}/plain/{CIM}", headers={"Range": "bytes=0-9"})
    assert (answer.status_code, answer.content) == (200, data)
    shown = httpx.get(f"{deployment.uvicorn.url}/inline/{CIM}")
    assert shown.headers["content-disposition"] == 'inline; filename="shown.pdf"'


def test_curl(deployment: Deployment, server: AppServer, tmp_path: Path) -> None:
    data = deployment.payloads[CIM]
    out = tmp_path / "cim.pdf"
    subprocess.run(["curl", "-sSf", "-o", str(out), url(server, CIM)], check=True, timeout=60)
    assert out.read_bytes() == data
    part = subprocess.run(
        ["curl", "-sSf", "-r", "100-199", url(server, CIM)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert part.stdout == data[100:200]


# ------------------------------------------------------------- active content


def _guarded(answer: httpx.Response, disposition: str) -> None:
    """Sandboxed, never sniffed, and ``disposition`` (``attachment`` or ``inline``)."""
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].split(";")[0] == disposition


def test_active_content_is_an_attachment_even_when_inline_is_asked(
    deployment: Deployment, server: AppServer
) -> None:
    """A counterparty's SVG or HTML never runs in the application's origin."""
    for key, mime in [(SVG, "image/svg+xml"), (HTML, "text/html")]:
        shown = f"{server.url}/view/{key}"
        answer = httpx.get(shown)
        assert (answer.status_code, answer.content) == (200, deployment.payloads[key])
        assert answer.headers["content-type"].startswith(mime)
        _guarded(answer, "attachment")
        _guarded(httpx.head(shown), "attachment")
        ranged = httpx.get(shown, headers={"Range": "bytes=0-9"})
        assert ranged.status_code == 206
        _guarded(ranged, "attachment")
        _guarded(httpx.get(url(server, key)), "attachment")  # inline=False: as before
    # a passive type is still shown inline, under the same sandbox
    pdf = httpx.get(f"{server.url}/view/{CIM}")
    _guarded(pdf, "inline")
    _guarded(httpx.get(f"{server.url}/view/{CIM}", headers={"Range": "bytes=0-9"}), "inline")
    _guarded(httpx.get(url(server, CIM)), "attachment")


def test_active_content_inline_only_when_the_application_opts_in(
    deployment: Deployment, server: AppServer
) -> None:
    for key in (SVG, HTML):
        answer = httpx.get(f"{server.url}/active/{key}")
        assert answer.content == deployment.payloads[key]
        _guarded(answer, "inline")  # still sandboxed: its scripts do not run
        _guarded(httpx.head(f"{server.url}/active/{key}"), "inline")


def test_presigned_urls_of_active_content_download(deployment: Deployment) -> None:
    """S3's presigned URLs ask S3 for ``attachment`` on active types (fetched from moto)."""
    if deployment.backend != "s3":
        pytest.skip("presigned URLs are S3's")

    async def links() -> dict[str, str]:
        async with deployment.make_store() as store:
            return {key: await store.get_url(key, expires_in=600) for key in (SVG, HTML, CIM)}

    urls = asyncio.run(links())
    for key in (SVG, HTML):
        answer = httpx.get(urls[key])
        assert answer.status_code == 200
        assert answer.content == deployment.payloads[key]
        disposition = answer.headers["content-disposition"]
        assert disposition.startswith("attachment"), disposition
        assert key.rsplit("/", 1)[-1] in disposition
    pdf = httpx.get(urls[CIM])
    assert pdf.content == deployment.payloads[CIM]
    assert "content-disposition" not in pdf.headers  # passive types: as stored
    assert pdf.headers["content-type"] == "application/pdf"


def test_a_presigned_url_keeps_the_type_it_was_made_for(deployment: Deployment) -> None:
    """An HTML object put at a key after its link was made is not rendered through it."""
    if deployment.backend != "s3":
        pytest.skip("presigned URLs are S3's")
    key = "DEAL-1/documents/later.pdf"
    page = b"<html><script>alert(document.cookie)</script></html>"

    async def link_then_overwrite() -> str:
        async with deployment.make_store() as store:
            await store.put(key, b"%PDF-1.7 first", mime_type="application/pdf")
            link = await store.get_url(key, expires_in=600)
            await store.put(key, page, mime_type="text/html")
            return link

    answer = httpx.get(asyncio.run(link_then_overwrite()))
    assert answer.status_code == 200
    assert answer.content == page  # the link follows the key (documented)...
    assert answer.headers["content-type"] == "application/pdf"  # ...never as HTML


# ----------------------------------------------------------- streaming, memory


def test_client_disconnect_releases_the_stream(deployment: Deployment, server: AppServer) -> None:
    httpx.get(url(server, CIM))  # warm: the server has opened what it keeps open
    before = server.open_fds()
    for _ in range(20):
        with httpx.stream("GET", url(server, "DEAL-1/big.bin")) as answer:
            assert answer.status_code == 200
            next(answer.iter_bytes(64 * 1024))
        # leaving the block closes the connection mid-download
    time.sleep(1.0)
    assert server.open_fds() <= before + 2  # files (or S3 connections) released
    full = httpx.get(url(server, "DEAL-1/big.bin"), timeout=120)
    assert sha(full.content) == sha(deployment.payloads["DEAL-1/big.bin"])


def test_50_concurrent_big_downloads_keep_memory_flat(
    deployment: Deployment, server: AppServer
) -> None:
    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.01)

    expected = sha(deployment.payloads["DEAL-1/big.bin"])

    async def download(client: httpx.AsyncClient) -> str:
        digest = hashlib.sha256()
        async with client.stream("GET", url(server, "DEAL-1/big.bin")) as answer:
            assert answer.status_code == 200
            async for chunk in answer.aiter_bytes(1024 * 1024):
                digest.update(chunk)
        return digest.hexdigest()

    async def all_of_them() -> list[str]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=600) as client:
            return await asyncio.gather(*(download(client) for _ in range(50)))

    watcher = threading.Thread(target=sample)
    watcher.start()
    try:
        digests = asyncio.run(all_of_them())
    finally:
        done.set()
        watcher.join()
    assert digests == [expected] * 50
    growth = (peak - baseline) / MiB
    # 50 x 64 MiB = 3200 MiB went through; buffering even one whole artifact per
    # download would show. Streaming holds a few chunks per connection.
    assert growth < 200, f"server RSS grew {growth:.0f} MiB"


# --------------------------------------------------------------- signed links


@pytest.fixture
def link_store(deployment: Deployment) -> LocalFilesystemArtifactStore:
    if deployment.backend != "local":
        pytest.skip("signed links are the local backend's (S3 presigns its own)")
    root = Path(deployment.env["DATAROOM_ROOT"])
    return LocalFilesystemArtifactStore(
        root, durable=False, url_base=deployment.env["ARTIFACT_URL_BASE"], url_secret=SECRET
    )


async def test_signed_link_downloads(
    deployment: Deployment, link_store: LocalFilesystemArtifactStore
) -> None:
    link = await link_store.get_url(CIM, expires_in=600)
    assert link.startswith(f"{deployment.uvicorn.url}/dl/DEAL-1/documents/cim/cim.pdf?expires=")
    async with httpx.AsyncClient() as client:
        answer = await client.get(link)
        assert answer.status_code == 200
        assert answer.content == deployment.payloads[CIM]
        ranged = await client.get(link, headers={"Range": "bytes=0-9"})
        assert ranged.content == deployment.payloads[CIM][:10]
    await link_store.aclose()


async def test_expired_tampered_and_retargeted_links(
    deployment: Deployment, link_store: LocalFilesystemArtifactStore
) -> None:
    good = httpx.URL(await link_store.get_url(CIM, expires_in=600))
    expires, signature = good.params["expires"], good.params["signature"]
    base = deployment.env["ARTIFACT_URL_BASE"]
    past = str(int(time.time()) - 10)
    cases = {
        "expired": f"{base}/{CIM}?expires={past}&signature={sign(SECRET, CIM, int(past))}",
        "tampered signature": f"{base}/{CIM}?expires={expires}&signature={'0' * 64}",
        "extended": f"{base}/{CIM}?expires={int(expires) + 3600}&signature={signature}",
        "retargeted": f"{base}/DEAL-1/big.bin?expires={expires}&signature={signature}",
        "unsigned": f"{base}/{CIM}",
        "traversal": f"{base}/DEAL-1/../../etc/passwd?expires={expires}&signature={signature}",
        "other secret": (
            f"{base}/{CIM}?expires={expires}&signature={sign('x' * 40, CIM, int(expires))}"
        ),
    }
    async with httpx.AsyncClient() as client:
        for name, link in cases.items():
            answer = await client.get(link)
            assert answer.status_code in (403, 404), name
            assert answer.status_code == 403 or name == "traversal", name
            assert deployment.payloads[CIM][:100] not in answer.content
        short = httpx.URL(await link_store.get_url(CIM, expires_in=1))
        await asyncio.sleep(2.1)
        assert (await client.get(str(short))).status_code == 403
    await link_store.aclose()


def _links_to(server: AppServer, deployment: Deployment, **options: Any) -> Any:
    """A store on the deployment's DataRoom whose links point at ``server``'s ``/dl``."""
    if deployment.backend != "local":
        pytest.skip("signed links are the local backend's (S3 presigns its own)")
    root = Path(deployment.env["DATAROOM_ROOT"])
    base = f"{server.url}/dl"
    return LocalFilesystemArtifactStore(
        root, durable=False, url_base=base, url_secret=SECRET, **options
    )


async def test_links_follow_the_document_not_the_key(
    deployment: Deployment, server: AppServer
) -> None:
    """Issue 23, item 7: a link serves the bytes it was issued for, or 410 Gone."""
    key = f"DEAL-1/links/{server.port}/doc.pdf"
    first, second = b"%PDF first version", b"%PDF the counterparty's overwrite"
    async with _links_to(server, deployment) as store, httpx.AsyncClient() as client:
        await store.put(key, first)
        link = await store.get_url(key, expires_in=600)
        assert httpx.URL(link).params["sha256"] == sha(first)
        assert (await client.get(link)).content == first
        await store.put(key, second)  # overwritten: the link named the first version
        for answer in (await client.get(link), await client.head(link)):
            assert answer.status_code == 410
            assert second[:20] not in answer.content
        ranged = await client.get(link, headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 410
        await store.put(key, first)  # the same document again: served again
        assert (await client.get(link)).content == first
        await store.delete(key)
        assert (await client.get(link)).status_code == 404  # nothing at the key
        await store.put(key, second)  # a new put after a delete is another document
        assert (await client.get(link)).status_code == 410
        newer = await store.get_url(key, expires_in=600)
        assert (await client.get(newer)).content == second
        # The hash is signed: it can be neither swapped nor dropped.
        url = httpx.URL(link)
        swapped = url.copy_set_param("sha256", sha(second))
        dropped = url.copy_remove_param("sha256")
        repeated = f"{link}&sha256={sha(first)}"
        upper = url.copy_set_param("sha256", sha(first).upper())
        short = url.copy_set_param("sha256", sha(first)[:-1])
        for bad in (swapped, dropped, repeated, upper, short):
            assert (await client.get(str(bad))).status_code == 403, bad
        with pytest.raises(ArtifactNotFoundError):
            await store.get_url(f"{key}.missing", expires_in=600)  # no document to bind


async def test_key_bound_links_still_serve_what_is_at_the_key(
    deployment: Deployment, server: AppServer
) -> None:
    """``url_binding="key"`` and links issued before the hash: they follow the key."""
    key = f"DEAL-1/links/{server.port}/by-key.pdf"
    async with _links_to(server, deployment, url_binding="key") as store:
        await store.put(key, b"one")
        link = await store.get_url(key, expires_in=600)
        assert "sha256" not in httpx.URL(link).params
        expires = int(time.time()) + 600
        old = f"{server.url}/dl/{key}?expires={expires}&signature={sign(SECRET, key, expires)}"
        await store.put(key, b"two")
        async with httpx.AsyncClient() as client:
            for each in (link, old):
                answer = await client.get(each)
                assert (answer.status_code, answer.content) == (200, b"two")
        assert (await store.get_url(f"{key}.missing", expires_in=60)).startswith(server.url)
    with pytest.raises(StorageConfigError, match="url_binding"):
        _links_to(server, deployment, url_binding="content")


async def test_links_to_active_content_are_downloads(
    deployment: Deployment, server: AppServer
) -> None:
    async with _links_to(server, deployment) as store, httpx.AsyncClient() as client:
        for key in (SVG, HTML):
            link = await store.get_url(key, expires_in=600)
            for answer in (await client.get(link), await client.head(link)):
                assert answer.status_code == 200
                _guarded(answer, "attachment")


def test_without_link_settings_urls_stay_file_uris(tmp_path: Path) -> None:
    async def get() -> str:
        async with LocalFilesystemArtifactStore(tmp_path / "R") as s:
            return await s.get_url("D/x.txt")

    assert asyncio.run(get()).startswith("file://")


# ------------------------------------------------------------ the FastAPI example


def test_fastapi_example_uploads_and_downloads(tmp_path: Path) -> None:
    env = {"ARTIFACT_STORAGE_BACKEND": "local", "DATAROOM_ROOT": str(tmp_path / "dr")}
    app = AppServer.start("uvicorn", env, "docs.examples.fastapi_app:app")
    try:
        data = os.urandom(5 * MiB + 3)

        def body() -> Iterator[bytes]:
            for i in range(0, len(data), 100_000):
                yield data[i : i + 100_000]

        created = httpx.put(f"{app.url}/artifacts/DEAL-9/documents/cim/up.pdf", content=body())
        assert created.status_code == 201, created.text
        assert created.json()["sha256"] == sha(data)
        answer = httpx.get(f"{app.url}/artifacts/DEAL-9/documents/cim/up.pdf")
        assert answer.content == data
        ranged = httpx.get(
            f"{app.url}/artifacts/DEAL-9/documents/cim/up.pdf", headers={"Range": "bytes=-10"}
        )
        assert ranged.content == data[-10:]
        listed = httpx.get(f"{app.url}/deals/DEAL-9").json()
        assert [item["storage_key"] for item in listed] == ["DEAL-9/documents/cim/up.pdf"]
        assert httpx.put(f"{app.url}/artifacts/..%2Fx", content=b"x").status_code == 400
    finally:
        app.stop()
