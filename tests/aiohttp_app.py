"""The aiohttp app the web tests serve in a separate process (``python -m aiohttp.web``)."""

from __future__ import annotations

from aiohttp import web

from artifactstore import get_artifact_store
from artifactstore.web.aiohttp import artifact_response


def make_app(argv: list[str] | None = None) -> web.Application:
    store = get_artifact_store()

    async def artifact(request: web.Request) -> web.StreamResponse:
        return await artifact_response(store, request.match_info["key"], request)

    async def close(app: web.Application) -> None:
        await store.aclose()

    app = web.Application()
    app.router.add_get("/artifacts/{key:.+}", artifact)  # HEAD too
    app.on_cleanup.append(close)
    return app
