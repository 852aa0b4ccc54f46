"""S3 section, scenario 2: large puts, each in a subprocess of its own.

One ``large_size`` file on tmpfs (a random 1 MiB block repeated) is uploaded by
each contender: artifactstore from the ``Path`` and from an async iterable of
1 MiB chunks (the same bytes, the block held in memory), the latter once per
``sha256_record`` mode when the store has that option; obstore's ``put_async``,
raw aioboto3's ``upload_fileobj`` and s3fs's ``_put_file`` from the same file.
Each upload runs in a fresh process (``python -m bench.s3_large --child JOB``,
which prints one JSON line) so that its peak RSS is its own; moto's memory is in
the server's process. Contenders are interleaved in a rotating order, ``large_reps``
times each.

The same uploads (without ``sha256_record="copy"``) run once more against a
second moto server that speaks only HTTPS, with a self-signed certificate that
each contender is given to trust: botocore's ``AWS_CA_BUNDLE`` in the child's
environment (artifactstore, aioboto3; s3fs also gets ``verify=``), obstore's
``root_certificate`` client option. A child records the endpoint its client was
configured with and, for the botocore-based contenders, the URL scheme of every
request sent and whether each body was signed (a ``before-send`` hook).

Untimed, afterwards: the parent checks every object's size with plain boto3 and
deletes it; an artifactstore child also checks the SHA-256 that ``put`` returned
and that ``get_metadata`` reads, and counts the requests ``get_metadata`` makes
from the writing store and from a fresh one.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ._child import child_main
from ._child import run_child as run_in_child
from ._harness import chunks, rounds
from ._util import MB, MiB, RSSSampler, max_rss_bytes, median, reset_max_rss
from .s3_common import (
    REGION,
    Buckets,
    RequestLog,
    Sizes,
    aioboto3_client,
    installed,
    s3fs_filesystem,
    sha256_record_supported,
    store_options,
)


@dataclass(frozen=True)
class Kind:
    """One contender of the large puts."""

    name: str  # the key in results
    label: str  # what the report calls it
    ours: bool  # an artifactstore put (RSS target, SHA-256 checked)


PATH = Kind("as_path", "artifactstore put(Path)", True)
STREAM = Kind("as_stream", "artifactstore put(async iterable)", True)
STREAM_COPY = Kind(
    "as_stream_copy", 'artifactstore put(async iterable), sha256_record="copy"', True
)
OBSTORE = Kind("obstore", "obstore put_async(Path)", False)
#: obstore does not hash: what a user of it pays for the SHA-256 artifactstore records.
OBSTORE_HASHED = Kind("obstore_sha256", "obstore put_async(Path) + hashlib SHA-256", False)
AIOBOTO3 = Kind("aioboto3", "raw aioboto3 upload_fileobj", False)
S3FS = Kind("s3fs", "s3fs _put_file", False)
KINDS = {
    kind.name: kind for kind in (PATH, STREAM, STREAM_COPY, OBSTORE, OBSTORE_HASHED, AIOBOTO3, S3FS)
}


def available_kinds(record_option: bool) -> tuple[list[Kind], list[str]]:
    """The contenders that can run here, and a note for each one skipped."""
    kinds = [PATH, STREAM]
    skipped = []
    if record_option:
        kinds.append(STREAM_COPY)
    else:
        skipped.append(
            "S3ArtifactStore has no sha256_record option in this source (TypeError): the "
            "streamed put ran with the store's own behaviour and the tag/copy comparison "
            "was skipped."
        )
    for kind, module in ((OBSTORE, "obstore"), (AIOBOTO3, "aioboto3"), (S3FS, "s3fs")):
        if installed(module):
            kinds.append(kind)
            if kind is OBSTORE:
                kinds.append(OBSTORE_HASHED)
        else:
            skipped.append(f"{module} is not installed: its large put and targets were skipped.")
    return kinds, skipped


# ============================================================ in the child process


def _payload(value: Any) -> str:
    """What an ``x-amz-content-sha256`` header says of the body it goes with."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not value:
        return "no header"
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return "signed"
    return str(value)  # UNSIGNED-PAYLOAD, STREAMING-...


class SentLog:
    """What a botocore client sends during the upload (a ``before-send`` hook): the URL
    scheme of every request, and whether each body (PutObject, UploadPart) is signed."""

    def __init__(self) -> None:
        self.schemes: Counter[str] = Counter()
        self.payloads: Counter[str] = Counter()

    def __call__(self, request: Any, event_name: str = "", **kwargs: Any) -> None:
        self.schemes[urlsplit(request.url).scheme] += 1
        if event_name.endswith((".PutObject", ".UploadPart")):
            self.payloads[_payload(request.headers.get("x-amz-content-sha256"))] += 1
        # returns None: a handler's answer to before-send would replace the request


class Uploader:
    """One contender's client in a child: ``open`` (untimed), ``upload`` (timed), ``check``."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.sizes = Sizes(**job["sizes"])
        self.endpoint: str = job["endpoint"]
        self.bucket: str = job["bucket"]
        self.source = Path(job["source"])
        self.ca_bundle: str = job["ca_bundle"]  # the server's certificate, over TLS
        with open(self.source, "rb") as f:  # the file is this block, repeated
            self.block = f.read(self.sizes.large_chunk)

    async def open(self) -> None:
        """Create the client and put 1 MiB (imports, model files, first connection)."""

    async def botocore_client(self) -> Any:
        """The botocore client that uploads (``None`` for obstore)."""
        return None

    async def endpoint_used(self) -> str:
        """The endpoint URL the client was configured with, as the client reports it."""
        client = await self.botocore_client()
        return str(client.meta.endpoint_url)

    async def upload(self, key: str) -> None:
        raise NotImplementedError

    async def check(self, key: str) -> dict[str, Any]:
        """Untimed checks after the upload; what they found."""
        return {}

    async def close(self) -> None:
        pass


class ArtifactStorePut(Uploader):
    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(job)
        from artifactstore import S3ArtifactStore

        self.options = store_options(self.endpoint, self.sizes)
        if job["sha256_record"]:
            self.options["sha256_record"] = job["sha256_record"]
        self.store = S3ArtifactStore(self.bucket, **self.options)
        self.meta: Any = None

    async def open(self) -> None:
        await self.store.put("large/warmup.bin", self.block)
        await self.store.delete("large/warmup.bin")

    async def botocore_client(self) -> Any:
        return await self.store._s3._client.get()

    async def upload(self, key: str) -> None:
        if self.job["kind"] == PATH.name:
            self.meta = await self.store.put(key, self.source)
        else:
            count = self.sizes.large_size // self.sizes.large_chunk
            self.meta = await self.store.put(key, chunks(self.block, count))

    async def check(self, key: str) -> dict[str, Any]:
        from artifactstore import S3ArtifactStore

        expected, size = self.job["sha256"], self.sizes.large_size
        assert self.meta.sha256 == expected, f"put returned sha256 {self.meta.sha256}"
        assert self.meta.size_bytes == size, f"put returned size {self.meta.size_bytes}"
        found: dict[str, Any] = {}
        writer = await RequestLog().attach(self.store)
        stored = await self.store.get_metadata(key)
        found["get_metadata_writer"] = dict(writer.calls)
        fresh = S3ArtifactStore(self.bucket, **self.options)
        try:
            log = await RequestLog().attach(fresh)
            again = await fresh.get_metadata(key)
            found["get_metadata_fresh"] = dict(log.calls)
        finally:
            await fresh.aclose()
        for meta in (stored, again):
            assert meta.sha256 == expected, f"get_metadata().sha256 is {meta.sha256}"
            assert meta.size_bytes == size, f"stored size {meta.size_bytes}"
        return found

    async def close(self) -> None:
        await self.store.aclose()


class ObstorePut(Uploader):
    async def open(self) -> None:
        import obstore
        from obstore.store import S3Store

        from tests.s3server import CREDENTIALS

        client_options: Any = {"allow_http": True}
        if self.ca_bundle:  # over TLS: trust the server's certificate, nothing else
            client_options = {"root_certificate": Path(self.ca_bundle).read_text("ascii")}
        self.store = S3Store(
            self.bucket,
            endpoint=self.endpoint,
            access_key_id=CREDENTIALS["aws_access_key_id"],
            secret_access_key=CREDENTIALS["aws_secret_access_key"],
            region=REGION,
            virtual_hosted_style_request=False,
            client_options=client_options,
        )
        await obstore.put_async(self.store, "large/warmup.bin", self.block)
        await obstore.delete_async(self.store, "large/warmup.bin")

    async def endpoint_used(self) -> str:
        return str(self.store.config.get("endpoint"))

    async def upload(self, key: str) -> None:
        import obstore

        await obstore.put_async(
            self.store,
            key,
            self.source,
            chunk_size=self.sizes.part_size,
            max_concurrency=self.sizes.parts_in_flight,
        )


def _file_sha256(path: Path) -> str:
    """The file's SHA-256, read 1 MiB at a time into one buffer."""
    hasher = hashlib.sha256()
    buffer = bytearray(MiB)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while count := f.readinto(buffer):
            hasher.update(view[:count])
    return hasher.hexdigest()


class ObstoreHashedPut(ObstorePut):
    """obstore's put with the file's SHA-256 computed beside it, on a thread: the same
    result as artifactstore's put(Path), as a user of obstore would get it (the file
    read twice: obstore's API takes a path or bytes, and hashes nothing)."""

    async def upload(self, key: str) -> None:
        loop = asyncio.get_running_loop()
        hashing = loop.run_in_executor(None, _file_sha256, self.source)
        _, self.sha256 = await asyncio.gather(super().upload(key), hashing)

    async def check(self, key: str) -> dict[str, Any]:
        assert self.sha256 == self.job["sha256"], self.sha256
        return {}


class Aioboto3Put(Uploader):
    async def open(self) -> None:
        self._context = aioboto3_client(self.endpoint)
        self.client = await self._context.__aenter__()
        await self.client.put_object(Bucket=self.bucket, Key="large/warmup.bin", Body=self.block)
        await self.client.delete_object(Bucket=self.bucket, Key="large/warmup.bin")

    async def botocore_client(self) -> Any:
        return self.client

    async def upload(self, key: str) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=self.sizes.part_size,
            multipart_chunksize=self.sizes.part_size,
            max_concurrency=self.sizes.parts_in_flight,
        )
        with open(self.source, "rb") as f:
            await self.client.upload_fileobj(f, self.bucket, key, Config=config)

    async def close(self) -> None:
        await self._context.__aexit__(None, None, None)


class S3fsPut(Uploader):
    async def open(self) -> None:
        self.fs = s3fs_filesystem(self.endpoint, self.ca_bundle)
        self.client = await self.fs.set_session()
        await self.fs._pipe_file(f"{self.bucket}/large/warmup.bin", self.block)
        await self.fs._rm_file(f"{self.bucket}/large/warmup.bin")

    async def botocore_client(self) -> Any:
        return self.client

    async def upload(self, key: str) -> None:
        await self.fs._put_file(
            str(self.source),
            f"{self.bucket}/{key}",
            chunksize=self.sizes.part_size,
            max_concurrency=self.sizes.parts_in_flight,
        )

    async def close(self) -> None:
        await self.client.close()


UPLOADERS: dict[str, type[Uploader]] = {
    PATH.name: ArtifactStorePut,
    STREAM.name: ArtifactStorePut,
    STREAM_COPY.name: ArtifactStorePut,
    OBSTORE.name: ObstorePut,
    OBSTORE_HASHED.name: ObstoreHashedPut,
    AIOBOTO3.name: Aioboto3Put,
    S3FS.name: S3fsPut,
}


def _cpu_seconds() -> float:
    """CPU time of this process so far, every thread (obstore's runtime included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _child(job: dict[str, Any]) -> dict[str, Any]:
    """One timed upload of ``large_size`` bytes, checked afterwards (untimed)."""
    uploader = UPLOADERS[job["kind"]](job)
    key = job["key"]
    try:
        await uploader.open()  # the figure is the upload's memory, not the client's
        sent, client = SentLog(), await uploader.botocore_client()
        if client is not None:
            client.meta.events.register("before-send.s3", sent)
        endpoint = await uploader.endpoint_used()
        hwm_reset = reset_max_rss()
        maxrss_before = max_rss_bytes()
        with RSSSampler() as rss:
            cpu_before = _cpu_seconds()
            start = time.perf_counter()
            await uploader.upload(key)
            seconds = time.perf_counter() - start
            cpu_seconds = _cpu_seconds() - cpu_before
        maxrss_growth = max_rss_bytes() - maxrss_before
        # Against the sink (bench.s3_sink) nothing is stored: nothing to check.
        found = {} if job["sink"] else await uploader.check(key)
    finally:
        await uploader.close()
    return {
        "kind": job["kind"],
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_rss_increase": rss.peak_increase,
        "rss_before": rss.baseline,
        "rss_samples": rss.samples,
        "maxrss_growth": maxrss_growth,
        "maxrss_reset": hwm_reset,
        "endpoint_used": endpoint,
        # What the botocore-based contenders sent, checks included (obstore: not seen).
        "schemes": dict(sent.schemes) if client is not None else None,
        "payloads": dict(sent.payloads) if client is not None else None,
        **found,
    }


# =========================================================== in the parent process


def make_source(workdir: str, sizes: Sizes) -> tuple[Path, str]:
    """The file every contender uploads, and its SHA-256."""
    block = os.urandom(sizes.large_chunk)
    hasher = hashlib.sha256()
    source = Path(workdir, "source.bin")
    with open(source, "wb") as f:
        for _ in range(sizes.large_size // sizes.large_chunk):
            f.write(block)
            hasher.update(block)
    return source, hasher.hexdigest()


def make_job(
    kind: Kind,
    key: str,
    endpoint: str,
    bucket: str,
    source: Path,
    sizes: Sizes,
    *,
    sha256: str = "",
    sha256_record: str = "",
    ca_bundle: str = "",
    sink: bool = False,
) -> dict[str, Any]:
    """What a child is told to do. ``sha256``: what an artifactstore child checks its put
    returned; ``sink``: the server stores nothing, so the child checks nothing."""
    return {
        "kind": kind.name,
        "key": key,
        "endpoint": endpoint,
        "bucket": bucket,
        "source": str(source),
        "sha256": sha256,
        "sizes": sizes.__dict__,
        "sha256_record": sha256_record,
        "ca_bundle": ca_bundle,
        "sink": sink,
    }


def run_child(job: dict[str, Any], workdir: str) -> dict[str, Any]:
    """One upload in a fresh subprocess, so that its RSS is measured from a clean start.

    Over TLS, the child's ``AWS_CA_BUNDLE`` is the server's certificate: botocore
    (artifactstore, aioboto3, s3fs) trusts it that way.
    """
    child_tmp = tempfile.mkdtemp(prefix=f"{job['kind']}-", dir=workdir)
    env = {"TMPDIR": child_tmp}
    if job["ca_bundle"]:
        env["AWS_CA_BUNDLE"] = job["ca_bundle"]
    try:
        return run_in_child("bench.s3_large", job, what=f"large put {job['kind']!r}", env=env)
    finally:
        shutil.rmtree(child_tmp, ignore_errors=True)


def _warm_server(buckets: Buckets, bucket: str, sizes: Sizes) -> None:
    """One small multipart upload, untimed: moto's first-use costs are paid by nobody."""
    client = buckets.client
    key = "large/server-warmup.bin"
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number in (1, 2):
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=b"w" * (5 * MiB)
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    client.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        MetadataDirective="REPLACE",
        Metadata={"warm": "1"},
    )
    buckets.delete(bucket, key)


def large_puts(
    endpoint: str,
    sizes: Sizes,
    workdir: str,
    kinds: list[Kind],
    reps: int,
    ca_bundle: str = "",
) -> dict[str, Any]:
    """Scenario 2: ``reps`` uploads of each kind, rotating, each in its own process.

    ``ca_bundle``: the certificate of a server with TLS, which every contender trusts.
    """
    buckets = Buckets(endpoint, ca_bundle or None)
    bucket = buckets.create("large")
    _warm_server(buckets, bucket, sizes)
    source, sha256 = make_source(workdir, sizes)
    runs: dict[str, list[dict[str, Any]]] = {kind.name: [] for kind in kinds}
    record_option = sha256_record_supported()
    try:
        for rep, kind in rounds(kinds, reps):
            key = f"large/{kind.name}-{rep}.bin"
            record = {STREAM.name: "tag", STREAM_COPY.name: "copy"}.get(kind.name, "")
            job = make_job(
                kind,
                key,
                endpoint,
                bucket,
                source,
                sizes,
                sha256=sha256,
                # "tag" is the default: name it only if the store has the option.
                sha256_record=record if record_option else "",
                ca_bundle=ca_bundle,
            )
            one = run_child(job, workdir)
            # Parity: every peer stored it all (and in how many parts).
            stored, one["parts"] = buckets.size_and_parts(bucket, key)
            if stored != sizes.large_size:
                raise AssertionError(f"{kind.label}: stored {stored} bytes")
            if ca_bundle and (
                not one["endpoint_used"].startswith("https://")
                or set(one["schemes"] or {"https": 1}) != {"https"}
            ):  # over TLS, every request of the upload went as https
                raise AssertionError(
                    f"{kind.label}: endpoint {one['endpoint_used']}, requests {one['schemes']}"
                )
            buckets.delete(bucket, key)  # keep the moto server's memory down
            runs[kind.name].append(one)
            print(
                f"  large{' TLS' if ca_bundle else ''} #{rep + 1} {kind.label:56} "
                f"{sizes.large_size / one['seconds'] / MB:6.1f} MB/s  "
                f"peak RSS +{one['peak_rss_increase'] / MiB:.1f} MiB, "
                f"{one['parts']} part(s)",
                flush=True,
            )
    finally:
        buckets.remove(bucket)
    results: dict[str, Any] = {}
    for name, samples in runs.items():
        mb_per_s = [sizes.large_size / one["seconds"] / MB for one in samples]
        seen: dict[str, Counter[str]] = {"schemes": Counter(), "payloads": Counter()}
        for one in samples:
            for field, counter in seen.items():
                counter.update(one[field] or {})
        peaks = [one["peak_rss_increase"] / MiB for one in samples]
        results[name] = {
            "label": KINDS[name].label,
            "runs": samples,
            "mb_per_s": mb_per_s,
            "median_mb_per_s": median(mb_per_s),
            "median_cpu_seconds": median([one["cpu_seconds"] for one in samples]),
            "peak_rss_increase_mib": peaks,
            "median_peak_rss_increase_mib": median(peaks),
            "max_peak_rss_increase_mib": max(peaks),
            "max_maxrss_growth_mib": max(one["maxrss_growth"] for one in samples) / MiB,
            "parts": sorted({one["parts"] for one in samples}),
            "endpoints_used": sorted({one["endpoint_used"] for one in samples}),
            # Requests by URL scheme and bodies by x-amz-content-sha256, over all runs
            # (None for obstore, whose requests the child does not see).
            **{
                field: None if samples[0][field] is None else dict(counter)
                for field, counter in seen.items()
            },
        }
    return results


if __name__ == "__main__":
    child_main("bench.s3_large", sys.argv[1:], _child)
