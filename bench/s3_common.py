"""What the modules of the S3 section share: sizes, client settings, buckets, request counts.

The section itself is ``bench/s3.py``; see its docstring for what it measures.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

from ._util import MiB, Options

MB = 1_000_000  # throughputs are in MB/s (10^6 bytes)
REGION = "us-east-1"
SHA_FIELD = "artifactstore-sha256"  # the metadata field artifactstore writes
MIME = "application/octet-stream"  # what artifactstore guesses for "*.bin"
#: Extra memory allowed on top of the parts in flight, for a multipart upload.
RSS_ALLOWANCE_MIB = 64


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
    foreign_size: int

    @classmethod
    def for_options(cls, options: Options) -> Sizes:
        if options.quick:
            return cls(200, 4096, 32, 32, 1, 32 * MiB, MiB, 1, 8 * MiB, 4, 16 * MiB)
        return cls(1000, 4096, 32, 128, 3, 256 * MiB, MiB, 5, 8 * MiB, 4, 16 * MiB)

    @property
    def rss_target_mib(self) -> float:
        return self.part_size * self.parts_in_flight / MiB + RSS_ALLOWANCE_MIB


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


def version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (a peer that is not installed is skipped)."""
    import importlib.util

    return importlib.util.find_spec(module) is not None


def sha256_record_supported() -> bool:
    """Whether this artifactstore has the ``sha256_record`` option (checked offline)."""
    from artifactstore import S3ArtifactStore
    from tests.s3server import CREDENTIALS

    try:
        S3ArtifactStore(
            "probe", endpoint_url="http://127.0.0.1:9", sha256_record="copy", **CREDENTIALS
        )
    except TypeError:
        return False
    return True


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

    def size_and_parts(self, bucket: str, key: str) -> tuple[int, int]:
        """An object's size, and its part count as its ETag tells ("md5-N"; 1 if single)."""
        head = self.client.head_object(Bucket=bucket, Key=key)
        _, _, parts = head["ETag"].strip('"').partition("-")
        return int(head["ContentLength"]), int(parts or 1)

    def delete(self, bucket: str, key: str) -> None:
        self.client.delete_object(Bucket=bucket, Key=key)

    def remove(self, bucket: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                self.client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        self.client.delete_bucket(Bucket=bucket)


class RequestLog:
    """The S3 operations one client sends, by name, seen by a botocore event hook.

    ``before-call.s3.*`` fires once per operation (not per retry) with the request
    as it will be sent, headers included: a GetObject without a ``Range`` header
    is a full download.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.full_downloads = 0
        self.ranged_gets = 0

    def _seen(self, model: Any, params: Any = None, **kwargs: Any) -> None:
        self.calls[model.name] += 1
        if model.name == "GetObject":
            headers = (params or {}).get("headers", {})
            if any(name.lower() == "range" for name in headers):
                self.ranged_gets += 1
            else:
                self.full_downloads += 1

    async def attach(self, store: Any) -> RequestLog:
        """Count from now on what ``store``'s client (created now if need be) sends."""
        client = await store._client.get()  # also checks the bucket: before counting
        client.meta.events.register("before-call.s3.*", self._seen)
        return self

    def snapshot(self) -> tuple[Counter[str], int, int]:
        return Counter(self.calls), self.full_downloads, self.ranged_gets


def fmt_calls(calls: dict[str, int]) -> str:
    """``{"HeadObject": 1, "GetObjectTagging": 1}`` as ``HeadObject + GetObjectTagging``.

    In the order given (a ``RequestLog``'s: the order the requests were first sent).
    """
    if not calls:
        return "none"
    return " + ".join(name if n == 1 else f"{n} x {name}" for name, n in calls.items())
