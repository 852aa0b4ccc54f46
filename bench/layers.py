"""What the built-in layers cost: a plain store against the same store with Timeout,
Retry, ConcurrencyLimit and Logging stacked, on the memory and the local backend,
awaited and through the sync facade.

Small artifacts (4 KiB) show the layers' own cost best: each put or get is a few
tens of microseconds, so a microsecond spent per layer shows. The target (issue 19):
the stacked store keeps >= 90% of the plain store's puts and gets per second.
Plain and stacked runs alternate within each repetition (the order rotates), on
tmpfs, and each figure is the median of the repetitions.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _harness
from ._harness import Samples, rotated, shown_rates
from ._util import (
    Check,
    Options,
    Report,
    Table,
    fmt_rate,
    fmt_ratio,
    median,
    run_concurrently,
    run_in_threads,
)

TITLE = "Layers: a stack of Timeout, Retry, ConcurrencyLimit and Logging against the plain store"
TARGET = 0.90


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    count: int = 5000
    size: int = 4096
    concurrency: int = 64
    threads: int = 8
    reps: int = 5

    QUICK: ClassVar[dict[str, int]] = {"count": 500, "reps": 2}


def key_of(i: int) -> str:
    # Spread as a DataRoom spreads them: 50 deals, one folder each.
    return f"DEAL-{i % 50:03d}/documents/cim/f{i}.bin"


def stack() -> list[Any]:
    from artifactstore.layers import (
        ConcurrencyLimitLayer,
        LoggingLayer,
        RetryLayer,
        TimeoutLayer,
    )

    return [TimeoutLayer(30), RetryLayer(), ConcurrencyLimitLayer(256), LoggingLayer()]


def make_store(backend: str, root: str, layered: bool) -> Any:
    from artifactstore import LocalFilesystemArtifactStore, MemoryArtifactStore

    layers = stack() if layered else []
    if backend == "memory":
        return MemoryArtifactStore(layers=layers)
    return LocalFilesystemArtifactStore(root, layers=layers)


def awaited(backend: str, root: str, layered: bool, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``concurrency`` coroutines putting (then getting) from one shared iterator."""
    keys = [key_of(i) for i in range(sizes.count)]

    async def main() -> dict[str, float]:
        store = make_store(backend, root, layered)
        try:
            await store.put("warm/up.bin", data)
            put_s = await run_concurrently(
                sizes.count, lambda i: store.put(keys[i], data), sizes.concurrency
            )
            got: list[bytes] = [b""] * sizes.count

            async def get(i: int) -> None:
                got[i] = await store.get(keys[i])

            get_s = await run_concurrently(sizes.count, get, sizes.concurrency)
        finally:
            await store.aclose()
        if any(g != data for g in got):
            raise AssertionError("wrong bytes read back")
        return {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}

    return asyncio.run(main())


def facade(backend: str, root: str, layered: bool, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``threads`` threads calling one ``SyncArtifactStore``, every n-th key each."""
    from artifactstore import SyncArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]
    sync = SyncArtifactStore(make_store(backend, root, layered))

    try:
        sync.put("warm/up.bin", data)
        put_s = run_in_threads(keys, lambda key: sync.put(key, data), sizes.threads)

        def get(key: str) -> None:
            if sync.get(key) != data:
                raise AssertionError(f"wrong bytes read back for {key}")

        get_s = run_in_threads(keys, get, sizes.threads)
    finally:
        sync.close()
    return {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}


MODES: dict[str, Callable[..., dict[str, float]]] = {"awaited": awaited, "sync facade": facade}
BACKENDS = ("memory", "local")


def measure(sizes: Sizes, workdir: str) -> dict[str, dict[str, list[float]]]:
    """Every (backend, mode, plain/stacked) case ``reps`` times, plain and stacked alternating."""
    data = os.urandom(sizes.size)
    samples = Samples()
    for rep in range(sizes.reps):
        for backend in BACKENDS:
            for mode, run in MODES.items():
                for layered in rotated((False, True), rep):
                    root = tempfile.mkdtemp(dir=workdir)
                    result = run(backend, root, layered, sizes, data)
                    shutil.rmtree(root)
                    name = f"{backend}|{mode}|{'stacked' if layered else 'plain'}"
                    samples.add(name, result)
                    print(f"  #{rep + 1} {name:34} {shown_rates(result)}", flush=True)
    return samples.runs


def _report(sizes: Sizes, samples: dict[str, dict[str, list[float]]]) -> Report:
    report = Report(section="layers", title=TITLE)
    report.config = {
        "artifacts": sizes.count,
        "size": sizes.size,
        "in flight (awaited)": sizes.concurrency,
        "threads (sync facade)": sizes.threads,
        "repetitions": sizes.reps,
        "stack": "TimeoutLayer(30), RetryLayer(), ConcurrencyLimitLayer(256), LoggingLayer()",
        "local": "durable, on tmpfs; keys over 50 deals",
    }
    rows = []
    for backend in BACKENDS:
        for mode in MODES:
            plain = samples[f"{backend}|{mode}|plain"]
            stacked = samples[f"{backend}|{mode}|stacked"]
            for op in ("puts", "gets"):
                base = median(plain[f"{op}_per_s"])
                layered = median(stacked[f"{op}_per_s"])
                ratio = layered / base
                rows.append(
                    [backend, mode, op, fmt_rate(base), fmt_rate(layered), fmt_ratio(ratio)]
                )
                report.checks.append(
                    Check(f"{backend}, {mode}: {op} stacked / plain", ratio, TARGET)
                )
    report.tables.append(
        Table(
            "Operations per second, plain and with the four layers stacked (median)",
            ["backend", "mode", "op", "plain /s", "stacked /s", "stacked / plain"],
            rows,
            note="The LoggingLayer's logger is left at its default level (WARNING): a "
            "record is only built when the level is enabled, which is what a service "
            "that has not asked for operation logs pays.",
        )
    )
    report.data = {"samples": samples}
    return report


def run(options: Options) -> Report:
    """Measure and report."""
    sizes = Sizes.for_options(options)
    logging.getLogger("artifactstore.operations").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-layers-", dir="/dev/shm") as workdir:
        return _report(sizes, measure(sizes, workdir))
