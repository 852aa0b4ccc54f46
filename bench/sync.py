"""Sync facade section: what ``SyncArtifactStore`` costs over awaiting the store itself.

Everything on tmpfs, 4 KiB payloads, ``LocalFilesystemArtifactStore(root)`` with its
defaults (durable=True).

1. Sequential: ``count`` puts then ``count`` gets, one at a time, awaited inside
   ``asyncio.run`` (``await store.put(key, data)``) against the same through the facade
   from a plain thread (``facade.put(key, data)``). For the local store the facade
   drives the call in the calling thread, which blocks on the store's worker thread:
   one hop each way, as for the awaited call.
2. Concurrent, for information: 32 threads doing facade puts against
   ``asyncio.gather`` with 32 awaited puts in flight.

Every contender starts from a fresh root, with a store of its own and an untimed
warm-up of ``warmup_count`` puts into it; contenders are run interleaved, in a
rotating order, ``reps`` times each; the median is reported. Each facade is closed
(``facade.close()``) at the end of its run.
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _harness
from ._harness import RATE_HEADERS, Samples, rate_rows, ratio, rounds, same_rep, shown_rates
from ._util import (
    Check,
    Options,
    Report,
    Table,
    fmt_ratio,
    run_concurrently,
    run_in_threads,
    scratch_dir,
)

TITLE = "artifactstore benchmark: sync facade overhead (tmpfs)"

#: Target the library must meet: facade puts/s over awaited puts/s, one at a time.
TARGET_FACADE_VS_AWAITED = 0.8


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    count: int = 3000
    size: int = 4096
    warmup_count: int = 200
    reps: int = 5
    concurrency: int = 32

    QUICK: ClassVar[dict[str, int]] = {"count": 300, "warmup_count": 50, "reps": 2}


def key_of(i: int) -> str:
    """The key of artifact ``i``."""
    return f"bench/{i:05d}.bin"


def warmup_key_of(i: int) -> str:
    """The key of warm-up artifact ``i`` (a folder of its own)."""
    return f"warmup/{i:05d}.bin"


def _check_gets(name: str, got: list[Any], data: bytes) -> None:
    """Check, untimed, that every get returned what was put."""
    bad = [i for i, value in enumerate(got) if value != data]
    if bad:
        raise AssertionError(f"{name}: {len(bad)} gets returned wrong bytes, e.g. #{bad[0]}")


# ====================================================================== contenders
# Each returns {"puts_per_s": ..., "gets_per_s": ...} (gets only for the sequential ones).


def awaited_sequential(root: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``await store.put`` then ``await store.get``, one at a time, inside ``asyncio.run``."""
    from artifactstore import LocalFilesystemArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]

    async def main() -> dict[str, float]:
        store = LocalFilesystemArtifactStore(root)
        try:
            for i in range(sizes.warmup_count):
                await store.put(warmup_key_of(i), data)
            gc.collect()
            start = time.perf_counter()
            for key in keys:
                await store.put(key, data)
            put_s = time.perf_counter() - start
            got: list[Any] = []
            gc.collect()
            start = time.perf_counter()
            for key in keys:
                got.append(await store.get(key))
            get_s = time.perf_counter() - start
        finally:
            await store.aclose()
        _check_gets("awaited", got, data)
        return {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}

    return asyncio.run(main())


def facade_sequential(root: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``facade.put`` then ``facade.get``, one at a time, from this (plain) thread."""
    from artifactstore import LocalFilesystemArtifactStore, SyncArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]
    facade = SyncArtifactStore(LocalFilesystemArtifactStore(root))
    try:
        for i in range(sizes.warmup_count):
            facade.put(warmup_key_of(i), data)
        gc.collect()
        start = time.perf_counter()
        for key in keys:
            facade.put(key, data)
        put_s = time.perf_counter() - start
        got: list[Any] = []
        gc.collect()
        start = time.perf_counter()
        for key in keys:
            got.append(facade.get(key))
        get_s = time.perf_counter() - start
    finally:
        facade.close()
    _check_gets("facade", got, data)
    return {"puts_per_s": sizes.count / put_s, "gets_per_s": sizes.count / get_s}


def awaited_concurrent(root: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``asyncio.gather`` of ``concurrency`` workers, each awaiting puts from a shared iterator."""
    from artifactstore import LocalFilesystemArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]

    async def main() -> dict[str, float]:
        store = LocalFilesystemArtifactStore(root)
        try:
            for i in range(sizes.warmup_count):
                await store.put(warmup_key_of(i), data)
            put_s = await run_concurrently(
                sizes.count, lambda i: store.put(keys[i], data), sizes.concurrency
            )
            missing = [key for key in keys if not await store.exists(key)]
        finally:
            await store.aclose()
        if missing:
            raise AssertionError(f"awaited, gather: {len(missing)} artifacts missing")
        return {"puts_per_s": sizes.count / put_s}

    return asyncio.run(main())


def facade_threads(root: str, sizes: Sizes, data: bytes) -> dict[str, float]:
    """``concurrency`` threads doing ``facade.put``, on one shared facade.

    Thread ``t`` puts artifacts ``t, t + concurrency, ...``; the threads are started
    untimed and released together by a barrier.
    """
    from artifactstore import LocalFilesystemArtifactStore, SyncArtifactStore

    keys = [key_of(i) for i in range(sizes.count)]
    facade = SyncArtifactStore(LocalFilesystemArtifactStore(root))
    try:
        for i in range(sizes.warmup_count):
            facade.put(warmup_key_of(i), data)
        put_s = run_in_threads(keys, lambda key: facade.put(key, data), sizes.concurrency)
        missing = [key for key in keys if not facade.exists(key)]
    finally:
        facade.close()
    if missing:
        raise AssertionError(f"facade, threads: {len(missing)} artifacts missing")
    return {"puts_per_s": sizes.count / put_s}


@dataclass(frozen=True)
class Contender:
    name: str
    description: str
    measure: Callable[[str, Sizes, bytes], dict[str, float]]


AWAITED = Contender(
    "awaited, sequential",
    "for i: await store.put(key_i, data), inside asyncio.run; then the same for get",
    awaited_sequential,
)
FACADE = Contender(
    "SyncArtifactStore, sequential",
    "for i: facade.put(key_i, data), from the main thread; then the same for get",
    facade_sequential,
)
AWAITED_32 = Contender(
    "awaited, 32 in flight",
    "asyncio.gather of 32 workers awaiting store.put, indices from a shared iterator",
    awaited_concurrent,
)
FACADE_32 = Contender(
    "SyncArtifactStore, 32 threads",
    "32 threads calling facade.put on one facade, every 32nd key each",
    facade_threads,
)
CONTENDERS = [AWAITED, FACADE, AWAITED_32, FACADE_32]


def measure_all(sizes: Sizes, workdir: str) -> dict[str, dict[str, Any]]:
    """Every contender, ``reps`` times, interleaved; returns every sample, by contender."""
    data = os.urandom(sizes.size)
    samples = Samples(c.name for c in CONTENDERS)
    for number, (rep, contender) in enumerate(rounds(CONTENDERS, sizes.reps)):
        root = os.path.join(workdir, f"rep{rep}-{number}")
        result = contender.measure(root, sizes, data)
        shutil.rmtree(root)
        samples.add(contender.name, result)
        print(f"  #{rep + 1} {contender.name:32} {shown_rates(result)}", flush=True)
    return samples.summary()


# ========================================================================= report


def _report(sizes: Sizes, results: dict[str, Any]) -> Report:
    report = Report(
        section="sync",
        title=TITLE,
        config={
            "artifacts": sizes.count,
            "size": f"{sizes.size // 1024} KiB",
            "warmup_puts": sizes.warmup_count,
            "reps": sizes.reps,
            "threads_or_in_flight": sizes.concurrency,
            "store": "LocalFilesystemArtifactStore(root) (durable=True)",
            "statistic": "median",
        },
        data={"sizes": sizes.__dict__, "results": results},
    )
    puts_ratio = ratio(results, FACADE.name, AWAITED.name, "puts_per_s")
    report.checks = [
        Check("sequential puts: facade / awaited", puts_ratio, TARGET_FACADE_VS_AWAITED),
    ]

    report.tables.append(
        Table(
            f"Throughput: {sizes.count} x {sizes.size // 1024} KiB",
            RATE_HEADERS,
            rate_rows(results, CONTENDERS),
            note=f"Median of {sizes.reps} runs, contenders interleaved in a rotating order; "
            f"each run starts from an empty folder with a store of its own and an untimed "
            f"warm-up of {sizes.warmup_count} puts into it.",
        )
    )

    def verdict(value: float) -> str:
        return "PASS" if value >= TARGET_FACADE_VS_AWAITED else "FAIL"

    def line(value: float) -> str:
        side = "above" if value >= TARGET_FACADE_VS_AWAITED else "below"
        return f"informational ({side} the line)"

    line_text = f">= {TARGET_FACADE_VS_AWAITED:g}x"
    ratio_rows: list[list[str]] = []
    for op, pair, judged in (
        ("puts", (FACADE, AWAITED), True),
        ("gets", (FACADE, AWAITED), False),
        ("puts", (FACADE_32, AWAITED_32), False),
    ):
        names = (pair[0].name, pair[1].name, f"{op}_per_s")
        value = ratio(results, *names)
        ratio_rows.append(
            [
                f"{op}: {pair[0].name} / {pair[1].name}",
                fmt_ratio(value),
                line_text,
                verdict(value) if judged else line(value),
                same_rep(results, *names),
            ]
        )
    report.tables.append(
        Table(
            "Ratios (facade / awaited)",
            ["ratio", "measured", "line", "result", "same-repetition ratios"],
            ratio_rows,
            note="measured: ratio of the medians (the target is checked on the sequential "
            "puts only; gets and the concurrent puts are for information, against the same "
            "line); same-repetition ratios: the two contenders' runs of each repetition.",
        )
    )
    report.notes = [
        "All roots are fresh folders under a temporary directory in /dev/shm, removed "
        "afterwards; on tmpfs fsync costs almost nothing.",
        "An awaited call hops from the event loop to the store's worker thread and back. "
        "A facade call on the local store is driven in the calling thread, which blocks on "
        "the same worker (artifactstore._drive.drive): also one hop each way. (Stores "
        "that need an event loop, S3, go through the facade's loop thread instead.)",
        f"nproc={len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}: "
        "every thread hop is a wake-up of another thread; with few CPUs, and with other "
        "processes running, these figures move with the machine's load.",
    ]
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    sizes = Sizes.for_options(options)
    with scratch_dir("artifactstore-bench-sync-") as workdir:
        print(f"sync: {len(CONTENDERS)} contenders in {workdir} ...", flush=True)
        results = measure_all(sizes, workdir)
    return _report(sizes, results)
