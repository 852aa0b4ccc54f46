"""What a hold check costs: small puts and deletes on the local backend with no hold
and with 10,000 holds present (issue 22: >= 95% of the throughput without).

Every store checks every write against its holds (``HoldLayer``). The holds here
cover other deals, so every put and delete is checked and allowed: the cost of the
check itself (the shared counter, the set lookup per segment), not of a refusal.
Runs with and without holds alternate within each repetition (the order rotates),
on tmpfs; figures are medians.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import ClassVar

from . import _harness
from ._harness import Samples, rotated, shown_rates
from ._util import Check, Options, Report, Table, fmt_rate, fmt_ratio, median, run_concurrently

TITLE = "Holds: small puts and deletes with 10,000 holds present against none"
TARGET = 0.95
HOLDS = 10_000


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    count: int = 5000
    size: int = 4096
    concurrency: int = 64
    reps: int = 5

    QUICK: ClassVar[dict[str, int]] = {"count": 500, "reps": 2}


def key_of(i: int) -> str:
    return f"DEAL-{i % 50:03d}/documents/cim/f{i}.bin"


async def _hold_many(root: str) -> None:
    from artifactstore import LocalFilesystemArtifactStore

    async with LocalFilesystemArtifactStore(root) as store:
        registry = store.backend.hold_registry()
        assert registry is not None
        from artifactstore.holds import Hold

        for i in range(HOLDS):  # other deals: checked, never refused
            await registry.add(Hold(f"HELD-{i:05d}/documents", "matter"))


def measure_one(root: str, held: bool, sizes: Sizes, data: bytes) -> dict[str, float]:
    """Put ``count`` artifacts, then delete them, ``concurrency`` at a time."""
    from artifactstore import LocalFilesystemArtifactStore

    if held:
        asyncio.run(_hold_many(root))
    keys = [key_of(i) for i in range(sizes.count)]

    async def main() -> dict[str, float]:
        store = LocalFilesystemArtifactStore(root)
        try:
            await store.put("warm/up.bin", data)
            if held:
                assert len([h async for h in store.holds()]) == HOLDS
            put_s = await run_concurrently(
                sizes.count, lambda i: store.put(keys[i], data), sizes.concurrency
            )
            delete_s = await run_concurrently(
                sizes.count, lambda i: store.delete(keys[i]), sizes.concurrency
            )
        finally:
            await store.aclose()
        return {"puts_per_s": sizes.count / put_s, "deletes_per_s": sizes.count / delete_s}

    return asyncio.run(main())


def measure(sizes: Sizes, workdir: str) -> dict[str, dict[str, list[float]]]:
    """Each case ``reps`` times, with and without holds alternating."""
    data = os.urandom(sizes.size)
    samples = Samples()
    for rep in range(sizes.reps):
        for held in rotated((False, True), rep):
            root = tempfile.mkdtemp(dir=workdir)
            result = measure_one(root, held, sizes, data)
            shutil.rmtree(root)
            name = "10,000 holds" if held else "no hold"
            samples.add(name, result)
            print(f"  #{rep + 1} {name:14} {shown_rates(result)}", flush=True)
    return samples.runs


def _report(sizes: Sizes, samples: dict[str, dict[str, list[float]]]) -> Report:
    report = Report(section="holds", title=TITLE)
    report.config = {
        "artifacts": sizes.count,
        "size": sizes.size,
        "in flight": sizes.concurrency,
        "repetitions": sizes.reps,
        "holds": f"{HOLDS} on other deals' folders",
        "local": "durable, on tmpfs; keys over 50 deals",
    }
    rows = []
    for op in ("puts", "deletes"):
        base = median(samples["no hold"][f"{op}_per_s"])
        held = median(samples["10,000 holds"][f"{op}_per_s"])
        rows.append([op, fmt_rate(base), fmt_rate(held), fmt_ratio(held / base)])
        report.checks.append(Check(f"local: {op} with 10,000 holds / none", held / base, TARGET))
    report.tables.append(
        Table(
            "Operations per second on the local backend (median)",
            ["op", "no hold /s", "10,000 holds /s", "held / none"],
            rows,
        )
    )
    report.data = {"samples": samples}
    return report


def run(options: Options) -> Report:
    """Measure and report."""
    sizes = Sizes.for_options(options)
    with tempfile.TemporaryDirectory(prefix="bench-holds-", dir="/dev/shm") as workdir:
        return _report(sizes, measure(sizes, workdir))
