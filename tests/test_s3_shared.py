"""Several processes sharing one bucket through ``S3ArtifactStore`` (the reliability suite).

Puts of bytes and of async iterables, conditional puts, ``get(verify=True)``,
listings, deletes and server-side copies on a handful of shared keys, on moto,
whose copies ignore a stale ``x-amz-copy-source-if-match``. No error may occur but
not-found and exists, and every object left must hold bytes that match its
recorded SHA-256 (read by a fresh store). ``make test``: 4 processes x 60
operations; ``make soak``: 6 x 150.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from artifactstore import S3ArtifactStore

from .s3_shared_child import SECRET
from .s3server import CREDENTIALS, MotoServer, boto3_client, new_bucket

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_processes_sharing_a_bucket_leave_every_object_verifiable(
    moto_server: MotoServer, pytestconfig: pytest.Config
) -> None:
    soak = pytestconfig.getoption("--run-soak")
    processes, operations = (6, 150) if soak else (4, 60)
    bucket = new_bucket(moto_server)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.s3_shared_child",
                moto_server.endpoint,
                bucket,
                str(seed),
                str(operations),
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for seed in range(processes)
    ]
    done: Counter[str] = Counter()
    errors: list[str] = []
    for child in children:
        out, err = child.communicate(timeout=540)
        assert child.returncode == 0, err.decode()[-2000:]
        report = json.loads(out.decode().strip().splitlines()[-1])
        done.update(report["done"])
        errors.extend(report["errors"])
    assert errors == []
    assert done["copy"] > 0
    assert done["get"] > 0

    raw = boto3_client(moto_server.endpoint)

    async def verify() -> int:
        store = S3ArtifactStore(
            bucket, endpoint_url=moto_server.endpoint, sha256_key=SECRET, **CREDENTIALS
        )
        checked = 0
        async with store:
            async for item in store.list("SHARED"):
                data = await store.get(item.storage_key, verify=True)
                meta = await store.get_metadata(item.storage_key)
                assert meta.sha256 == hashlib.sha256(data).hexdigest(), item.storage_key
                checked += 1
        return checked

    assert asyncio.run(verify()) > 0
    assert raw.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
