"""S3 section: artifactstore's ``S3ArtifactStore`` against raw aioboto3 and s3fs, on moto.

One moto server (``python -m moto.server``) runs in a process of its own on a free
loopback port for the whole section; it is started first and stopped last.

1. Small objects: ``count`` objects of 4 KiB, 32 operations in flight; puts/s then
   gets/s for artifactstore, raw aioboto3 (one shared client) and s3fs. Every
   contender computes the SHA-256 of each payload on put and stores it as object
   metadata, as artifactstore does. Contenders are run interleaved, in a rotating
   order, ``reps`` times each, each run into a fresh bucket with a fresh client;
   the median is reported.
2. Multipart: a 256 MiB put streamed from an async iterable of 1 MiB chunks, and the
   same from a ``pathlib.Path`` (a file on tmpfs). Each runs in a subprocess of its
   own so that its peak RSS is its own (moto's memory is in the server's process).

Run as part of ``python -m bench``; ``python -m bench.s3 --child ...`` is the entry
point of those subprocesses.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from ._util import (
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
    run_concurrently,
    scratch_dir,
)

TITLE = "artifactstore benchmark: S3 (moto server on loopback)"

#: Targets the library must meet.
TARGET_SMALL_VS_AIOBOTO3 = 0.95
TARGET_SMALL_VS_S3FS = 1.0
#: Extra memory allowed on top of the parts in flight, for a multipart upload.
RSS_ALLOWANCE_MIB = 64

MB = 1_000_000  # throughputs are in MB/s (10^6 bytes)
REGION = "us-east-1"
SHA_FIELD = "artifactstore-sha256"  # the metadata field artifactstore writes
MIME = "application/octet-stream"  # what artifactstore guesses for "*.bin"


@dataclass(frozen=True)
class Sizes:
    """How much work one run does."""

    small_count: int
    small_size: int
    concurrency: int
    warmup_count: int
    small_reps: int
    large_size: int
    large_chunk: int
    large_reps: int
    part_size: int
    parts_in_flight: int

    @classmethod
    def for_options(cls, options: Options) -> Sizes:
        if options.quick:
            return cls(200, 4096, 32, 32, 1, 32 * MiB, MiB, 1, 8 * MiB, 4)
        return cls(1000, 4096, 32, 128, 3, 256 * MiB, MiB, 3, 8 * MiB, 4)

    @property
    def rss_target_mib(self) -> float:
        return self.part_size * self.parts_in_flight / MiB + RSS_ALLOWANCE_MIB


def key_of(i: int) -> str:
    """The key of small object ``i``."""
    return f"bench/{i:05d}.bin"


def store_options(endpoint: str, sizes: Sizes) -> dict[str, Any]:
    """How every ``S3ArtifactStore`` of this section is configured."""
    from tests.s3server import CREDENTIALS

    return {
        "endpoint_url": endpoint,
        "region": REGION,
        **CREDENTIALS,
        "part_size": sizes.part_size,
        "parts_in_flight": sizes.parts_in_flight,
        "multipart_threshold": sizes.part_size,
        "max_pool_connections": 64,
    }


def botocore_config_args() -> dict[str, Any]:
    """The botocore ``Config`` of the peers: artifactstore's checksum and addressing settings."""
    return {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        "s3": {"addressing_style": "path"},
        "max_pool_connections": 64,
    }


def _version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def source_tree() -> str:
    """The git commit of the checkout, and which files under artifactstore/ differ from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return "not a git checkout"
    changed = [line[3:] for line in git("status", "--porcelain", "artifactstore").splitlines()]
    if not changed:
        return f"git {commit}, clean"
    return f"git {commit} with uncommitted changes in {', '.join(changed)}"


def s3fs_available() -> bool:
    try:
        import s3fs  # noqa: F401
    except ImportError:
        return False
    return True


# ===================================================================== small objects


class Contender:
    """One way of storing small objects, driven by ``run_concurrently``."""

    name = ""
    description = ""

    def __init__(self, endpoint: str, bucket: str, payloads: list[bytes], sizes: Sizes) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.payloads = payloads
        self.sizes = sizes
        self.got: list[Any] = [None] * len(payloads)

    async def open(self) -> None:
        """Set up (client, connection to the bucket), untimed."""

    async def close(self) -> None:
        """Tear down, untimed."""

    async def put(self, i: int) -> None:
        raise NotImplementedError

    async def get(self, i: int) -> None:
        raise NotImplementedError

    def verify(self, count: int) -> None:
        """Check, untimed, that every get returned what was put."""
        bad = [i for i in range(count) if bytes(self.got[i]) != self.payloads[i]]
        if bad:
            raise AssertionError(
                f"{self.name}: {len(bad)} gets returned wrong bytes, e.g. #{bad[0]}"
            )


class ArtifactStoreS3(Contender):
    name = "artifactstore S3ArtifactStore"
    description = "put(key, bytes) / get(key); sha256 stored as object metadata"

    def __init__(self, endpoint: str, bucket: str, payloads: list[bytes], sizes: Sizes) -> None:
        super().__init__(endpoint, bucket, payloads, sizes)
        from artifactstore import S3ArtifactStore

        self.store = S3ArtifactStore(bucket, **store_options(endpoint, sizes))

    async def open(self) -> None:
        # The client is created on first use (and checks the bucket): do it untimed,
        # as the peers create theirs in open().
        await self.store.exists("bench/not-there.bin")

    async def close(self) -> None:
        await self.store.aclose()

    async def put(self, i: int) -> None:
        await self.store.put(key_of(i), self.payloads[i])

    async def get(self, i: int) -> None:
        self.got[i] = await self.store.get(key_of(i))


class RawAioboto3(Contender):
    name = "raw aioboto3"
    description = "one shared client; sha256 + put_object (Metadata), get_object + read()"

    async def open(self) -> None:
        import aioboto3
        from botocore.config import Config

        from tests.s3server import CREDENTIALS

        session = aioboto3.Session(region_name=REGION, **CREDENTIALS)
        self._context = session.client(
            "s3", endpoint_url=self.endpoint, config=Config(**botocore_config_args())
        )
        self.client = await self._context.__aenter__()

    async def close(self) -> None:
        await self._context.__aexit__(None, None, None)

    async def put(self, i: int) -> None:
        data = self.payloads[i]
        digest = hashlib.sha256(data).hexdigest()
        await self.client.put_object(
            Bucket=self.bucket,
            Key=key_of(i),
            Body=data,
            ContentType=MIME,
            Metadata={SHA_FIELD: digest},
        )

    async def get(self, i: int) -> None:
        answer = await self.client.get_object(Bucket=self.bucket, Key=key_of(i))
        async with answer["Body"] as body:
            self.got[i] = await body.read()


class S3fs(Contender):
    name = "s3fs"
    description = "_pipe_file (sha256 as Metadata) / _cat_file, asynchronous=True"

    async def open(self) -> None:
        import s3fs

        from tests.s3server import CREDENTIALS

        self.fs = s3fs.S3FileSystem(
            key=CREDENTIALS["aws_access_key_id"],
            secret=CREDENTIALS["aws_secret_access_key"],
            endpoint_url=self.endpoint,
            asynchronous=True,
            skip_instance_cache=True,  # a fresh client per run, as the others
            client_kwargs={"region_name": REGION},
            config_kwargs=botocore_config_args(),
        )
        self.client = await self.fs.set_session()

    async def close(self) -> None:
        await self.client.close()

    async def put(self, i: int) -> None:
        data = self.payloads[i]
        digest = hashlib.sha256(data).hexdigest()
        await self.fs._pipe_file(
            f"{self.bucket}/{key_of(i)}", data, ContentType=MIME, Metadata={SHA_FIELD: digest}
        )

    async def get(self, i: int) -> None:
        self.got[i] = await self.fs._cat_file(f"{self.bucket}/{key_of(i)}")


def contenders() -> list[type[Contender]]:
    """The contenders that can run here (s3fs only if installed)."""
    kinds: list[type[Contender]] = [ArtifactStoreS3, RawAioboto3]
    if s3fs_available():
        kinds.append(S3fs)
    return kinds


class Buckets:
    """Creates and empties buckets from outside the contenders (plain boto3, untimed)."""

    def __init__(self, endpoint: str) -> None:
        from tests.s3server import boto3_client

        self.client = boto3_client(endpoint)
        self.made = 0

    def create(self, label: str) -> str:
        self.made += 1
        bucket = f"bench-{label}-{self.made}".lower().replace("_", "-")[:63]
        self.client.create_bucket(Bucket=bucket)
        return bucket

    def sha256_metadata(self, bucket: str, key: str) -> str | None:
        head = self.client.head_object(Bucket=bucket, Key=key)
        value: str | None = head.get("Metadata", {}).get(SHA_FIELD)
        return value

    def remove(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        self.client.delete_bucket(Bucket=bucket)


async def _measure(
    kind: type[Contender],
    endpoint: str,
    buckets: Buckets,
    payloads: list[bytes],
    sizes: Sizes,
) -> tuple[float, float]:
    """Put then get every payload with a fresh contender and bucket; return (puts/s, gets/s)."""
    count = len(payloads)
    bucket = buckets.create(kind.__name__)
    contender = kind(endpoint, bucket, payloads, sizes)
    await contender.open()
    try:
        put_s = await run_concurrently(count, contender.put, sizes.concurrency)
        get_s = await run_concurrently(count, contender.get, sizes.concurrency)
    finally:
        await contender.close()
    contender.verify(count)
    # Parity: every contender stored the payload's SHA-256 as object metadata.
    expected = hashlib.sha256(payloads[0]).hexdigest()
    stored = buckets.sha256_metadata(bucket, key_of(0))
    if stored != expected:
        raise AssertionError(f"{kind.name}: metadata {SHA_FIELD}={stored!r}, not {expected}")
    buckets.remove(bucket)
    return count / put_s, count / get_s


async def small_objects(endpoint: str, sizes: Sizes) -> dict[str, Any]:
    """Scenario 1; returns every sample, by contender."""
    kinds = contenders()
    buckets = Buckets(endpoint)
    payloads = [os.urandom(sizes.small_size) for _ in range(sizes.small_count)]
    samples: dict[str, dict[str, list[float]]] = {
        kind.name: {"puts_per_s": [], "gets_per_s": []} for kind in kinds
    }
    for kind in kinds:  # warm-up: imports, model files, first-use paths (client and server)
        await _measure(kind, endpoint, buckets, payloads[: sizes.warmup_count], sizes)
    for rep in range(sizes.small_reps):
        shift = rep % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            puts, gets = await _measure(kind, endpoint, buckets, payloads, sizes)
            samples[kind.name]["puts_per_s"].append(puts)
            samples[kind.name]["gets_per_s"].append(gets)
            print(f"  small #{rep + 1} {kind.name:30} puts/s {puts:7,.0f}  gets/s {gets:7,.0f}")
    return {
        name: {
            **runs,
            "median_puts_per_s": median(runs["puts_per_s"]),
            "median_gets_per_s": median(runs["gets_per_s"]),
        }
        for name, runs in samples.items()
    }


# ======================================================================== multipart
# Each multipart scenario runs in a subprocess (``_child``), which prints one JSON line.


async def _chunks(block: bytes, count: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield block


async def _child(
    kind: str, endpoint: str, bucket: str, workdir: str, sizes: Sizes
) -> dict[str, Any]:
    """One timed put of ``large_size`` bytes into artifactstore, checked afterwards (untimed)."""
    from artifactstore import S3ArtifactStore

    block = os.urandom(sizes.large_chunk)
    count = sizes.large_size // sizes.large_chunk
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(block)
    expected = hasher.hexdigest()
    source = Path(workdir, "source.bin")
    if kind == "path_put":
        with open(source, "wb") as f:
            for _ in range(count):
                f.write(block)

    store = S3ArtifactStore(bucket, **store_options(endpoint, sizes))
    key = f"large/{kind}.bin"
    try:
        # Create the client (imports, model files, connection, bucket check) untimed:
        # the figure is the upload's memory, not the client's.
        await store.put("large/warmup.bin", block)
        await store.delete("large/warmup.bin")
        maxrss_before = max_rss_bytes()
        data = source if kind == "path_put" else _chunks(block, count)
        with RSSSampler() as rss:
            start = time.perf_counter()
            meta = await store.put(key, data)
            seconds = time.perf_counter() - start
        del data
        maxrss_growth = max_rss_bytes() - maxrss_before
        # Untimed checks: the returned and the stored SHA-256 are the right one.
        assert meta.sha256 == expected, f"put returned sha256 {meta.sha256}"
        assert meta.size_bytes == sizes.large_size, f"put returned size {meta.size_bytes}"
        stored = await store.get_metadata(key)
        assert stored.sha256 == expected, f"get_metadata().sha256 is {stored.sha256}"
        assert stored.size_bytes == sizes.large_size, f"stored size {stored.size_bytes}"
        await store.delete(key)  # keep the moto server's memory down
    finally:
        await store.aclose()
    return {
        "kind": kind,
        "seconds": seconds,
        "peak_rss_increase": rss.peak_increase,
        "rss_before": rss.baseline,
        "rss_samples": rss.samples,
        "maxrss_growth": maxrss_growth,
    }


def _run_child(kind: str, endpoint: str, bucket: str, workdir: str, sizes: Sizes) -> dict[str, Any]:
    """One upload in a fresh subprocess, so that its RSS is measured from a clean start."""
    child_dir = tempfile.mkdtemp(prefix=f"{kind}-", dir=workdir)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.s3",
                "--child",
                kind,
                endpoint,
                bucket,
                child_dir,
                json.dumps(sizes.__dict__),
            ],
            cwd=package_parent,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        shutil.rmtree(child_dir, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"multipart scenario {kind!r} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def multipart(endpoint: str, sizes: Sizes, workdir: str) -> dict[str, Any]:
    """Scenario 2: ``large_reps`` uploads of each kind, interleaved, each in its own process."""
    kinds = ("stream_put", "path_put")
    buckets = Buckets(endpoint)
    bucket = buckets.create("multipart")
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for rep in range(sizes.large_reps):
        for kind in kinds:
            one = _run_child(kind, endpoint, bucket, workdir, sizes)
            runs[kind].append(one)
            mb_per_s = sizes.large_size / one["seconds"] / MB
            peak = one["peak_rss_increase"] / MiB
            print(
                f"  multipart #{rep + 1} {kind:10} {mb_per_s:6.1f} MB/s  peak RSS +{peak:.1f} MiB"
            )
    buckets.remove(bucket)
    results: dict[str, Any] = {}
    for kind, samples in runs.items():
        mb_per_s = [sizes.large_size / one["seconds"] / MB for one in samples]
        peaks = [one["peak_rss_increase"] / MiB for one in samples]
        results[kind] = {
            "runs": samples,
            "mb_per_s": mb_per_s,
            "median_mb_per_s": median(mb_per_s),
            "peak_rss_increase_mib": peaks,
            "median_peak_rss_increase_mib": median(peaks),
            "max_peak_rss_increase_mib": max(peaks),
            "max_maxrss_growth_mib": max(one["maxrss_growth"] for one in samples) / MiB,
        }
    return results


# =========================================================================== report


def _ratio(small: dict[str, Any], a: str, b: str, op: str) -> float:
    ratio: float = small[a][f"median_{op}_per_s"] / small[b][f"median_{op}_per_s"]
    return ratio


def _report(
    sizes: Sizes,
    small: dict[str, Any],
    large: dict[str, Any],
    versions: dict[str, str],
    server: dict[str, Any],
    tree: str,
) -> Report:
    ours = ArtifactStoreS3.name
    kinds = [kind for kind in contenders() if kind.name in small]
    peers = [kind.name for kind in kinds if kind.name != ours]
    report = Report(
        section="s3",
        title=TITLE,
        config={
            "small_objects": sizes.small_count,
            "small_size": f"{sizes.small_size // 1024} KiB",
            "in_flight": sizes.concurrency,
            "small_reps": sizes.small_reps,
            "large_size": f"{sizes.large_size // MiB} MiB",
            "large_chunk": f"{sizes.large_chunk // MiB} MiB",
            "part_size": f"{sizes.part_size // MiB} MiB",
            "parts_in_flight": sizes.parts_in_flight,
            "large_reps": sizes.large_reps,
            "statistic": "median",
        },
        data={
            "sizes": sizes.__dict__,
            "versions": versions,
            "server": server,
            "source": tree,
            "small": small,
            "large": large,
        },
    )
    targets = {RawAioboto3.name: TARGET_SMALL_VS_AIOBOTO3, S3fs.name: TARGET_SMALL_VS_S3FS}
    report.checks = [
        Check(f"small {op}: artifactstore / {peer}", _ratio(small, ours, peer, op), targets[peer])
        for peer in peers
        for op in ("puts", "gets")
    ]
    report.checks.append(
        Check(
            f"{sizes.large_size // MiB} MiB streamed multipart put: peak RSS increase",
            large["stream_put"]["max_peak_rss_increase_mib"],
            sizes.rss_target_mib,
            unit=" MiB",
            at_most=True,
        )
    )

    def runs(values: list[float]) -> str:
        return " / ".join(f"{v:,.0f}" for v in values)

    report.tables.append(
        Table(
            f"Small objects: {sizes.small_count} x {sizes.small_size // 1024} KiB, "
            f"{sizes.concurrency} in flight",
            ["contender", "puts/s", "gets/s", "puts/s runs", "gets/s runs", "what it does"],
            [
                [
                    kind.name,
                    fmt_rate(small[kind.name]["median_puts_per_s"]),
                    fmt_rate(small[kind.name]["median_gets_per_s"]),
                    runs(small[kind.name]["puts_per_s"]),
                    runs(small[kind.name]["gets_per_s"]),
                    kind.description,
                ]
                for kind in kinds
            ],
            note=f"Median of {sizes.small_reps} runs, contenders interleaved in a rotating "
            "order; each run uses a fresh bucket and a fresh client, created untimed.",
        )
    )

    def paired(peer: str, op: str) -> str:
        ours_runs, peer_runs = small[ours][f"{op}_per_s"], small[peer][f"{op}_per_s"]
        return " / ".join(fmt_ratio(a / b) for a, b in zip(ours_runs, peer_runs, strict=True))

    report.tables.append(
        Table(
            "Small-object ratios (artifactstore / peer)",
            ["ratio", "measured", "required", "result", "same-repetition ratios"],
            [
                [
                    f"{op} vs {peer}",
                    fmt_ratio(_ratio(small, ours, peer, op)),
                    f">= {targets[peer]:g}x",
                    "PASS" if _ratio(small, ours, peer, op) >= targets[peer] else "FAIL",
                    paired(peer, op),
                ]
                for peer in peers
                for op in ("puts", "gets")
            ],
            note="measured: ratio of the medians (what the targets are checked on); "
            "same-repetition ratios: the two contenders' runs of each repetition, "
            "which show how noisy a single comparison is.",
        )
    )
    labels = {
        "stream_put": "put, async iterable of 1 MiB chunks",
        "path_put": "put, pathlib.Path source (tmpfs), for information",
    }
    rows = []
    for kind, label in labels.items():
        res = large[kind]
        rows.append(
            [
                label,
                fmt_rate(res["median_mb_per_s"]),
                f"{res['max_peak_rss_increase_mib']:.1f}",
                f"{res['median_peak_rss_increase_mib']:.1f}",
                f"{res['max_maxrss_growth_mib']:.1f}",
                " / ".join(f"{v:,.1f}" for v in res["mb_per_s"]),
                " / ".join(f"{v:,.1f}" for v in res["peak_rss_increase_mib"]),
            ]
        )
    report.tables.append(
        Table(
            f"Multipart: {sizes.large_size // MiB} MiB into artifactstore, part_size "
            f"{sizes.part_size // MiB} MiB, {sizes.parts_in_flight} parts in flight "
            f"(RSS target <= {sizes.rss_target_mib:g} MiB for the streamed put)",
            [
                "operation",
                "MB/s",
                "peak RSS +MiB (worst)",
                "peak RSS +MiB (median)",
                "ru_maxrss +MiB (worst)",
                "MB/s runs",
                "peak RSS +MiB runs",
            ],
            rows,
            note=f"{sizes.large_reps} uploads of each kind, interleaved, each in a fresh "
            "subprocess (the moto server's memory is not counted); MB/s is the median. "
            "Peak RSS: psutil samples every 5 ms minus RSS just before put(); the target is "
            "checked on the worst run. ru_maxrss: growth of the process's lifetime peak over "
            "the put. Before the put, an untimed 1 MiB put creates the client; after it, "
            "untimed, put()'s and get_metadata()'s sha256 and size are checked against "
            "hashlib's and the object is deleted.",
        )
    )
    report.notes = [
        "moto is a Python server (werkzeug, threaded) and shares this machine's "
        f"{os.cpu_count()} CPUs with the client, so absolute S3 figures measure moto more "
        "than any network or real S3; the ratios of contenders run side by side against "
        "the same server are the point.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "All contenders use path-style addressing, request_checksum_calculation and "
        "response_checksum_validation = when_required (artifactstore's settings) and "
        "max_pool_connections=64; all three compute hashlib.sha256 of each payload on put "
        f"and store it as x-amz-meta-{SHA_FIELD} (checked after each run).",
        "Async contenders share one driver: "
        f"{sizes.concurrency} worker coroutines pulling indices from a shared iterator.",
        "artifactstore: S3ArtifactStore(part_size=8 MiB, parts_in_flight=4, "
        "multipart_threshold=8 MiB, max_pool_connections=64); its get() is one GetObject "
        "(the SHA-256 comes from the response's metadata) read through its stream().",
        "s3fs: _cat_file(path) as s3fs does it by default (max_concurrency=10): a HeadObject "
        "to learn the size (whether to split into ranged reads) and then the GetObject, "
        "so two requests per get against one for the others.",
        "A streamed put (async iterable) cannot know the SHA-256 before S3 fixes the "
        "object's metadata, so artifactstore stamps it afterwards with a server-side "
        "CopyObject of the object onto itself (conditional on its ETag); that copy is "
        "inside the timed put. A Path put hashes the file first and needs no copy.",
        "moto answers every request with 'Connection: close', so each request of every "
        "contender opens a new TCP connection: connection reuse is not measured here.",
        "Memory of a multipart put, besides the parts in flight: botocore turns a bytes Body "
        "into io.BytesIO, and aiohttp's BytesIOPayload calls getbuffer() on it, which "
        "copies the bytes it shared; so with these versions each part in flight is held "
        "twice (raw aioboto3 pays the same). Seen with tracemalloc, outside this benchmark.",
        f"moto server RSS at the end: {server.get('rss_mib', '?')} MiB.",
        f"artifactstore source: {tree}.",
        "MB/s means 10^6 bytes per second.",
    ]
    if not s3fs_available():
        report.notes.append("s3fs is not installed: its contender and targets were skipped.")
    return report


def run(options: Options) -> Report:
    """Run the whole section (the interface every section of ``python -m bench`` has)."""
    from tests.s3server import MotoServer

    sizes = Sizes.for_options(options)
    versions = {
        name: _version(name)
        for name in ("aioboto3", "aiobotocore", "botocore", "aiohttp", "s3fs", "fsspec", "moto")
    }
    print("s3: starting the moto server ...", flush=True)
    server = MotoServer.start()
    server_info: dict[str, Any] = {"endpoint": server.endpoint}
    try:
        print(f"s3: small objects against {server.endpoint} ...", flush=True)
        small = asyncio.run(small_objects(server.endpoint, sizes))
        print("s3: multipart uploads ...", flush=True)
        with scratch_dir("artifactstore-bench-s3-") as workdir:
            large = multipart(server.endpoint, sizes, workdir)
        try:
            import psutil

            rss = psutil.Process(server.process.pid).memory_info().rss
            server_info["rss_mib"] = round(rss / MiB, 1)
        except Exception:  # informational only
            pass
    finally:
        server.stop()
    return _report(sizes, small, large, versions, server_info, source_tree())


def _main(argv: list[str]) -> None:
    if len(argv) != 6 or argv[0] != "--child":
        sys.exit("usage: python -m bench.s3 --child KIND ENDPOINT BUCKET WORKDIR SIZES_JSON")
    _, kind, endpoint, bucket, workdir, sizes_json = argv
    sizes = Sizes(**json.loads(sizes_json))
    result = asyncio.run(_child(kind, endpoint, bucket, workdir, sizes))
    print(json.dumps(result))


if __name__ == "__main__":
    _main(sys.argv[1:])
