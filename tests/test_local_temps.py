"""Issue 23, item 3: a store in another PID namespace never removes a live writer's temporary file.

The writer is a real process (the CLI's ``put -`` fed by a pipe, so its streamed
put stays open); the sweep runs in another process that poses as another
container's (its namespace id replaced before the store opens), as a store in a
second container sharing the volume would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from artifactstore.backends.local._temps import FOREIGN_AGE, namespace_id

MiB = 1024 * 1024
HOURS_AGO = time.time() - 2 * FOREIGN_AGE

#: A sweep from "another container": another namespace id, then the store's sweeps.
SWEEPER = textwrap.dedent(
    """
    import sys
    from artifactstore.backends.local import _temps
    from artifactstore import LocalFilesystemArtifactStore
    from artifactstore.sync import SyncArtifactStore

    _temps._namespace = "0123456789ab"  # as another container's would be
    with SyncArtifactStore(LocalFilesystemArtifactStore(sys.argv[1])) as store:
        store.exists("DEAL-1/x")  # the first touch starts the background sweep
        print(store.cleanup(), store.cleanup(older_than=float(sys.argv[2])))
    """
)


def sweep_from_elsewhere(root: Path, older_than: float) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", SWEEPER, str(root), str(older_than)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.split()
    return int(first), int(second)


def temporaries(root: Path) -> list[Path]:
    return sorted(root.rglob(".artifactstore.*.tmp"))


def test_a_sweep_from_another_namespace_keeps_a_live_writers_file(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    root.mkdir()
    writer = subprocess.Popen(
        [sys.executable, "-m", "artifactstore", "--store", str(root), "put", "-", "DEAL-1/big.bin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert writer.stdin is not None
    try:
        writer.stdin.write(b"a" * 3 * MiB)  # more than a small put: a streamed put
        writer.stdin.flush()
        deadline = time.monotonic() + 30
        while not temporaries(root):
            assert time.monotonic() < deadline, "the streamed put did not begin"
            assert writer.poll() is None
            time.sleep(0.05)
        (live,) = temporaries(root)
        assert f"-n{namespace_id()}-{writer.pid}-" in live.name  # its namespace, its pid
        os.utime(live, (HOURS_AGO, HOURS_AGO))  # old enough to go by age alone

        # Leftovers of another container's writers: their pid looks alive here (ours).
        ours = os.getpid()
        foreign_dead = root / "DEAL-1" / f".artifactstore.0badc0de-nfeedfacecafe-{ours}-0.tmp"
        foreign_dead.write_bytes(b"half a put, writer gone")
        os.utime(foreign_dead, (HOURS_AGO, HOURS_AGO))
        foreign_young = root / "DEAL-1" / f".artifactstore.0badc0de-nfeedfacecafe-{ours}-1.tmp"
        foreign_young.write_bytes(b"another container's small put, right now")
        legacy = root / "DEAL-1" / f".artifactstore.0badc0de-{ours}-2.tmp"  # no namespace
        legacy.write_bytes(b"an older version's leftover")
        os.utime(legacy, (HOURS_AGO, HOURS_AGO))

        assert sweep_from_elsewhere(root, older_than=FOREIGN_AGE) == (2, 0)
        assert live.exists(), "a live writer's temporary file was removed"
        assert foreign_young.exists(), "a young file of another namespace was removed"
        assert not foreign_dead.exists(), "a stale file of another namespace was kept"
        assert not legacy.exists(), "a stale file of an older version was kept"

        # Even "everything older than 0 s" spares the file its writer holds locked.
        assert sweep_from_elsewhere(root, older_than=0) == (0, 1)
        assert temporaries(root) == [live]

        writer.stdin.write(b"b" * MiB)
        writer.stdin.close()
        assert writer.wait(timeout=60) == 0, writer.stderr.read()  # type: ignore[union-attr]
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        for pipe in (writer.stdin, writer.stdout, writer.stderr):
            if pipe is not None:
                pipe.close()
    assert (root / "DEAL-1/big.bin").read_bytes() == b"a" * 3 * MiB + b"b" * MiB
    assert temporaries(root) == []


def test_a_dead_writers_file_of_this_namespace_goes_at_once(tmp_path: Path) -> None:
    root = tmp_path / "DataRoom"
    (root / "DEAL-1").mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    leftover = root / "DEAL-1" / f".artifactstore.0badc0de-n{namespace_id()}-{dead}-0.tmp"
    leftover.write_bytes(b"half a put")
    sweep = textwrap.dedent(
        """
        import sys
        from artifactstore import LocalFilesystemArtifactStore
        from artifactstore.sync import SyncArtifactStore

        with SyncArtifactStore(LocalFilesystemArtifactStore(sys.argv[1])) as store:
            print(store.cleanup())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", sweep, str(root)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not leftover.exists()
