"""The S3 backend against a moto server over HTTP: the conformance suite, then S3 specifics."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from artifactstore import ArtifactStore, S3ArtifactStore

from .conformance import CHECKS, Check
from .s3server import CREDENTIALS, MotoServer, boto3_client


def new_bucket(server: MotoServer) -> str:
    name = f"test-{uuid.uuid4().hex[:12]}"
    boto3_client(server.endpoint).create_bucket(Bucket=name)
    return name


def make_store(server: MotoServer, bucket: str, **options: Any) -> S3ArtifactStore:
    return S3ArtifactStore(
        bucket, endpoint_url=server.endpoint, region="us-east-1", **{**CREDENTIALS, **options}
    )


@pytest.fixture
async def store(moto_server: MotoServer) -> AsyncIterator[S3ArtifactStore]:
    async with make_store(moto_server, new_bucket(moto_server)) as s:
        yield s


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_conformance(check: Check, store: ArtifactStore, scratch: Path) -> None:
    await check(store, scratch)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_conformance_with_prefix(
    check: Check, moto_server: MotoServer, scratch: Path
) -> None:
    bucket = new_bucket(moto_server)
    async with make_store(moto_server, bucket, prefix="tenant-a/artifacts") as s:
        await check(s, scratch)
    # Everything the store wrote lives under its prefix.
    listed = boto3_client(moto_server.endpoint).list_objects_v2(Bucket=bucket)
    assert all(o["Key"].startswith("tenant-a/artifacts/") for o in listed.get("Contents", []))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_plain_boto3_reads_what_we_wrote(store: S3ArtifactStore, moto_server: MotoServer) -> None:
    data = os.urandom(100_000)
    meta = await store.put("DEAL-1/documents/cim/c.pdf", data, metadata={"source": "banker"})
    got = boto3_client(moto_server.endpoint).get_object(
        Bucket=store.bucket, Key="DEAL-1/documents/cim/c.pdf"
    )
    body = got["Body"].read()
    assert body == data
    assert sha(body) == meta.sha256 == got["Metadata"]["artifactstore-sha256"]
    assert got["ContentType"] == "application/pdf"
    assert got["Metadata"]["source"] == "banker"
    assert meta.storage_uri == f"s3://{store.bucket}/DEAL-1/documents/cim/c.pdf"
