"""Issue 23, item 12: ``copy --manifest`` tells the database where each artifact lives now.

A DataRoom is copied to S3 (moto's server) by the command, as a subprocess, with
``--manifest``; the SQLite statement that docs/operations.md shows is then applied,
as printed there, to a table of the seed's ``artifacts`` shape holding the
DataRoom's rows: afterwards every row names its S3 object.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from artifactstore import ArtifactStoreError, LocalFilesystemArtifactStore, S3ArtifactStore
from artifactstore.transfer import copy_artifacts, write_manifest

from .s3server import CREDENTIALS, MotoServer, boto3_client, new_bucket

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = {
    "DEAL-1/documents/cim.pdf": b"%PDF-1.7 cim",
    "DEAL-1/emails/a.eml": b"From: a\n\nbody a",
    "DEAL-2/Café – notes.txt": b"non-ASCII, NFC",
}
#: The seed's table (its location columns as to_db_row() fills them), and its id.
SCHEMA = """
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    deal_id VARCHAR(50) NOT NULL,
    storage_backend VARCHAR(50) NOT NULL,
    storage_uri VARCHAR(1024) NOT NULL,
    storage_key VARCHAR(500) NOT NULL,
    sha256 VARCHAR(64),
    file_size BIGINT NOT NULL,
    mime_type VARCHAR(255)
)
"""


def documented_sql() -> str:
    """The SQLite statement of docs/operations.md, exactly as printed there."""
    text = (ROOT / "docs/operations.md").read_text()
    found = re.search(r"```sql\n(\s*-- SQLite:.*?)```", text, re.S)
    assert found is not None, "docs/operations.md shows no SQLite statement"
    return found.group(1)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFACT_", "AWS_"))}
    environ["AWS_ACCESS_KEY_ID"] = CREDENTIALS["aws_access_key_id"]
    environ["AWS_SECRET_ACCESS_KEY"] = CREDENTIALS["aws_secret_access_key"]
    return subprocess.run(
        [sys.executable, "-m", "artifactstore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environ,
    )


def test_the_manifest_moves_the_database_rows_to_s3(
    moto_server: MotoServer, tmp_path: Path
) -> None:
    room = tmp_path / "DataRoom"
    bucket = new_bucket(moto_server)
    s3 = f"s3://{bucket}/prod?endpoint_url={moto_server.endpoint}&region=us-east-1"
    db = sqlite3.connect(tmp_path / "app.sqlite3")
    db.execute(SCHEMA)

    async def seed() -> dict[str, str]:
        async with LocalFilesystemArtifactStore(room) as store:
            for key, data in ARTIFACTS.items():
                row = (await store.put(key, data)).to_db_row()
                db.execute(
                    "INSERT INTO artifacts (deal_id, storage_backend, storage_uri, storage_key,"
                    " sha256, file_size, mime_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (key.split("/")[0], *row.values()),
                )
        # One already at the destination: skipped by the run, in the manifest all the same.
        async with S3ArtifactStore(bucket, prefix="prod", **moto_server.store_options()) as dst:
            await dst.put("DEAL-1/emails/a.eml", ARTIFACTS["DEAL-1/emails/a.eml"])
        return {}

    asyncio.run(seed())
    db.execute(
        "INSERT INTO artifacts (deal_id, storage_backend, storage_uri, storage_key, sha256,"
        " file_size, mime_type) VALUES ('DEAL-9', 'local', 'file:///elsewhere/DEAL-9/x',"
        " 'DEAL-9/x', NULL, 1, NULL)"
    )
    db.commit()

    # A manifest that cannot be written is refused before anything is copied.
    refused = cli("copy", str(room), s3, "--manifest", str(tmp_path / "no/such/dir/m.jsonl"))
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("artifactstore: error: --manifest")
    assert len(refused.stderr.splitlines()) == 1
    objects = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in objects] == ["prod/DEAL-1/emails/a.eml"]

    manifest = tmp_path / "moved.jsonl"
    done = cli("copy", str(room), s3, "--manifest", str(manifest))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".moved")] == []
    lines = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert [line["key"] for line in lines] == sorted(ARTIFACTS)  # copied and skipped alike
    for line in lines:
        assert line["source"]["storage_backend"] == "local"
        assert line["destination"]["storage_backend"] == "s3"
        assert line["sha256"] == line["source"]["sha256"] == line["destination"]["sha256"]

    # Apply the documented statement to the app's table.
    db.execute("CREATE TEMP TABLE moved (line TEXT NOT NULL)")
    with manifest.open(encoding="utf-8") as f:
        db.executemany("INSERT INTO moved VALUES (?)", ((text,) for text in f))
    moved = db.execute(documented_sql()).rowcount
    db.commit()
    assert moved == len(ARTIFACTS)

    async def truth() -> dict[str, tuple[str, str, str]]:
        async with S3ArtifactStore(bucket, prefix="prod", **moto_server.store_options()) as dst:
            rows = [(await dst.get_metadata(key)).to_db_row() for key in ARTIFACTS]
        return {
            r["storage_key"]: (r["storage_backend"], r["storage_uri"], r["sha256"]) for r in rows
        }

    expected = asyncio.run(truth())
    rows = db.execute(
        "SELECT storage_key, storage_backend, storage_uri, sha256 FROM artifacts"
        " WHERE deal_id != 'DEAL-9' ORDER BY storage_key"
    ).fetchall()
    assert {key: (backend, uri, sha) for key, backend, uri, sha in rows} == expected
    # The object's real address, the store's prefix included (docs/s3-backend.md).
    assert [uri for _, _, uri, _ in rows] == [f"s3://{bucket}/prod/{key}" for key, *_ in rows]
    untouched = db.execute("SELECT storage_uri FROM artifacts WHERE deal_id = 'DEAL-9'")
    assert untouched.fetchall() == [("file:///elsewhere/DEAL-9/x",)]


async def test_a_manifest_that_no_longer_holds_is_not_written(tmp_path: Path) -> None:
    manifest = tmp_path / "moved.jsonl"
    manifest.write_text("the previous manifest\n")
    async with (
        LocalFilesystemArtifactStore(tmp_path / "src") as src,
        LocalFilesystemArtifactStore(tmp_path / "dst") as dst,
    ):
        for key, data in ARTIFACTS.items():
            await src.put(key, data)
        report = await copy_artifacts(src, dst)
        assert await write_manifest(src, dst, report, manifest) == len(ARTIFACTS)
        assert len(manifest.read_text().splitlines()) == len(ARTIFACTS)
        manifest.write_text("the previous manifest\n")
        await dst.put("DEAL-1/emails/a.eml", b"changed since the copy")
        with pytest.raises(ArtifactStoreError, match="changed since it was copied"):
            await write_manifest(src, dst, report, manifest)
    assert manifest.read_text() == "the previous manifest\n"  # left as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "moved.jsonl", "src"]
