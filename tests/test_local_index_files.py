"""The local index's files are closed when they cannot be used, not left to the collector."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from artifactstore import LocalFilesystemArtifactStore, StorageBackendError

from .conftest import open_paths_under


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
async def test_a_damaged_index_is_closed_at_once(tmp_path: Path) -> None:
    root = tmp_path / "R"
    async with LocalFilesystemArtifactStore(root) as s:
        await s.put("D/x.txt", b"payload")
    for name in os.listdir(root / ".artifactstore"):
        (root / ".artifactstore" / name).write_bytes(b"this is not a database" * 100)
    gc.collect()
    gc.disable()  # what the collector would close later must be closed already
    try:
        async with LocalFilesystemArtifactStore(root) as s:
            await s.get_metadata("D/x.txt")  # the index cannot be read: the file is hashed
            with pytest.raises(StorageBackendError):
                await s.put("D/y.txt", b"y")  # nor written
            assert [p for p in open_paths_under(root) if "/index.sqlite3" in p] == []
    finally:
        gc.enable()
