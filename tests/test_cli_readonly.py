"""Issue 23, item 9b: read-only commands on a plain folder create nothing in it.

A folder that is not a DataRoom yet (no ``.artifactstore``) is read by ``ls``,
``stat``, ``cat``, ``verify``, ``check``, ``holds`` and ``url`` through the CLI, a
subprocess each; after every one the folder is byte-identical (names, bytes,
modes, modification times of files and folders). A write then makes it a DataRoom.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from artifactstore import LocalFilesystemArtifactStore
from artifactstore.sync import SyncArtifactStore

from .test_cli import Run

FILES = {
    "DEAL-1/documents/cim.pdf": b"%PDF-1.7 a legacy file, never indexed",
    "DEAL-1/emails/a.eml": b"From: a\n\nbody a",
    "notes.txt": b"top-level notes",
}
Snapshot = dict[str, tuple[int, int, bytes]]


def snapshot(root: Path) -> Snapshot:
    """Every entry under ``root`` (itself included): mode, mtime in ns, bytes of files."""
    found: Snapshot = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else b""
        found[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, data)
    return found


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """The command as a subprocess, with no store in its environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFACT_", "DATAROOM_"))}
    environ["DATAROOM_ROOT"] = str(tmp_path / "env-dataroom")
    (tmp_path / "cwd").mkdir()
    return Run(environ, tmp_path / "cwd")


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    root = tmp_path / "plain"
    for key, data in FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return root


def test_read_only_commands_create_nothing_in_a_plain_folder(
    cli: Run, plain: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-plain"
    other.mkdir()
    (other / "notes.txt").write_bytes(FILES["notes.txt"])
    before, before_other = snapshot(plain), snapshot(other)
    key = "DEAL-1/documents/cim.pdf"
    sha = hashlib.sha256(FILES[key]).hexdigest()
    commands: list[tuple[list[str], int]] = [
        (["--store", str(plain), "ls"], 0),
        (["--store", str(plain), "ls", "-l", "DEAL-1"], 0),
        (["--store", str(plain), "ls", "--json"], 0),
        (["--store", str(plain), "stat", key], 0),
        (["--store", str(plain), "cat", key], 0),
        (["--store", str(plain), "verify"], 0),
        (["--store", str(plain), "verify", "--json", "DEAL-1"], 0),
        (["check", str(plain), str(other)], 1),  # different: missing in the other
        (["check", "--json", str(other), str(plain)], 1),
        (["--store", str(plain), "holds"], 0),
        (["--store", str(plain), "url", key], 0),
    ]
    for args, status in commands:
        result = cli(*args)
        assert result.returncode == status, (args, result.stderr.decode())
        assert b"Traceback" not in result.stderr
        assert not (plain / ".artifactstore").exists(), f"{args} made {plain} a DataRoom"
        assert not (other / ".artifactstore").exists(), f"{args} made {other} a DataRoom"
        assert snapshot(plain) == before, f"{args} changed {plain}"
        assert snapshot(other) == before_other, f"{args} changed {other}"
        if args[-2:] == ["stat", key]:
            assert sha in result.stdout.decode()  # a legacy file: hashed, not recorded
        if args[-2:] == ["cat", key]:
            assert result.stdout == FILES[key]
        if args[-1] == "ls":
            assert result.stdout.decode().split() == sorted(FILES)
    verified = json.loads(cli("--store", str(plain), "verify", "--json").stdout)
    assert verified["checked"] == len(FILES)
    assert verified["ok"] is True, verified

    # A write makes the folder a DataRoom (its index in .artifactstore), as before.
    written = cli("--store", str(plain), "put", "-", "DEAL-1/new.txt", input=b"new")
    assert written.returncode == 0, written.stderr.decode()
    assert (plain / ".artifactstore/index.sqlite3").is_file()


def test_library_reads_of_a_plain_folder_create_nothing(plain: Path) -> None:
    before = snapshot(plain)
    with SyncArtifactStore(LocalFilesystemArtifactStore(plain, create=False)) as store:
        assert sorted(m.storage_key for m in store.list("")) == sorted(FILES)
        for key, data in FILES.items():
            assert store.get(key) == data
            assert store.get_metadata(key).sha256 == hashlib.sha256(data).hexdigest()
            assert store.exists(key)
        assert not store.exists("DEAL-1/missing.txt")
        assert store.cleanup() == 0
    assert snapshot(plain) == before
    with SyncArtifactStore(LocalFilesystemArtifactStore(plain)) as store:
        store.put("DEAL-2/x.txt", b"x")
        assert store.get_metadata("DEAL-1/emails/a.eml").sha256 is not None
    assert (plain / ".artifactstore/index.sqlite3").is_file()
    assert os.listdir(plain / ".artifactstore")
