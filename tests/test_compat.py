"""The legacy ``_artifacts`` helpers, old pattern and new side by side, on local and S3."""

from __future__ import annotations

import asyncio
import hashlib
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
