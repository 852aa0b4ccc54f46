"""Checks of ``list`` and ``list_prefixes``, and of a file and a folder at one key."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ...errors import InvalidKeyError
from ...store import ArtifactStore
from ._check import check, chunks, keys_of, raises, sha

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
