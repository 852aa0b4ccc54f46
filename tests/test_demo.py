"""`make demo` works: the demo script stores, lists, reads back and verifies."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_and_stores_the_sample_deal(tmp_path: Path) -> None:
    dataroom = tmp_path / "dr"
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples/demo.py"), "--dataroom", str(dataroom)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    deal = dataroom / "DEAL-2026-001"
    files = sorted(str(p.relative_to(deal)) for p in deal.rglob("*") if p.is_file())
    assert files == [
        "documents/cim/Falcon CIM.pdf",
        "documents/financials/financials.csv",
        "emails/falcon-001.eml",
        "generated/loi/falcon-loi.txt",
    ]
    for name in files:
        digest = hashlib.sha256((deal / name).read_bytes()).hexdigest()
        assert f"sha256={digest}" in done.stdout
    assert "matches" in done.stdout
    assert "message/rfc822" in done.stdout


def test_the_command_line_part_of_the_demo(tmp_path: Path) -> None:
    """What `make demo` runs after the script: `ls -l` and `verify` on the demo DataRoom."""
    dataroom = tmp_path / "dr"
    subprocess.run(
        [sys.executable, str(ROOT / "examples/demo.py"), "--dataroom", str(dataroom)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    cli = [sys.executable, "-m", "artifactstore", "--store", str(dataroom)]
    listed = subprocess.run(
        [*cli, "ls", "-l"], capture_output=True, text=True, timeout=60, check=False
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 4
    loi = (dataroom / "DEAL-2026-001/generated/loi/falcon-loi.txt").read_bytes()
    assert any(
        line.endswith("DEAL-2026-001/generated/loi/falcon-loi.txt")
        and hashlib.sha256(loi).hexdigest() in line
        for line in lines
    )
    verified = subprocess.run(
        [*cli, "verify"], capture_output=True, text=True, timeout=60, check=False
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == ""  # no corrupt key
