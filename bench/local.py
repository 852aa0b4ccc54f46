"""Local filesystem section: artifactstore against its peers, everything on tmpfs.

1. Small files: ``count`` artifacts of 4 KiB, 64 operations in flight; puts/s then
   gets/s for artifactstore (durable and not), a plain synchronous loop, naive
   ``aiofiles`` and obstore's ``LocalStore``, in two layouts: every key in one folder
   (``bench/00042.bin``), and keys spread as a DataRoom spreads them, over 50 deals
   (``DEAL-007/documents/cim/f42.bin``, consecutive keys in different deals).
   Contenders and layouts are run interleaved, in a rotating order, ``reps`` times
   each; the median is reported.
2. Large files: a 512 MiB put streamed from an async iterable of 1 MiB chunks
   (against plain ``hashlib.sha256`` over the same chunks, in the same process), a
   512 MiB put from a ``pathlib.Path`` and a 512 MiB ``stream`` read. Each runs in a
   subprocess of its own so that its peak RSS is its own.

Run as part of ``python -m bench``; ``python -m bench.local --child ...`` is the
entry point of those subprocesses.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from . import _harness
from ._child import child_main, run_child
from ._harness import RATE_HEADERS, Samples, chunks, put_get_rates, rate_rows, ratio, rotated
from ._harness import runs_text as runs
from ._util import (
    MB,
    Check,
    MiB,
    Options,
    Report,
    RSSSampler,
    Table,
    fmt_rate,
    fmt_ratio,
    max_rss_bytes,
    median,
    scratch_dir,
)

TITLE = "artifactstore benchmark: local filesystem (tmpfs)"

#: Targets the library must meet.
TARGET_SMALL_VS_OBSTORE = 2.0
TARGET_LARGE_VS_HASHLIB = 0.60
#: "Memory must stay flat": a few tens of MiB at most, whatever the artifact's size.
TARGET_LARGE_PEAK_RSS_MIB = 64.0


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    small_count: int = 5000
    small_size: int = 4096
    concurrency: int = 64
    warmup_count: int = 256
    small_reps: int = 3
    large_size: int = 512 * MiB
    large_chunk: int = MiB
    large_reps: int = 5

    QUICK: ClassVar[dict[str, int]] = {
        "small_count": 500,
        "warmup_count": 64,
        "small_reps": 2,
        "large_size": 64 * MiB,
        "large_reps": 2,
    }


def key_of(i: int) -> str:
    """The key of small artifact ``i``, every one in one folder."""
    return f"bench/{i:05d}.bin"


#: Deals of the spread layout; 5,000 keys give 100 files to each.
DEALS = 50


def spread_key_of(i: int) -> str:
    """The key of small artifact ``i`` as a DataRoom spreads them: deal ``i % 50``."""
    return f"DEAL-{i % DEALS:03d}/documents/cim/f{i // DEALS}.bin"


@dataclass(frozen=True)
class Layout:
    """Where the small artifacts go: one folder, or a DataRoom's deal folders."""

    name: str
    label: str
    key: Callable[[int], str]


LAYOUTS = [
    Layout("one_folder", "one folder (bench/00042.bin)", key_of),
    Layout(
        "spread",
        f"spread over {DEALS} deals (DEAL-007/documents/cim/f42.bin)",
        spread_key_of,
    ),
]


# ======================================================================= small files


class Contender(_harness.Contender):
    """One way of storing small files under ``root``, at the keys ``key(i)``."""

    def __init__(self, root: str, payloads: list[bytes], key: Callable[[int], str]) -> None:
        super().__init__(payloads)
        self.root = root
        self.key = key

    def _paths(self, i: int) -> tuple[str, str]:
        path = os.path.join(self.root, self.key(i))
        return path, f"{path}.tmp"

    def _folders(self) -> set[str]:
        return {os.path.join(self.root, os.path.dirname(self.key(i))) for i in range(len(self.got))}


class ArtifactStoreContender(Contender):
    durable = True

    def __init__(self, root: str, payloads: list[bytes], key: Callable[[int], str]) -> None:
        super().__init__(root, payloads, key)
        from artifactstore import LocalFilesystemArtifactStore

        self.store = LocalFilesystemArtifactStore(root, durable=self.durable)

    async def close(self) -> None:
        await self.store.aclose()

    async def put(self, i: int) -> None:
        await self.store.put(self.key(i), self.payloads[i])

    async def get(self, i: int) -> None:
        self.got[i] = await self.store.get(self.key(i))


class ArtifactStoreDurable(ArtifactStoreContender):
    name = "artifactstore (durable=True)"
    description = "the default: fsync of file and folder before put returns"
    durable = True


class ArtifactStoreNotDurable(ArtifactStoreContender):
    name = "artifactstore (durable=False)"
    description = "no fsync"
    durable = False


class RawSyncLoop(Contender):
    name = "raw sync loop"
    description = "one thread, no event loop: sha256, write temp file, rename (no fsync)"
    asynchronous = False

    async def open(self) -> None:
        for folder in self._folders():
            os.makedirs(folder, exist_ok=True)

    def put_sync(self, i: int) -> None:
        data = self.payloads[i]
        hashlib.sha256(data).hexdigest()
        path, tmp = self._paths(i)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)

    def get_sync(self, i: int) -> None:
        with open(self._paths(i)[0], "rb") as f:
            self.got[i] = f.read()


class NaiveAiofiles(Contender):
    name = "naive aiofiles"
    description = "one executor hop per call (open, write, close, rename), sha256 on the loop"

    async def open(self) -> None:
        import aiofiles.os

        for folder in self._folders():
            await aiofiles.os.makedirs(folder, exist_ok=True)

    async def put(self, i: int) -> None:
        import aiofiles
        import aiofiles.os

        data = self.payloads[i]
        hashlib.sha256(data).hexdigest()
        path, tmp = self._paths(i)
        async with aiofiles.open(tmp, "wb") as f:
            await f.write(data)
        await aiofiles.os.rename(tmp, path)

    async def get(self, i: int) -> None:
        import aiofiles

        async with aiofiles.open(self._paths(i)[0], "rb") as f:
            self.got[i] = await f.read()


class Obstore(Contender):
    name = "obstore LocalStore"
    description = "Rust object_store; sha256 computed with hashlib on put, for parity"

    def __init__(self, root: str, payloads: list[bytes], key: Callable[[int], str]) -> None:
        super().__init__(root, payloads, key)
        from obstore.store import LocalStore

        self.store = LocalStore(prefix=root, mkdir=True)

    async def put(self, i: int) -> None:
        import obstore

        data = self.payloads[i]
        hashlib.sha256(data).hexdigest()
        await obstore.put_async(self.store, self.key(i), data)

    async def get(self, i: int) -> None:
        import obstore

        response = await obstore.get_async(self.store, self.key(i))
        self.got[i] = await response.bytes_async()


CONTENDERS: list[type[Contender]] = [
    ArtifactStoreDurable,
    ArtifactStoreNotDurable,
    RawSyncLoop,
    NaiveAiofiles,
    Obstore,
]


async def _measure(
    kind: type[Contender], root: str, payloads: list[bytes], layout: Layout, concurrency: int
) -> dict[str, float]:
    """Put then get every payload with a fresh contender in ``root``: puts/s and gets/s."""
    return await put_get_rates(kind(root, payloads, layout.key), concurrency)


async def small_files(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 1; returns every sample, by layout then contender."""
    payloads = [os.urandom(sizes.small_size) for _ in range(sizes.small_count)]
    samples = {layout.name: Samples(kind.name for kind in CONTENDERS) for layout in LAYOUTS}
    for layout in LAYOUTS:  # warm-up: imports, threads, executors, first-use paths
        for kind in CONTENDERS:
            root = os.path.join(workdir, f"warmup-{layout.name}-{kind.__name__}")
            await _measure(kind, root, payloads[: sizes.warmup_count], layout, sizes.concurrency)
            shutil.rmtree(root)
    for rep in range(sizes.small_reps):
        # The layouts alternate too; one layout's contenders run back to back.
        for layout in rotated(LAYOUTS, rep):
            for kind in rotated(CONTENDERS, rep):
                root = os.path.join(workdir, f"{layout.name}-{kind.__name__}-{rep}")
                result = await _measure(kind, root, payloads, layout, sizes.concurrency)
                samples[layout.name].add(kind.name, result)
                shutil.rmtree(root)
                print(
                    f"  small #{rep + 1} {layout.name:10} {kind.name:32} "
                    f"puts/s {result['puts_per_s']:9,.0f}  gets/s {result['gets_per_s']:9,.0f}"
                )
    return {layout: by_kind.summary() for layout, by_kind in samples.items()}


# ======================================================================= large files
# Each large scenario runs in a subprocess (``_child``), which prints one JSON line.


def _hashlib_seconds(block: bytes, count: int) -> tuple[float, str]:
    start = time.perf_counter()
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(block)
    digest = hasher.hexdigest()
    return time.perf_counter() - start, digest


def _sync_reference_seconds(block: bytes, count: int, path: str) -> float:
    """What one thread does without artifactstore: sha256 + os.write per chunk, fsync, rename."""
    start = time.perf_counter()
    hasher = hashlib.sha256()
    fd = os.open(f"{path}.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for _ in range(count):
            hasher.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(f"{path}.tmp", path)
    hasher.hexdigest()
    seconds = time.perf_counter() - start
    os.unlink(path)
    return seconds


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One large scenario, ``reps`` timed runs after an untimed warm-up run."""
    from artifactstore import LocalFilesystemArtifactStore

    kind, workdir, size, chunk, reps = (
        spec[k] for k in ("kind", "workdir", "size", "chunk", "reps")
    )

    block = os.urandom(chunk)
    count = size // chunk
    _, expected = _hashlib_seconds(block, count)
    source = Path(workdir, "source.bin")
    if kind == "path_put":
        with open(source, "wb") as f:
            for _ in range(count):
                f.write(block)
    store = LocalFilesystemArtifactStore(os.path.join(workdir, "store"), durable=True)

    async def once(key: str) -> None:
        if kind == "stream_get":
            received = 0
            async with store.stream("large/read.bin") as stream:
                async for piece in stream:
                    received += len(piece)
            assert received == size, f"stream returned {received} bytes, not {size}"
            return
        data = source if kind == "path_put" else chunks(block, count)
        meta = await store.put(key, data)
        assert meta.sha256 == expected, "stored digest differs"
        assert meta.size_bytes == size
        await store.delete(key)

    result: dict[str, Any] = {"kind": kind, "size": size, "seconds": [], "hashlib_seconds": []}
    result.update(peak_rss_increase=[], rss_samples=[], reference_seconds=[])
    maxrss_before = max_rss_bytes()
    try:
        if kind == "stream_get":
            meta = await store.put("large/read.bin", chunks(block, count))
            assert meta.sha256 == expected, "stored digest differs"
        # Warm-up: the first write of fresh tmpfs pages can be several times slower
        # (page allocation on a VM), which would be noise, not artifactstore.
        await once("large/warmup.bin")
        for rep in range(reps):
            if kind != "stream_get":
                result["hashlib_seconds"].append(_hashlib_seconds(block, count)[0])
            if kind == "stream_put":
                reference = _sync_reference_seconds(block, count, os.path.join(workdir, "ref"))
                result["reference_seconds"].append(reference)
            with RSSSampler() as rss:
                start = time.perf_counter()
                await once(f"large/{kind}-{rep}.bin")
                result["seconds"].append(time.perf_counter() - start)
            result["peak_rss_increase"].append(rss.peak_increase)
            result["rss_samples"].append(rss.samples)
        result["maxrss_growth"] = max_rss_bytes() - maxrss_before
    finally:
        await store.aclose()
    return result


def _run_child(kind: str, workdir: str, sizes: Sizes) -> dict[str, Any]:
    child_dir = os.path.join(workdir, kind)
    os.makedirs(child_dir)
    spec = {"kind": kind, "workdir": child_dir, "size": sizes.large_size}
    spec.update(chunk=sizes.large_chunk, reps=sizes.large_reps)
    try:
        result = run_child("bench.local", spec, what=f"large scenario {kind!r}")
    finally:
        shutil.rmtree(child_dir, ignore_errors=True)
    mb_per_s = [sizes.large_size / s / MB for s in result["seconds"]]
    result["mb_per_s"] = mb_per_s
    result["median_mb_per_s"] = median(mb_per_s)
    result["max_peak_rss_increase_mib"] = max(result["peak_rss_increase"]) / MiB
    if result["hashlib_seconds"]:
        hash_mb_per_s = [sizes.large_size / s / MB for s in result["hashlib_seconds"]]
        result["hashlib_mb_per_s"] = hash_mb_per_s
        result["median_hashlib_mb_per_s"] = median(hash_mb_per_s)
        result["ratio_to_hashlib"] = result["median_mb_per_s"] / result["median_hashlib_mb_per_s"]
    if result["reference_seconds"]:
        ref_mb_per_s = [sizes.large_size / s / MB for s in result["reference_seconds"]]
        result["reference_mb_per_s"] = ref_mb_per_s
        result["median_reference_mb_per_s"] = median(ref_mb_per_s)
    print(
        f"  large {kind:10} MB/s {', '.join(f'{x:,.0f}' for x in mb_per_s)}"
        f"  peak RSS +{result['max_peak_rss_increase_mib']:.1f} MiB"
    )
    return result


def large_files(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 2; returns the results of each subprocess."""
    return {
        kind: _run_child(kind, workdir, sizes) for kind in ("stream_put", "path_put", "stream_get")
    }


# ============================================================================ report


def _report(sizes: Sizes, small: dict[str, Any], large: dict[str, Any]) -> Report:
    durable, fast = ArtifactStoreDurable.name, ArtifactStoreNotDurable.name
    report = Report(
        section="local",
        title=TITLE,
        config={
            "small_files": sizes.small_count,
            "small_size": f"{sizes.small_size // 1024} KiB",
            "in_flight": sizes.concurrency,
            "small_reps": sizes.small_reps,
            "small_layouts": " and ".join(layout.name for layout in LAYOUTS),
            "large_size": f"{sizes.large_size // MiB} MiB",
            "large_chunk": f"{sizes.large_chunk // MiB} MiB",
            "large_reps": sizes.large_reps,
            "statistic": "median",
        },
        data={"sizes": sizes.__dict__, "small": small, "large": large},
    )
    one, spread = small["one_folder"], small["spread"]
    report.checks = [
        Check(
            "small puts: artifactstore (durable) / obstore",
            ratio(one, durable, Obstore.name, "puts_per_s"),
            TARGET_SMALL_VS_OBSTORE,
        ),
        Check(
            "small gets: artifactstore (durable) / obstore",
            ratio(one, durable, Obstore.name, "gets_per_s"),
            TARGET_SMALL_VS_OBSTORE,
        ),
        Check(
            f"small puts over {DEALS} deals: artifactstore (durable) / obstore",
            ratio(spread, durable, Obstore.name, "puts_per_s"),
            TARGET_SMALL_VS_OBSTORE,
        ),
        Check(
            f"small gets over {DEALS} deals: artifactstore (durable) / obstore",
            ratio(spread, durable, Obstore.name, "gets_per_s"),
            TARGET_SMALL_VS_OBSTORE,
        ),
        Check(
            f"{sizes.large_size // MiB} MiB streamed put / hashlib.sha256",
            large["stream_put"]["ratio_to_hashlib"],
            TARGET_LARGE_VS_HASHLIB,
        ),
        Check(
            f"{sizes.large_size // MiB} MiB streamed put: peak RSS increase",
            large["stream_put"]["max_peak_rss_increase_mib"],
            TARGET_LARGE_PEAK_RSS_MIB,
            unit=" MiB",
            at_most=True,
        ),
    ]

    for layout in LAYOUTS:
        report.tables.append(
            Table(
                f"Small files, {layout.label}: {sizes.small_count} x "
                f"{sizes.small_size // 1024} KiB, {sizes.concurrency} in flight",
                RATE_HEADERS,
                rate_rows(small[layout.name], CONTENDERS),
                note=f"Median of {sizes.small_reps} runs, contenders and layouts interleaved "
                "in a rotating order; each run starts from an empty folder. The raw sync "
                "loop runs one file at a time (no concurrency).",
            )
        )
    peers = [Obstore.name, NaiveAiofiles.name, RawSyncLoop.name]
    report.tables.append(
        Table(
            "Small-file ratios (artifactstore / peer), by layout",
            [
                "ratio",
                "one folder, durable=True",
                "one folder, durable=False",
                f"{DEALS} deals, durable=True",
                f"{DEALS} deals, durable=False",
            ],
            [
                [
                    f"{op} vs {peer}",
                    *(
                        fmt_ratio(ratio(small[layout.name], mine, peer, f"{op}_per_s"))
                        for layout in LAYOUTS
                        for mine in (durable, fast)
                    ),
                ]
                for op in ("puts", "gets")
                for peer in peers
            ],
            note=f"{DEALS} deals: key i is DEAL-{{i % {DEALS}:03}}/documents/cim/f{{i // {DEALS}}}"
            f".bin, {sizes.small_count // DEALS} files in each deal's folder, consecutive "
            "keys (and so the operations in flight) in different deals.",
        )
    )
    labels = {
        "stream_put": "put, async iterable of 1 MiB chunks",
        "path_put": "put, pathlib.Path source",
        "stream_get": "stream() read",
    }
    rows = []
    for kind, label in labels.items():
        res = large[kind]
        rows.append(
            [
                label,
                fmt_rate(res["median_mb_per_s"]),
                fmt_rate(res["median_hashlib_mb_per_s"]) if "ratio_to_hashlib" in res else "-",
                fmt_ratio(res["ratio_to_hashlib"]) if "ratio_to_hashlib" in res else "-",
                f"{res['max_peak_rss_increase_mib']:.1f}",
                f"{res['maxrss_growth'] / MiB:.1f}",
                runs(res["mb_per_s"]),
            ]
        )
        if "median_reference_mb_per_s" in res:
            ref, hashed = res["median_reference_mb_per_s"], res["median_hashlib_mb_per_s"]
            rows.append(
                [
                    "reference, not artifactstore: one thread, sha256 + os.write "
                    "per chunk, fsync, rename",
                    fmt_rate(ref),
                    fmt_rate(hashed),
                    fmt_ratio(ref / hashed),
                    "-",
                    "-",
                    runs(res["reference_mb_per_s"]),
                ]
            )
    report.tables.append(
        Table(
            f"Large files: {sizes.large_size // MiB} MiB, artifactstore durable=True",
            [
                "operation",
                "MB/s",
                "hashlib MB/s",
                "vs hashlib",
                "peak RSS +MiB",
                "ru_maxrss +MiB",
                "MB/s runs",
            ],
            rows,
            note=f"Median of {sizes.large_reps} runs, each scenario in its own subprocess; "
            "one untimed warm-up run first (the first write of fresh tmpfs pages is much "
            "slower on this VM). hashlib.sha256 over the same chunks is timed in the same "
            "process, interleaved with the puts. "
            "Peak RSS: psutil samples every 5 ms minus RSS before the call (worst run); "
            "ru_maxrss: growth of the process's lifetime peak from just before its first "
            "artifactstore call to the end (warm-up included).",
        )
    )
    report.notes = [
        "All roots are fresh folders under a temporary directory in /dev/shm, removed "
        "afterwards; on tmpfs fsync costs almost nothing, so durable=True vs False shows "
        "only the cost of the extra system calls.",
        "Async contenders share one driver: 64 worker coroutines pulling indices from a "
        "shared iterator, on the default asyncio event loop.",
        "obstore: put_async(store, key, bytes) and get_async(...).bytes_async(); its gets "
        "return an obstore.Bytes buffer (no copy into a Python bytes object). obstore does "
        "not hash, so the benchmark computes hashlib.sha256 of each payload on put, as "
        "artifactstore does. obstore's LocalStore writes a staging file and renames it "
        "but never fsyncs (checked with strace), so it compares with durable=False "
        "at best.",
        "naive aiofiles uses the event loop's default thread pool "
        f"(min(32, cpu_count + 4) = {min(32, (os.cpu_count() or 1) + 4)} threads here).",
        "MB/s means 10^6 bytes per second.",
    ]
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    sizes = Sizes.for_options(options)
    with scratch_dir("artifactstore-bench-") as workdir:
        print(f"local: small files in {workdir} ...", flush=True)
        os.makedirs(os.path.join(workdir, "small"))
        small = asyncio.run(small_files(sizes, os.path.join(workdir, "small")))
        print("local: large files ...", flush=True)
        large = large_files(sizes, os.path.join(workdir, "large"))
    return _report(sizes, small, large)


if __name__ == "__main__":
    child_main("bench.local", sys.argv[1:], _child)
