"""Checks of ``put``: every kind of data, metadata and mime type, overwrites, if_not_exists."""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path

from ...errors import ArtifactExistsError
from ...metadata import ArtifactMetadata
from ...store import ArtifactStore
from ._check import MiB, assert_meta, assert_same, check, chunks, keys_of, raises, sha, write_file

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


@check(staged_puts=True)
async def before_commit_runs_before_the_bytes_are_visible(
    store: ArtifactStore, scratch: Path
) -> None:
    """``PutOptions.before_commit`` sees the SHA-256 and size before the key does."""
    from ..._sources import as_source
    from ...options import PutOptions

    seen: list[tuple[str, int, bool | None, bool]] = []

    async def before_commit(sha256: str, size: int, replacing: bool | None) -> None:
        seen.append((sha256, size, replacing, await store.exists(key)))

    for key, data in [
        ("DEAL-1/staged/small.bin", b"small"),
        ("DEAL-1/staged/large.bin", os.urandom(3 * MiB + 7)),
    ]:
        seen.clear()
        options = PutOptions("application/octet-stream", before_commit=before_commit)
        parts = [data[i : i + MiB] for i in range(0, len(data), MiB)]
        meta = await store.backend.put(key, as_source(chunks(*parts)), options)
        assert seen == [(sha(data), len(data), seen[0][2], False)]
        assert seen[0][2] in (False, None)  # nothing there to replace
        assert meta.sha256 == sha(data)
        assert await store.get(key) == data


@check(staged_puts=True)
async def before_commit_that_raises_leaves_nothing(store: ArtifactStore, scratch: Path) -> None:
    """A ``before_commit`` that raises fails the put: the key keeps what it held."""
    from ..._sources import as_source
    from ...options import PutOptions

    async def refuse(sha256: str, size: int, replacing: bool | None) -> None:
        raise PermissionError("refused by before_commit")

    options = PutOptions("text/plain", before_commit=refuse)
    await store.put("DEAL-1/staged/kept.txt", b"old")
    for key in ("DEAL-1/staged/new.txt", "DEAL-1/staged/kept.txt"):
        with raises(PermissionError):
            await store.backend.put(key, as_source(b"new bytes"), options)
    assert not await store.exists("DEAL-1/staged/new.txt")
    assert await store.get("DEAL-1/staged/kept.txt") == b"old"
    assert await keys_of(store, "DEAL-1/staged") == ["DEAL-1/staged/kept.txt"]
