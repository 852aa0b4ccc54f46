"""Testing the upload service with artifactstore's pytest fixtures.

``memory_artifact_store`` comes from the pytest plugin installed with artifactstore:
no conftest, no temporary folder, no server. The test injects it into the app and
then checks what the handler stored by reading the store itself.

Run: ``pytest examples/test_upload_service.py`` (needs fastapi, httpx, pytest-asyncio).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from upload_service import app, get_store

from artifactstore import ArtifactStore

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def client(memory_artifact_store: ArtifactStore) -> AsyncIterator[httpx.AsyncClient]:
    app.dependency_overrides[get_store] = lambda: memory_artifact_store
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
    finally:
        app.dependency_overrides.clear()


async def test_upload_stores_the_bytes(
    client: httpx.AsyncClient, memory_artifact_store: ArtifactStore
) -> None:
    body = b"%PDF-1.7 confidential information memorandum " * 1000
    response = await client.put("/deals/DEAL-1/documents/cim.pdf", content=body)
    assert response.status_code == 201
    assert response.json() == {
        "key": "DEAL-1/documents/cim.pdf",
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "mime_type": "application/pdf",
    }
    assert await memory_artifact_store.get("DEAL-1/documents/cim.pdf", verify=True) == body


async def test_a_second_upload_is_refused_and_the_first_kept(
    client: httpx.AsyncClient, memory_artifact_store: ArtifactStore
) -> None:
    assert (await client.put("/deals/DEAL-1/documents/a.txt", content=b"first")).status_code == 201
    response = await client.put("/deals/DEAL-1/documents/a.txt", content=b"second")
    assert response.status_code == 409
    assert await memory_artifact_store.get("DEAL-1/documents/a.txt") == b"first"


async def test_bad_names_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, memory_artifact_store: ArtifactStore
) -> None:
    for url in ["/deals/%2E%2E/documents/x.pdf", "/deals/DEAL-1/documents/.artifactstore"]:
        response = await client.put(url, content=b"evil")
        assert response.status_code == 400, url
    assert [meta async for meta in memory_artifact_store.list()] == []


async def test_download_and_list_what_the_store_holds(
    client: httpx.AsyncClient, memory_artifact_store: ArtifactStore
) -> None:
    await memory_artifact_store.put("DEAL-2/documents/teaser.txt", b"hello")  # arranged directly
    response = await client.get("/deals/DEAL-2/documents/teaser.txt")
    assert response.status_code == 200
    assert response.content == b"hello"
    assert response.headers["content-type"].startswith("text/plain")
    assert (await client.get("/deals/DEAL-2/documents/none.txt")).status_code == 404
    listed = (await client.get("/deals/DEAL-2/documents")).json()
    assert listed == [{"key": "DEAL-2/documents/teaser.txt", "size": 5}]
