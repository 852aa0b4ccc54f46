"""The ArtifactStore contract, as checks that take any store.

In the manner of object_store's conformance tests: each check is an ``async``
function taking a fresh, empty store and a scratch folder outside it (for source
files), and raising ``AssertionError`` (or the unexpected exception) when the store
breaks the contract. Checks that need an optional capability (see
:class:`Capabilities`) run only on backends that declare it.

This module needs nothing but artifactstore: ``raises`` stands in for
``pytest.raises``. Under pytest (the plugin imports it) its asserts are rewritten,
so a failure shows the values compared.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import os
import re
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Generic, TypeVar

from .._worker import drive
from ..errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    InvalidKeyError,
)
from ..metadata import ArtifactMetadata
from ..protocol import ArtifactStore
from ._capabilities import Capabilities

CheckFunction = Callable[[ArtifactStore, Path], Awaitable[None]]
E = TypeVar("E", bound=BaseException)

MiB = 1024 * 1024


@dataclass(frozen=True, eq=False)
class ConformanceCheck:
    """One check of the contract: ``await check(store, scratch)``.

    ``store`` is a fresh, empty store; ``scratch`` an empty folder outside it. The
    check raises (``AssertionError`` or the exception the store raised) when the
    store breaks the contract. ``str(check)`` is its name, for test ids.
    """

    #: A stable identifier, such as ``"stream_ranges"``.
    name: str
    #: The ``async`` function that runs it.
    function: CheckFunction
    #: Capability flags and the value each must have for the check to apply.
    requires: Mapping[str, bool]
    #: What it checks (the first line of the function's docstring).
    description: str

    async def __call__(self, store: ArtifactStore, scratch: Path) -> None:
        """Run the check on ``store``."""
        await self.function(store, scratch)

    def applies_to(self, capabilities: Capabilities) -> bool:
        """Whether a backend with ``capabilities`` must pass this check."""
        return all(getattr(capabilities, k) == v for k, v in self.requires.items())

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        needs = f", requires={dict(self.requires)!r}" if self.requires else ""
        return f"<ConformanceCheck {self.name}{needs}>"


_registry: list[ConformanceCheck] = []


def check(**requires: bool) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check; ``requires`` names the capability flags it needs."""
    unknown = set(requires) - set(Capabilities.names())
    if unknown:
        raise ValueError(f"unknown capabilities: {sorted(unknown)}")

    def register(fn: CheckFunction) -> CheckFunction:
        doc = (fn.__doc__ or "").strip().splitlines()
        _registry.append(ConformanceCheck(fn.__name__, fn, dict(requires), doc[0] if doc else ""))
        return fn

    return register


def conformance_checks(capabilities: Capabilities | None = None) -> list[ConformanceCheck]:
    """The checks a backend with ``capabilities`` must pass, in a stable order.

    ``None`` means the default :class:`Capabilities`. For pytest::

        @pytest.mark.parametrize("check", conformance_checks(CAPS), ids=str)
        async def test_conformance(check, store, tmp_path):
            await check(store, tmp_path)
    """
    capabilities = Capabilities() if capabilities is None else capabilities
    if not isinstance(capabilities, Capabilities):
        raise TypeError(f"capabilities must be a Capabilities, not {capabilities!r}")
    return [c for c in CHECKS if c.applies_to(capabilities)]


class Raised(Generic[E]):
    """What :func:`raises` caught: ``value`` is the exception."""

    value: E


@contextmanager
def raises(expected: type[E], match: str | None = None) -> Iterator[Raised[E]]:
    """Assert that the block raises ``expected`` (like ``pytest.raises``, without pytest).

    ``match`` is a regular expression searched for in ``str(exception)``.
    """
    caught: Raised[E] = Raised()
    try:
        yield caught
    except expected as exc:
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(
                f"{type(exc).__name__}({str(exc)!r}) was raised, but does not match {match!r}"
            ) from exc
        caught.value = exc
        return
    raise AssertionError(f"DID NOT RAISE {expected.__name__}")


def sha(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


async def chunks(*parts: bytes, delay: float = 0) -> AsyncIterator[bytes]:
    """An async iterable of ``parts``, ``delay`` seconds apart."""
    for part in parts:
        if delay:
            await asyncio.sleep(delay)
        yield part


async def keys_of(store: ArtifactStore, prefix: str = "", recursive: bool = True) -> list[str]:
    """The keys ``store.list(prefix)`` yields, in its order."""
    return [m.storage_key async for m in store.list(prefix, recursive=recursive)]


def assert_meta(meta: ArtifactMetadata, store: ArtifactStore, key: str, data: bytes) -> None:
    """Assert that ``meta`` describes ``data`` stored at ``key`` just now."""
    assert meta.storage_backend == store.backend_name
    assert meta.storage_key == key
    assert meta.sha256 == sha(data)
    assert meta.size_bytes == len(data)
    assert meta.last_modified.tzinfo is not None
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=5) < meta.last_modified < now + timedelta(minutes=5)
    assert store.normalize_key(meta.storage_uri) == key  # a store accepts its own URI
    row = meta.to_db_row()
    assert row["storage_key"] == key
    assert row["file_size"] == len(data)


def assert_same(a: ArtifactMetadata, b: ArtifactMetadata) -> None:
    """Equal but for last_modified, which a put may only estimate (S3 answers no time)."""
    assert dataclasses.replace(a, last_modified=b.last_modified) == b
    assert abs(a.last_modified - b.last_modified) < timedelta(seconds=5)


async def write_file(path: Path, data: bytes) -> None:
    """Write a source file off the event loop (the loop thread does no file I/O)."""
    await asyncio.to_thread(path.write_bytes, data)


# --------------------------------------------------------------------------- put


@check()
async def put_bytes_like_and_get(store: ArtifactStore, scratch: Path) -> None:
    """bytes, bytearray and memoryview are stored and read back, with full metadata."""
    data = b"Subject: LOI\r\n\r\nWe propose..."
    values: list[bytes | bytearray | memoryview] = [data, bytearray(data), memoryview(data)]
    for i, value in enumerate(values):
        key = f"DEAL-1/emails/msg-{i}.eml"
        meta = await store.put(key, value)
        assert_meta(meta, store, key, data)
        assert meta.mime_type == "message/rfc822"
        assert meta.metadata == {}
        assert await store.get(key) == data
        assert await store.get(key, verify=True) == data
        assert_same(await store.get_metadata(key), meta)


@check()
async def put_file_object_from_its_position(store: ArtifactStore, scratch: Path) -> None:
    """A binary file object is read from its current position to its end."""
    buffer = io.BytesIO(b"HEADER" + b"payload" * 1000)
    buffer.seek(6)
    meta = await store.put("DEAL-1/extracted/p.bin", buffer)
    assert meta.size_bytes == 7000
    assert await store.get("DEAL-1/extracted/p.bin") == b"payload" * 1000
    source = scratch / "cim.pdf"
    data = os.urandom(2 * MiB + 3)
    await write_file(source, data)
    f = await asyncio.to_thread(source.open, "rb")
    try:
        meta = await store.put("DEAL-1/documents/cim/cim.pdf", f)
    finally:
        f.close()
    assert_meta(meta, store, "DEAL-1/documents/cim/cim.pdf", data)
    assert meta.mime_type == "application/pdf"


@check()
async def put_path(store: ArtifactStore, scratch: Path) -> None:
    """A path names a local file to store; a missing file is FileNotFoundError, nothing stored."""
    source = scratch / "financials.xlsx"
    data = os.urandom(3 * MiB + 11)
    await write_file(source, data)
    meta = await store.put("DEAL-1/documents/financials/model.xlsx", source)
    assert_meta(meta, store, "DEAL-1/documents/financials/model.xlsx", data)
    assert await store.get("DEAL-1/documents/financials/model.xlsx", verify=True) == data
    with raises(FileNotFoundError):
        await store.put("DEAL-1/missing.bin", scratch / "does-not-exist")
    assert not await store.exists("DEAL-1/missing.bin")


@check()
async def put_async_iterable_uneven_chunks(store: ArtifactStore, scratch: Path) -> None:
    """An async iterable of chunks of any sizes (empty ones too) is stored whole."""
    parts = [os.urandom(n) for n in (1, 100, MiB - 1, 2, 3 * MiB, 0, 77)]
    data = b"".join(parts)
    meta = await store.put("DEAL-2/generated/loi/loi.docx", chunks(*parts))
    assert_meta(meta, store, "DEAL-2/generated/loi/loi.docx", data)
    assert await store.get("DEAL-2/generated/loi/loi.docx") == data


@check()
async def empty_artifacts(store: ArtifactStore, scratch: Path) -> None:
    """Empty bytes, an empty stream and an empty file are empty artifacts."""
    for i, value in enumerate([b"", chunks(), io.BytesIO(b"")]):
        key = f"DEAL-1/extracted/empty-{i}.json"
        meta = await store.put(key, value)  # type: ignore[arg-type]
        assert_meta(meta, store, key, b"")
        assert await store.get(key, verify=True) == b""
        assert [c async for c in store.stream(key)] == []


@check()
async def large_multi_chunk_artifact(store: ArtifactStore, scratch: Path) -> None:
    """A 5 MiB artifact round-trips and streams in chunks of at most chunk_size."""
    data = os.urandom(5 * MiB + 7)
    key = "DEAL-1/documents/cim/big.pdf"
    meta = await store.put(key, data)
    assert_meta(meta, store, key, data)
    assert await store.get(key, verify=True) == data
    got = [c async for c in store.stream(key, chunk_size=MiB)]
    assert all(len(c) <= MiB for c in got)
    assert b"".join(got) == data
    assert (await store.get_metadata(key)).sha256 == sha(data)


@check()
async def overwrite_replaces_content_and_metadata(store: ArtifactStore, scratch: Path) -> None:
    """A put over an artifact replaces its bytes and its metadata."""
    key = "DEAL-1/generated/responses/r.txt"
    await store.put(key, b"first", metadata={"author": "a"})
    meta = await store.put(key, b"second version", metadata={"reviewer": "b"})
    assert await store.get(key) == b"second version"
    head = await store.get_metadata(key)
    assert head.sha256 == sha(b"second version") == meta.sha256
    assert dict(head.metadata) == {"reviewer": "b"}
    assert await keys_of(store) == [key]


@check(conditional_writes=True)
async def if_not_exists_is_atomic(store: ArtifactStore, scratch: Path) -> None:
    """``put(if_not_exists=True)`` refuses an existing key; of 12 racers one wins."""
    key = "DEAL-1/generated/loi/final.pdf"
    await store.put(key, b"original", if_not_exists=True)
    with raises(ArtifactExistsError) as raised:
        await store.put(key, b"replacement", if_not_exists=True)
    assert raised.value.key == key
    assert key in str(raised.value)
    assert await store.get(key) == b"original"

    contenders = [f"writer-{i}".encode() for i in range(12)]
    results = await asyncio.gather(
        *(store.put("DEAL-1/race.txt", c, if_not_exists=True) for c in contenders),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, ArtifactMetadata)]
    assert len(winners) == 1
    assert all(isinstance(r, ArtifactExistsError) for r in results if r not in winners)
    assert await store.get("DEAL-1/race.txt") == contenders[results.index(winners[0])]


@check()
async def user_metadata_and_mime_type(store: ArtifactStore, scratch: Path) -> None:
    """``mime_type`` and user metadata (keys lower-cased) are kept; bad ones refused."""
    key = "DEAL-3/documents/teasers/teaser.pdf"
    meta = await store.put(
        key, b"%PDF-1.7", mime_type="application/x-custom", metadata={"Source": "banker"}
    )
    assert meta.mime_type == "application/x-custom"
    assert dict(meta.metadata) == {"source": "banker"}
    head = await store.get_metadata(key)
    assert head.mime_type == "application/x-custom"
    assert dict(head.metadata) == {"source": "banker"}
    assert (await store.put("DEAL-3/x.unknownext", b"?")).mime_type == "application/octet-stream"
    for bad_mime in ["pdf", "text/plain\r\nX-Evil: 1"]:
        with raises(ValueError, match="mime_type"):
            await store.put("DEAL-3/bad.bin", b"x", mime_type=bad_mime)
    with raises(TypeError):
        await store.put("DEAL-3/bad.bin", b"x", metadata={"n": 1})  # type: ignore[dict-item]
    assert not await store.exists("DEAL-3/bad.bin")


# ------------------------------------------------------------------ get / stream


@check()
async def missing_artifacts(store: ArtifactStore, scratch: Path) -> None:
    """Reading a missing key is ArtifactNotFoundError (a FileNotFoundError), naming it."""
    key = "DEAL-1/emails/none.eml"
    with raises(ArtifactNotFoundError) as raised:
        await store.get(key)
    assert raised.value.key == key
    assert key in str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)
    with raises(ArtifactNotFoundError):
        await store.get_metadata(key)
    with raises(ArtifactNotFoundError):
        async with store.stream(key):
            pass
    with raises(ArtifactNotFoundError):
        [c async for c in store.stream(key)]
    assert await store.exists(key) is False
    assert await store.delete(key) is False


@check()
async def stream_ranges(store: ArtifactStore, scratch: Path) -> None:
    """``stream(start, end)`` reads [start, end) as slicing would; bad ranges are ValueError."""
    data = bytes(range(256)) * 40  # 10240 bytes
    key = "DEAL-1/extracted/ranges.bin"
    await store.put(key, data)
    cases = [(0, 10), (10, None), (None, 100), (len(data) - 5, len(data) + 100), (5, 5)]
    cases += [(len(data), None), (len(data) + 10, None), (1000, 1001)]
    for start, end in cases:
        got = [c async for c in store.stream(key, start=start, end=end, chunk_size=777)]
        assert all(0 < len(c) <= 777 for c in got)
        assert b"".join(got) == data[start:end], (start, end)
    async with store.stream(key, start=100, end=200) as s:
        assert s.metadata.size_bytes == len(data)
        assert s.metadata.sha256 == sha(data)
        assert b"".join([c async for c in s]) == data[100:200]
    bad_ranges: list[dict[str, int]] = [{"start": -1}, {"start": 10, "end": 5}, {"chunk_size": 0}]
    for bad in bad_ranges:
        with raises(ValueError):
            store.stream(key, **bad)


@check()
async def stream_released_on_early_stop(store: ArtifactStore, scratch: Path) -> None:
    """A stream left early (break, an exception, aclose) releases what it held."""
    data = os.urandom(3 * MiB)
    key = "DEAL-1/documents/cim/stream.pdf"
    await store.put(key, data)
    for _ in range(100):
        async for _chunk in store.stream(key, chunk_size=64 * 1024):
            break
    for _ in range(100):
        async with store.stream(key, chunk_size=64 * 1024) as s:
            await s.__anext__()
    for _ in range(50):
        with raises(RuntimeError, match="consumer failed"):
            async for _chunk in store.stream(key):
                raise RuntimeError("consumer failed")
    # The store is still healthy and every reader got its bytes released.
    assert await store.get(key) == data
    s = store.stream(key)
    await s.aclose()
    assert [c async for c in s] == []


@check(cancellation=True)
async def stream_cancelled_midway(store: ArtifactStore, scratch: Path) -> None:
    """A task cancelled while reading a stream releases it; the store stays healthy."""
    data = os.urandom(3 * MiB)
    key = "DEAL-1/documents/cim/stream.pdf"
    await store.put(key, data)

    async def slow_consumer() -> None:
        async for _chunk in store.stream(key, chunk_size=1024):
            await asyncio.sleep(0.001)

    for _ in range(20):
        task = asyncio.create_task(slow_consumer())
        await asyncio.sleep(0.002)
        task.cancel()
        with raises(asyncio.CancelledError):
            await task
    assert await store.get(key) == data


# ------------------------------------------------------------- delete / exists


@check()
async def delete_and_exists(store: ArtifactStore, scratch: Path) -> None:
    """``delete`` removes an artifact and says whether there was one."""
    key = "DEAL-1/emails/del.eml"
    assert not await store.exists(key)
    await store.put(key, b"x")
    assert await store.exists(key)
    assert await store.delete(key) is True
    assert await store.delete(key) is False
    assert not await store.exists(key)
    with raises(ArtifactNotFoundError):
        await store.get(key)
    assert await keys_of(store) == []
    assert [p async for p in store.list_prefixes()] == []


@check()
async def get_url_validates_expiry(store: ArtifactStore, scratch: Path) -> None:
    """``get_url`` returns a URL; expires_in must be an int from 1 s to 7 days."""
    await store.put("DEAL-1/emails/u.eml", b"x")
    url = await store.get_url("DEAL-1/emails/u.eml")
    assert isinstance(url, str)
    assert url
    assert await store.get_url("DEAL-1/emails/u.eml", expires_in=1)
    assert await store.get_url("DEAL-1/emails/u.eml", expires_in=7 * 24 * 3600)
    for bad in [0, -1, 7 * 24 * 3600 + 1]:
        with raises(ValueError, match="expires_in"):
            await store.get_url("DEAL-1/emails/u.eml", expires_in=bad)
    for wrong in [1.5, True, "60"]:
        with raises(TypeError):
            await store.get_url("DEAL-1/emails/u.eml", expires_in=wrong)  # type: ignore[arg-type]


def _read_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        data: bytes = response.read()
        return data


@check(readable_urls=True)
async def urls_read_the_artifact(store: ArtifactStore, scratch: Path) -> None:
    """``get_url`` gives a file:, http: or https: URL that reads the bytes with no credentials."""
    for i, key in enumerate(["DEAL-1/documents/cim/cim.pdf", "DEAL-1/a report (v2) #3 & é.pdf"]):
        data = os.urandom(100_000 + i)
        await store.put(key, data)
        url = await store.get_url(key, expires_in=600)
        assert urllib.parse.urlsplit(url).scheme in ("file", "http", "https"), url
        assert await asyncio.to_thread(_read_url, url) == data, url


# --------------------------------------------------------------------- listing


@check()
async def list_in_utf8_byte_order(store: ArtifactStore, scratch: Path) -> None:
    """``list`` yields keys in UTF-8 byte order, with size and time."""
    names = ["a-c", "a.txt", "a/b", "a/b-c/d", "a/b.x", "A", "z", "é", "\U0001f4c4.pdf", "~x"]
    for name in names:
        await store.put(f"ORDER/{name}", name.encode())
    expected = sorted((f"ORDER/{n}" for n in names), key=lambda k: k.encode())
    assert await keys_of(store) == expected
    assert await keys_of(store, "ORDER") == expected
    listed = [m async for m in store.list("ORDER/a")]
    assert [m.storage_key for m in listed] == ["ORDER/a/b", "ORDER/a/b-c/d", "ORDER/a/b.x"]
    for m in listed:
        assert m.size_bytes == len(m.storage_key.removeprefix("ORDER/").encode())
        assert m.sha256 in (None, sha(m.storage_key.removeprefix("ORDER/").encode()))
        assert m.last_modified.tzinfo is not None


@check()
async def list_prefix_matches_whole_segments(store: ArtifactStore, scratch: Path) -> None:
    """A list prefix matches whole segments (DEAL-1 is not DEAL-10)."""
    for key in [
        "DEAL-1/emails/a.eml",
        "DEAL-10/emails/b.eml",
        "DEAL-1x",
        "DEAL-1/documents/cim/c.pdf",
    ]:
        await store.put(key, b"x")
    assert await keys_of(store, "DEAL-1") == ["DEAL-1/documents/cim/c.pdf", "DEAL-1/emails/a.eml"]
    assert await keys_of(store, "DEAL-1/") == await keys_of(store, "DEAL-1")
    assert await keys_of(store, "DEAL-10") == ["DEAL-10/emails/b.eml"]
    assert await keys_of(store, "DEAL-1/emails/a.eml") == []  # a prefix is a folder
    assert await keys_of(store, "DEAL-2") == []
    assert await keys_of(store, "DEAL-1", recursive=False) == []
    assert await keys_of(store, "DEAL-1/emails", recursive=False) == ["DEAL-1/emails/a.eml"]
    assert await keys_of(store, "", recursive=False) == ["DEAL-1x"]
    assert [p async for p in store.list_prefixes()] == ["DEAL-1", "DEAL-10"]
    assert [p async for p in store.list_prefixes("DEAL-1")] == ["DEAL-1/documents", "DEAL-1/emails"]
    assert [p async for p in store.list_prefixes("DEAL-1/emails")] == []
    for bad in ["../x", "/", "a/../../b"]:
        with raises(InvalidKeyError):
            await keys_of(store, bad)


@check()
async def list_many_artifacts(store: ArtifactStore, scratch: Path) -> None:
    """Listing 600 artifacts pages through them all, in order; it can stop early."""
    keys = [f"MANY/{i % 7}/{i:04d}.txt" for i in range(600)]
    await asyncio.gather(*(store.put(k, k.encode()) for k in keys))
    assert await keys_of(store, "MANY") == sorted(keys)
    stream = store.list("MANY")
    first = await stream.__anext__()
    assert first.storage_key == min(keys)
    await stream.aclose()  # type: ignore[attr-defined]


@check(sha256_in_listings=True)
async def listings_carry_sha256(store: ArtifactStore, scratch: Path) -> None:
    """``list`` fills in every artifact's SHA-256, recursive or not."""
    payloads = {f"SHA/{i % 3}/{i:02d}.bin": os.urandom(i * 101) for i in range(12)}
    payloads["SHA/top.bin"] = b"top"
    for key, data in payloads.items():
        await store.put(key, data)
    listed = [m async for m in store.list("SHA")]
    assert [m.storage_key for m in listed] == sorted(payloads)
    assert [m.sha256 for m in listed] == [sha(payloads[m.storage_key]) for m in listed]
    assert [m.size_bytes for m in listed] == [len(payloads[m.storage_key]) for m in listed]
    direct = [m async for m in store.list("SHA", recursive=False)]
    assert [(m.storage_key, m.sha256) for m in direct] == [("SHA/top.bin", sha(b"top"))]


@check(file_and_folder_at_same_key=True)
async def file_and_folder_at_same_key(store: ArtifactStore, scratch: Path) -> None:
    """a/b and a/b/c can both be artifacts, read, listed and deleted on their own."""
    await store.put("DEAL-1/a", b"file first")
    await store.put("DEAL-1/a/b.txt", b"then inside")
    await store.put("DEAL-2/x/y.txt", b"folder first")
    await store.put("DEAL-2/x", b"then the file")
    assert await keys_of(store) == ["DEAL-1/a", "DEAL-1/a/b.txt", "DEAL-2/x", "DEAL-2/x/y.txt"]
    assert await store.get("DEAL-1/a") == b"file first"
    assert await store.get("DEAL-1/a/b.txt") == b"then inside"
    assert await store.get("DEAL-2/x", verify=True) == b"then the file"
    assert await store.get("DEAL-2/x/y.txt", verify=True) == b"folder first"
    assert await keys_of(store, "DEAL-1/a") == ["DEAL-1/a/b.txt"]
    assert await keys_of(store, "DEAL-1", recursive=False) == ["DEAL-1/a"]
    assert [p async for p in store.list_prefixes("DEAL-1")] == ["DEAL-1/a"]
    copied = await store.copy("DEAL-2/x/y.txt", "DEAL-2/x/y.txt/z")
    assert copied.sha256 == sha(b"folder first")
    assert await store.delete_prefix("DEAL-1/a") == 1  # the folder, not the file
    assert await store.get("DEAL-1/a") == b"file first"
    assert await store.delete("DEAL-2/x") is True  # the file, not the folder
    assert await keys_of(store) == ["DEAL-1/a", "DEAL-2/x/y.txt", "DEAL-2/x/y.txt/z"]


@check(file_and_folder_at_same_key=False)
async def file_and_folder_at_same_key_refused(store: ArtifactStore, scratch: Path) -> None:
    """Where a/b and a/b/c cannot both be artifacts, the second is InvalidKeyError."""
    await store.put("DEAL-1/a", b"a file")
    await store.put("DEAL-2/x/y.txt", b"in a folder")
    await store.put("DEAL-3/src.txt", b"source")
    for key in ["DEAL-1/a/b.txt", "DEAL-1/a/b/c.txt", "DEAL-2/x"]:
        with raises(InvalidKeyError):
            await store.put(key, b"refused")
        with raises(InvalidKeyError):
            await store.put(key, chunks(b"refused ", b"too"))
        with raises(InvalidKeyError):
            await store.copy("DEAL-3/src.txt", key)
        with raises(InvalidKeyError):
            await store.move("DEAL-3/src.txt", key)
        assert not await store.exists(key)
    assert await keys_of(store) == ["DEAL-1/a", "DEAL-2/x/y.txt", "DEAL-3/src.txt"]
    assert await store.get("DEAL-1/a", verify=True) == b"a file"
    assert await store.get("DEAL-2/x/y.txt", verify=True) == b"in a folder"
    assert await store.get("DEAL-3/src.txt", verify=True) == b"source"
    # Once the file is gone, its name is free for a folder.
    assert await store.delete("DEAL-1/a") is True
    await store.put("DEAL-1/a/b.txt", b"now a folder")
    assert await keys_of(store, "DEAL-1") == ["DEAL-1/a/b.txt"]


# ---------------------------------------------------------------------- keys


@check()
async def keys_are_normalized(store: ArtifactStore, scratch: Path) -> None:
    """Keys are normalized (//, ./, NFC) and a store accepts its own storage_uri."""
    meta = await store.put("DEAL-1//emails/./x.eml", b"x")
    assert meta.storage_key == "DEAL-1/emails/x.eml"
    assert await store.get("DEAL-1/emails//x.eml") == b"x"
    assert await store.get(meta.storage_uri) == b"x"
    nfd = "DEAL-1/Re\u0301sume\u0301.pdf"
    meta = await store.put(nfd, b"cv")
    assert meta.storage_key == "DEAL-1/R\u00e9sum\u00e9.pdf"
    assert await store.get("DEAL-1/R\u00e9sum\u00e9.pdf") == b"cv"
    assert store.normalize_key(store.normalize_key(nfd)) == store.normalize_key(nfd)
    assert store.build_key("DEAL-1", "documents", "c.pdf", "cim") == "DEAL-1/documents/cim/c.pdf"


@check()
async def unicode_keys(store: ArtifactStore, scratch: Path) -> None:
    """Keys with non-ASCII letters, emoji, spaces and punctuation round-trip."""
    key = "DEAL-\u00fc/\u6587\u4ef6/\U0001f4c4 report (final) #2 & co's.pdf"
    meta = await store.put(key, b"data")
    assert meta.storage_key == key
    assert await store.get(key) == b"data"
    assert await keys_of(store) == [key]
    assert await store.get(meta.storage_uri) == b"data"


HOSTILE_KEYS = [
    "",
    "/",
    "../escape.txt",
    "DEAL-1/../../etc/passwd",
    "DEAL-1/..",
    "DEAL-1\\..\\x",
    "DEAL-1/a\x00b",
    "DEAL-1/line\nbreak",
    "DEAL-1/",
    "%2e%2e/x",
    "DEAL-1/%2F..",
    "\uff0e\uff0e/x",
    "C:/Windows/x",
    ".artifactstore/index.sqlite3",
    "DEAL-1/.artifactstore.abc.tmp",
    "x" * 501,
    "DEAL-1/" + "\u00e9" * 128,
    "/etc/passwd",
]


@check()
async def hostile_keys_refused_and_nothing_written(store: ArtifactStore, scratch: Path) -> None:
    """Keys that escape, are empty or reserved are InvalidKeyError everywhere."""
    await store.put("DEAL-1/keep.txt", b"keep")
    for key in HOSTILE_KEYS:
        with raises(InvalidKeyError):
            await store.put(key, b"evil")
        with raises(InvalidKeyError):
            await store.get(key)
        with raises(InvalidKeyError):
            store.stream(key)
        with raises(InvalidKeyError):
            await store.exists(key)
        with raises(InvalidKeyError):
            await store.delete(key)
        with raises(InvalidKeyError):
            await store.get_metadata(key)
        with raises(InvalidKeyError):
            await store.get_url(key)
    for not_a_key in [None, b"DEAL-1/x", 7]:
        with raises(TypeError):
            await store.put(not_a_key, b"x")  # type: ignore[arg-type]
    assert await keys_of(store) == ["DEAL-1/keep.txt"]
    assert await store.get("DEAL-1/keep.txt") == b"keep"


# ------------------------------------------------------------------ bad data


@check()
async def bad_data_refused_and_nothing_written(store: ArtifactStore, scratch: Path) -> None:
    """Data of a wrong type or a source that fails midway stores nothing."""
    key = "DEAL-1/keep.bin"
    await store.put(key, b"original")
    closed = io.BytesIO(b"x")
    closed.close()
    text_file = await asyncio.to_thread((scratch / "t.txt").open, "w+")
    try:
        for bad in ["text", None, 42, [b"a"], text_file]:
            with raises(TypeError):
                await store.put(key, bad)  # type: ignore[arg-type]
        with raises(ValueError, match="closed"):
            await store.put(key, closed)
    finally:
        text_file.close()
    with raises(TypeError):
        await store.put(key, chunks(b"ok", "str chunk"))  # type: ignore[arg-type]

    async def failing() -> AsyncIterator[bytes]:
        yield b"partial " * 100_000
        raise ConnectionResetError("client went away")

    with raises(ConnectionResetError):
        await store.put(key, failing())
    with raises(ConnectionResetError):
        await store.put("DEAL-1/new.bin", failing())
    assert await store.get(key, verify=True) == b"original"
    assert not await store.exists("DEAL-1/new.bin")
    assert await keys_of(store) == [key]


@check(cancellation=True)
async def cancelled_put_leaves_nothing(store: ArtifactStore, scratch: Path) -> None:
    """A put cancelled midway leaves the old artifact, or none, behind."""
    await store.put("DEAL-1/keep.bin", b"original")
    for key in ["DEAL-1/keep.bin", "DEAL-1/new.bin"]:
        task = asyncio.create_task(
            store.put(key, chunks(*[os.urandom(64 * 1024)] * 50, delay=0.005))
        )
        await asyncio.sleep(0.05)
        task.cancel()
        with raises(asyncio.CancelledError):
            await task
    assert await store.get("DEAL-1/keep.bin") == b"original"
    assert not await store.exists("DEAL-1/new.bin")
    assert await keys_of(store) == ["DEAL-1/keep.bin"]


# ----------------------------------------------------------------- concurrency


@check()
async def many_concurrent_operations(store: ArtifactStore, scratch: Path) -> None:
    """200 concurrent puts, gets and heads each see their own artifact."""
    payloads = {f"CONC/{i:03d}.bin": os.urandom(i * 37) for i in range(200)}
    metas = await asyncio.gather(*(store.put(k, v) for k, v in payloads.items()))
    assert [m.sha256 for m in metas] == [sha(v) for v in payloads.values()]
    got = await asyncio.gather(*(store.get(k, verify=True) for k in payloads))
    assert got == list(payloads.values())
    heads = await asyncio.gather(*(store.get_metadata(k) for k in payloads))
    assert [h.sha256 for h in heads] == [sha(v) for v in payloads.values()]
    assert await keys_of(store, "CONC") == sorted(payloads)


@check()
async def same_key_concurrent_writers(store: ArtifactStore, scratch: Path) -> None:
    """Of 30 concurrent writers of one key, one wins whole: bytes and hash agree."""
    payloads = [os.urandom(1000 + i) for i in range(30)]
    await asyncio.gather(*(store.put("RACE/one.bin", p) for p in payloads))
    data = await store.get("RACE/one.bin", verify=True)
    assert data in payloads
    assert (await store.get_metadata("RACE/one.bin")).sha256 == sha(data)


# ------------------------------------------------------- copy / move / delete_prefix


async def put_sample(store: ArtifactStore, key: str, data: bytes) -> ArtifactMetadata:
    return await store.put(
        key, data, mime_type="application/x-deal", metadata={"source": "banker", "note": "ünï"}
    )


def assert_copy_of(meta: ArtifactMetadata, key: str, data: bytes) -> None:
    assert meta.storage_key == key
    assert meta.sha256 == sha(data)
    assert meta.size_bytes == len(data)
    assert meta.mime_type == "application/x-deal"
    assert dict(meta.metadata) == {"source": "banker", "note": "ünï"}


@check()
async def copy_carries_bytes_and_metadata(store: ArtifactStore, scratch: Path) -> None:
    """``copy`` carries bytes, SHA-256, mime type and user metadata; replaces a target."""
    small, large = os.urandom(3000), os.urandom(3 * MiB + 17)
    for src, dst, data in [
        ("DEAL-1/emails/a.eml", "DEAL-2/emails/a-copy.eml", small),
        ("DEAL-1/documents/cim/big.bin", "ARCHIVE/DEAL-1/big.bin", large),
    ]:
        await put_sample(store, src, data)
        copied = await store.copy(src, dst)
        assert_copy_of(copied, dst, data)
        assert_meta(copied, store, dst, data)
        assert_copy_of(await store.get_metadata(dst), dst, data)
        assert await store.get(dst, verify=True) == data
        assert await store.get(src, verify=True) == data  # the source is untouched
    # Onto an existing artifact: replaced, as a put would.
    copied = await store.copy("DEAL-1/emails/a.eml", "ARCHIVE/DEAL-1/big.bin")
    assert_copy_of(copied, "ARCHIVE/DEAL-1/big.bin", small)
    assert await store.get("ARCHIVE/DEAL-1/big.bin") == small
    # Keys are normalized like every other key; a store's own URI names its artifact.
    uri = (await store.get_metadata("DEAL-1/emails/a.eml")).storage_uri
    assert (await store.copy(uri, "DEAL-3//x.eml")).storage_key == "DEAL-3/x.eml"
    assert await keys_of(store) == sorted(
        [
            "ARCHIVE/DEAL-1/big.bin",
            "DEAL-1/documents/cim/big.bin",
            "DEAL-1/emails/a.eml",
            "DEAL-2/emails/a-copy.eml",
            "DEAL-3/x.eml",
        ]
    )


@check()
async def copy_refusals_change_nothing(store: ArtifactStore, scratch: Path) -> None:
    """``copy`` of a missing key, or to a bad key, changes nothing."""
    await put_sample(store, "DEAL-1/a.txt", b"first")
    await put_sample(store, "DEAL-1/b.txt", b"second")
    with raises(ArtifactNotFoundError):
        await store.copy("DEAL-1/none.txt", "DEAL-1/c.txt")
    assert not await store.exists("DEAL-1/c.txt")
    for bad in ["../escape.txt", "DEAL-1/../../x", "/etc/passwd", ""]:
        with raises(InvalidKeyError):
            await store.copy("DEAL-1/a.txt", bad)
        with raises(InvalidKeyError):
            await store.move("DEAL-1/a.txt", bad)
    # Onto itself: nothing to do.
    same = await store.copy("DEAL-1/a.txt", "DEAL-1//a.txt")
    assert same.sha256 == sha(b"first")
    assert (await store.move("DEAL-1/a.txt", "DEAL-1/./a.txt")).sha256 == sha(b"first")
    with raises(ArtifactNotFoundError):
        await store.copy("DEAL-1/none.txt", "DEAL-1/none.txt")
    assert await keys_of(store) == ["DEAL-1/a.txt", "DEAL-1/b.txt"]
    assert await store.get("DEAL-1/a.txt", verify=True) == b"first"
    assert await store.get("DEAL-1/b.txt", verify=True) == b"second"


@check(conditional_writes=True)
async def copy_and_move_if_not_exists(store: ArtifactStore, scratch: Path) -> None:
    """``copy``/``move`` with if_not_exists=True refuse an existing target and change nothing."""
    await put_sample(store, "DEAL-1/a.txt", b"first")
    await put_sample(store, "DEAL-1/b.txt", b"second")
    with raises(ArtifactExistsError) as raised:
        await store.copy("DEAL-1/a.txt", "DEAL-1/b.txt", if_not_exists=True)
    assert raised.value.key == "DEAL-1/b.txt"
    assert await store.get("DEAL-1/b.txt") == b"second"
    created = await store.copy("DEAL-1/a.txt", "DEAL-1/c.txt", if_not_exists=True)
    assert_copy_of(created, "DEAL-1/c.txt", b"first")
    with raises(ArtifactExistsError):
        await store.move("DEAL-1/a.txt", "DEAL-1/b.txt", if_not_exists=True)
    assert await store.get("DEAL-1/a.txt") == b"first"  # both stay as they were
    assert await store.get("DEAL-1/b.txt") == b"second"
    moved = await store.move("DEAL-1/a.txt", "DEAL-1/d.txt", if_not_exists=True)
    assert_copy_of(moved, "DEAL-1/d.txt", b"first")
    assert not await store.exists("DEAL-1/a.txt")
    # Onto itself: it exists, so it is refused.
    for op in (store.copy, store.move):
        with raises(ArtifactExistsError):
            await op("DEAL-1/d.txt", "DEAL-1/d.txt", if_not_exists=True)
    assert await keys_of(store) == ["DEAL-1/b.txt", "DEAL-1/c.txt", "DEAL-1/d.txt"]
    # Concurrent copies to one new key: exactly one wins.
    sources = [f"RACE/src-{i}.txt" for i in range(8)]
    await asyncio.gather(*(put_sample(store, k, k.encode()) for k in sources))
    results = await asyncio.gather(
        *(store.copy(k, "RACE/target.txt", if_not_exists=True) for k in sources),
        return_exceptions=True,
    )
    winners = [i for i, r in enumerate(results) if isinstance(r, ArtifactMetadata)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ArtifactExistsError) for i, r in enumerate(results) if i != winners[0])
    assert await store.get("RACE/target.txt", verify=True) == sources[winners[0]].encode()


@check()
async def move_renames(store: ArtifactStore, scratch: Path) -> None:
    """``move`` puts the artifact at its new key and removes the old one."""
    data = os.urandom(5000)
    await put_sample(store, "INBOX/msg.eml", data)
    moved = await store.move("INBOX/msg.eml", "DEAL-9/emails/msg.eml")
    assert_copy_of(moved, "DEAL-9/emails/msg.eml", data)
    assert not await store.exists("INBOX/msg.eml")
    assert_copy_of(await store.get_metadata("DEAL-9/emails/msg.eml"), "DEAL-9/emails/msg.eml", data)
    assert await store.get("DEAL-9/emails/msg.eml", verify=True) == data
    with raises(ArtifactNotFoundError):
        await store.move("INBOX/msg.eml", "DEAL-9/emails/again.eml")
    assert not await store.exists("DEAL-9/emails/again.eml")
    # Onto an existing artifact: replaced, as a put would.
    await put_sample(store, "INBOX/other.eml", b"other")
    replaced = await store.move("INBOX/other.eml", "DEAL-9/emails/msg.eml")
    assert replaced.sha256 == sha(b"other")
    assert await keys_of(store) == ["DEAL-9/emails/msg.eml"]
    assert await store.get("DEAL-9/emails/msg.eml", verify=True) == b"other"


@check()
async def delete_prefix_matches_whole_segments(store: ArtifactStore, scratch: Path) -> None:
    """``delete_prefix`` deletes whole segments under a prefix and counts them."""
    keys = [f"DEAL-1/emails/{i:03d}.eml" for i in range(25)]
    keys += ["DEAL-1/documents/cim/cim.pdf", "DEAL-1/x.txt"]
    keep = ["DEAL-10/emails/a.eml", "DEAL-1x/a.txt", "DEAL-2/DEAL-1/a.txt", "DEAL-0.txt"]
    await asyncio.gather(*(store.put(k, k.encode()) for k in keys + keep))
    assert await store.delete_prefix("DEAL-1/emails") == 25
    assert await keys_of(store, "DEAL-1") == ["DEAL-1/documents/cim/cim.pdf", "DEAL-1/x.txt"]
    assert await store.delete_prefix("DEAL-1/") == 2
    assert await store.delete_prefix("DEAL-1") == 0
    assert await store.delete_prefix("NOTHING/here") == 0
    assert await store.delete_prefix("DEAL-0.txt") == 0  # an artifact is not a prefix
    assert await keys_of(store) == sorted(keep)
    assert [p async for p in store.list_prefixes()] == ["DEAL-10", "DEAL-1x", "DEAL-2"]
    for key in keep:
        assert await store.get(key) == key.encode()
    for bad in ["", "/", "../x", "DEAL-1/../.."]:
        with raises(ValueError):
            await store.delete_prefix(bad)
    assert await keys_of(store) == sorted(keep)
    # The keys are free again.
    await store.put("DEAL-1/emails/000.eml", b"new")
    assert await store.get("DEAL-1/emails/000.eml", verify=True) == b"new"


# -------------------------------------------------------------- without a loop


@check(runs_without_event_loop=True)
async def drives_without_an_event_loop(store: ArtifactStore, scratch: Path) -> None:
    """Every operation runs driven in a thread with no event loop (as the sync facade does)."""
    source = scratch / "source.bin"
    await write_file(source, b"from a file")

    async def scenario() -> None:
        meta = await store.put("DRIVE/a.txt", b"driven", metadata={"k": "v"})
        assert meta.sha256 == sha(b"driven")
        assert (await store.put("DRIVE/f.bin", source)).sha256 == sha(b"from a file")
        assert await store.get("DRIVE/a.txt", verify=True) == b"driven"
        assert dict((await store.get_metadata("DRIVE/a.txt")).metadata) == {"k": "v"}
        assert await store.exists("DRIVE/a.txt")
        parts = [c async for c in store.stream("DRIVE/a.txt", start=1, chunk_size=2)]
        assert b"".join(parts) == b"riven"
        await store.copy("DRIVE/a.txt", "DRIVE/b.txt")
        await store.move("DRIVE/b.txt", "DRIVE/sub/c.txt")
        assert await keys_of(store, "DRIVE") == ["DRIVE/a.txt", "DRIVE/f.bin", "DRIVE/sub/c.txt"]
        assert [p async for p in store.list_prefixes("DRIVE")] == ["DRIVE/sub"]
        assert await store.get_url("DRIVE/a.txt")
        assert await store.delete("DRIVE/f.bin") is True
        assert await store.delete_prefix("DRIVE") == 2

    await asyncio.to_thread(drive, scenario())
    assert await keys_of(store) == []


#: Every check, in a stable order (the order of this module).
CHECKS: tuple[ConformanceCheck, ...] = tuple(_registry)
