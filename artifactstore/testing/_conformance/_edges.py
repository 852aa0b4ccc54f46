"""Checks at the edges: keys normalized or refused, bad data, cancelled puts, concurrency."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator
from pathlib import Path

from ...errors import InvalidKeyError
from ...store import ArtifactStore
from ._check import check, chunks, keys_of, raises, sha

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
