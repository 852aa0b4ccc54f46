"""The legacy ``_artifacts`` helpers, old pattern and new side by side, on local and S3."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from artifactstore import ArtifactNotFoundError, InvalidKeyError, compat, reset_artifact_store
from artifactstore.sync import SyncArtifactStore

from .s3server import CREDENTIALS, MotoServer, boto3_client


@dataclass
class Ctx:
    deal_id: str
    action_id: str
    action_type: str | None = None


@pytest.fixture(params=["local", "s3"])
def backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_server: MotoServer,
) -> Iterator[str]:
    monkeypatch.setenv("DATAROOM_ROOT", str(tmp_path / "DataRoom"))
    if request.param == "s3":
        bucket = f"compat-{uuid.uuid4().hex[:12]}"
        boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
        monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "s3")
        monkeypatch.setenv("ALLOW_CLOUD_DEFAULT", "true")
        monkeypatch.setenv("AWS_S3_BUCKET", bucket)
        monkeypatch.setenv("AWS_S3_ENDPOINT_URL", moto_server.endpoint)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    else:
        monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "local")
    reset_artifact_store()
    yield request.param
    compat.get_artifact_store().close()
    reset_artifact_store()


class ReportExecutor:
    """An executor in the old style: a sync class that stores its report."""

    def execute(self, ctx: Ctx) -> dict[str, str]:
        report = f"Report for {ctx.deal_id}: all clear.\n"
        meta = compat.store_action_artifact(ctx, "report.md", report)
        return {"storage_uri": meta.storage_uri, "sha256": meta.sha256 or ""}


def test_executor_stores_its_report(backend: str) -> None:
    ctx = Ctx("DEAL-1", "act-7", "diligence")
    result = ReportExecutor().execute(ctx)
    expected = b"Report for DEAL-1: all clear.\n"
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()
    key = compat.get_action_storage_key(ctx, "report.md")
    assert key == "DEAL-1/actions/diligence/act-7/report.md"
    assert compat.get_artifact(key) == expected
    assert compat.artifact_exists(key)
    assert result["storage_uri"].startswith("s3://" if backend == "s3" else "file://")
    assert compat.get_artifact_url(key)


def test_old_and_new_pattern_side_by_side(backend: str) -> None:
    # The old synchronous core.storage pattern, with only the import changed.
    store = compat.get_artifact_store()
    assert isinstance(store, SyncArtifactStore)
    key = store.build_key("DEAL-2", "documents", "cim.pdf", "cim")
    meta = store.put(key, b"%PDF old pattern")
    assert store.get(key) == b"%PDF old pattern"
    assert store.get_url(key)

    # The new async pattern on the same artifact.
    async def new_pattern() -> bytes:
        return await compat.aget_artifact(key)

    # One store, two event loops (the facade's and this one): one S3 client each.
    assert asyncio.run(new_pattern()) == b"%PDF old pattern"
    assert meta.to_db_row()["storage_key"] == key
    deal = compat.store_deal_artifact("DEAL-2", "generated", "loi.txt", "LOI", "loi")
    assert deal.storage_key == "DEAL-2/generated/loi/loi.txt"
    assert compat.get_artifact("DEAL-2/generated/loi/loi.txt") == b"LOI"
    assert compat.get_action_artifact_store() is store


def test_legacy_directory_and_new_key_are_one_artifact(backend: str) -> None:
    ctx = Ctx("DEAL-3", "act-1")
    folder = compat.resolve_action_artifact_dir(ctx)
    assert folder == compat._dataroom_root() / "DEAL-3/actions/act-1"
    assert folder.is_dir()
    if backend != "local":
        return  # with S3 the folder is a local path; the docs say so
    (folder / "old.txt").write_bytes(b"written the old way")
    assert compat.get_artifact(compat.get_action_storage_key(ctx, "old.txt")) == (
        b"written the old way"
    )
    compat.store_action_artifact(ctx, "new.txt", b"written the new way")
    assert (folder / "new.txt").read_bytes() == b"written the new way"


def test_bad_parts_refused(backend: str) -> None:
    for ctx in [Ctx("../etc", "a"), Ctx("DEAL-1", "a/b"), Ctx("DEAL-1", "..")]:
        with pytest.raises(InvalidKeyError):
            compat.store_action_artifact(ctx, "x.txt", b"x")
        with pytest.raises(InvalidKeyError):
            compat.resolve_action_artifact_dir(ctx)
    with pytest.raises(InvalidKeyError):
        compat.store_action_artifact(Ctx("DEAL-1", "a"), "../x.txt", b"x")
    with pytest.raises(ArtifactNotFoundError):
        compat.get_artifact("DEAL-1/none.txt")


async def test_async_twin(backend: str) -> None:
    ctx = Ctx("DEAL-4", "act-2")
    meta = await compat.astore_action_artifact(ctx, "a.json", b"{}")
    assert meta.storage_key == "DEAL-4/actions/act-2/a.json"
    assert await compat.aget_artifact(meta.storage_key) == b"{}"
    deal = await compat.astore_deal_artifact("DEAL-4", "extracted", "e.json", b"[]")
    assert deal.storage_key == "DEAL-4/extracted/e.json"


# ------------------------------------------------- the action folder: modes and links


@pytest.fixture
def local_room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local DataRoom that does not exist yet (nor does its parent), from the environment."""
    root = tmp_path / "home" / "DataRoom"
    monkeypatch.setenv("DATAROOM_ROOT", str(root))
    monkeypatch.setenv("ARTIFACT_STORAGE_BACKEND", "local")
    reset_artifact_store()
    yield root
    compat.get_artifact_store().close()
    reset_artifact_store()


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_action_folder_levels_are_0o750_whatever_the_umask(local_room: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        folder = compat.resolve_action_artifact_dir(Ctx("DEAL-42", "act-1", "diligence"))
        # A second action of the same deal: its new levels too, below existing ones.
        other = compat.resolve_action_artifact_dir(Ctx("DEAL-42", "act-2"))
    finally:
        os.umask(previous)
    assert folder == local_room / "DEAL-42/actions/diligence/act-1"
    assert other == local_room / "DEAL-42/actions/act-2"
    created = [
        local_room.parent,  # the root's missing parent
        local_room,
        local_room / "DEAL-42",
        local_room / "DEAL-42/actions",
        local_room / "DEAL-42/actions/diligence",
        folder,
        other,
    ]
    assert {str(p): oct(_mode(p)) for p in created} == {str(p): oct(0o750) for p in created}
    # No store bookkeeping is left behind by making a folder.
    assert sorted(os.listdir(local_room)) == ["DEAL-42"]


def test_action_folder_existing_levels_keep_their_mode(local_room: Path) -> None:
    (local_room / "DEAL-42").mkdir(parents=True)
    os.chmod(local_room / "DEAL-42", 0o700)
    folder = compat.resolve_action_artifact_dir(Ctx("DEAL-42", "act-1"))
    assert _mode(local_room / "DEAL-42") == 0o700
    assert _mode(folder) == _mode(folder.parent) == 0o750


@pytest.mark.parametrize("linked", ["DEAL-43", "DEAL-43/actions"])
def test_action_folder_through_a_link_out_of_the_dataroom_is_refused(
    local_room: Path, tmp_path: Path, linked: str
) -> None:
    outside = tmp_path / "attacker"
    outside.mkdir()
    (local_room / linked).parent.mkdir(parents=True)
    (local_room / linked).symlink_to(outside, target_is_directory=True)
    ctx = Ctx("DEAL-43", "act-1")
    with pytest.raises(InvalidKeyError):
        compat.resolve_action_artifact_dir(ctx)
    assert os.listdir(outside) == []  # nothing created (let alone written) outside
    # The same through a relative link climbing out of the root.
    (local_room / linked).unlink()
    (local_room / linked).symlink_to(os.path.relpath(outside, (local_room / linked).parent))
    with pytest.raises(InvalidKeyError):
        compat.resolve_action_artifact_dir(ctx)
    assert os.listdir(outside) == []
    # The new API refuses the same link, and the legacy helper's key agrees.
    with pytest.raises(InvalidKeyError):
        compat.store_action_artifact(ctx, "report.md", b"confidential")
    assert os.listdir(outside) == []


def test_action_folder_through_a_link_into_the_store_bookkeeping_is_refused(
    local_room: Path,
) -> None:
    compat.store_deal_artifact("DEAL-0", "documents", "a.txt", b"a")  # the index exists
    (local_room / "DEAL-44").symlink_to(local_room / ".artifactstore")
    with pytest.raises(InvalidKeyError):
        compat.resolve_action_artifact_dir(Ctx("DEAL-44", "act-1"))
    assert not (local_room / ".artifactstore" / "actions").exists()


@pytest.mark.parametrize("absolute", [True, False])
def test_action_folder_through_a_link_inside_the_dataroom_is_followed(
    local_room: Path, absolute: bool
) -> None:
    real = local_room / "deals" / "DEAL-45"
    real.mkdir(parents=True)
    (local_room / "DEAL-45").symlink_to(real if absolute else "deals/DEAL-45")
    ctx = Ctx("DEAL-45", "act-1")
    folder = compat.resolve_action_artifact_dir(ctx)
    assert folder == real / "actions" / "act-1"  # the real folder, not through the link
    assert not folder.is_symlink()
    assert folder.is_dir()
    assert _mode(folder) == _mode(folder.parent) == 0o750
    (folder / "report.md").write_bytes(b"written the old way")
    assert compat.get_artifact(compat.get_action_storage_key(ctx, "report.md")) == (
        b"written the old way"
    )


# ------------------------------------------------------- the original signatures


def test_legacy_store_takes_the_original_positional_arguments(local_room: Path) -> None:
    store = compat.get_artifact_store()
    assert isinstance(store, SyncArtifactStore)
    assert compat.get_action_artifact_store() is store
    key = "DEAL-001/documents/cim.pdf"
    meta = store.put(key, b"%PDF positional", "application/pdf", {"source": "banker"})
    assert (meta.mime_type, meta.metadata) == ("application/pdf", {"source": "banker"})
    store.put("DEAL-001/documents/sub/notes.txt", b"notes", None, None)
    assert store.get(key) == b"%PDF positional"
    assert store.get(key, True) == b"%PDF positional"  # verify
    assert store.exists(key)
    meta = store.get_metadata(key)
    assert meta.metadata == {"source": "banker"}
    assert store.get_url(key, 60).startswith("file://")
    assert [m.storage_key for m in store.list("DEAL-001", True)] == [
        key,
        "DEAL-001/documents/sub/notes.txt",
    ]
    assert [m.storage_key for m in store.list("DEAL-001/documents", False)] == [key]
    assert b"".join(store.stream(key, 4, 1, 5)) == b"PDF "
    with store.get_stream(key, 4) as f:
        assert f.read() == b"%PDF positional"
    assert store.copy(key, "DEAL-001/copy.pdf", False).storage_key == "DEAL-001/copy.pdf"
    assert store.move("DEAL-001/copy.pdf", "DEAL-001/moved.pdf", False).size_bytes == 15
    assert store.delete(key) is True
    assert store.delete(key) is False
    assert not store.exists(key)
    # Keywords still work, as on SyncArtifactStore.
    store.put(key, b"again", mime_type="text/plain", metadata={"a": "b"})
    assert [m.storage_key for m in store.list(prefix="DEAL-001/documents", recursive=False)] == [
        key
    ]
