"""Checks of ``copy``, ``move`` and ``delete_prefix``; then every operation without a loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ..._drive import drive
from ...errors import ArtifactExistsError, ArtifactNotFoundError, InvalidKeyError
from ...metadata import ArtifactMetadata
from ...store import ArtifactStore
from ._check import MiB, assert_meta, check, keys_of, raises, sha, write_file

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
