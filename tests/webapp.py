"""The ASGI app the web tests serve with uvicorn in a separate process.

Configured from the environment like any deployment (ARTIFACT_STORAGE_BACKEND,
DATAROOM_ROOT or the S3 variables, ARTIFACT_URL_BASE, ARTIFACT_URL_SECRET).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from artifactstore import get_artifact_store
from artifactstore.web import artifact_response, download_app

store = get_artifact_store()


async def artifact(request: Request) -> Response:
    return artifact_response(store, request.path_params["key"], request)


async def inline(request: Request) -> Response:
    return artifact_response(
        store, request.path_params["key"], request, inline=True, filename="shown.pdf"
    )


async def view(request: Request) -> Response:
    return artifact_response(store, request.path_params["key"], request, inline=True)


async def active(request: Request) -> Response:
    key = request.path_params["key"]
    return artifact_response(store, key, request, inline=True, allow_active=True)


async def plain(request: Request) -> Response:
    return artifact_response(store, request.path_params["key"])


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await store.aclose()


routes = [
    Route("/artifacts/{key:path}", artifact, methods=["GET", "HEAD"]),
    Route("/inline/{key:path}", inline, methods=["GET", "HEAD"]),
    Route("/plain/{key:path}", plain, methods=["GET", "HEAD"]),
    Route("/view/{key:path}", view, methods=["GET", "HEAD"]),
    Route("/active/{key:path}", active, methods=["GET", "HEAD"]),
]
if os.environ.get("ARTIFACT_URL_SECRET"):
    routes.append(Mount("/dl", download_app(store, secret=os.environ["ARTIFACT_URL_SECRET"])))

app = Starlette(routes=routes, lifespan=lifespan)
