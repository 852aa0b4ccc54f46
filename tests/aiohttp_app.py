"""The aiohttp app the web tests serve in a separate process (``python -m aiohttp.web``).

Configured from the environment like ``tests/webapp.py``; with ARTIFACT_URL_SECRET
set, signed links are served under ``/dl``.
"""

from __future__ import annotations

import os

from aiohttp import web

from artifactstore import get_artifact_store
from artifactstore.web.aiohttp import artifact_response, download_app


def make_app(argv: list[str] | None = None) -> web.Application:
    store = get_artifact_store()

    async def artifact(request: web.Request) -> web.StreamResponse:
        return await artifact_response(store, request.match_info["key"], request)

    async def view(request: web.Request) -> web.StreamResponse:
        return await artifact_response(store, request.match_info["key"], request, inline=True)

    async def active(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        return await artifact_response(store, key, request, inline=True, allow_active=True)

    async def close(app: web.Application) -> None:
        await store.aclose()

    app = web.Application()
    app.router.add_get("/artifacts/{key:.+}", artifact)  # HEAD too
    app.router.add_get("/view/{key:.+}", view)
    app.router.add_get("/active/{key:.+}", active)
    if os.environ.get("ARTIFACT_URL_SECRET"):
        app.add_subapp("/dl", download_app(store, secret=os.environ["ARTIFACT_URL_SECRET"]))
    app.on_cleanup.append(close)
    return app
