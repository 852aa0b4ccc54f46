"""S3 faults: a proxy that drops, stalls or answers 500/503; the server stopped and restarted.

Every operation either succeeds, with exactly the right bytes, or raises
StorageBackendError within a bounded time: never a hang, never wrong bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

import pytest

from artifactstore import ArtifactStoreError, S3ArtifactStore, StorageBackendError

from .faultproxy import FaultProxy
from .s3server import CREDENTIALS, MotoServer, boto3_client

MiB = 1024 * 1024
BOUND = 60.0  # seconds any one operation may take, retries included


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def faulty_store(endpoint: str, bucket: str) -> S3ArtifactStore:
    return S3ArtifactStore(
        bucket,
        endpoint_url=endpoint,
        max_attempts=4,
        connect_timeout=1,
        read_timeout=2,
        part_size=5 * MiB,
        multipart_threshold=5 * MiB,
        verify_bucket=False,
        **CREDENTIALS,
    )


@pytest.mark.timeout(1800)  # retries with back-off: about 60 s here, soak far more
async def test_dropped_stalled_and_failing_connections(
    moto_server: MotoServer, pytestconfig: pytest.Config
) -> None:
    bucket = "faults-" + os.urandom(4).hex()
    boto3_client(moto_server.endpoint).create_bucket(Bucket=bucket)
    proxy = FaultProxy(moto_server.port)
    proxy.weights = {"pass": 70, "drop": 10, "stall": 2, "500": 9, "503": 9}
    rounds = 300 if pytestconfig.getoption("--run-soak") else 40
    stored: dict[str, bytes] = {}
    outcomes = {"ok": 0, "StorageBackendError": 0}
    try:
        async with faulty_store(proxy.endpoint, bucket) as store:
            for i in range(rounds):
                key = f"FAULT/{i % 12}.bin"
                data = os.urandom(6 * MiB if i % 15 == 0 else 1000 + i)
                started = time.monotonic()
                try:
                    if i % 3 == 2 and key in stored:
                        got = await asyncio.wait_for(store.get(key), BOUND)
                        assert got == stored[key], f"{key}: wrong bytes"
                    else:
                        meta = await asyncio.wait_for(store.put(key, data), BOUND)
                        assert meta.sha256 == sha(data)
                        stored[key] = data
                    outcomes["ok"] += 1
                except StorageBackendError:
                    outcomes["StorageBackendError"] += 1
                    stored.pop(key, None)  # a failed put: the old or the new bytes, unknown
                except ArtifactStoreError as exc:
                    pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
                assert time.monotonic() - started < BOUND
        proxy.weights = {"pass": 1}
        async with faulty_store(proxy.endpoint, bucket) as store:
            for key, data in stored.items():
                assert await store.get(key, verify=True) == data
    finally:
        proxy.stop()
    injected = sum(v for k, v in proxy.counts.items() if k != "pass")
    print(f"faults injected: {dict(proxy.counts)}; outcomes: {outcomes}")
    assert injected >= 12, proxy.counts
    assert outcomes["ok"] > rounds // 2, outcomes  # retries carried most through


async def test_server_stopped_and_restarted() -> None:
    server = MotoServer.start()
    port = server.port
    try:
        boto3_client(server.endpoint).create_bucket(Bucket="restart")
        async with faulty_store(server.endpoint, "restart") as store:
            await store.put("R/a.bin", b"before")
            server.stop()
            started = time.monotonic()
            for operation in (store.get("R/a.bin"), store.put("R/b.bin", b"down")):
                with pytest.raises(StorageBackendError, match="unreachable"):
                    await asyncio.wait_for(operation, BOUND)
            assert time.monotonic() - started < BOUND
            server = MotoServer.start(port=port)  # same address; moto starts empty
            boto3_client(server.endpoint).create_bucket(Bucket="restart")
            meta = await asyncio.wait_for(store.put("R/c.bin", b"after"), BOUND)
            assert meta.sha256 == sha(b"after")
            assert await store.get("R/c.bin") == b"after"
    finally:
        server.stop()
