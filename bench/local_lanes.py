"""Local lanes section: the local backend's head-of-line blocking and listing (issue 10).

1. Small gets during a large put: 200 artifacts of 4 KiB are put, then one 1 GiB
   durable put streams from an async iterable of 1 MiB chunks while a loop gets the
   small artifacts one at a time, timing each, until the put ends; p50, p99 and the
   worst latency for artifactstore (``durable=True``) and obstore's ``LocalStore``
   (``put_async`` of the same async iterable), on tmpfs and on the project's own
   disk. Each run is a subprocess of its own; contenders alternate, in a rotating
   order.
2. Stalled sources: a put from a pipe whose writer stays silent (and one from a
   FIFO path that no one opens for writing), then an unrelated small ``get`` (for
   the FIFO: ``exists``) is timed, bounded by ``asyncio.wait_for(..., 10)``; the
   pipe is fed afterwards so the put completes. In a subprocess with a watchdog
   thread, so that an implementation that blocks the event loop is reported as
   blocked rather than hanging the benchmark.
3. Listing: ``list("")`` of 100,000 artifacts in 100 folders on tmpfs, by
   artifactstore (``async for`` over ``store.list("")``), obstore
   (``obstore.list(store)`` batches) and ``os.walk`` + ``os.stat`` (a reference);
   once over plain files written without the library (no index rows) and once over
   artifacts put through artifactstore (index rows). Each listing runs in a fresh
   subprocess whose peak RSS growth (``VmHWM``) is measured; contenders are
   interleaved in a rotating order, and the median rate is reported.

Small puts and gets (P1/P2) and the 512 MiB streamed put stay in ``bench/local.py``.

Run as part of ``python -m bench``; ``python -m bench.local_lanes --child SPEC`` is
the entry point of the subprocesses.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from . import _harness
from ._child import REPO_ROOT, child_main, run_child
from ._harness import chunks, rounds
from ._util import (
    MB,
    Check,
    MiB,
    Options,
    Report,
    Table,
    fmt_rate,
    fmt_ratio,
    machine_info,
    max_rss_bytes,
    median,
    reset_max_rss,
    run_concurrently,
    scratch_dir,
)

TITLE = (
    "artifactstore benchmark: local backend lanes (latency under load, stalled sources, listing)"
)

#: Targets of issue 10.
TARGET_P99_FLOOR_MS = 5.0  # small-get p99 during the large put: <= obstore's, or <= this
TARGET_WORST_TMPFS_MS = 50.0
TARGET_STALLED_MS = 50.0
TARGET_LIST_VS_OBSTORE = 1.0
TARGET_LIST_RSS_MIB = 32.0

#: How long a probe may wait behind a stalled source before it is reported as blocked.
STALL_LIMIT_S = 10.0
#: The watchdog feeds the stalled source after this long whatever happens (a blocked
#: event loop cannot run the probe's own timeout).
WATCHDOG_S = STALL_LIMIT_S + 5.0

#: What issue 10 measured on the previous design (one run each, 1 GiB put, 100,000
#: artifacts): ms for latencies, artifacts/s for listings.
PREVIOUS: dict[str, Any] = {
    "load_tmpfs": {"artifactstore": (1.43, 37.0, 45.0), "obstore": (0.53, 10.3, 13.7)},
    "load_disk_worst_ms": 450.0,
    "stall_pipe_ms": 2800.0,  # a get behind a put from a pipe whose writer paused 3 s
    "list": {"artifactstore": 113_000, "obstore": 268_000, "os.walk + os.stat": 389_000},
}


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    big_size: int = 1024 * MiB
    chunk: int = MiB
    small_count: int = 200
    small_size: int = 4096
    load_reps: int = 3
    list_count: int = 100_000
    list_folders: int = 100
    list_reps: int = 5

    QUICK: ClassVar[dict[str, int]] = {
        "big_size": 128 * MiB,
        "load_reps": 1,
        "list_count": 10_000,
        "list_reps": 2,
    }

    @property
    def big_label(self) -> str:
        size = self.big_size // MiB
        return f"{size // 1024} GiB" if size % 1024 == 0 else f"{size} MiB"


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` (nearest rank: a value that was measured)."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def _ms(values: list[float]) -> dict[str, float]:
    """p50, p99, worst and mean of latencies in seconds, as milliseconds."""
    return {
        "p50_ms": percentile(values, 50) * 1000,
        "p99_ms": percentile(values, 99) * 1000,
        "max_ms": max(values) * 1000,
        "mean_ms": sum(values) / len(values) * 1000,
    }


# ============================================================ 1. small gets under load


class _Client:
    """One contender of scenario 1, behind the same five calls."""

    async def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    async def get(self, key: str) -> Any:
        raise NotImplementedError

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        """Store ``chunks`` at ``key``; return the stored size."""
        raise NotImplementedError

    async def delete(self, key: str) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Tear down."""


class _ArtifactStoreClient(_Client):
    def __init__(self, root: str) -> None:
        from artifactstore import LocalFilesystemArtifactStore

        self.store = LocalFilesystemArtifactStore(root, durable=True)

    async def put(self, key: str, data: bytes) -> None:
        await self.store.put(key, data)

    async def get(self, key: str) -> Any:
        return await self.store.get(key)

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        meta = await self.store.put(key, chunks)
        return meta.size_bytes

    async def delete(self, key: str) -> None:
        await self.store.delete(key)

    async def aclose(self) -> None:
        await self.store.aclose()


class _ObstoreClient(_Client):
    def __init__(self, root: str) -> None:
        from obstore.store import LocalStore

        self.store = LocalStore(prefix=root, mkdir=True)

    async def put(self, key: str, data: bytes) -> None:
        import obstore

        await obstore.put_async(self.store, key, data)

    async def get(self, key: str) -> Any:
        import obstore

        response = await obstore.get_async(self.store, key)
        return await response.bytes_async()

    async def put_stream(self, key: str, chunks: AsyncIterator[bytes]) -> int:
        import obstore

        await obstore.put_async(self.store, key, chunks)
        head = await obstore.head_async(self.store, key)
        return int(head["size"])

    async def delete(self, key: str) -> None:
        import obstore

        await obstore.delete_async(self.store, key)


#: Contender name -> (client, what it does).
LOAD_CONTENDERS: dict[str, tuple[Callable[[str], _Client], str]] = {
    "artifactstore": (
        _ArtifactStoreClient,
        "LocalFilesystemArtifactStore(durable=True): store.get; the large put is "
        "store.put(key, async iterable), fsynced",
    ),
    "obstore": (
        _ObstoreClient,
        "obstore LocalStore: get_async(...).bytes_async(); the large put is "
        "put_async(store, key, async iterable), never fsynced",
    ),
}


async def _load_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One run of scenario 1 for one contender, in a fresh process."""
    client = LOAD_CONTENDERS[spec["contender"]][0](spec["root"])
    count, size = spec["small_count"], spec["small_size"]
    payloads = [os.urandom(size) for _ in range(count)]
    keys = [f"small/{i:04d}.bin" for i in range(count)]
    try:
        for key, data in zip(keys, payloads, strict=True):
            await client.put(key, data)
        for key in keys:  # warm-up: first-use paths, page cache
            await client.get(key)
        idle = []
        for key in keys:
            start = time.perf_counter()
            await client.get(key)
            idle.append(time.perf_counter() - start)

        block = os.urandom(spec["chunk"])
        count_of_chunks = spec["big_size"] // spec["chunk"]
        put_seconds: list[float] = []

        async def large_put() -> int:
            start = time.perf_counter()
            stored = await client.put_stream("large/load.bin", chunks(block, count_of_chunks))
            put_seconds.append(time.perf_counter() - start)
            return stored

        gc.collect()
        reset_max_rss()
        maxrss_before = max_rss_bytes()
        task = asyncio.create_task(large_put())
        await asyncio.sleep(0)  # the put begins
        latencies: list[float] = []
        wrong = 0
        while not task.done():
            i = len(latencies) % count
            start = time.perf_counter()
            data = await client.get(keys[i])
            latencies.append(time.perf_counter() - start)
            wrong += bytes(data) != payloads[i]
        stored = await task
        maxrss_growth = max_rss_bytes() - maxrss_before
        if stored != spec["big_size"]:
            raise AssertionError(f"the large put stored {stored} bytes, not {spec['big_size']}")
        if wrong:
            raise AssertionError(f"{wrong} small gets returned wrong bytes")
        if not latencies:
            raise AssertionError("the large put ended before the first small get")
        await client.delete("large/load.bin")
    finally:
        await client.aclose()
    return {
        "contender": spec["contender"],
        "gets": len(latencies),
        **_ms(latencies),
        "idle": _ms(idle),
        "put_seconds": put_seconds[0],
        "put_mb_per_s": spec["big_size"] / put_seconds[0] / MB,
        "maxrss_growth_mib": maxrss_growth / MiB,
    }


def small_gets_under_load(sizes: Sizes, places: dict[str, str]) -> dict[str, Any]:
    """Scenario 1 on each place (label -> parent folder); every run's summary, by place."""
    names = list(LOAD_CONTENDERS)
    results: dict[str, Any] = {}
    for place, parent in places.items():
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        with scratch_dir(".bench-scratch-lanes-", parent) as workdir:
            for rep, name in rounds(names, sizes.load_reps):
                root = os.path.join(workdir, f"{name}-{rep}")
                os.sync()  # no dirty pages of the previous run left to flush
                spec = {"scenario": "load", "contender": name, "root": root}
                spec.update(
                    big_size=sizes.big_size,
                    chunk=sizes.chunk,
                    small_count=sizes.small_count,
                    small_size=sizes.small_size,
                )
                one = _run_child(spec, timeout=1800)
                shutil.rmtree(root, ignore_errors=True)
                runs[name].append(one)
                print(
                    f"  load {place:6} #{rep + 1} {name:14} {one['gets']:6} gets  "
                    f"p50 {one['p50_ms']:7.2f}  p99 {one['p99_ms']:7.2f}  "
                    f"max {one['max_ms']:8.2f} ms  put {one['put_mb_per_s']:6,.0f} MB/s",
                    flush=True,
                )
        results[place] = {
            name: {
                "runs": one_runs,
                "median_p50_ms": median([r["p50_ms"] for r in one_runs]),
                "median_p99_ms": median([r["p99_ms"] for r in one_runs]),
                "max_ms": max(r["max_ms"] for r in one_runs),
                "median_idle_p50_ms": median([r["idle"]["p50_ms"] for r in one_runs]),
                "median_put_mb_per_s": median([r["put_mb_per_s"] for r in one_runs]),
                "gets": sum(r["gets"] for r in one_runs),
            }
            for name, one_runs in runs.items()
        }
    return results


# ============================================================== 2. stalled sources


def _feed_fifo(path: str, payload: bytes) -> bool:
    """Open the FIFO for writing once a reader has it open, write, close; False if none did."""
    deadline = time.monotonic() + 5
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as exc:
            if exc.errno != errno.ENXIO or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
    try:
        os.set_blocking(fd, True)
        os.write(fd, payload)
    finally:
        os.close(fd)
    return True


async def _stall_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One stalled put (from a pipe or a FIFO path) and one timed probe behind it."""
    from artifactstore import LocalFilesystemArtifactStore

    kind = spec["kind"]
    payload = os.urandom(16 * 1024)  # fits a pipe's buffer: feeding never blocks
    store = LocalFilesystemArtifactStore(os.path.join(spec["workdir"], "store"), durable=True)
    await store.put("small/probe.bin", os.urandom(4096))
    idle = []
    for _ in range(20):
        start = time.perf_counter()
        await store.get("small/probe.bin")
        idle.append(time.perf_counter() - start)

    source: Any
    reader = None
    if kind == "pipe":
        read_fd, write_fd = os.pipe()
        reader = source = open(read_fd, "rb")  # noqa: SIM115 - closed below

        def feed() -> None:
            os.write(write_fd, payload)
            os.close(write_fd)

        fed_ok = [True]
    else:
        fifo = os.path.join(spec["workdir"], "source.fifo")
        os.mkfifo(fifo, 0o600)
        source = Path(fifo)
        fed_ok = [False]

        def feed() -> None:
            fed_ok[0] = _feed_fifo(fifo, payload)

    lock = threading.Lock()
    fed: list[str] = []

    def feed_once(by: str) -> None:
        with lock:
            if not fed:
                fed.append(by)
                feed()

    watchdog = threading.Timer(WATCHDOG_S, feed_once, args=("watchdog",))
    watchdog.daemon = True
    watchdog.start()
    put_task = asyncio.create_task(store.put(f"large/{kind}.bin", source))
    await asyncio.sleep(0.2)  # the put is now waiting on its source
    put_done_before_probe = put_task.done()
    probe = store.get("small/probe.bin") if kind == "pipe" else store.exists("small/probe.bin")
    start = time.perf_counter()
    try:
        await asyncio.wait_for(probe, STALL_LIMIT_S)
        timed_out = False
    except asyncio.TimeoutError:
        timed_out = True
    latency = time.perf_counter() - start

    await asyncio.to_thread(feed_once, "benchmark")
    watchdog.cancel()
    try:
        meta = await asyncio.wait_for(put_task, 30)
        put_outcome = "stored" if meta.size_bytes == len(payload) else f"{meta.size_bytes} bytes"
    except Exception as exc:
        put_outcome = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if reader is not None:
            reader.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(store.aclose(), 30)
    return {
        "kind": kind,
        "probe": "get" if kind == "pipe" else "exists",
        "latency_ms": latency * 1000,
        "timed_out": timed_out,
        "idle_ms": median(idle) * 1000,
        "put_outcome": put_outcome,
        "put_done_before_probe": put_done_before_probe,
        "fed_by": fed[0] if fed else "nobody",
        "source_opened": fed_ok[0],
    }


def stalled_sources(workdir: str) -> dict[str, Any]:
    """Scenario 2: a pipe, then a FIFO path, each in a subprocess of its own."""
    results: dict[str, Any] = {}
    for kind in ("pipe", "fifo"):
        child_dir = os.path.join(workdir, kind)
        os.makedirs(child_dir)
        spec = {"scenario": "stall", "kind": kind, "workdir": child_dir}
        try:
            one = _run_child(spec, timeout=WATCHDOG_S + 90)
        except subprocess.TimeoutExpired:
            one = {"kind": kind, "latency_ms": None, "timed_out": True, "hung": True}
        shutil.rmtree(child_dir, ignore_errors=True)
        results[kind] = one
        shown = _stall_text(one)
        print(f"  stalled {kind:5} {one.get('probe', 'probe')} {shown}", flush=True)
    return results


def _stall_text(one: dict[str, Any]) -> str:
    if one.get("hung"):
        return "hung (child killed)"
    if one["timed_out"] or one["latency_ms"] >= STALL_LIMIT_S * 1000:
        return f">= {STALL_LIMIT_S * 1000:,.0f} ms (blocked)"
    return f"{one['latency_ms']:,.2f} ms"


# ======================================================================== 3. listing


def _key(i: int, sizes: Sizes) -> str:
    per_folder = sizes.list_count // sizes.list_folders
    return f"DEAL-{i // per_folder:03d}/doc-{i % per_folder:06d}.pdf"


def build_plain_tree(root: str, sizes: Sizes) -> float:
    """``list_count`` files of 256 bytes written without the library; return seconds."""
    payload = os.urandom(256)
    start = time.perf_counter()
    for folder in range(sizes.list_folders):
        os.makedirs(os.path.join(root, f"DEAL-{folder:03d}"))
    for i in range(sizes.list_count):
        with open(os.path.join(root, _key(i, sizes)), "wb") as f:
            f.write(payload)
    return time.perf_counter() - start


async def build_indexed_tree(root: str, sizes: Sizes) -> float:
    """The same tree put through artifactstore (index rows); return seconds."""
    from artifactstore import LocalFilesystemArtifactStore

    payload = os.urandom(256)
    async with LocalFilesystemArtifactStore(root, durable=False) as store:

        async def put(i: int) -> None:
            await store.put(_key(i, sizes), payload)

        return await run_concurrently(sizes.list_count, put, 64)


async def _list_artifactstore(root: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    from artifactstore import LocalFilesystemArtifactStore

    store = LocalFilesystemArtifactStore(root, durable=False, create=False)
    await store.exists("warmup/none")  # untimed: the root and its index are opened

    async def listing() -> dict[str, Any]:
        count, disorder, previous = 0, 0, ""
        async for meta in store.list(""):
            count += 1
            disorder += meta.storage_key <= previous
            previous = meta.storage_key
        return {"count": count, "out_of_order": disorder}

    return listing, store.aclose


async def _list_obstore(root: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import obstore
    from obstore.store import LocalStore

    store = LocalStore(prefix=root)
    await obstore.list(store, "warmup-none").collect_async()  # untimed: first use

    async def listing() -> dict[str, Any]:
        count = 0
        async for batch in obstore.list(store, chunk_size=1000):
            count += len(batch)
        return {"count": count}

    async def close() -> None:
        pass

    return listing, close


async def _list_walk(root: str) -> tuple[Callable[[], Any], Callable[[], Any]]:
    async def listing() -> dict[str, Any]:
        count = 0
        for folder, subfolders, files in os.walk(root):
            if folder == root:
                subfolders[:] = [name for name in subfolders if name != ".artifactstore"]
            for name in files:
                os.stat(os.path.join(folder, name))
                count += 1
        return {"count": count}

    async def close() -> None:
        pass

    return listing, close


#: Contender name -> (set-up returning (listing, close), what it does).
LIST_CONTENDERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "artifactstore": (
        _list_artifactstore,
        'async for over store.list("") (key order, ArtifactMetadata per artifact)',
    ),
    "obstore": (
        _list_obstore,
        "async for over obstore.list(LocalStore, chunk_size=1000) batches of ObjectMeta "
        "(unordered; .artifactstore/ files included)",
    ),
    "os.walk + os.stat": (
        _list_walk,
        "reference: os.walk, os.stat of each file, nothing built (unordered)",
    ),
}


async def _list_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed listing in a fresh process, with its peak RSS growth."""
    listing, close = await LIST_CONTENDERS[spec["contender"]][0](spec["root"])
    try:
        gc.collect()
        reset = reset_max_rss()
        maxrss_before = max_rss_bytes()
        start = time.perf_counter()
        result: dict[str, Any] = await listing()
        seconds = time.perf_counter() - start
        maxrss_growth = max_rss_bytes() - maxrss_before
    finally:
        await close()
    expected = spec["expected"]
    if spec["contender"] == "obstore":
        if not expected <= result["count"] <= expected + 20:
            raise AssertionError(f"obstore listed {result['count']}, expected ~{expected}")
    elif result["count"] != expected:
        raise AssertionError(f"{spec['contender']} listed {result['count']}, not {expected}")
    if result.get("out_of_order"):
        raise AssertionError(f"{result['out_of_order']} keys out of order")
    return {
        **result,
        "seconds": seconds,
        "per_s": result["count"] / seconds,
        "maxrss_growth_mib": maxrss_growth / MiB,
        "maxrss_reset": reset,
    }


#: Variant -> what its tree holds.
LIST_VARIANTS = {
    "plain": "plain files written without the library (no index rows)",
    "indexed": "the same tree put through artifactstore (an index row per artifact)",
}


def listings(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 3, both variants; every run, by variant and contender."""
    names = list(LIST_CONTENDERS)
    results: dict[str, Any] = {}
    for variant in LIST_VARIANTS:
        root = os.path.join(workdir, variant)
        if variant == "plain":
            built = build_plain_tree(root, sizes)
        else:
            built = asyncio.run(build_indexed_tree(root, sizes))
        print(f"  list {variant}: {sizes.list_count:,} artifacts built in {built:.1f} s")
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for rep, name in rounds(names, sizes.list_reps):
            spec = {"scenario": "list", "contender": name, "root": root}
            one = _run_child({**spec, "expected": sizes.list_count}, timeout=900)
            runs[name].append(one)
            print(
                f"  list {variant:7} #{rep + 1} {name:18} {one['per_s']:9,.0f}/s  "
                f"peak RSS +{one['maxrss_growth_mib']:.1f} MiB",
                flush=True,
            )
        shutil.rmtree(root, ignore_errors=True)
        results[variant] = {
            "build_seconds": built,
            **{
                name: {
                    "runs": one_runs,
                    "per_s": [r["per_s"] for r in one_runs],
                    "median_per_s": median([r["per_s"] for r in one_runs]),
                    "max_maxrss_growth_mib": max(r["maxrss_growth_mib"] for r in one_runs),
                    "count": one_runs[0]["count"],
                }
                for name, one_runs in runs.items()
            },
        }
    return results


# ====================================================================== subprocesses


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Run one scenario in ``python -m bench.local_lanes --child SPEC``; return its JSON."""
    return run_child(
        "bench.local_lanes", spec, what=f"local-lanes {spec['scenario']!r}", timeout=timeout
    )


CHILDREN = {"load": _load_child, "stall": _stall_child, "list": _list_child}


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    return await CHILDREN[spec["scenario"]](spec)


# ============================================================================ report


def _stall_value(one: dict[str, Any]) -> float:
    """A stalled probe's latency for the target: the limit when it timed out or hung."""
    if one.get("hung") or one["latency_ms"] is None:
        return WATCHDOG_S * 1000
    value: float = one["latency_ms"]
    return max(value, STALL_LIMIT_S * 1000) if one["timed_out"] else value


def _load_checks(sizes: Sizes, load: dict[str, Any]) -> list[Check]:
    checks = []
    for place, label in (("tmpfs", "tmpfs"), ("disk", "project disk")):
        ours, theirs = load[place]["artifactstore"], load[place]["obstore"]
        target = round(max(theirs["median_p99_ms"], TARGET_P99_FLOOR_MS), 2)
        checks.append(
            Check(
                f"small get p99 during a {sizes.big_label} put, {label}: artifactstore "
                f"<= obstore's p99 ({theirs['median_p99_ms']:.2f} ms) or <= "
                f"{TARGET_P99_FLOOR_MS:g} ms",
                ours["median_p99_ms"],
                target,
                unit=" ms",
                at_most=True,
            )
        )
    checks.append(
        Check(
            f"small get worst case during a {sizes.big_label} put, tmpfs: artifactstore",
            load["tmpfs"]["artifactstore"]["max_ms"],
            TARGET_WORST_TMPFS_MS,
            unit=" ms",
            at_most=True,
        )
    )
    return checks


def _load_table(sizes: Sizes, load: dict[str, Any], places: dict[str, str]) -> Table:
    rows = []
    for place, parent in places.items():
        mount = machine_info(parent)["scratch"]
        where = f"{place}: {parent} ({mount.get('fstype', '?')})"
        for name, (_, description) in LOAD_CONTENDERS.items():
            res = load[place][name]
            if place == "tmpfs":
                p50, p99, worst = PREVIOUS["load_tmpfs"][name]
                previous = f"{p50:g} / {p99:g} / {worst:g}"
            elif name == "artifactstore":
                previous = f"worst {PREVIOUS['load_disk_worst_ms']:g}"
            else:
                previous = "-"
            rows.append(
                [
                    where,
                    name,
                    f"{res['median_p50_ms']:.2f}",
                    f"{res['median_p99_ms']:.2f}",
                    f"{res['max_ms']:.2f}",
                    " / ".join(f"{r['p99_ms']:.2f}" for r in res["runs"]),
                    f"{res['median_idle_p50_ms']:.3f}",
                    f"{res['gets']:,}",
                    fmt_rate(res["median_put_mb_per_s"]),
                    f"{max(r['maxrss_growth_mib'] for r in res['runs']):.1f}",
                    previous,
                    description,
                ]
            )
    return Table(
        f"Small gets (4 KiB, one at a time) during a concurrent {sizes.big_label} put "
        f"from an async iterable of {sizes.chunk // MiB} MiB chunks",
        [
            "where",
            "contender",
            "p50 ms",
            "p99 ms",
            "worst ms",
            "p99 ms runs",
            "idle p50 ms",
            "gets timed",
            "large put MB/s",
            "peak RSS +MiB",
            "previous design p50 / p99 / worst ms (issue 10)",
            "what it does",
        ],
        rows,
        note=f"{sizes.load_reps} run(s) per contender and place, each in a fresh subprocess, "
        "contenders alternating in a rotating order; p50 and p99 are medians of the runs' "
        "percentiles (nearest rank), worst is the worst get of all runs. Idle p50: the "
        f"same {sizes.small_count} gets before the large put starts. The previous-design "
        "figures are issue 10's (one run, 1 GiB on tmpfs; on the disk only the worst case "
        "was quoted)"
        + (
            f"; this --quick run puts {sizes.big_label}, so they do not compare."
            if sizes.big_size != 1024 * MiB
            else "."
        ),
    )


def _stall_table(stall: dict[str, Any]) -> Table:
    labels = {
        "pipe": "put(key, open(pipe read end, 'rb')), writer silent -> get(other key)",
        "fifo": "put(key, Path(FIFO)), no writer -> exists(other key)",
    }
    rows = []
    for kind, label in labels.items():
        one = stall[kind]
        previous = f"{PREVIOUS['stall_pipe_ms']:,.0f} (3 s stall)" if kind == "pipe" else "-"
        rows.append(
            [
                label,
                _stall_text(one),
                f"{one['idle_ms']:.3f}" if "idle_ms" in one else "-",
                one.get("put_outcome", "-"),
                previous,
            ]
        )
    return Table(
        "A small operation while another task's put waits on a stalled source",
        ["scenario", "probe latency", "idle ms", "the stalled put, once fed", "previous (ms)"],
        rows,
        note=f"The probe starts 0.2 s after the put and is bounded by asyncio.wait_for(..., "
        f"{STALL_LIMIT_S:g}); then 16 KiB are written to the source and it is closed, and "
        "the put must finish. A watchdog thread feeds the source after "
        f"{WATCHDOG_S:g} s whatever happens, so an implementation that blocks the event "
        "loop itself is reported, not hung. Each case in a subprocess of its own. The "
        "target applies to the pipe; the FIFO (issue 10's second case) is shown for "
        "information.",
    )


def _list_tables(sizes: Sizes, listing: dict[str, Any]) -> list[Table]:
    tables = []
    for variant, description in LIST_VARIANTS.items():
        res = listing[variant]
        obstore_rate = res["obstore"]["median_per_s"]
        rows = []
        for name, (_, what) in LIST_CONTENDERS.items():
            one = res[name]
            previous = PREVIOUS["list"][name]
            rows.append(
                [
                    name,
                    fmt_rate(one["median_per_s"]),
                    fmt_ratio(one["median_per_s"] / obstore_rate),
                    " / ".join(f"{v:,.0f}" for v in one["per_s"]),
                    f"{one['count']:,}",
                    f"{one['max_maxrss_growth_mib']:.1f}",
                    f"{previous:,.0f}" if variant == "plain" else "-",
                    what,
                ]
            )
        tables.append(
            Table(
                f'list("") of {sizes.list_count:,} artifacts in {sizes.list_folders} folders '
                f"(tmpfs): {description}",
                [
                    "contender",
                    "artifacts/s",
                    "vs obstore",
                    "runs",
                    "listed",
                    "peak RSS +MiB",
                    "previous design /s (issue 10)",
                    "what it does",
                ],
                rows,
                note=f"Median of {sizes.list_reps} runs, contenders interleaved in a rotating "
                "order, each listing in a fresh subprocess (store opened untimed). Peak RSS: "
                "VmHWM reset through /proc/self/clear_refs just before the listing, growth "
                "read after it (worst run). Rates count what each contender yields "
                "(obstore also lists the .artifactstore/ index files). Issue 10's figures: "
                "one run of 100,000 artifacts, how the tree was made not stated.",
            )
        )
    return tables


def _report(
    sizes: Sizes,
    places: dict[str, str],
    load: dict[str, Any],
    stall: dict[str, Any],
    listing: dict[str, Any],
) -> Report:
    report = Report(
        section="local-lanes",
        title=TITLE,
        config={
            "large_put": sizes.big_label,
            "chunk": f"{sizes.chunk // MiB} MiB",
            "small_artifacts": sizes.small_count,
            "small_size": f"{sizes.small_size // 1024} KiB",
            "load_reps": sizes.load_reps,
            "list_artifacts": sizes.list_count,
            "list_folders": sizes.list_folders,
            "list_reps": sizes.list_reps,
            "stall_limit": f"{STALL_LIMIT_S:g} s",
        },
        data={
            "sizes": sizes.__dict__,
            "places": {place: machine_info(parent)["scratch"] for place, parent in places.items()},
            "load": load,
            "stall": stall,
            "list": listing,
            "previous": PREVIOUS,
        },
    )
    report.checks = _load_checks(sizes, load)
    report.checks.append(
        Check(
            "get while another task's put waits on a stalled pipe",
            _stall_value(stall["pipe"]),
            TARGET_STALLED_MS,
            unit=" ms",
            at_most=True,
        )
    )
    for variant in LIST_VARIANTS:
        res = listing[variant]
        report.checks.append(
            Check(
                f'list("") of {sizes.list_count:,} ({variant}): artifactstore / obstore',
                res["artifactstore"]["median_per_s"] / res["obstore"]["median_per_s"],
                TARGET_LIST_VS_OBSTORE,
            )
        )
    report.checks.append(
        Check(
            f'list("") of {sizes.list_count:,}: artifactstore peak RSS growth (worst run)',
            max(listing[v]["artifactstore"]["max_maxrss_growth_mib"] for v in LIST_VARIANTS),
            TARGET_LIST_RSS_MIB,
            unit=" MiB",
            at_most=True,
        )
    )
    report.tables.append(_load_table(sizes, load, places))
    report.tables.append(_stall_table(stall))
    report.tables.extend(_list_tables(sizes, listing))
    report.notes = [
        "Small puts and gets against obstore (P1/P2: 5,000 x 4 KiB, 64 in flight, durable) "
        "and the 512 MiB streamed put against hashlib.sha256 are measured by the local "
        "section (bench/local.py, bench/results/local.md); this section does not repeat them.",
        "tmpfs: a fresh folder in /dev/shm; project disk: a fresh .bench-scratch-lanes-* "
        f"folder in {REPO_ROOT} ({machine_info(places['disk'])['scratch'].get('fstype', '?')}"
        "); both removed "
        "afterwards. os.sync() runs before each large-put run, so no run flushes the "
        "previous one's dirty pages.",
        "obstore's LocalStore never fsyncs (the local section checked with strace), and "
        "put_async of an async iterable takes its multipart path (a staging file, 5 MiB "
        "parts); artifactstore's large put is durable=True (file and folder fsynced). "
        "Neither side hashes on the event loop: artifactstore computes SHA-256 as part of "
        "its put; obstore computes none (no hashing is added for it here, since that would "
        "run on the loop and delay its gets).",
        "Each small get's bytes are compared with what was put (untimed, after each timing).",
        "artifactstore's listing is also checked, in the timed loop, to yield every key "
        "once in key order (one string comparison per artifact).",
        f"Latencies are milliseconds; MB/s is 10^6 bytes per second; "
        f"{sizes.list_count // sizes.list_folders} artifacts of 256 bytes per folder.",
    ]
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    sizes = Sizes.for_options(options)
    places = {"tmpfs": "/dev/shm", "disk": REPO_ROOT}
    print(f"local-lanes: small gets during a {sizes.big_label} put ...", flush=True)
    load = small_gets_under_load(sizes, places)
    with scratch_dir("artifactstore-bench-lanes-") as workdir:
        print("local-lanes: stalled sources ...", flush=True)
        stall = stalled_sources(workdir)
        print(f"local-lanes: listing {sizes.list_count:,} artifacts ...", flush=True)
        listing = listings(sizes, workdir)
    return _report(sizes, places, load, stall, listing)


if __name__ == "__main__":
    child_main("bench.local_lanes", sys.argv[1:], _child)
