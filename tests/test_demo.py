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
