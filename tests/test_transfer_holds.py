"""Holds and retentions in migration, check and scrub (``artifactstore.transfer``).

A migration carries them to the destination before any artifact; a check names
those that differ; the scrub names a held artifact changed or removed behind the
library's back. Real stores: local DataRooms under ``tmp_path``, S3 buckets on the
moto server.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest

from artifactstore import (
    ArtifactHeldError,
    ArtifactStore,
    LocalFilesystemArtifactStore,
    StorageConfigError,
)
from artifactstore.backend import Backend
from artifactstore.backends.memory import MemoryBackend
from artifactstore.backends.s3 import S3ArtifactStore
from artifactstore.layers import Layer, LayeredBackend
from artifactstore.transfer import check_artifacts, copy_artifacts, verify_artifacts

from .s3server import MotoServer, new_bucket

T = TypeVar("T")

NOW = datetime.now(timezone.utc)
NEXT_YEAR = NOW + timedelta(days=365, microseconds=123)
LONG = NOW + timedelta(days=3650)
ARTIFACTS = {
    "DEAL-1/nda.pdf": b"nda " * 100,
    "DEAL-1/docs/cim.pdf": b"cim " * 1000,
    "DEAL-1/docs/model.xlsx": b"model",
    "DEAL-2/memo.txt": b"memo",
    "DEAL-2/sub/deep.csv": b"a,b\n1,2\n",
    "free/notes.txt": b"not held",
}


async def put_all(store: ArtifactStore, items: dict[str, bytes] = ARTIFACTS) -> None:
    for key, data in items.items():
        await store.put(key, data)


async def hold_some(store: ArtifactStore) -> None:
    await store.hold("DEAL-1", "SEC-2024-17", reason="subpoena of 3 March")
    await store.hold("DEAL-1/nda.pdf", "NDA-ACME")
    await store.hold("DEAL-1/nda.pdf", "SEC-2024-17")  # the same name on another target
    await store.hold("DEAL-2/memo.txt", "internal audit", reason="Q3")
    await store.retain("DEAL-2", until=NEXT_YEAR)
    await store.retain("DEAL-1/nda.pdf", until=LONG)


async def holds_of(store: ArtifactStore) -> list[tuple[str, str, str]]:
    return [(h.target, h.name, h.reason) async for h in store.holds()]


async def retentions_of(store: ArtifactStore) -> list[tuple[str, datetime]]:
    return [(r.target, r.until) async for r in store.retentions()]


@pytest.fixture
async def local(tmp_path: Path) -> AsyncIterator[Callable[[str], LocalFilesystemArtifactStore]]:
    """``local("name")``: a new DataRoom under ``tmp_path``, closed after the test."""
    opened: list[ArtifactStore] = []

    def build(name: str, **options: Any) -> LocalFilesystemArtifactStore:
        store = LocalFilesystemArtifactStore(tmp_path / name, **options)
        opened.append(store)
        return store

    yield build
    for store in opened:
        await store.aclose()


# ------------------------------------------------------------------ migration


async def test_a_dataroom_to_s3_and_back_keeps_every_hold_and_retention(
    local: Callable[[str], LocalFilesystemArtifactStore], moto_server: MotoServer
) -> None:
    room = local("room")
    await put_all(room)
    await hold_some(room)
    expected_holds, expected_retentions = await holds_of(room), await retentions_of(room)
    async with S3ArtifactStore(new_bucket(moto_server), **moto_server.store_options()) as s3:
        report = await copy_artifacts(room, s3)
        assert report.ok
        assert report.copied == len(ARTIFACTS)
        assert (report.holds_copied, report.retentions_copied) == (4, 2)
        assert await holds_of(s3) == expected_holds
        assert await retentions_of(s3) == expected_retentions
        check = await check_artifacts(room, s3)
        assert check.ok, check
        assert (check.holds_different, check.retentions_different) == ((), ())
        with pytest.raises(ArtifactHeldError):
            await s3.delete("DEAL-1/docs/cim.pdf")

        # Run again: everything is there already, nothing placed twice.
        again = await copy_artifacts(room, s3)
        assert again.ok
        assert again.skipped == len(ARTIFACTS)
        assert (again.holds_copied, again.retentions_copied) == (0, 0)
        assert await holds_of(s3) == expected_holds

        back = local("back")
        report = await copy_artifacts(s3, back)
        assert report.ok
        assert report.copied == len(ARTIFACTS)
        assert (report.holds_copied, report.retentions_copied) == (4, 2)
    assert await holds_of(back) == expected_holds
    assert await retentions_of(back) == expected_retentions
    assert (await check_artifacts(room, back)).ok
    with pytest.raises(ArtifactHeldError):
        await back.put("DEAL-2/memo.txt", b"replaced")
    assert await back.get("DEAL-2/memo.txt") == b"memo"


async def test_check_reports_a_hold_released_and_a_retention_extended_at_one_side(
    local: Callable[[str], LocalFilesystemArtifactStore], moto_server: MotoServer
) -> None:
    room = local("room")
    await put_all(room)
    await hold_some(room)
    async with S3ArtifactStore(new_bucket(moto_server), **moto_server.store_options()) as s3:
        assert (await copy_artifacts(room, s3)).ok
        assert await s3.release("DEAL-1", "SEC-2024-17")
        await room.hold("DEAL-2/sub", "late matter")
        later = LONG + timedelta(days=1)
        await s3.retain("DEAL-1/nda.pdf", until=later)
        await s3.retain("free", until=NEXT_YEAR)
        check = await check_artifacts(room, s3)
        assert not check.ok
        assert check.same
        assert not (check.different)
        assert not (check.missing_in_dst)
        assert check.holds_different == (
            ("DEAL-1", "the hold 'SEC-2024-17' is only in the source"),
            ("DEAL-2/sub", "the hold 'late matter' is only in the source"),
        )
        assert check.retentions_different == (
            (
                "DEAL-1/nda.pdf",
                f"retained until {LONG.isoformat()} in the source, "
                f"until {later.isoformat()} in the destination",
            ),
            ("free", f"retained until {NEXT_YEAR.isoformat()} in the destination only"),
        )
        # Seen from the other side, and only what matters to a prefix.
        reverse = await check_artifacts(s3, room, prefix="DEAL-1/docs")
        assert reverse.holds_different == (
            ("DEAL-1", "the hold 'SEC-2024-17' is only in the destination"),
        )
        assert reverse.retentions_different == ()
        assert not reverse.ok
        as_json = json.loads(json.dumps(check.to_dict()))
        assert as_json["holds_different"][0] == {
            "key": "DEAL-1",
            "message": "the hold 'SEC-2024-17' is only in the source",
        }
        assert as_json["ok"] is False


class _SeesHolds(LayeredBackend):
    """Records, at every put, the holds and retentions its store's backend keeps."""

    seen: list[tuple[str, list[tuple[str, str]], list[str]]]

    async def around(self, operation: str, key: str | None, call: Callable[[], Awaitable[T]]) -> T:
        if operation == "put":
            registry = self.hold_registry()
            assert registry is not None
            held = await registry.current()
            names = [(h.target, h.name) for h in held.all_holds()]
            self.seen.append((str(key), names, sorted(held.retentions)))
        return await call()


class SeesHolds(Layer):
    name = "sees-holds"

    def __init__(self) -> None:
        self.seen: list[tuple[str, list[tuple[str, str]], list[str]]] = []

    def wrap(self, backend: Backend) -> Backend:
        wrapped = _SeesHolds(backend, self)
        wrapped.seen = self.seen
        return wrapped


async def test_holds_are_placed_before_any_artifact_is_copied(
    local: Callable[..., LocalFilesystemArtifactStore],
) -> None:
    room = local("room")
    await put_all(room)
    await hold_some(room)
    layer = SeesHolds()
    dst = local("dst", layers=[layer])
    report = await copy_artifacts(room, dst, concurrency=4)
    assert report.ok
    assert report.copied == len(ARTIFACTS)
    every_hold = [(t, n) for t, n, _ in await holds_of(room)]
    assert sorted(key for key, _, _ in layer.seen) == sorted(ARTIFACTS)
    for key, holds, retentions in layer.seen:
        assert holds == every_hold, key
        assert retentions == ["DEAL-1/nda.pdf", "DEAL-2"], key


async def test_a_dry_run_counts_the_holds_and_places_none(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room, dst = local("room"), local("dst")
    await put_all(room)
    await hold_some(room)
    await dst.hold("DEAL-1", "SEC-2024-17")  # already there: not counted
    await dst.retain("DEAL-2", until=LONG)  # kept longer there: not shortened, not counted
    report = await copy_artifacts(room, dst, dry_run=True)
    assert report.dry_run
    assert report.copied == len(ARTIFACTS)
    assert (report.holds_copied, report.retentions_copied) == (3, 1)
    assert await holds_of(dst) == [("DEAL-1", "SEC-2024-17", "")]
    assert [k async for k in dst.list()] == []
    report = await copy_artifacts(room, dst)
    assert (report.holds_copied, report.retentions_copied) == (3, 1)
    assert await retentions_of(dst) == [("DEAL-1/nda.pdf", LONG), ("DEAL-2", LONG)]
    # The destination keeps DEAL-2 longer: a difference the check names.
    assert [t for t, _ in (await check_artifacts(room, dst)).retentions_different] == ["DEAL-2"]


async def test_a_prefix_carries_the_holds_on_it_under_it_and_above_it(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room, dst = local("room"), local("dst")
    await put_all(room)
    await hold_some(room)
    await room.hold("DEAL-1/docs/model.xlsx", "model review")
    report = await copy_artifacts(room, dst, prefix="DEAL-1/docs")
    assert report.copied == 2
    assert await holds_of(dst) == [
        ("DEAL-1", "SEC-2024-17", "subpoena of 3 March"),
        ("DEAL-1/docs/model.xlsx", "model review", ""),
    ]
    assert await retentions_of(dst) == []
    assert (await check_artifacts(room, dst, prefix="DEAL-1/docs")).ok


async def test_overwrite_onto_a_held_destination_artifact_is_a_conflict(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room, dst = local("room"), local("dst")
    await put_all(room)
    await dst.put("DEAL-1/nda.pdf", b"the destination's own nda")
    await dst.put("DEAL-2/memo.txt", b"the destination's own memo")
    await dst.put("free/notes.txt", b"the destination's own notes")
    await dst.hold("DEAL-1/nda.pdf", "matter-9")  # held at the destination itself
    await room.hold("DEAL-2", "from the source")  # carried over first, then in force
    for dry_run in (True, False):
        report = await copy_artifacts(room, dst, overwrite=True, dry_run=dry_run)
        assert not report.ok
        assert report.conflicts == 2
        assert report.failed == 0
        assert [key for key, _ in report.conflict_keys] == ["DEAL-1/nda.pdf", "DEAL-2/memo.txt"]
        nda, memo = (message for _, message in report.conflict_keys)
        assert "held (DEAL-1/nda.pdf: matter-9)" in nda
        assert "not replaced" in nda
        assert "held (DEAL-2: from the source)" in memo
        assert report.replaced_keys == ("free/notes.txt",)
    assert await dst.get("DEAL-1/nda.pdf") == b"the destination's own nda"
    assert await dst.get("DEAL-2/memo.txt") == b"the destination's own memo"
    assert await dst.get("free/notes.txt") == b"not held"


async def test_a_held_destination_refuses_the_put_itself_when_holds_are_not_copied(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    # Without the plan's check (copy_holds=False), the store's own hold layer
    # refuses the put: still a reported conflict, never a crash.
    room, dst = local("room"), local("dst")
    await put_all(room)
    await dst.put("DEAL-1/nda.pdf", b"the destination's own nda")
    await dst.retain("DEAL-1", until=NEXT_YEAR)
    report = await copy_artifacts(room, dst, overwrite=True, copy_holds=False)
    assert report.conflicts == 1
    assert report.copied == len(ARTIFACTS) - 1
    ((key, message),) = report.conflict_keys
    assert key == "DEAL-1/nda.pdf"
    assert "retained until" in message
    assert await dst.get("DEAL-1/nda.pdf") == b"the destination's own nda"
    assert report.holds_copied == 0


class _NoHoldsBackend(MemoryBackend):
    info = dataclasses.replace(MemoryBackend.info, name="noholds", holds=False)

    def hold_registry(self) -> None:  # type: ignore[override]
        return None


async def test_a_destination_that_keeps_no_holds_is_refused_before_anything_is_copied(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room = local("room")
    await put_all(room)
    async with ArtifactStore(_NoHoldsBackend()) as bare:
        assert (await copy_artifacts(room, bare, prefix="free")).ok  # no holds: copied
        await room.retain("DEAL-2", until=NEXT_YEAR)
        for dry_run in (True, False):
            with pytest.raises(StorageConfigError, match="keeps none"):
                await copy_artifacts(room, bare, dry_run=dry_run)
        assert [m.storage_key async for m in bare.list()] == ["free/notes.txt"]
        # Holds that do not matter to the prefix do not stop it.
        assert (await copy_artifacts(room, bare, prefix="DEAL-1")).copied == 3
        report = await copy_artifacts(room, bare, copy_holds=False)
        assert report.ok
        assert report.copied == 2
        check = await check_artifacts(room, bare)
        assert not check.ok
        assert check.retentions_different == (
            ("DEAL-2", f"retained until {NEXT_YEAR.isoformat()} in the source only"),
        )


# ---------------------------------------------------------------------- scrub


async def test_the_scrub_names_held_artifacts_deleted_or_changed_behind_its_back(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room = local("room")
    await put_all(room)
    await hold_some(room)
    await room.hold("DEAL-1/docs/model.xlsx", "model review")
    clean = await verify_artifacts(room)
    assert clean.ok
    assert clean.held_damaged == ()
    assert clean.checked == len(ARTIFACTS)

    root = Path(room.root)
    os.remove(root / "DEAL-1/nda.pdf")  # held by name and retained
    (root / "DEAL-2/memo.txt").write_bytes(b"rewritten")  # held, bytes replaced
    model = root / "DEAL-1/docs/model.xlsx"  # held: a byte flipped in place,
    st = model.stat()  # size and mtime kept, so the index still trusts its record
    model.write_bytes(b"M" + model.read_bytes()[1:])
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns))
    (root / "free/notes.txt").write_bytes(b"edited, not held")  # nobody's business

    for _ in range(2):  # a scrub does not hide what it found from the next one
        report = await verify_artifacts(room)
        assert not report.ok
        damaged = dict(report.held_damaged)
        assert sorted(damaged) == ["DEAL-1/docs/model.xlsx", "DEAL-1/nda.pdf", "DEAL-2/memo.txt"]
        nda = damaged["DEAL-1/nda.pdf"]
        assert "DEAL-1: SEC-2024-17" in nda
        assert "DEAL-1/nda.pdf: NDA-ACME" in nda
        assert f"retained until {LONG.isoformat()}" in nda
        assert "nothing is stored" in nda
        memo = damaged["DEAL-2/memo.txt"]
        assert "DEAL-2/memo.txt: internal audit" in memo
        assert f"retained until {NEXT_YEAR.isoformat()}" in memo
        assert "not the version the library stored" in memo
        assert "model review" in damaged["DEAL-1/docs/model.xlsx"]
        assert "hash to" in damaged["DEAL-1/docs/model.xlsx"]
        assert report.corrupt == ("DEAL-1/docs/model.xlsx",)
        assert report.failures == ()
        assert json.loads(json.dumps(report.to_dict()))["held_damaged"][0]["key"] == (
            "DEAL-1/docs/model.xlsx"
        )

    # A scrub of a prefix looks at what it covers only.
    part = await verify_artifacts(room, prefix="DEAL-2")
    assert [key for key, _ in part.held_damaged] == ["DEAL-2/memo.txt"]


async def test_the_scrub_names_a_held_prefix_emptied_behind_its_back(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room = local("room")
    await put_all(room)
    await room.hold("DEAL-2", "matter-1")
    await room.retain("free", until=NOW - timedelta(days=1))  # ran out: protects nothing
    for key in ("DEAL-2/memo.txt", "DEAL-2/sub/deep.csv", "free/notes.txt"):
        os.remove(Path(room.root) / key)
    report = await verify_artifacts(room)
    named = dict(report.held_damaged)
    assert sorted(named) == ["DEAL-2", "DEAL-2/memo.txt", "DEAL-2/sub/deep.csv"]
    assert "DEAL-2: matter-1" in named["DEAL-2"]
    assert "file is gone" in named["DEAL-2/memo.txt"]


async def test_the_scrub_names_one_file_removed_under_a_held_prefix(
    local: Callable[[str], LocalFilesystemArtifactStore],
) -> None:
    room = local("room")
    await put_all(room)
    await room.hold("DEAL-2", "matter-1")
    os.remove(Path(room.root) / "DEAL-2/memo.txt")
    report = await verify_artifacts(room)
    assert [key for key, _ in report.held_damaged] == ["DEAL-2/memo.txt"]
