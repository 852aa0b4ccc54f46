"""S3 section, scenario 1: small objects, artifactstore against raw aioboto3 and s3fs.

``count`` objects of 4 KiB, 32 operations in flight; puts/s then gets/s. Every
contender computes the SHA-256 of each payload on put and stores it as object
metadata, as artifactstore does. Contenders are run interleaved, in a rotating
order, ``reps`` times each, each run into a fresh bucket with a fresh client; the
median is reported.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from . import _harness
from ._harness import Samples, put_get_rates, rounds
from .s3_common import (
    MIME,
    SHA_FIELD,
    Buckets,
    Sizes,
    aioboto3_client,
    installed,
    s3fs_filesystem,
    store_options,
)


def key_of(i: int) -> str:
    """The key of small object ``i``."""
    return f"bench/{i:05d}.bin"


class Contender(_harness.Contender):
    """One way of storing small objects in ``bucket``, driven by ``run_concurrently``."""

    def __init__(self, endpoint: str, bucket: str, payloads: list[bytes], sizes: Sizes) -> None:
        super().__init__(payloads)
        self.endpoint = endpoint
        self.bucket = bucket
        self.sizes = sizes


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
        self._context = aioboto3_client(self.endpoint)
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
        self.fs = s3fs_filesystem(self.endpoint)
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
    if installed("s3fs"):
        kinds.append(S3fs)
    return kinds


async def _measure(
    kind: type[Contender],
    endpoint: str,
    buckets: Buckets,
    payloads: list[bytes],
    sizes: Sizes,
) -> dict[str, float]:
    """Put then get every payload with a fresh contender and bucket: puts/s and gets/s."""
    bucket = buckets.create(kind.__name__)
    rates = await put_get_rates(kind(endpoint, bucket, payloads, sizes), sizes.concurrency)
    # Parity: every contender stored the payload's SHA-256 as object metadata.
    expected = hashlib.sha256(payloads[0]).hexdigest()
    stored = buckets.sha256_metadata(bucket, key_of(0))
    if stored != expected:
        raise AssertionError(f"{kind.name}: metadata {SHA_FIELD}={stored!r}, not {expected}")
    buckets.remove(bucket)
    return rates


async def small_objects(endpoint: str, sizes: Sizes) -> dict[str, Any]:
    """Scenario 1; returns every sample, by contender."""
    kinds = contenders()
    buckets = Buckets(endpoint)
    payloads = [os.urandom(sizes.small_size) for _ in range(sizes.small_count)]
    samples = Samples(kind.name for kind in kinds)
    for kind in kinds:  # warm-up: imports, model files, first-use paths (client and server)
        await _measure(kind, endpoint, buckets, payloads[: sizes.warmup_count], sizes)
    for rep, kind in rounds(kinds, sizes.small_reps):
        result = await _measure(kind, endpoint, buckets, payloads, sizes)
        samples.add(kind.name, result)
        puts, gets = result["puts_per_s"], result["gets_per_s"]
        print(f"  small #{rep + 1} {kind.name:30} puts/s {puts:7,.0f}  gets/s {gets:7,.0f}")
    return samples.summary()
