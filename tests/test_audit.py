"""The audit trail through real stores: events, actors, fail-closed reads, tampering, proofs."""

from __future__ import annotations

import asyncio
import random
import shutil
import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from artifactstore import (
    ArtifactNotFoundError,
    ArtifactStore,
    AuditError,
    LocalFilesystemArtifactStore,
    MemoryArtifactStore,
    StorageBackendError,
    StorageConfigError,
    SyncArtifactStore,
    compat,
    reset_artifact_store,
    store_from_url,
)
from artifactstore.audit import (
    AuditEvent,
    AuditLayer,
    AuditVerificationError,
    MemoryAuditSink,
    audit_context,
    generate_key_pair,
    verify_proof,
)
from artifactstore.backends.s3 import S3ArtifactStore
from artifactstore.testing import Fault, FaultLayer

from .s3server import MotoServer, new_bucket

KEY = "DEAL-1/documents/cim/cim.pdf"
PRIVATE, PUBLIC = generate_key_pair()


@pytest.fixture(params=["memory", "local", "s3"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., ArtifactStore]:
    if request.param == "s3":
        server: MotoServer = request.getfixturevalue("moto_server")
        bucket = new_bucket(server)

    def build(**options: Any) -> ArtifactStore:
        options.setdefault("audit", True)
        if request.param == "memory":
            return MemoryArtifactStore(**options)
        if request.param == "s3":
            return S3ArtifactStore(bucket, **server.store_options(), **options)
        return LocalFilesystemArtifactStore(tmp_path / "DataRoom", durable=False, **options)

    return build


async def events_of(store: ArtifactStore, **filters: Any) -> list[AuditEvent]:
    return [e async for e in store.audit_log().events(**filters)]


def summary(events: list[AuditEvent]) -> list[tuple[str, str | None, str]]:
    return [(e.operation, e.key, e.outcome) for e in events]


async def test_every_operation_leaves_its_events_with_the_actor(
    make: Callable[..., ArtifactStore],
) -> None:
    store = make()
    with audit_context(actor="banker@bank.example", request_id="r-1", client_ip="10.0.0.7"):
        meta = await store.put(KEY, b"cim bytes")
        await store.put(KEY, b"cim bytes, v2")
        assert await store.get(KEY) == b"cim bytes, v2"
        async with store.stream(KEY, start=2, end=5) as chunks:
            assert b"".join([c async for c in chunks]) == b"m b"
        await store.copy(KEY, "DEAL-1/copy.pdf")
        await store.move("DEAL-1/copy.pdf", "DEAL-1/moved.pdf")
        await store.get_url(KEY, expires_in=600)
        with pytest.raises(ArtifactNotFoundError):
            await store.get("DEAL-1/none.pdf")
        assert await store.exists(KEY)  # not a content read: not recorded
        await store.get_metadata(KEY)
        assert await store.delete("DEAL-1/moved.pdf")
        assert await store.delete_prefix("DEAL-1") == 1
    events = await events_of(store)
    assert summary(events) == [
        ("put", KEY, "ok"),
        ("put", KEY, "ok"),
        ("get", KEY, "ok"),
        ("stream", KEY, "ok"),
        ("copy", KEY, "ok"),
        ("move", "DEAL-1/copy.pdf", "ok"),
        ("link_issued", KEY, "ok"),
        ("get", "DEAL-1/none.pdf", "not_found"),
        ("delete", "DEAL-1/moved.pdf", "ok"),
        ("delete", KEY, "ok"),
    ]
    assert [e.seq for e in events] == list(range(1, 11))
    for event in events:
        assert event.actor == "banker@bank.example"
        assert event.attributes == {"request_id": "r-1", "client_ip": "10.0.0.7"}
    first, second = events[0], events[1]
    assert (first.sha256, first.size) == (meta.sha256, 9)
    if store.backend_name != "s3":  # S3 cannot tell without a HEAD
        assert first.details["change"] == "created"
        assert second.details["change"] == "replaced"
    assert events[3].details["range"] == [2, 5]
    assert events[4].dst == "DEAL-1/copy.pdf"
    assert events[5].dst == "DEAL-1/moved.pdf"
    assert "expires_at" in events[6].details
    assert "link" in events[6].details
    assert events[9].details["prefix"] == "DEAL-1"
    assert summary(await events_of(store, prefix="DEAL-1/moved.pdf")) == [
        ("move", "DEAL-1/copy.pdf", "ok"),  # by its destination
        ("delete", "DEAL-1/moved.pdf", "ok"),
    ]
    assert len(await events_of(store, operation="get")) == 2
    assert await events_of(store, actor="someone else") == []
    await store.aclose()


async def test_failed_writes_recorded_ahead_are_superseded(
    make: Callable[..., ArtifactStore],
) -> None:
    store = make()
    await store.put(KEY, b"one")
    with pytest.raises(Exception, match="exists"):
        await store.put(KEY, b"two", if_not_exists=True)
    assert not await store.delete("DEAL-1/never.pdf")
    events = await events_of(store)
    refused = events[1:]
    assert [e.operation for e in refused][-2:] == ["delete", "delete"]
    ahead, after = refused[-2:]
    assert after.outcome == "not_found"
    assert after.details["supersedes"] == [ahead.seq]
    conflict = [e for e in refused if e.operation == "put"]
    assert conflict[-1].outcome == "refused"
    await store.aclose()


async def test_metadata_reads_are_recorded_only_when_asked(tmp_path: Path) -> None:
    store = MemoryArtifactStore(audit=AuditLayer(metadata_reads=True))
    await store.put(KEY, b"x")
    assert await store.exists(KEY)
    assert not await store.exists("DEAL-1/none")
    await store.get_metadata(KEY)
    assert summary(await events_of(store))[1:] == [
        ("exists", KEY, "ok"),
        ("exists", "DEAL-1/none", "not_found"),
        ("get_metadata", KEY, "ok"),
    ]


async def test_a_read_whose_event_cannot_be_recorded_returns_nothing(
    make: Callable[..., ArtifactStore],
) -> None:
    faults = FaultLayer(Fault("audit", calls={2, 3, 4}, error=StorageBackendError("disk full")))
    store = make(layers=[faults])
    await store.put(KEY, b"secret terms")  # audit call 1
    with pytest.raises(AuditError):
        await store.get(KEY)  # call 2
    with pytest.raises(AuditError):
        async with store.stream(KEY) as chunks:  # call 3
            async for _ in chunks:
                pytest.fail("a byte reached the caller")
    with pytest.raises(AuditError):  # call 4: the write is not done
        await store.put("DEAL-1/new.pdf", b"new")
    assert not await store.exists("DEAL-1/new.pdf")
    assert summary(await events_of(store)) == [("put", KEY, "ok")]
    await store.aclose()


async def test_a_read_only_audit_table_fails_reads_closed(tmp_path: Path) -> None:
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom", audit=True)
    await store.put(KEY, b"secret terms")
    with closing(sqlite3.connect(tmp_path / "DataRoom/.artifactstore/index.sqlite3")) as db, db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'attempt to write a readonly database'); END"
        )
    with pytest.raises(AuditError):
        await store.get(KEY)
    with pytest.raises(AuditError):
        await store.put("DEAL-1/other.pdf", b"x")
    assert not await store.exists("DEAL-1/other.pdf")
    await store.aclose()


def test_the_sync_facade_and_the_legacy_helpers_carry_the_actor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: MotoServer
) -> None:
    facades = [
        SyncArtifactStore(LocalFilesystemArtifactStore(tmp_path / "a", audit=True)),  # driven
        SyncArtifactStore(MemoryArtifactStore(audit=True)),
        SyncArtifactStore(  # on the loop thread
            S3ArtifactStore(new_bucket(moto_server), audit=True, **moto_server.store_options())
        ),
    ]
    for facade in facades:
        with audit_context(actor="nightly-job", run="42"):
            facade.put(KEY, b"abc")
            assert facade.get(KEY) == b"abc"
            assert b"".join(facade.stream(KEY)) == b"abc"
        found = facade.audit_log().events()
        assert summary(found) == [("put", KEY, "ok"), ("get", KEY, "ok"), ("stream", KEY, "ok")]
        assert {(e.actor, e.attributes["run"]) for e in found} == {("nightly-job", "42")}
        facade.close()

    monkeypatch.setenv("ARTIFACT_STORAGE_PATH", str(tmp_path / "legacy"))
    monkeypatch.setenv("ARTIFACT_AUDIT", "true")
    reset_artifact_store()
    try:
        with audit_context(actor="executor-7"):
            compat.store_deal_artifact("DEAL-2", "documents", "teaser.pdf", b"teaser")
            assert compat.get_artifact("DEAL-2/documents/teaser.pdf") == b"teaser"
        found = compat.get_artifact_store().audit_log().events()
        assert summary(found) == [
            ("put", "DEAL-2/documents/teaser.pdf", "ok"),
            ("get", "DEAL-2/documents/teaser.pdf", "ok"),
        ]
        assert {e.actor for e in found} == {"executor-7"}
    finally:
        reset_artifact_store()


async def test_switching_it_on(tmp_path: Path) -> None:
    plain = MemoryArtifactStore()
    assert not plain.audited
    with pytest.raises(StorageConfigError):
        plain.audit_log()
    url = f"file://{tmp_path}/DataRoom?audit=true"
    store = store_from_url(url)
    assert store.audited
    assert store.url.endswith("audit=true")
    assert store_from_url(store.url).audited  # its URL builds an audited twin
    assert store_from_url("memory://x?audit=true").audited
    with pytest.raises(TypeError):
        MemoryArtifactStore(audit="yes")  # type: ignore[arg-type]
    await store.aclose()


async def test_an_inclusion_proof_verifies_offline_and_fails_altered(
    make: Callable[..., ArtifactStore],
) -> None:
    store = make()
    for i in range(7):
        await store.put(f"DEAL-1/f{i}.bin", b"x" * i)
    log = store.audit_log()
    note = await log.checkpoint(PRIVATE)
    proof = await log.proof(5)
    event = verify_proof(proof, PUBLIC)  # the public key alone
    assert AuditEvent.parse(event).key == "DEAL-1/f4.bin"
    altered = dict(proof)
    altered["event"] = proof["event"][:-4] + ("AAAA" if proof["event"][-4:] != "AAAA" else "BBBB")
    with pytest.raises(AuditVerificationError):
        verify_proof(altered, PUBLIC)
    _, other_public = generate_key_pair()
    with pytest.raises(AuditVerificationError):
        verify_proof(proof, other_public)
    outcome = await log.verify(PUBLIC, checkpoint=note)
    assert outcome.ok, outcome.reason
    await store.aclose()


# ------------------------------------------------------------------ tampering


def _tamper_rows(
    rows: list[tuple[int, bytes]], rng: random.Random, signed: int
) -> tuple[str, list[Any]]:
    """One random alteration of the first ``signed`` rows (those a checkpoint covers)."""
    rows = list(rows)
    kind = rng.choice(["edit", "delete", "insert", "swap", "truncate", "older"])
    i = rng.randrange(signed)
    if kind == "edit":
        seq, raw = rows[i]
        event = AuditEvent.parse(raw).as_dict()
        field = rng.choice(["actor", "key", "outcome", "size", "time"])
        event[field] = {"actor": "mallory", "key": "DEAL-9/x", "outcome": "failed"}.get(field, 1)
        if field == "time":
            event["time"] = "2020-01-01T00:00:00.000000Z"
        import json

        rows[i] = (seq, json.dumps(event, sort_keys=True, separators=(",", ":")).encode())
    elif kind == "delete":
        del rows[i]
    elif kind == "insert":
        rows.insert(i, rows[i])
    elif kind == "swap":
        j = (i + 1) % len(rows)
        rows[i], rows[j] = (rows[i][0], rows[j][1]), (rows[j][0], rows[i][1])
    else:
        rows = rows[: rng.randrange(signed)]
    return kind, rows


async def test_tampering_with_a_memory_record_is_always_detected() -> None:
    rng = random.Random(21)
    store = MemoryArtifactStore(audit=True)
    for i in range(24):
        await store.put(f"DEAL-1/f{i}.bin", b"x" * i)
        await store.get(f"DEAL-1/f{i}.bin")
    log = store.audit_log()
    note = await log.checkpoint(PRIVATE)
    sink = log.sink
    assert isinstance(sink, MemoryAuditSink)
    original = list(sink.tamper())
    assert (await log.verify(PUBLIC, checkpoint=note)).ok
    for _ in range(2000):
        _, rows = _tamper_rows(list(enumerate(original, 1)), rng, signed=48)
        sink.tamper()[:] = [raw for _, raw in rows]
        if [raw for _, raw in rows] == original:
            continue  # a swap of two equal events changes nothing
        outcome = await log.verify(PUBLIC, checkpoint=note)
        assert not outcome.ok
    sink.tamper()[:] = original
    assert (await log.verify(PUBLIC, checkpoint=note)).ok


async def test_tampering_with_the_dataroom_database_is_detected(tmp_path: Path) -> None:
    rng = random.Random(6962)
    root = tmp_path / "DataRoom"
    store = LocalFilesystemArtifactStore(root, durable=False, audit=True)
    for i in range(15):
        await store.put(f"DEAL-1/f{i}.bin", b"y" * i)
    db_path = root / ".artifactstore/index.sqlite3"
    older = tmp_path / "older.sqlite3"
    await store.aclose()
    shutil.copy(db_path, older)  # the database as it was 15 events ago
    store = LocalFilesystemArtifactStore(root, durable=False, audit=True)
    for i in range(15):
        await store.get(f"DEAL-1/f{i}.bin")
    note = await store.audit_log().checkpoint(PRIVATE)
    await store.aclose()
    pristine = tmp_path / "pristine.sqlite3"
    shutil.copy(db_path, pristine)
    with closing(sqlite3.connect(pristine)) as db:
        rows = [(s, bytes(e)) for s, e in db.execute("SELECT seq, event FROM audit_events")]

    async def verify() -> bool:
        async with LocalFilesystemArtifactStore(root, durable=False, audit=True) as s:
            return (await s.audit_log().verify(PUBLIC, checkpoint=note)).ok

    def restore(copy: Path) -> None:
        for leftover in ("-wal", "-shm"):  # the last session's log would replay over it
            Path(f"{db_path}{leftover}").unlink(missing_ok=True)
        shutil.copy(copy, db_path)

    assert await verify()
    for case in range(120):
        if case % 20 == 0:
            restore(older)  # replaced with an older copy
        else:
            restore(pristine)
            _, tampered = _tamper_rows(rows, rng, signed=30)
            if tampered == rows:
                continue
            with closing(sqlite3.connect(db_path)) as db, db:
                db.execute("DELETE FROM audit_events")
                db.executemany(
                    "INSERT INTO audit_events VALUES (?, ?, x'00')",
                    [(n, raw) for n, (_, raw) in enumerate(tampered, 1)],
                )
        assert not await verify(), f"case {case} went unnoticed"
    restore(pristine)
    assert await verify()


# ------------------------------------------------------------------ processes


WRITER = """
import asyncio, os, sys
from artifactstore import LocalFilesystemArtifactStore
from artifactstore.audit import audit_context

async def main():
    store = LocalFilesystemArtifactStore(sys.argv[1], audit=True)
    i = 0
    with audit_context(actor=f"writer-{os.getpid()}"):
        while True:
            size = 3_000_000 if i % 7 == 0 else 100 + i
            await asyncio.gather(*(
                store.put(f"DEAL-{os.getpid()}/f{i}-{j}.bin", os.urandom(size)) for j in range(4)
            ))
            await store.get(f"DEAL-{os.getpid()}/f{i}-0.bin")
            i += 1

asyncio.run(main())
"""


async def test_writers_killed_midway_leave_a_record_that_verifies(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    rng = random.Random(9)
    note = None
    for round_ in range(3):
        writers = [
            await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, str(root))
            for _ in range(3)
        ]
        await asyncio.sleep(0.6 + rng.random())
        for writer in writers:
            writer.kill()  # SIGKILL: no clean-up of any kind
            await writer.wait()
        async with LocalFilesystemArtifactStore(root, audit=True) as store:
            log = store.audit_log()
            if note is not None:
                outcome = await log.verify(PUBLIC, checkpoint=note)
                assert outcome.ok, outcome.reason
            note = await log.checkpoint(PRIVATE)
            puts = {
                (e.key, e.sha256) async for e in log.events(operation="put") if e.outcome == "ok"
            }
            listed = [m async for m in store.list()]
            assert listed, f"round {round_}: the writers stored nothing"
            for meta in listed:
                if meta.sha256 is None:  # renamed, killed before its index row: hashed now
                    meta = await store.get_metadata(meta.storage_key)
                assert (meta.storage_key, meta.sha256) in puts, meta.storage_key


async def test_several_writers_on_one_bucket_keep_one_numbered_record(
    moto_server: MotoServer,
) -> None:
    bucket = new_bucket(moto_server)
    stores = [S3ArtifactStore(bucket, audit=True, **moto_server.store_options()) for _ in range(3)]

    async def write(n: int, store: ArtifactStore) -> None:
        with audit_context(actor=f"host-{n}"):
            for i in range(12):
                await store.put(f"DEAL-{n}/f{i}.bin", b"z" * i)

    await asyncio.gather(*(write(n, s) for n, s in enumerate(stores)))
    events = await events_of(stores[0])
    assert [e.seq for e in events] == list(range(1, 37))  # no number lost or taken twice
    assert sorted(e.actor or "" for e in events) == sorted(
        f"host-{n}" for n in range(3) for _ in range(12)
    )
    log = stores[1].audit_log()
    note = await log.checkpoint(PRIVATE)
    assert (await stores[2].audit_log().verify(PUBLIC, checkpoint=note)).ok
    for store in stores:
        await store.aclose()


async def test_the_record_is_never_listed_nor_migrated(make: Callable[..., ArtifactStore]) -> None:
    from artifactstore import check_artifacts, copy_artifacts

    store = make()
    await store.put(KEY, b"abc")
    await store.get(KEY)
    assert [m.storage_key async for m in store.list()] == [KEY]
    target = MemoryArtifactStore()
    report = await copy_artifacts(store, target)
    assert report.total == 1
    assert [m.storage_key async for m in target.list()] == [KEY]
    assert (await check_artifacts(store, target)).ok
    await store.aclose()
