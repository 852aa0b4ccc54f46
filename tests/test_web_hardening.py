"""Web serving under attack: weak secrets refused, crafted requests answered, never a 500.

Issue 11, items 4 and 5. The secret tests call every place a link secret enters.
The request tests run a real uvicorn server (``tests/webapp.py``) and a real aiohttp
server (``tests/aiohttp_app.py``) in their own processes, in front of the local
backend, send crafted ``Range``, conditional headers, link parameters and keys with
httpx (and, for bytes no client library would send, a raw socket), and check both
the answer (200 with the whole artifact, 206 with the right bytes, 400, 403, 404 or
416: never 500) and the server's log (nothing at ERROR, no traceback).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web as aiohttp_web
from aiohttp.test_utils import TestServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from artifactstore import LocalFilesystemArtifactStore, StorageBackendError, StorageConfigError
from artifactstore.metadata import ArtifactMetadata
from artifactstore.signing import check_link_settings, sign, signed_url, verify
from artifactstore.testing import Fault, FaultLayer
from artifactstore.web import artifact_response as starlette_response
from artifactstore.web import download_app as starlette_download_app
from artifactstore.web._http import plan_response
from artifactstore.web.aiohttp import artifact_response as aiohttp_response
from artifactstore.web.aiohttp import download_app as aiohttp_download_app

from .webserver import AppServer

SECRET = "hardening-secret-" + "y" * 40
CIM = "DEAL-1/documents/cim/cim.pdf"
DATA = os.urandom(1000)
SIZE = len(DATA)

# ------------------------------------------------------------------ item 4: secrets

SHORT_SECRETS: list[Any] = ["", "x" * 31, b"", b"x" * 31, bytearray(b"x" * 31), "\u00e9" * 15]
GOOD_SECRETS: list[Any] = ["x" * 32, b"x" * 32, "\u00e9" * 16]  # 32 UTF-8 bytes, one rule


def _refused(raised: pytest.ExceptionInfo[StorageConfigError], secret: Any) -> None:
    assert "32" in str(raised.value)
    if len(secret) >= 4:
        text = secret if isinstance(secret, str) else bytes(secret).decode()
        assert text not in str(raised.value)  # the secret is never in a message


@pytest.fixture
def store(tmp_path: Path) -> LocalFilesystemArtifactStore:
    return LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False)


@pytest.mark.parametrize("secret", SHORT_SECRETS, ids=repr)
@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
def test_download_app_refuses_short_secrets(
    store: LocalFilesystemArtifactStore, flavour: str, secret: Any
) -> None:
    make = starlette_download_app if flavour == "starlette" else aiohttp_download_app
    with pytest.raises(StorageConfigError) as raised:
        make(store, secret=secret)
    _refused(raised, secret)


@pytest.mark.parametrize("secret", GOOD_SECRETS, ids=repr)
def test_download_app_accepts_long_secrets(
    store: LocalFilesystemArtifactStore, secret: Any
) -> None:
    assert isinstance(starlette_download_app(store, secret=secret), Starlette)
    assert isinstance(aiohttp_download_app(store, secret=secret), aiohttp_web.Application)


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
def test_download_app_refuses_a_secret_that_is_not_text_or_bytes(
    store: LocalFilesystemArtifactStore, flavour: str
) -> None:
    make = starlette_download_app if flavour == "starlette" else aiohttp_download_app
    wrong: list[Any] = [None, 12345678901234567890123456789012345]
    for secret in wrong:
        with pytest.raises(TypeError, match="secret"):
            make(store, secret=secret)


@pytest.mark.parametrize("secret", SHORT_SECRETS, ids=repr)
def test_signing_functions_refuse_short_secrets(secret: Any) -> None:
    future = int(time.time()) + 600
    calls: dict[str, Callable[[], object]] = {
        "sign": lambda: sign(secret, CIM, future),
        "signed_url": lambda: signed_url("https://h.example/dl", secret, CIM, 600),
        "verify": lambda: verify(secret, CIM, str(future), "0" * 64),
        "check_link_settings": lambda: check_link_settings("https://h.example/dl", secret),
        "local store": lambda: LocalFilesystemArtifactStore(
            "/nonexistent-root", url_base="https://h.example/dl", url_secret=secret
        ),
    }
    for name, call in calls.items():
        with pytest.raises(StorageConfigError) as raised:
            call()
        _refused(raised, secret)
        assert raised.value.setting is not None, name


@pytest.mark.parametrize("secret", GOOD_SECRETS, ids=repr)
def test_signing_functions_accept_long_secrets(secret: Any) -> None:
    check_link_settings("https://h.example/dl", secret)
    link = httpx.URL(signed_url("https://h.example/dl", secret, CIM, 600))
    assert link.params["signature"] == sign(secret, CIM, int(link.params["expires"]))
    assert verify(secret, CIM, link.params["expires"], link.params["signature"])


# ----------------------------------------------------- item 5: parsing, in-process


def _meta() -> ArtifactMetadata:
    from datetime import datetime, timezone

    return ArtifactMetadata(
        storage_backend="local",
        storage_key=CIM,
        storage_uri="file:///x",
        size_bytes=SIZE,
        sha256="ab" * 32,
        mime_type="application/pdf",
        last_modified=datetime(2024, 5, 1, tzinfo=timezone.utc),
    )


# (header value, expected status, expected [start, end) for 206)
RANGE_CASES: list[tuple[str, int, tuple[int, int] | None]] = [
    ("bytes=\u00b2-", 200, None),  # superscript two: str.isdigit() says yes, int() says no
    ("bytes=0-\u00b2", 200, None),
    ("bytes=-\u00b2", 200, None),
    ("bytes=\u0663-", 200, None),  # Arabic-Indic three: int() accepts it, HTTP does not
    ("bytes=\uff11-", 200, None),  # fullwidth one
    ("bytes=0-" + "9" * 5000, 206, (0, SIZE)),  # past Python's 4,300-digit int limit
    ("bytes=-" + "9" * 5000, 206, (0, SIZE)),
    ("bytes=" + "9" * 5000 + "-", 416, None),
    ("bytes=" + "0" * 5000 + "1-2", 206, (1, 3)),
    ("bytes=99999999999999999999-", 416, None),
    ("bytes=0-99999999999999999999", 206, (0, SIZE)),
    ("bytes=-99999999999999999999", 206, (0, SIZE)),
    (f"bytes={SIZE - 1}-", 206, (SIZE - 1, SIZE)),
    (f"bytes={SIZE}-", 416, None),
    ("bytes=-0", 416, None),
    ("bytes=-5-10", 200, None),
    ("bytes=--5", 200, None),
    ("bytes=5--", 200, None),
    ("bytes=+5-10", 200, None),
    ("bytes=0x10-20", 200, None),
    ("bytes=1e3-", 200, None),
    ("bytes=1_0-20", 200, None),
    ("bytes=9-5", 200, None),
    ("bytes=", 200, None),
    ("bytes=-", 200, None),
    ("bytes= ", 200, None),
    ("bytes", 200, None),
    ("=", 200, None),
    ("", 200, None),
    ("bytes==0-1", 200, None),
    ("bytes=0-1,", 200, None),
    ("bytes=,0-1", 200, None),
    ("bytes=" + ",".join(["0-1"] * 1500), 200, None),
    ("bytes= 10 - 19 ", 206, (10, 20)),
    ("bytes=\t10-19", 206, (10, 20)),
    ("bytes=1\u00a00-19", 200, None),  # a no-break space is not whitespace in HTTP
    ("BYTES=10-19", 206, (10, 20)),
    ("pages=1-2", 200, None),
]

# If-Modified-Since, If-None-Match, If-Range values that must not break anything.
CONDITIONAL_CASES: list[dict[str, str]] = [
    {"if-modified-since": "Mon, 01 Jan 99999999999 00:00:00 GMT"},  # OverflowError
    {"if-modified-since": "01 Jan 2001 00:00:00 +99999999999999999999"},  # OverflowError
    {"if-modified-since": "Mon, 01 Jan 2001 00:00:00 +9999"},
    {"if-modified-since": "Mon, 99 Jan 2001 99:99:99 GMT"},
    {"if-modified-since": "\u00b2 Jan 2001 00:00:00 GMT"},
    {"if-modified-since": "9" * 5000},
    {"if-modified-since": ""},
    {"if-none-match": "\u00b2"},
    {"if-none-match": ","},
    {"if-none-match": ""},
    {"if-range": "Mon, 01 Jan 99999999999 00:00:00 GMT", "range": "bytes=0-9"},
    {"if-range": "\u00b2", "range": "bytes=0-9"},
    {"if-range": "", "range": "bytes=0-9"},
]


@pytest.mark.parametrize(("header", "status", "span"), RANGE_CASES, ids=lambda v: repr(v)[:30])
def test_plan_response_on_crafted_ranges(
    header: str, status: int, span: tuple[int, int] | None
) -> None:
    for method in ("GET", "HEAD"):
        plan = plan_response(_meta(), method=method, headers={"range": header})
        assert plan.status == status
        if status == 200:
            assert (plan.start, plan.end) == (0, SIZE)
        if status == 206:
            assert span is not None
            assert (plan.start, plan.end) == span
            assert plan.headers["content-range"] == f"bytes {span[0]}-{span[1] - 1}/{SIZE}"


@pytest.mark.parametrize("headers", CONDITIONAL_CASES, ids=lambda v: repr(v)[:40])
def test_plan_response_on_crafted_conditionals(headers: dict[str, str]) -> None:
    plan = plan_response(_meta(), method="GET", headers=headers)
    assert plan.status == 200  # none of them matches: the whole artifact
    assert (plan.start, plan.end) == (0, SIZE)


BAD_EXPIRES = [
    "\u00b2",
    "\u0663" * 10,
    "\uff11" * 10,
    "9" * 5000,
    "-1",
    "+9999999999",
    " 9999999999",
    "9999999999 ",
    "9999999999\n",
    "1e10",
    "0x7fffffff",
    "",
    "\x00",
    "9" * 13,
]
BAD_SIGNATURES = [
    "\u00e9" * 64,
    "\u00e9",
    "\ud800" * 64,  # a lone surrogate, as surrogateescape decoding makes
    "0" * 5000,
    "0" * 63,
    "0" * 65,
    "g" * 64,
    " " + "0" * 63,
    "",
]


def test_verify_refuses_malformed_links_without_raising() -> None:
    future = str(int(time.time()) + 600)
    good = sign(SECRET, CIM, int(future))
    assert verify(SECRET, CIM, future, good)
    for expires in BAD_EXPIRES:
        assert verify(SECRET, CIM, expires, good) is False, repr(expires)
    for signature in BAD_SIGNATURES:
        assert verify(SECRET, CIM, future, signature) is False, repr(signature)
    assert verify(SECRET, CIM, future, good.upper()) is False
    assert verify(SECRET, CIM, None, good) is False
    assert verify(SECRET, CIM, future, None) is False
    assert verify(SECRET, "DEAL-1/\ud800.pdf", future, good) is False  # unencodable key


# ------------------------------------------------- item 5: real servers, real clients


class Servers:
    def __init__(self, uvicorn: AppServer, aiohttp: AppServer) -> None:
        self.uvicorn = uvicorn
        self.aiohttp = aiohttp


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("hardening") / "DataRoom"

    async def seed() -> None:
        async with LocalFilesystemArtifactStore(root, durable=False) as store:
            await store.put(CIM, DATA)

    asyncio.run(seed())
    env = {
        "ARTIFACT_STORAGE_BACKEND": "local",
        "DATAROOM_ROOT": str(root),
        "ARTIFACT_STORAGE_DURABLE": "false",
        "ARTIFACT_URL_SECRET": SECRET,
        "ARTIFACT_URL_BASE": "http://127.0.0.1:1/dl",  # links are signed here, not there
    }
    uvicorn = AppServer.start("uvicorn", env, "tests.webapp:app")
    try:
        aiohttp = AppServer.start("aiohttp", env, "tests.aiohttp_app:make_app")
    except BaseException:
        uvicorn.stop()
        raise
    try:
        yield Servers(uvicorn, aiohttp)
    finally:
        uvicorn.stop()
        aiohttp.stop()


def _log_size(server: AppServer) -> int:
    return os.fstat(server.log.fileno()).st_size


def _log_since(server: AppServer, offset: int) -> str:
    # pread: the server process shares this file's offset, so never seek it.
    fd = server.log.fileno()
    size = os.fstat(fd).st_size
    return os.pread(fd, max(size - offset, 0), offset).decode("utf-8", "replace")


_ERROR_LINE = re.compile(r"^(ERROR|CRITICAL)\b", re.MULTILINE)


@pytest.fixture(params=["uvicorn", "aiohttp"])
def server(request: pytest.FixtureRequest, servers: Servers) -> Iterator[AppServer]:
    """One of the two servers; the test fails if it logged a traceback or an ERROR."""
    chosen: AppServer = getattr(servers, request.param)
    offset = _log_size(chosen)
    yield chosen
    time.sleep(0.2)  # let the server finish writing what the last request made it log
    logged = _log_since(chosen, offset)
    assert "Traceback" not in logged, logged[-3000:]
    assert not _ERROR_LINE.search(logged), logged[-3000:]


NEVER = {500, 501, 502, 503}


def _check(answer: httpx.Response, status: int, span: tuple[int, int] | None) -> None:
    assert answer.status_code not in NEVER
    assert answer.status_code == status, answer.text[:200]
    if status == 200:
        assert answer.content == DATA
    elif status == 206:
        assert span is not None
        assert answer.content == DATA[span[0] : span[1]]
    elif status == 416:
        assert answer.headers["content-range"] == f"bytes */{SIZE}"


def _latin1(value: str) -> bytes:
    """The header's bytes on the wire (a server decodes header bytes as Latin-1 or UTF-8)."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def test_crafted_ranges_over_http(server: AppServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for header, status, span in RANGE_CASES:
            raw = _latin1(header.strip(" \t"))  # servers drop it; h11 refuses to send it
            answer = client.get(f"/artifacts/{CIM}", headers={b"Range": raw})
            _check(answer, status, span)
            head = client.head(f"/artifacts/{CIM}", headers={b"Range": raw})
            assert head.status_code == status


def test_crafted_conditionals_over_http(server: AppServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for headers in CONDITIONAL_CASES:
            raw = {name.encode(): _latin1(value) for name, value in headers.items()}
            _check(client.get(f"/artifacts/{CIM}", headers=raw), 200, None)


def test_raw_bytes_in_headers(server: AppServer) -> None:
    """Bytes 0x80-0xFF, invalid UTF-8 included, in Range and If-* headers."""
    host, port = "127.0.0.1", server.port
    for name, value in [
        (b"Range", b"bytes=\xb2-"),
        (b"Range", b"bytes=0-\xff\xfe"),
        (b"Range", b"bytes=\xd9\xa3-"),  # U+0663 in UTF-8
        (b"If-None-Match", b"\xff"),
        (b"If-Modified-Since", b"\xc3\x28 Jan 2001"),
        (b"If-Range", b"\x80"),
    ]:
        request = (
            b"GET /artifacts/"
            + CIM.encode()
            + b" HTTP/1.1\r\nHost: x\r\n"
            + name
            + b": "
            + value
            + b"\r\nConnection: close\r\n\r\n"
        )
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        status_line = received.split(b"\r\n", 1)[0]
        assert status_line.split()[1] in (b"200", b"400"), (name, value, status_line)
        if status_line.split()[1] == b"200":
            assert received.endswith(DATA)


def _dl(server: AppServer, query: str, key: str = CIM) -> str:
    return f"{server.url}/dl/{httpx.URL(key).raw_path.decode()}?{query}"


def test_signed_link_still_works(server: AppServer) -> None:
    link = httpx.URL(signed_url(f"{server.url}/dl", SECRET, CIM, 600))
    with httpx.Client(timeout=30) as client:
        _check(client.get(link), 200, None)
        _check(client.get(link, headers={"Range": "bytes=0-9"}), 206, (0, 10))
        _check(client.get(link, headers={b"Range": b"bytes=\xb2-"}), 200, None)
        _check(client.get(link, headers={"Range": "bytes=0-" + "9" * 5000}), 206, (0, SIZE))


def test_crafted_link_parameters_get_403(server: AppServer) -> None:
    expires = str(int(time.time()) + 600)
    good = sign(SECRET, CIM, int(expires))
    queries = [
        "expires=%C2%B2&signature=" + good,
        "expires=%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3%D9%A3&signature=" + good,
        "expires=" + "9" * 5000 + "&signature=" + good,
        "expires=-1&signature=" + good,
        "expires=%2B" + expires + "&signature=" + good,
        "expires=%20" + expires + "&signature=" + good,
        "expires=" + expires + "%0A&signature=" + good,
        "expires=%FF&signature=" + good,
        "expires=&signature=" + good,
        "signature=" + good,
        "expires=" + expires + "&signature=" + "%C3%A9" * 64,
        "expires=" + expires + "&signature=%C3%A9",
        "expires=" + expires + "&signature=" + "%FF" * 64,
        "expires=" + expires + "&signature=" + "%ED%A0%80" * 64,  # an encoded surrogate
        "expires=" + expires + "&signature=" + "0" * 5000,
        "expires=" + expires + "&signature=" + good.upper(),
        "expires=" + expires + "&signature=" + good[:-1],
        "expires=" + expires + "&signature=",
        "expires=" + expires,
        "expires=" + expires + "&signature=" + good + "&signature=" + "0" * 64,
        "expires=" + expires + "&signature=" + "0" * 64 + "&signature=" + good,
        "expires=" + expires + "&expires=1&signature=" + good,
        "expires=1&expires=" + expires + "&signature=" + good,
        "expires%00=" + expires + "&signature=" + good,
        "",
        "&&&=&==",
    ]
    with httpx.Client(timeout=30) as client:
        for query in queries:
            answer = client.get(_dl(server, query))
            assert answer.status_code == 403, (query[:80], answer.status_code, answer.text[:200])
            assert DATA[:100] not in answer.content
        for key in ["DEAL-1/%FF.pdf", "DEAL-1/%ED%A0%80.pdf", "DEAL-1/%00.pdf", "%C2%B2"]:
            answer = client.get(f"{server.url}/dl/{key}?expires={expires}&signature={good}")
            assert answer.status_code == 403, (key, answer.status_code)


def test_crafted_keys_get_400_or_404(server: AppServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for key in [
            "DEAL-1/%FF.pdf",
            "DEAL-1/%ED%A0%80.pdf",
            "DEAL-1/%00.pdf",
            "DEAL-1/" + "a" * 5000,
            "DEAL-1/" + "%C3%A9" * 1000,  # aiohttp itself logs lines over 8,190 bytes
            "%C2%B2",
            "DEAL-1/..%2F..%2Fetc%2Fpasswd",
        ]:
            answer = client.get(f"/artifacts/{key}")
            assert answer.status_code in (400, 404), (key[:40], answer.status_code)


# ------------------------------------- the shared serving loop, through both flavours


class ChurningStore(LocalFilesystemArtifactStore):
    """A real local store whose artifact changes right after each of its next looks.

    ``replace`` rewrites it (new bytes), ``delete`` removes it: what another writer
    can do between ``get_metadata`` and ``stream``, made to happen every time.
    """

    def __init__(self, root: Path, *, changes: int, mode: str) -> None:
        super().__init__(root, durable=False)
        self.changes = changes
        self.mode = mode
        self.looks = 0

    async def get_metadata(self, key: str) -> ArtifactMetadata:
        meta = await super().get_metadata(key)
        self.looks += 1
        if self.changes > 0:
            self.changes -= 1
            if self.mode == "delete":
                await self.delete(key)
            else:
                await self.put(key, os.urandom(500))
        return meta


async def _ask(flavour: str, store: ChurningStore, method: str = "GET") -> httpx.Response:
    if flavour == "starlette":

        async def handler(request: Request) -> Response:
            return starlette_response(store, request.path_params["key"], request)

        app = Starlette(routes=[Route("/a/{key:path}", handler, methods=["GET", "HEAD"])])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, f"/a/{CIM}")

    async def aio_handler(request: aiohttp_web.Request) -> aiohttp_web.StreamResponse:
        return await aiohttp_response(store, request.match_info["key"], request)

    aio_app = aiohttp_web.Application()
    aio_app.router.add_get("/a/{key:.+}", aio_handler)
    async with (
        TestServer(aio_app, host="127.0.0.1") as test_server,
        httpx.AsyncClient(base_url=str(test_server.make_url(""))) as client,
    ):
        return await client.request(method, f"/a/{CIM}")


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
async def test_replaced_between_the_looks_is_planned_again(tmp_path: Path, flavour: str) -> None:
    store = ChurningStore(tmp_path / "DataRoom", changes=1, mode="replace")
    await store.put(CIM, DATA)
    answer = await _ask(flavour, store)
    current = await store.get(CIM)
    assert current != DATA
    assert (answer.status_code, answer.content) == (200, current)  # the new version, whole
    assert answer.headers["etag"] == f'"{(await store.get_metadata(CIM)).sha256}"'
    assert store.looks >= 2
    await store.aclose()


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
async def test_always_changing_gets_503_after_three_looks(tmp_path: Path, flavour: str) -> None:
    store = ChurningStore(tmp_path / "DataRoom", changes=100, mode="replace")
    await store.put(CIM, DATA)
    answer = await _ask(flavour, store)
    assert (answer.status_code, answer.text) == (503, "artifact is changing, retry")
    assert store.looks == 3
    await store.aclose()


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
async def test_deleted_between_the_looks_is_a_404(tmp_path: Path, flavour: str) -> None:
    store = ChurningStore(tmp_path / "DataRoom", changes=1, mode="delete")
    await store.put(CIM, DATA)
    answer = await _ask(flavour, store)
    assert (answer.status_code, answer.text) == (404, "artifact not found")
    await store.aclose()


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
async def test_head_through_the_shared_loop(tmp_path: Path, flavour: str) -> None:
    store = ChurningStore(tmp_path / "DataRoom", changes=0, mode="replace")
    await store.put(CIM, DATA)
    head = await _ask(flavour, store, "HEAD")
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(SIZE)
    await store.aclose()


@pytest.mark.parametrize("flavour", ["starlette", "aiohttp"])
async def test_a_stream_that_fails_to_open_is_503_not_500(tmp_path: Path, flavour: str) -> None:
    # A real local store whose streams fail to open (a transient backend error).
    failure = StorageBackendError("the disk went away", retryable=True)
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False).layer(
        FaultLayer(Fault("stream", error=failure))
    )
    await store.put(CIM, DATA)
    answer = await _ask(flavour, store)  # type: ignore[arg-type]
    assert (answer.status_code, answer.text) == (503, "storage unavailable")
    await store.aclose()


def test_if_range_with_a_date_never_resumes_when_there_is_an_etag() -> None:
    """Two versions may share a second: a date is a weak validator (RFC 9110 8.8.2.2)."""
    meta = ArtifactMetadata(
        storage_backend="local",
        storage_key="a.bin",
        storage_uri="file:///a.bin",
        sha256="ab" * 32,
        size_bytes=10,
        mime_type="application/octet-stream",
        last_modified=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    date = "Thu, 01 Jan 2026 00:00:00 GMT"
    by_date = plan_response(meta, method="GET", headers={"range": "bytes=5-", "if-range": date})
    assert by_date.status == 200  # the whole, current artifact
    by_etag = plan_response(
        meta, method="GET", headers={"range": "bytes=5-", "if-range": f'"{"ab" * 32}"'}
    )
    assert by_etag.status == 206


def test_a_suffix_range_of_an_empty_artifact_is_the_whole_empty_artifact() -> None:
    meta = ArtifactMetadata(
        storage_backend="local",
        storage_key="empty.bin",
        storage_uri="file:///empty.bin",
        sha256="cd" * 32,
        size_bytes=0,
        mime_type="application/octet-stream",
        last_modified=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert plan_response(meta, method="GET", headers={"range": "bytes=-5"}).status == 200


@pytest.mark.parametrize(
    ("mime", "active"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML", True),
        ("application/xhtml+xml", True),
        ("image/svg+xml", True),
        ("application/xml", True),
        ("text/xml", True),
        ("application/rss+xml", True),
        ("text/javascript", True),
        ("application/javascript", True),
        ("application/ecmascript", True),
        ("application/pdf", False),
        ("image/png", False),
        ("text/plain", False),
        ("application/json", False),
        ("application/octet-stream", False),
        (None, False),  # served as application/octet-stream
    ],
)
def test_active_types_are_never_inline_unless_allowed(mime: str | None, active: bool) -> None:
    """Issue 23, item 2: every planned answer is sandboxed; active types are attachments."""
    from dataclasses import replace

    meta = replace(_meta(), mime_type=mime)
    for method, headers in [("GET", {}), ("HEAD", {}), ("GET", {"range": "bytes=0-9"})]:
        plan = plan_response(meta, method=method, headers=headers, inline=True)
        assert plan.status in (200, 206)
        assert plan.headers["content-security-policy"] == "sandbox"
        assert plan.headers["x-content-type-options"] == "nosniff"
        kind = plan.headers["content-disposition"].split(";")[0]
        assert kind == ("attachment" if active else "inline"), (mime, method)
        allowed = plan_response(
            meta, method=method, headers=headers, inline=True, allow_active=True
        )
        assert allowed.headers["content-disposition"].startswith("inline;")
        assert allowed.headers["content-security-policy"] == "sandbox"
