"""Transfer section: migrating a local DataRoom to S3 (moto) with ``copy_artifacts``, side by side.

One moto server runs for the whole section (started first, stopped last). A DataRoom
of ``count`` artifacts of 64 KiB (mime types and user metadata of their own) is
built on tmpfs, then copied into a fresh bucket by each contender:

1. ``artifactstore.transfer.copy_artifacts(src, dst, concurrency=16, journal=...)``:
   resumable and verified (each side listed once, the SHA-256 computed while
   uploading), noting what it copied in a journal;
2. the plain loop over the library: ``list`` the source, then ``get`` + ``put``
   with the listed mime type and metadata, 16 in flight, no resume check, no
   verification (what the issue's target compares against);
3. the ``artifactstore copy`` command, as a subprocess (startup included), when
   the CLI is installed;
4. ``rclone copy --checksum --transfers 16`` (Debian's package), when installed.

Contenders run interleaved, in a rotating order, ``reps`` times each, each into a
fresh bucket; the median rate is reported. Right after each of its copies,
``copy_artifacts`` (and rclone) runs again onto the complete bucket: the rerun
rate, everything skipped; ``copy_artifacts`` with its journal, then without one
(a HEAD per artifact, as before issue 23). Then a ``big_size`` artifact is copied local -> S3 in a
subprocess of its own, whose RSS growth is sampled (moto's memory is its own).

``python -m bench.transfer --child ...`` is the entry point of that subprocess.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from . import _harness
from ._child import child_main, run_child
from ._harness import Samples, ratio, rounds, runs_text, same_rep
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
    process_rss_mib,
    run_concurrently,
    scratch_dir,
    version,
)
from .s3 import Buckets, source_tree

TITLE = "artifactstore benchmark: migration of a local DataRoom to S3 (moto server on loopback)"

#: Targets ``copy_artifacts`` must meet (issue 9).
TARGET_VS_RCLONE = 1.5
TARGET_VS_PLAIN = 0.9
#: Target of the rerun onto a complete bucket, against rclone's (issue 23).
TARGET_RERUN_VS_RCLONE = 1.0
#: Memory allowed on top of ``concurrency x part_size`` for a migration.
RSS_ALLOWANCE_MIB = 64

REGION = "us-east-1"
#: Mime types of the DataRoom's artifacts, by extension (not what a guess would give
#: for every one: ".bin" is stored as a custom type, to show it is carried).
KINDS = (
    ("documents", ".pdf", "application/pdf"),
    ("emails", ".eml", "message/rfc822"),
    ("extracted", ".bin", "application/x-bench-extract"),
)


@dataclass(frozen=True)
class Sizes(_harness.Sizes):
    """How much work one run does (the full run; ``QUICK``: what --quick changes)."""

    count: int = 2000
    size: int = 64 * 1024
    concurrency: int = 16
    reps: int = 3
    warmup_count: int = 64
    big_size: int = 256 * MiB
    big_reps: int = 3
    part_size: int = 8 * MiB

    QUICK: ClassVar[dict[str, int]] = {
        "count": 200,
        "reps": 1,
        "warmup_count": 32,
        "big_size": 32 * MiB,
        "big_reps": 1,
    }

    @property
    def rss_target_mib(self) -> float:
        return self.concurrency * self.part_size / MiB + RSS_ALLOWANCE_MIB


def store_options(endpoint: str, sizes: Sizes) -> dict[str, Any]:
    """How every ``S3ArtifactStore`` of this section is configured (defaults otherwise)."""
    from tests.s3server import CREDENTIALS

    return {"endpoint_url": endpoint, "region": REGION, **CREDENTIALS, "part_size": sizes.part_size}


def rclone_path() -> str | None:
    return shutil.which("rclone")


def cli_path() -> str | None:
    """The ``artifactstore`` console script beside this interpreter, if its ``copy`` works."""
    script = Path(sys.executable).with_name("artifactstore")
    if not script.exists():
        return None
    done = subprocess.run([str(script), "copy", "--help"], capture_output=True, check=False)
    return str(script) if done.returncode == 0 else None


# ====================================================================== the DataRoom


@dataclass
class DataRoom:
    """A local DataRoom and what each of its artifacts must arrive as."""

    root: str
    expected: dict[str, tuple[str, str, dict[str, str]]]  # key -> (sha256, mime, metadata)

    @property
    def count(self) -> int:
        return len(self.expected)


async def build_dataroom(root: str, count: int, size: int) -> DataRoom:
    """``count`` artifacts of ``size`` random bytes, across 20 deals and 3 kinds of file."""
    from artifactstore import LocalFilesystemArtifactStore

    expected: dict[str, tuple[str, str, dict[str, str]]] = {}
    async with LocalFilesystemArtifactStore(root, durable=False) as store:

        async def put(i: int) -> None:
            folder, ext, mime = KINDS[i % len(KINDS)]
            deal = f"DEAL-{i % 20:02d}"
            key = f"{deal}/{folder}/item-{i:05d}{ext}"
            metadata = {"deal-id": deal, "source": "bench", "seq": str(i)}
            meta = await store.put(key, os.urandom(size), mime_type=mime, metadata=metadata)
            assert meta.sha256 is not None
            expected[key] = (meta.sha256, mime, metadata)

        await run_concurrently(count, put, 32)
    return DataRoom(root, expected)


async def check_bucket(
    endpoint: str, bucket: str, room: DataRoom, sizes: Sizes, *, ours: bool
) -> None:
    """Untimed: every key arrived with its size; ours also carry SHA-256, mime, metadata."""
    from artifactstore import S3ArtifactStore

    async with S3ArtifactStore(bucket, **store_options(endpoint, sizes)) as store:
        listed = {m.storage_key: m.size_bytes async for m in store.list()}
        if set(listed) != set(room.expected):
            missing = sorted(set(room.expected) - set(listed))
            extra = sorted(set(listed) - set(room.expected))
            raise AssertionError(f"{bucket}: missing {missing[:3]}..., extra {extra[:3]}...")
        if any(size != sizes.size for size in listed.values()):
            raise AssertionError(f"{bucket}: some objects are not {sizes.size} bytes")
        if not ours:
            return
        keys = sorted(room.expected)
        for key in keys[:: max(1, len(keys) // 25)]:  # ~25 samples: HEADs are slow on moto
            meta = await store.get_metadata(key)
            got = (meta.sha256, meta.mime_type, meta.metadata)
            if got != room.expected[key]:
                raise AssertionError(f"{bucket}/{key}: {got}, not {room.expected[key]}")


# ======================================================================= contenders
# Each returns {"seconds": ..., and "rerun_seconds" where it measures a rerun}.


@dataclass
class Context:
    endpoint: str
    sizes: Sizes
    workdir: str


async def _open_stores(ctx: Context, room: DataRoom, bucket: str) -> tuple[Any, Any]:
    from artifactstore import LocalFilesystemArtifactStore, S3ArtifactStore

    src = LocalFilesystemArtifactStore(room.root, durable=False, create=False)
    dst = S3ArtifactStore(bucket, **store_options(ctx.endpoint, ctx.sizes))
    # Untimed: the S3 client (imports, model files, bucket check) and the DataRoom's
    # first touch, as the CLI and rclone contenders pay theirs inside the timing.
    await src.exists("warmup/none")
    await dst.exists("warmup/none")
    return src, dst


async def _copy_artifacts(ctx: Context, room: DataRoom, bucket: str) -> dict[str, float]:
    from artifactstore.transfer import copy_artifacts

    src, dst = await _open_stores(ctx, room, bucket)
    journal = os.path.join(ctx.workdir, f"{bucket}.journal")
    concurrency = ctx.sizes.concurrency
    try:
        gc.collect()
        start = time.perf_counter()
        report = await copy_artifacts(src, dst, concurrency=concurrency, journal=journal)
        seconds = time.perf_counter() - start
        if not (report.ok and report.copied == room.count and report.skipped == 0):
            raise AssertionError(f"copy_artifacts: {report}")
        reruns = {}
        for name, noted in (("rerun_seconds", journal), ("rerun_no_journal_seconds", None)):
            gc.collect()
            start = time.perf_counter()
            again = await copy_artifacts(src, dst, concurrency=concurrency, journal=noted)
            reruns[name] = time.perf_counter() - start
            if not (again.ok and again.skipped == room.count and again.copied == 0):
                raise AssertionError(f"copy_artifacts {name}: {again}")
    finally:
        await src.aclose()
        await dst.aclose()
        if os.path.exists(journal):
            os.remove(journal)
    return {"seconds": seconds, **reruns}


async def _plain_loop(ctx: Context, room: DataRoom, bucket: str) -> dict[str, float]:
    src, dst = await _open_stores(ctx, room, bucket)
    try:
        gc.collect()
        start = time.perf_counter()
        items = [item async for item in src.list()]
        listing = time.perf_counter() - start

        async def one(i: int) -> None:
            item = items[i]
            data = await src.get(item.storage_key)
            await dst.put(item.storage_key, data, mime_type=item.mime_type, metadata=item.metadata)

        # run_concurrently's own timing leaves out the gc.collect() it begins with.
        seconds = listing + await run_concurrently(len(items), one, ctx.sizes.concurrency)
    finally:
        await src.aclose()
        await dst.aclose()
    return {"seconds": seconds}


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {done.returncode}:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def _cli(ctx: Context, room: DataRoom, bucket: str) -> dict[str, float]:
    from tests.s3server import CREDENTIALS

    script = cli_path()
    assert script is not None
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
    }
    env.pop("AWS_PROFILE", None)
    dst_url = f"s3://{bucket}?endpoint_url={ctx.endpoint}&region={REGION}"
    argv = [script, "copy", room.root, dst_url, "-j", str(ctx.sizes.concurrency), "--json"]
    seconds, out = _timed(argv, env)
    report = json.loads(out)
    if not (report["ok"] and report["copied"] == room.count):
        raise AssertionError(f"artifactstore copy: {out[:500]}")
    return {"seconds": seconds}


def _rclone(ctx: Context, room: DataRoom, bucket: str) -> dict[str, float]:
    from tests.s3server import CREDENTIALS

    rclone = rclone_path()
    assert rclone is not None
    env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}
    env.update(
        {
            "RCLONE_CONFIG": os.path.join(ctx.workdir, "rclone.conf"),  # none: env only
            "RCLONE_CONFIG_MOTO_TYPE": "s3",
            "RCLONE_CONFIG_MOTO_PROVIDER": "Other",
            "RCLONE_CONFIG_MOTO_ENV_AUTH": "false",
            "RCLONE_CONFIG_MOTO_ENDPOINT": ctx.endpoint,
            "RCLONE_CONFIG_MOTO_REGION": REGION,
            "RCLONE_CONFIG_MOTO_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_MOTO_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }
    )
    argv = [
        rclone,
        "copy",
        "--checksum",
        "--transfers",
        str(ctx.sizes.concurrency),
        "--exclude",
        "/.artifactstore/**",
        "-q",
        room.root,
        f"moto:{bucket}",
    ]
    seconds, _ = _timed(argv, env)
    rerun, _ = _timed(argv, env)
    return {"seconds": seconds, "rerun_seconds": rerun}


@dataclass(frozen=True)
class Contender:
    name: str
    description: str
    measure: Callable[[Context, DataRoom, str], Any]
    ours: bool  # stores artifactstore's SHA-256, mime type and metadata


LIBRARY = Contender(
    "copy_artifacts",
    "artifactstore.transfer.copy_artifacts(src, dst, concurrency=16, journal=PATH): lists "
    "both sides once, skips same SHA-256, verifies the SHA-256 computed while uploading",
    _copy_artifacts,
    True,
)
PLAIN = Contender(
    "plain loop",
    "src.list(), then src.get + dst.put(mime_type, metadata) per artifact, 16 in flight; "
    "no resume check, no verification",
    _plain_loop,
    True,
)
CLI = Contender(
    "artifactstore copy (CLI)",
    "`artifactstore copy DIR s3://bucket?endpoint_url=... -j 16 --json` as a subprocess "
    "(interpreter startup and imports included)",
    _cli,
    True,
)
RCLONE = Contender(
    "rclone",
    "`rclone copy --checksum --transfers 16 --exclude /.artifactstore/** DIR moto:bucket` "
    "(MD5 compared, artifactstore's SHA-256 and metadata not written)",
    _rclone,
    False,
)


def contenders() -> list[Contender]:
    """The contenders that can run here (the CLI and rclone only if installed)."""
    kinds = [LIBRARY, PLAIN]
    if cli_path() is not None:
        kinds.append(CLI)
    if rclone_path() is not None:
        kinds.append(RCLONE)
    return kinds


def _measure(ctx: Context, kind: Contender, room: DataRoom, buckets: Buckets) -> dict[str, float]:
    bucket = buckets.create(kind.name.split()[0])
    try:
        outcome = kind.measure(ctx, room, bucket)
        if asyncio.iscoroutine(outcome):
            outcome = asyncio.run(outcome)
        asyncio.run(check_bucket(ctx.endpoint, bucket, room, ctx.sizes, ours=kind.ours))
    finally:
        buckets.remove(bucket)  # keeps the moto server's memory down
    result: dict[str, float] = outcome
    return result


def migrations(ctx: Context) -> dict[str, Any]:
    """Scenario 1 and the reruns; returns every sample, by contender."""
    kinds = contenders()
    buckets = Buckets(ctx.endpoint)
    sizes = ctx.sizes
    warm = asyncio.run(build_dataroom(f"{ctx.workdir}/warm", sizes.warmup_count, sizes.size))
    room = asyncio.run(build_dataroom(f"{ctx.workdir}/dataroom", sizes.count, sizes.size))
    for kind in kinds:  # warm-up: imports, first-use paths (client and server)
        _measure(ctx, kind, warm, buckets)
    samples = Samples(kind.name for kind in kinds)
    for rep, kind in rounds(kinds, sizes.reps):
        outcome = _measure(ctx, kind, room, buckets)
        rates = {name.replace("seconds", "per_s"): room.count / s for name, s in outcome.items()}
        samples.add(kind.name, rates)
        shown = "".join(
            f"  {name.replace('_seconds', '')} {rate:7,.0f}/s"
            for name, rate in zip(outcome, rates.values(), strict=True)
        )
        print(f"  #{rep + 1} {kind.name:26}{shown}".replace("seconds", "copy"), flush=True)
    return samples.summary()


# ================================================================ one big artifact


async def _child(spec: dict[str, Any]) -> dict[str, Any]:
    """One timed ``copy_artifacts`` of a ``big_size`` artifact local -> S3, checked after."""
    from artifactstore import LocalFilesystemArtifactStore, S3ArtifactStore
    from artifactstore.transfer import copy_artifacts

    endpoint, bucket, workdir = spec["endpoint"], spec["bucket"], spec["workdir"]
    sizes = Sizes(**spec["sizes"])

    block = os.urandom(MiB)
    source = Path(workdir, "big.bin")
    hasher = hashlib.sha256()
    with open(source, "wb") as f:
        for _ in range(sizes.big_size // MiB):
            f.write(block)
            hasher.update(block)
    expected = hasher.hexdigest()
    key = "DEAL-1/documents/big.bin"
    src = LocalFilesystemArtifactStore(Path(workdir, "dataroom"), durable=False)
    dst = S3ArtifactStore(bucket, **store_options(endpoint, sizes))
    try:
        await src.put(key, source, metadata={"deal-id": "DEAL-1"})
        source.unlink()
        # Untimed: the client (imports, model files, connection, bucket check).
        await dst.put("warmup.bin", block)
        await dst.delete("warmup.bin")
        maxrss_before = max_rss_bytes()
        with RSSSampler() as rss:
            start = time.perf_counter()
            report = await copy_artifacts(src, dst, concurrency=sizes.concurrency)
            seconds = time.perf_counter() - start
        maxrss_growth = max_rss_bytes() - maxrss_before
        if not (report.ok and report.copied == 1):
            raise AssertionError(f"copy_artifacts: {report}")
        stored = await dst.get_metadata(key)
        assert stored.sha256 == expected, f"stored sha256 {stored.sha256}"
        assert stored.size_bytes == sizes.big_size, f"stored size {stored.size_bytes}"
        assert stored.metadata == {"deal-id": "DEAL-1"}, f"stored metadata {stored.metadata}"
        await dst.delete(key)
    finally:
        await src.aclose()
        await dst.aclose()
    return {
        "seconds": seconds,
        "peak_rss_increase": rss.peak_increase,
        "rss_before": rss.baseline,
        "rss_samples": rss.samples,
        "maxrss_growth": maxrss_growth,
    }


def big_artifact(ctx: Context) -> dict[str, Any]:
    """Scenario 3: ``big_reps`` copies, each in a fresh subprocess."""
    buckets = Buckets(ctx.endpoint)
    bucket = buckets.create("big")
    runs = []
    try:
        for rep in range(ctx.sizes.big_reps):
            child_dir = tempfile.mkdtemp(prefix="big-", dir=ctx.workdir)
            spec = {"endpoint": ctx.endpoint, "bucket": bucket, "workdir": child_dir}
            try:
                one = run_child(
                    "bench.transfer", {**spec, "sizes": ctx.sizes.__dict__}, what="the big-artifact"
                )
            finally:
                shutil.rmtree(child_dir, ignore_errors=True)
            runs.append(one)
            print(
                f"  big #{rep + 1} {ctx.sizes.big_size / one['seconds'] / MB:6.1f} MB/s  "
                f"peak RSS +{one['peak_rss_increase'] / MiB:.1f} MiB",
                flush=True,
            )
    finally:
        buckets.remove(bucket)
    peaks = [one["peak_rss_increase"] / MiB for one in runs]
    mb_per_s = [ctx.sizes.big_size / one["seconds"] / MB for one in runs]
    return {
        "runs": runs,
        "peak_rss_increase_mib": peaks,
        "max_peak_rss_increase_mib": max(peaks),
        "max_maxrss_growth_mib": max(one["maxrss_growth"] for one in runs) / MiB,
        "mb_per_s": mb_per_s,
        "median_mb_per_s": median(mb_per_s),
    }


# =========================================================================== report


def _rate(results: dict[str, Any], name: str, what: str = "per_s") -> float:
    value: float = results[name][f"median_{what}"]
    return value


def _report(
    sizes: Sizes, results: dict[str, Any], big: dict[str, Any], extra: dict[str, Any]
) -> Report:
    kinds = [kind for kind in contenders() if kind.name in results]
    names = [kind.name for kind in kinds]
    report = Report(
        section="transfer",
        title=TITLE,
        config={
            "artifacts": sizes.count,
            "artifact_size": f"{sizes.size // 1024} KiB",
            "concurrency": sizes.concurrency,
            "reps": sizes.reps,
            "big_artifact": f"{sizes.big_size // MiB} MiB",
            "part_size": f"{sizes.part_size // MiB} MiB",
            "big_reps": sizes.big_reps,
            "statistic": "median",
        },
        data={"sizes": sizes.__dict__, **extra, "migrations": results, "big": big},
    )
    ours = LIBRARY.name
    peers = [(PLAIN.name, TARGET_VS_PLAIN)]
    if RCLONE.name in results:
        peers.insert(0, (RCLONE.name, TARGET_VS_RCLONE))
    for peer, target in peers:
        report.checks.append(
            Check(
                f"copy_artifacts / {peer} (artifacts/s)",
                ratio(results, ours, peer, "per_s"),
                target,
            )
        )
    if RCLONE.name in results:
        report.checks.append(
            Check(
                "copy_artifacts rerun / rclone rerun, everything already copied (artifacts/s)",
                ratio(results, ours, RCLONE.name, "rerun_per_s"),
                TARGET_RERUN_VS_RCLONE,
            )
        )
    report.checks.append(
        Check(
            f"{sizes.big_size // MiB} MiB artifact copied local -> S3: peak RSS increase",
            big["max_peak_rss_increase_mib"],
            sizes.rss_target_mib,
            unit=" MiB",
            at_most=True,
        )
    )
    descriptions = {kind.name: kind.description for kind in kinds}
    report.tables.append(
        Table(
            f"Migration: {sizes.count} x {sizes.size // 1024} KiB, local DataRoom (tmpfs) -> "
            f"a fresh bucket, {sizes.concurrency} in flight",
            ["contender", "artifacts/s", "runs", "what it does"],
            [
                [name, fmt_rate(_rate(results, name)), runs_text(results[name]["per_s"]), desc]
                for name, desc in descriptions.items()
            ],
            note=f"Median of {sizes.reps} runs, contenders interleaved in a rotating order, "
            "each into a fresh bucket (removed afterwards). The library contenders' stores "
            "are created and touched untimed; the CLI and rclone are timed as processes.",
        )
    )
    rerun_rows = [
        [
            label,
            fmt_rate(_rate(results, name, metric)),
            runs_text(results[name][metric]),
        ]
        for name in names
        for label, metric in (
            (f"{name} (journal)" if name == ours else name, "rerun_per_s"),
            (f"{name} (no journal)", "rerun_no_journal_per_s"),
        )
        if metric in results[name]
    ]
    report.tables.append(
        Table(
            "Rerun onto the complete bucket (everything skipped)",
            ["contender", "artifacts/s", "runs"],
            rerun_rows,
            note="Right after each copy of that contender, into the same bucket. "
            "copy_artifacts runs twice: with the journal its copy wrote (the listings "
            "compared with it: no HEAD), then without one (a HEAD per artifact, as "
            "before issue 23); each is asserted to report skipped == "
            f"{sizes.count} and copied == 0. rclone reads and MD5-hashes every local "
            "file and compares with the listed ETags.",
        )
    )
    ratio_rows = []
    pairs = [(f"copy_artifacts vs {peer}", ours, peer) for peer in names[1:]]
    if CLI.name in results and RCLONE.name in results:
        pairs.append(("artifactstore copy (CLI) vs rclone", CLI.name, RCLONE.name))
    for label, a, b in pairs:
        target = dict(peers).get(b) if a == ours else None
        ratio_rows.append(
            [
                label,
                fmt_ratio(ratio(results, a, b, "per_s")),
                f">= {target:g}x" if target else "-",
                same_rep(results, a, b, "per_s"),
            ]
        )
    if RCLONE.name in results:
        ratio_rows.append(
            [
                "copy_artifacts rerun (journal) vs rclone rerun",
                fmt_ratio(ratio(results, ours, RCLONE.name, "rerun_per_s")),
                f">= {TARGET_RERUN_VS_RCLONE:g}x",
                same_rep(results, ours, RCLONE.name, "rerun_per_s"),
            ]
        )
    report.tables.append(
        Table(
            "Ratios",
            ["ratio", "of medians", "required", "same-repetition ratios"],
            ratio_rows,
            note="The targets are checked on the ratio of the medians; the same-repetition "
            "ratios show how noisy one comparison is.",
        )
    )
    report.tables.append(
        Table(
            f"One {sizes.big_size // MiB} MiB artifact, copy_artifacts local -> S3 "
            f"(RSS target <= {sizes.rss_target_mib:g} MiB = {sizes.concurrency} x "
            f"{sizes.part_size // MiB} MiB + {RSS_ALLOWANCE_MIB} MiB)",
            ["figure", "value", "runs"],
            [
                [
                    "peak RSS +MiB (worst)",
                    f"{big['max_peak_rss_increase_mib']:.1f}",
                    " / ".join(f"{v:.1f}" for v in big["peak_rss_increase_mib"]),
                ],
                ["ru_maxrss +MiB (worst)", f"{big['max_maxrss_growth_mib']:.1f}", "-"],
                [
                    "MB/s (median)",
                    fmt_rate(big["median_mb_per_s"]),
                    " / ".join(f"{v:.1f}" for v in big["mb_per_s"]),
                ],
            ],
            note="Each copy in a fresh subprocess (the moto server's memory is not counted); "
            "psutil samples RSS every 5 ms, minus RSS just before the call; the target is "
            "checked on the worst run. The S3 client is created untimed first.",
        )
    )
    report.notes = [
        "moto is a Python server sharing this machine's CPUs with the client, so absolute "
        "rates measure moto as much as the client; the ratios of contenders run side by "
        "side against the same server process are the point.",
        "Every contender's bucket is checked afterwards, untimed: every key present with "
        "its size; for the artifactstore contenders, ~25 sampled artifacts carry the "
        "source's SHA-256, mime type and user metadata. rclone writes none of those "
        "(its objects carry an MD5 ETag and its own mtime metadata).",
        "rclone is configured by environment variables only (provider Other, path style), "
        "AWS_CA_BUNDLE unset; the DataRoom's .artifactstore/ bookkeeping folder is "
        "excluded.",
        "S3ArtifactStore settings: defaults (max_pool_connections=64, parts_in_flight=4, "
        f"multipart_threshold=8 MiB), part_size={sizes.part_size // MiB} MiB.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in extra["versions"].items()) + ".",
        f"moto server RSS at the end: {extra['server'].get('rss_mib', '?')} MiB.",
        "Load average (1 min) of the machine at the start and the end: "
        f"{extra['load_average']['start']:.1f} / {extra['load_average']['end']:.1f} on "
        f"{os.cpu_count()} CPUs (other processes sharing them make every rate noisier).",
        f"artifactstore source: {extra['source']}.",
    ]
    report.notes.append(
        "copy_artifacts keeps its journal in the scratch folder (one per bucket, removed "
        "with it); the first copy writes it, so its cost is in the copy's rate."
    )
    if RCLONE.name not in results:
        report.notes.append(
            "rclone is not installed: its contender and targets were skipped "
            "(`apt-get install rclone`; `make bench` installs it where apt-get is usable)."
        )
    if CLI.name not in results:
        report.notes.append("The artifactstore CLI is not installed: its contender was skipped.")
    return report


def _versions() -> dict[str, str]:
    found = {name: version(name) for name in ("aioboto3", "aiobotocore", "botocore", "moto")}
    rclone = rclone_path()
    if rclone is not None:
        done = subprocess.run([rclone, "version"], capture_output=True, text=True, check=False)
        found["rclone"] = (done.stdout.split() or ["?", "?"])[1]
    return found


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    from tests.s3server import MotoServer

    sizes = Sizes.for_options(options)
    load_before = os.getloadavg()[0]
    print("transfer: starting the moto server ...", flush=True)
    server = MotoServer.start()
    server_info: dict[str, Any] = {"endpoint": server.endpoint}
    try:
        with scratch_dir("artifactstore-bench-transfer-") as workdir:
            ctx = Context(server.endpoint, sizes, workdir)
            print(f"transfer: migrations against {server.endpoint} ...", flush=True)
            results = migrations(ctx)
            print(f"transfer: one {sizes.big_size // MiB} MiB artifact ...", flush=True)
            big = big_artifact(ctx)
        rss_mib = process_rss_mib(server.process.pid)
        if rss_mib is not None:
            server_info["rss_mib"] = rss_mib
    finally:
        server.stop()
    extra = {"versions": _versions(), "server": server_info, "source": source_tree()}
    extra["load_average"] = {"start": load_before, "end": os.getloadavg()[0]}
    return _report(sizes, results, big, extra)


if __name__ == "__main__":
    child_main("bench.transfer", sys.argv[1:], _child)
