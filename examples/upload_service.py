"""A tiny upload service: FastAPI handlers that store deal documents in an ArtifactStore.

The store is a dependency (``get_store``): in production the one configured from
the environment (``get_artifact_store()``), in tests whatever the test injects with
``app.dependency_overrides`` (see examples/test_upload_service.py, which uses the
``memory_artifact_store`` fixture of artifactstore's pytest plugin).

Run it: ``uvicorn upload_service:app`` from this folder, then
``curl -T cim.pdf http://127.0.0.1:8000/deals/DEAL-1/documents/cim.pdf``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response

from artifactstore import (
    CATEGORY_DOCUMENTS,
    ArtifactExistsError,
    ArtifactNotFoundError,
    ArtifactStore,
    InvalidKeyError,
    get_artifact_store,
)


def get_store() -> ArtifactStore:
    """The store the handlers use; tests override this dependency."""
    return get_artifact_store()


Store = Annotated[ArtifactStore, Depends(get_store)]

app = FastAPI(title="Deal documents")


def document_key(store: ArtifactStore, deal_id: str, filename: str) -> str:
    try:
        return store.build_key(deal_id, CATEGORY_DOCUMENTS, filename)
    except InvalidKeyError as exc:
        raise HTTPException(400, str(exc)) from exc


@app.put("/deals/{deal_id}/documents/{filename}", status_code=201)
async def upload(deal_id: str, filename: str, request: Request, store: Store) -> dict[str, Any]:
    """Store the request body, streamed, as a new document; 409 if it exists."""
    key = document_key(store, deal_id, filename)
    try:
        meta = await store.put(key, request.stream(), if_not_exists=True)
    except ArtifactExistsError as exc:
        raise HTTPException(409, f"{filename} is already uploaded for {deal_id}") from exc
    return {
        "key": meta.storage_key,
        "sha256": meta.sha256,
        "size": meta.size_bytes,
        "mime_type": meta.mime_type,
    }


@app.get("/deals/{deal_id}/documents/{filename}")
async def download(deal_id: str, filename: str, store: Store) -> Response:
    """The document's bytes, or 404."""
    key = document_key(store, deal_id, filename)
    try:
        meta = await store.get_metadata(key)
        data = await store.get(key)
    except ArtifactNotFoundError as exc:
        raise HTTPException(404, f"no {filename} for {deal_id}") from exc
    return Response(data, media_type=meta.mime_type, headers={"ETag": f'"{meta.sha256}"'})


@app.get("/deals/{deal_id}/documents")
async def list_documents(deal_id: str, store: Store) -> list[dict[str, Any]]:
    """The deal's documents, in key order."""
    prefix = document_key(store, deal_id, "-").rsplit("/", 1)[0]
    return [{"key": meta.storage_key, "size": meta.size_bytes} async for meta in store.list(prefix)]
