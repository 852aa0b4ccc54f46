"""Issue 11, items 8-10: the closed-store error, mimetypes left alone, the sync cleanup."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from artifactstore import (
    ArtifactStoreError,
    LocalFilesystemArtifactStore,
    S3ArtifactStore,
    StoreClosedError,
)
from artifactstore.backends.local._temps import namespace_id
from artifactstore.sync import SyncArtifactStore

from .s3server import CREDENTIALS, MotoServer, boto3_client


def assert_closed_error(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    assert isinstance(excinfo.value, StoreClosedError)
    assert isinstance(excinfo.value, ArtifactStoreError)  # inside the promised tree
    assert isinstance(excinfo.value, RuntimeError)  # what earlier versions raised


async def test_a_closed_local_store_raises_an_artifact_store_error(tmp_path: Path) -> None:
    store = LocalFilesystemArtifactStore(tmp_path / "DataRoom")
    await store.put("big.bin", b"x" * (3 * 1024 * 1024))
    stream = store.stream("big.bin", chunk_size=1024 * 1024)
    await stream.__aenter__()
    await store.aclose()
    for call in (store.get("big.bin"), store.exists("x"), store.cleanup(), store.delete("x")):
        with pytest.raises(ArtifactStoreError) as excinfo:
            await call
        assert_closed_error(excinfo)
    with pytest.raises(ArtifactStoreError) as excinfo:  # a stream left open across aclose
        async for _chunk in stream:
            pass
    assert_closed_error(excinfo)
    await stream.aclose()


def test_a_closed_sync_facade_raises_an_artifact_store_error(tmp_path: Path) -> None:
    facade = SyncArtifactStore(LocalFilesystemArtifactStore(tmp_path / "DataRoom"))
    facade.put("a.txt", b"a")
    facade.close()
    with pytest.raises(ArtifactStoreError) as excinfo:
        facade.get("a.txt")
    assert_closed_error(excinfo)


async def test_a_closed_s3_store_raises_an_artifact_store_error(moto_server: MotoServer) -> None:
    bucket = f"closed-{uuid.uuid4().hex[:12]}"
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    store = S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS)
    await store.put("a.txt", b"a")
    await store.aclose()
    with pytest.raises(ArtifactStoreError) as excinfo:
        await store.get("a.txt")
    assert_closed_error(excinfo)


def test_importing_the_library_keeps_the_applications_mime_types() -> None:
    script = (
        "import mimetypes\n"
        "mimetypes.add_type('application/x-deal-memo', '.dealmemo')\n"
        "import artifactstore\n"
        "from artifactstore.metadata import guess_mime_type\n"
        "assert mimetypes.guess_type('a.dealmemo')[0] == 'application/x-deal-memo'\n"
        "assert guess_mime_type('DEAL-1/a.dealmemo') == 'application/x-deal-memo'\n"
        "print('kept')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "kept"


def test_the_sync_facade_cleans_up_like_the_async_store(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    with SyncArtifactStore(LocalFilesystemArtifactStore(root)) as facade:
        facade.put("DEAL-1/a.txt", b"a")
        # A leftover of a writer that died: a pid that cannot be alive.
        ns = namespace_id()  # this PID namespace's: its pids are trusted
        leftover = root / "DEAL-1" / f".artifactstore.0badc0de-n{ns}-999999999-0.tmp"
        leftover.write_bytes(b"partial")
        young = root / "DEAL-1" / f".artifactstore.0badc0de-n{ns}-{os.getpid()}-7.tmp"
        young.write_bytes(b"a live writer's")
        removed = facade.cleanup()
        assert not leftover.exists()
        assert young.exists()  # its writer (this process) is alive
        assert removed >= 1
        assert facade.cleanup(older_than=0) == 1
        assert not young.exists()
        assert facade.get("DEAL-1/a.txt") == b"a"


def test_the_sync_facade_cleans_up_s3_uploads(moto_server: MotoServer) -> None:
    bucket = f"cleanup-{uuid.uuid4().hex[:12]}"
    client = boto3_client(moto_server.endpoint)
    client.create_bucket(Bucket=bucket)
    # The mark of this library's uploads (see _manage.cleanup); others are left alone.
    client.create_multipart_upload(
        Bucket=bucket, Key="DEAL-1/abandoned.bin", ChecksumAlgorithm="SHA256"
    )
    store = S3ArtifactStore(bucket, endpoint_url=moto_server.endpoint, **CREDENTIALS)
    with SyncArtifactStore(store) as facade:
        assert facade.cleanup(older_than=0) == 1
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
