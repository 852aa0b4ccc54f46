"""A small FastAPI service over artifactstore: streamed uploads and downloads.

Run it::

    DATAROOM_ROOT=./demo-dataroom uvicorn docs.examples.fastapi_app:app

    curl -T report.pdf http://127.0.0.1:8000/artifacts/DEAL-1/documents/cim/report.pdf
    curl -r 0-99 http://127.0.0.1:8000/artifacts/DEAL-1/documents/cim/report.pdf
    curl http://127.0.0.1:8000/deals/DEAL-1

The request body is streamed into ``put`` (never held whole in memory); downloads
stream out with ranges, ETags and conditional requests (``artifact_response``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import Response

from artifactstore import InvalidKeyError, get_artifact_store
from artifactstore.web import artifact_response

store = get_artifact_store()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Close the store when the service stops."""
    yield
    await store.aclose()


app = FastAPI(title="Deal artifacts", lifespan=lifespan)


@app.put("/artifacts/{key:path}", status_code=201)
async def upload(key: str, request: Request) -> dict[str, Any]:
    """Store the request body at ``key``, streamed."""
    try:
        meta = await store.put(key, request.stream(), mime_type=request.headers.get("content-type"))
    except InvalidKeyError as exc:
        raise HTTPException(status_code=400, detail="invalid artifact key") from exc
    return {"storage_key": meta.storage_key, "sha256": meta.sha256, "size": meta.size_bytes}


@app.api_route("/artifacts/{key:path}", methods=["GET", "HEAD"])
async def download(key: str, request: Request) -> Response:
    """Stream the artifact at ``key`` (ranges, ETag, 304, 404, 400)."""
    return artifact_response(store, key, request)


@app.get("/deals/{deal_id}")
async def list_deal(deal_id: str) -> list[dict[str, Any]]:
    """The deal's artifacts, in key order."""
    try:
        return [
            {"storage_key": m.storage_key, "size": m.size_bytes, "sha256": m.sha256}
            async for m in store.list(deal_id)
        ]
    except InvalidKeyError as exc:
        raise HTTPException(status_code=400, detail="invalid deal id") from exc
