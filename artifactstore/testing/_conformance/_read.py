"""Checks of reading one artifact (get, stream and its ranges), delete, exists and get_url."""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import urllib.request
from pathlib import Path

from ...errors import ArtifactNotFoundError
from ...store import ArtifactStore
from ._check import MiB, check, keys_of, raises, sha

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
