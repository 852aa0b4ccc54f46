"""What the audit trail costs (issue 21): a local store with ``audit=True`` against the
same store without it and against obstore's ``LocalStore``, which records nothing.

1. Small files: 5,000 puts then gets of 4 KiB, 64 in flight, keys over 50 deals as
   in the local section, ``durable=True`` on tmpfs. Audit on, audit off and obstore
   run side by side, in a rotating order, ``small_reps`` times; medians. Targets:
   audit on >= 1.8x obstore's puts/s and >= 1.5x its gets/s.
2. 1 MiB files: 200 puts, then 200 gets and 200 ``stream`` reads, 8 in flight.
   Audit off and on alternate within each repetition (the order swaps); target:
   the median with audit on is at most 5% slower than with it off, for puts and gets.
3. ``verify`` of a long trail: 100,000 and 1,000,000 events, written straight into
   the trail's table of a DataRoom's index in the canonical form the store writes
   (untimed), a checkpoint signed over them, then ``verify`` against that note,
   each run in a fresh subprocess whose peak RSS growth is its own. Targets: under
   60 s at 1,000,000 events, memory flat (the same growth at both sizes).

Run as part of ``python -m bench``; ``python -m bench.audit --child ...`` is the entry
point of the verifying subprocesses.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _harness
from ._child import child_main, run_child
from ._harness import Samples, put_get_rates, rotated, same_rep, shown_rates
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
    reset_max_rss,
    run_concurrently,
    scratch_dir,
)
from .local import Obstore, spread_key_of

TITLE = "Audit trail: a local store with audit=True against audit off and obstore LocalStore"

#: Targets of issue 21.
TARGET_SMALL_PUTS_VS_OBSTORE = 1.8
TARGET_SMALL_GETS_VS_OBSTORE = 1.5
TARGET_LARGE_SLOWDOWN = 1.05  # audit on / off, seconds at the median
TARGET_VERIFY_SECONDS = 60.0
#: "Flat memory": verifying ten times the events may not take more memory than
#: this beyond what the smaller trail took (and never more than the local
#: section's flat-memory bound in all).
TARGET_VERIFY_GROWTH_DELTA_MIB = 8.0
TARGET_VERIFY_PEAK_MIB = 64.0

INDEX = os.path.join(".artifactstore", "index.sqlite3")


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    small_count: int = 5000
    small_size: int = 4096
    concurrency: int = 64
    warmup_count: int = 256
    small_reps: int = 5
    large_count: int = 200
    large_size: int = MiB
    large_concurrency: int = 8
    large_reps: int = 9
    verify_small: int = 100_000
    verify_large: int = 1_000_000
    verify_reps: int = 3

    QUICK: ClassVar[dict[str, int]] = {
        "small_count": 500,
        "warmup_count": 64,
        "small_reps": 2,
        "large_count": 40,
        "large_reps": 2,
        "verify_small": 10_000,
        "verify_large": 100_000,
        "verify_reps": 1,
    }


def trail_rows(root: str) -> int:
    """How many events the DataRoom's trail holds (read with sqlite3, untimed)."""
    conn = sqlite3.connect(os.path.join(root, INDEX))
    try:
        (count,) = conn.execute("SELECT COUNT(*) FROM audit_events").fetchone()
    finally:
        conn.close()
    return int(count)


# ======================================================================= small files


class Store(_harness.Contender):
    """``LocalFilesystemArtifactStore(root, durable=True, audit=...)``, keys over 50 deals."""

    audit = False

    def __init__(self, root: str, payloads: list[bytes]) -> None:
        super().__init__(payloads)
        from artifactstore import LocalFilesystemArtifactStore

        self.root = root
        self.store = LocalFilesystemArtifactStore(root, durable=True, audit=self.audit)

    async def close(self) -> None:
        await self.store.aclose()

    async def put(self, i: int) -> None:
        await self.store.put(spread_key_of(i), self.payloads[i])

    async def get(self, i: int) -> None:
        self.got[i] = await self.store.get(spread_key_of(i))


class AuditOn(Store):
    name = "artifactstore, audit=True"
    description = "an event per put (written ahead) and per get (before the bytes)"
    audit = True

    def verify(self, count: int) -> None:
        super().verify(count)
        recorded = trail_rows(self.root)
        if recorded != 2 * count:
            raise AssertionError(f"{recorded} events recorded for {count} puts and {count} gets")


class AuditOff(Store):
    name = "artifactstore, audit=False"
    description = "the same store, no trail (the default)"
    audit = False


class ObstoreSpread(Obstore):
    """obstore's ``LocalStore`` (the local section's contender) at the same keys."""

    def __init__(self, root: str, payloads: list[bytes]) -> None:
        super().__init__(root, payloads, spread_key_of)


SMALL: list[type[_harness.Contender]] = [AuditOn, AuditOff, ObstoreSpread]


async def small_files(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 1: every contender ``small_reps`` times, in a rotating order."""
    payloads = [os.urandom(sizes.small_size) for _ in range(sizes.small_count)]
    samples = Samples(kind.name for kind in SMALL)
    for kind in SMALL:  # warm-up: imports, threads, first-use paths
        root = os.path.join(workdir, f"warmup-{kind.__name__}")
        await put_get_rates(kind(root, payloads[: sizes.warmup_count]), sizes.concurrency)
        shutil.rmtree(root)
    for rep in range(sizes.small_reps):
        for kind in rotated(SMALL, rep):
            root = os.path.join(workdir, f"{kind.__name__}-{rep}")
            result = await put_get_rates(kind(root, payloads), sizes.concurrency)
            shutil.rmtree(root)
            samples.add(kind.name, result)
            print(f"  small #{rep + 1} {kind.name:28} {shown_rates(result)}", flush=True)
    return samples.summary()


# ======================================================================= 1 MiB files


def large_key(i: int) -> str:
    return f"DEAL-{i % 50:03d}/documents/data-room/part-{i:04d}.bin"


def _minor_faults() -> int:
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


async def _large_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One run in this fresh process: put ``count`` artifacts, get each, stream each.

    Returns MB/s of each phase and the process's minor page faults per operation
    (a 1 MiB read allocates a 1 MiB buffer: whether the allocator hands back
    pages already touched or fresh ones costs up to a few hundred faults a read).
    """
    from artifactstore import LocalFilesystemArtifactStore

    root, audit, count = spec["root"], spec["audit"], spec["count"]
    in_flight = spec["concurrency"]
    data = os.urandom(spec["size"])
    store = LocalFilesystemArtifactStore(root, durable=True, audit=audit)
    wrong: list[int] = []

    async def put(i: int) -> None:
        await store.put(large_key(i), data)

    async def get(i: int) -> None:
        if await store.get(large_key(i)) != data:
            wrong.append(i)

    async def stream(i: int) -> None:
        received = 0
        async with store.stream(large_key(i)) as chunks:
            async for chunk in chunks:
                received += len(chunk)
        if received != len(data):
            wrong.append(i)

    result: dict[str, float] = {}
    try:
        # Untimed warm-up, as many as are in flight: the lanes' threads start and the
        # allocator has seen 1 MiB buffers come and go before anything is timed.
        for op in (put, get, stream):
            await run_concurrently(in_flight, lambda i, op=op: op(count + i), in_flight)
        for name, op in (("puts", put), ("gets", get), ("streams", stream)):
            faults = _minor_faults()
            seconds = await run_concurrently(count, op, in_flight)
            result[f"{name}_mb_s"] = count * len(data) / MB / seconds
            result[f"{name}_faults"] = (_minor_faults() - faults) / count
    finally:
        await store.aclose()
    if wrong:
        raise AssertionError(f"{len(wrong)} reads returned wrong bytes, e.g. #{wrong[0]}")
    ops = 3 * (count + in_flight)
    if audit and (recorded := trail_rows(root)) != ops:
        raise AssertionError(f"{recorded} events recorded for {ops} operations")
    return result


LARGE_OPS = {"puts": "put (bytes)", "gets": "get", "streams": "stream"}

#: The C allocator's settings of the 1 MiB runs. With glibc's defaults, whether a
#: 1 MiB read's buffer lands on pages already touched or on fresh ones (up to 256
#: minor faults a read) depends on the sizes allocated and freed around it, and the
#: audit's own small allocations change that: audit on and off then differ by the
#: allocator's luck, not the audit's work. "pinned" keeps freed memory in the heap
#: (no mmap per buffer, no trimming), so both touch the same pages: the targets are
#: judged there; the default is shown too.
ALLOCATORS: dict[str, dict[str, str] | None] = {
    "pinned": {"MALLOC_MMAP_THRESHOLD_": str(4 * MiB), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)},
    "default": None,
}


def large_files(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 2: audit off and on alternating within each repetition, each run in a
    fresh process (so that neither inherits a heap shaped by the other)."""
    samples = Samples(f"{alloc}|{mode}" for alloc in ALLOCATORS for mode in ("off", "on"))
    for rep in range(sizes.large_reps):
        for alloc, env in ALLOCATORS.items():
            for audit in rotated((False, True), rep):
                root = os.path.join(workdir, f"large-{rep}-{alloc}-{audit}")
                spec = {"kind": "large", "root": root, "audit": audit}
                spec.update(count=sizes.large_count, size=sizes.large_size)
                spec.update(concurrency=sizes.large_concurrency)
                try:
                    result = run_child("bench.audit", spec, what="1 MiB run", env=env)
                finally:
                    shutil.rmtree(root, ignore_errors=True)
                name = f"{alloc}|{'on' if audit else 'off'}"
                samples.add(name, result)
                shown = "  ".join(
                    f"{op} MB/s {result[f'{op}_mb_s']:6,.0f} ({result[f'{op}_faults']:3.0f} pf)"
                    for op in LARGE_OPS
                )
                print(f"  1 MiB #{rep + 1} {name:12} {shown}", flush=True)
    return samples.summary()


# ============================================================================ verify


def _event(seq: int) -> Any:
    """A varied, realistic event: puts, gets and streams by three actors over 50 deals."""
    from artifactstore.audit import AuditRecord

    operation = ("get", "stream", "get", "put")[seq % 4]
    details: dict[str, Any] = {"change": "created"} if operation == "put" else {}
    return AuditRecord(
        operation,
        f"DEAL-{seq % 50:03d}/documents/cim/f{seq // 50}.bin",
        sha256=hashlib.sha256(seq.to_bytes(8, "big")).hexdigest(),
        size=4096 + seq % 1000,
        actor=("alice@bank.example", "bob@counsel.example", "carol@bidder.example")[seq % 3],
        attributes={"request_id": f"req-{seq:08d}", "client_ip": f"10.0.{seq % 256}.{seq % 200}"},
        details=details,
    )


def grow_trail(root: str, total: int, batch: int = 100_000) -> float:
    """Append events to the DataRoom's trail until it holds ``total``; seconds taken.

    Rows go straight into the store's own ``audit_events`` table, each sealed as the
    store seals it (``AuditRecord.seal(seq)``, leaf ``sha256(0x00 || bytes)``), in
    transactions of ``batch`` rows: a trail a store could have written, in seconds.
    """
    start = time.perf_counter()
    conn = sqlite3.connect(os.path.join(root, INDEX), isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetchone()
        while last < total:
            end = min(total, last + batch)
            rows = []
            for seq in range(last + 1, end + 1):
                raw = _event(seq).seal(seq)
                rows.append((seq, raw, hashlib.sha256(b"\x00" + raw).digest()))
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO audit_events VALUES (?, ?, ?)", rows)
            conn.execute("COMMIT")
            last = end
    finally:
        conn.close()
    return time.perf_counter() - start


async def _start_trail(root: str) -> None:
    """A DataRoom whose trail the store itself began (its table, its origin): one put."""
    from artifactstore import LocalFilesystemArtifactStore

    store = LocalFilesystemArtifactStore(root, durable=True, audit=True)
    try:
        await store.put("DEAL-000/documents/cim/first.bin", b"x" * 4096)
    finally:
        await store.aclose()


async def _checkpoint(root: str, private_pem: bytes) -> tuple[str, float]:
    from artifactstore import LocalFilesystemArtifactStore

    store = LocalFilesystemArtifactStore(root, durable=True, audit=True)
    try:
        start = time.perf_counter()
        note = await store.audit_log().checkpoint(private_pem)
        return note, time.perf_counter() - start
    finally:
        await store.aclose()


async def _verify_child(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``verify`` in this fresh process: seconds, outcome and memory growth."""
    reset_max_rss()
    from artifactstore import LocalFilesystemArtifactStore

    rss_before = max_rss_bytes()  # just reset: the RSS of now
    store = LocalFilesystemArtifactStore(spec["root"], durable=True, audit=True)
    try:
        with RSSSampler() as rss:
            start = time.perf_counter()
            outcome = await store.audit_log().verify(
                spec["public_pem"].encode(), checkpoint=spec["note"]
            )
            seconds = time.perf_counter() - start
    finally:
        await store.aclose()
    return {
        "seconds": seconds,
        "ok": outcome.ok,
        "size": outcome.size,
        "reason": outcome.reason,
        "peak_rss_increase": rss.peak_increase,
        "maxrss_growth": max_rss_bytes() - rss_before,
    }


def verify_trails(sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 3: a trail grown to each size, checkpointed, verified in fresh processes."""
    from artifactstore.audit import generate_key_pair

    private_pem, public_pem = generate_key_pair()
    root = os.path.join(workdir, "room")
    asyncio.run(_start_trail(root))
    results: dict[str, Any] = {}
    for total in (sizes.verify_small, sizes.verify_large):
        # The trail grows to `total` events, then the checkpoint's own event follows it.
        build_s = grow_trail(root, total)
        note, checkpoint_s = asyncio.run(_checkpoint(root, private_pem))
        spec = {"kind": "verify", "root": root, "public_pem": public_pem.decode(), "note": note}
        runs_ = []
        for rep in range(sizes.verify_reps):
            result = run_child("bench.audit", spec, what=f"verify of {total:,} events")
            if not result["ok"] or result["size"] != trail_rows(root):
                raise AssertionError(f"verify of {total:,} events: {result['reason']}")
            runs_.append(result)
            print(
                f"  verify {total:>9,} #{rep + 1}: {result['seconds']:6.2f} s  "
                f"peak RSS +{result['peak_rss_increase'] / MiB:.1f} MiB  "
                f"VmHWM +{result['maxrss_growth'] / MiB:.1f} MiB",
                flush=True,
            )
        seconds = [r["seconds"] for r in runs_]
        results[str(total)] = {
            "events": trail_rows(root),
            "checkpoint_size": total,
            "build_seconds": build_s,
            "checkpoint_seconds": checkpoint_s,
            "seconds": seconds,
            "median_seconds": median(seconds),
            "peak_rss_increase_mib": [r["peak_rss_increase"] / MiB for r in runs_],
            "maxrss_growth_mib": [r["maxrss_growth"] / MiB for r in runs_],
            "db_mib": os.path.getsize(os.path.join(root, INDEX)) / MiB,
            "reason": runs_[0]["reason"],
        }
    return results


# ============================================================================ report


def _report(
    sizes: Sizes, small: dict[str, Any], large: dict[str, Any], verify: dict[str, Any]
) -> Report:
    on, off, obstore = AuditOn.name, AuditOff.name, ObstoreSpread.name
    report = Report(section="audit", title=TITLE)
    report.config = {
        "small": f"{sizes.small_count} x {sizes.small_size // 1024} KiB",
        "small in flight": sizes.concurrency,
        "small reps": sizes.small_reps,
        "large": f"{sizes.large_count} x {sizes.large_size // MiB} MiB",
        "large in flight": sizes.large_concurrency,
        "large reps": sizes.large_reps,
        "verify": f"{sizes.verify_small:,} and {sizes.verify_large:,} events",
        "verify reps": sizes.verify_reps,
        "local": "durable=True, on tmpfs; keys over 50 deals",
    }

    def small_ratio(a: str, b: str, op: str) -> float:
        return float(small[a][f"median_{op}_per_s"] / small[b][f"median_{op}_per_s"])

    puts_vs_obstore = small_ratio(on, obstore, "puts")
    gets_vs_obstore = small_ratio(on, obstore, "gets")
    report.checks += [
        Check("small puts, audit on / obstore", puts_vs_obstore, TARGET_SMALL_PUTS_VS_OBSTORE),
        Check("small gets, audit on / obstore", gets_vs_obstore, TARGET_SMALL_GETS_VS_OBSTORE),
    ]
    report.tables.append(
        Table(
            f"Small files: {sizes.small_count} x {sizes.small_size // 1024} KiB, "
            f"{sizes.concurrency} in flight",
            _harness.RATE_HEADERS,
            _harness.rate_rows(small, SMALL),
            note=f"Median of {sizes.small_reps} runs, the three in a rotating order; each "
            "run starts from an empty DataRoom. The audited runs are checked afterwards to "
            "hold exactly one event per put and per get.",
        )
    )
    rows = []
    for op in ("puts", "gets"):
        metric = f"{op}_per_s"
        rows += [
            [f"{op}: audit on / obstore", fmt_ratio(small_ratio(on, obstore, op)),
             same_rep(small, on, obstore, metric)],
            [f"{op}: audit off / obstore", fmt_ratio(small_ratio(off, obstore, op)),
             same_rep(small, off, obstore, metric)],
            [f"{op}: audit on / off", fmt_ratio(small_ratio(on, off, op)),
             same_rep(small, on, off, metric)],
        ]  # fmt: skip
    report.tables.append(
        Table(
            "Small-file ratios",
            ["ratio", "of medians", "same repetition"],
            rows,
        )
    )

    rows = []
    for alloc in ALLOCATORS:
        off_runs, on_runs = large[f"{alloc}|off"], large[f"{alloc}|on"]
        for op, label in LARGE_OPS.items():
            metric = f"{op}_mb_s"
            base, audited = off_runs[f"median_{metric}"], on_runs[f"median_{metric}"]
            # "x% slower": the time with audit on over the time with it off, at the median.
            slowdown = base / audited
            paired = [b / a for b, a in zip(off_runs[metric], on_runs[metric], strict=True)]
            rows.append(
                [
                    alloc,
                    label,
                    fmt_rate(base),
                    fmt_rate(audited),
                    fmt_ratio(slowdown),
                    f"{(slowdown - 1) * 100:+.1f}%",
                    fmt_ratio(median(paired)),
                    " / ".join(f"{p:.2f}" for p in paired),
                    f"{off_runs[f'median_{op}_faults']:.0f} / {on_runs[f'median_{op}_faults']:.0f}",
                ]
            )
            if alloc == "pinned" and op != "streams":
                report.checks.append(
                    Check(
                        f"1 MiB {op}: time audit on / off (median)",
                        slowdown,
                        TARGET_LARGE_SLOWDOWN,
                        at_most=True,
                    )
                )
    report.tables.append(
        Table(
            f"{sizes.large_size // MiB} MiB files: {sizes.large_count} puts, gets and "
            f"streams, {sizes.large_concurrency} in flight",
            [
                "allocator",
                "operation",
                "off MB/s",
                "on MB/s",
                "time on / off",
                "slower",
                "paired median",
                "time on / off, each repetition",
                "page faults per op, off / on",
            ],
            rows,
            note=f"Median of {sizes.large_reps} repetitions; in each, for each allocator, "
            "a run with audit off and one with it on, the order swapping every "
            "repetition, each in a fresh subprocess and a fresh DataRoom, after an "
            f"untimed warm-up of {sizes.large_concurrency} of each operation. 'paired "
            "median' is the median of the repetitions' own ratios. Page faults: the "
            "process's minor faults per operation (median). pinned: "
            + " ".join(f"{k}={v}" for k, v in (ALLOCATORS["pinned"] or {}).items())
            + " (the targets are judged there); default: glibc as it comes. stream is "
            "shown, not a target.",
        )
    )

    small_v, large_v = verify[str(sizes.verify_small)], verify[str(sizes.verify_large)]
    peak_small = max(small_v["maxrss_growth_mib"] + small_v["peak_rss_increase_mib"])
    peak_large = max(large_v["maxrss_growth_mib"] + large_v["peak_rss_increase_mib"])
    report.checks += [
        Check(
            f"verify of {sizes.verify_large:,} events (s, median)",
            large_v["median_seconds"],
            TARGET_VERIFY_SECONDS,
            unit=" s",
            at_most=True,
        ),
        Check(
            f"verify memory: growth at {sizes.verify_large:,} minus at "
            f"{sizes.verify_small:,} events",
            peak_large - peak_small,
            TARGET_VERIFY_GROWTH_DELTA_MIB,
            unit=" MiB",
            at_most=True,
        ),
        Check(
            f"verify memory: growth at {sizes.verify_large:,} events",
            peak_large,
            TARGET_VERIFY_PEAK_MIB,
            unit=" MiB",
            at_most=True,
        ),
    ]
    rows = []
    for total in (sizes.verify_small, sizes.verify_large):
        res = verify[str(total)]
        rows.append(
            [
                f"{total:,}",
                f"{res['median_seconds']:.2f}",
                f"{total / res['median_seconds']:,.0f}",
                runs(res["seconds"], 2),
                runs(res["peak_rss_increase_mib"], 1),
                runs(res["maxrss_growth_mib"], 1),
                f"{res['checkpoint_seconds']:.2f}",
                f"{res['db_mib']:.0f}",
            ]
        )
    report.tables.append(
        Table(
            "verify against a signed checkpoint",
            [
                "events",
                "verify s",
                "events/s",
                "verify s, runs",
                "peak RSS +MiB, runs",
                "VmHWM +MiB, runs",
                "checkpoint s",
                "index MiB",
            ],
            rows,
            note="Each verify runs in a fresh subprocess: "
            "LocalFilesystemArtifactStore(root, audit=True).audit_log().verify(public_key, "
            "checkpoint=note), the note signed over exactly that many events (the "
            "checkpoint's own event follows them). Peak RSS: psutil samples every 5 ms "
            "minus RSS before verify; VmHWM: growth of the child's peak from just "
            "before the store is made to the end. checkpoint s: the checkpoint() call "
            "that signed the note (it reads the trail too), in the parent, once.",
        )
    )
    report.notes = [
        "All DataRooms are fresh folders under a temporary directory in /dev/shm (tmpfs); "
        "fsync costs almost nothing there, so the figures show the audit's CPU and "
        "hand-offs, not a disk's flush.",
        "obstore: put_async + get_async(...).bytes_async() with hashlib.sha256 of each "
        "payload on put, as in the local section; it records nothing and never fsyncs.",
        "Audit on: a put stages its bytes in a synced temporary file, appends its event "
        "(committed with the small lane's batch) and only then commits the artifact; a get "
        "appends its event after reading and before returning the bytes.",
        f"The trails verified were written straight into the DataRoom's audit_events "
        f"table (sealed by AuditRecord.seal, leaf sha256(0x00 || bytes), transactions "
        f"of 100,000 rows) after one real audited put began the trail; building "
        f"{sizes.verify_large:,} took {large_v['build_seconds'] + small_v['build_seconds']:.0f} s "
        "(untimed). Events vary in operation, actor, key and attributes like a DataRoom's.",
    ]
    report.data = {"small": small, "large": large, "verify": verify}
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    sizes = Sizes.for_options(options)
    with scratch_dir("artifactstore-bench-audit-") as workdir:
        print(f"audit: small files in {workdir} ...", flush=True)
        small = asyncio.run(small_files(sizes, workdir))
        print("audit: 1 MiB files ...", flush=True)
        large = large_files(sizes, workdir)
        print("audit: verify ...", flush=True)
        verify = verify_trails(sizes, workdir)
    return _report(sizes, small, large, verify)


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """The subprocesses' scenarios: a 1 MiB run, or a verify."""
    if spec["kind"] == "large":
        return await _large_child(spec)
    return await _verify_child(spec)


if __name__ == "__main__":
    child_main("bench.audit", sys.argv[1:], _child)
