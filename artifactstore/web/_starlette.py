"""The Starlette (and FastAPI) side of ``artifactstore.web``.

* ``artifact_response(store, key, request)`` streams an artifact, never loading it
  whole: Content-Type, Content-Length, ETag (the SHA-256), Last-Modified,
  Content-Disposition (RFC 6266), Accept-Ranges; one byte range (206, or 416),
  If-None-Match / If-Modified-Since (304), If-Range, HEAD. A missing artifact is a
  404, an invalid key a 400; no answer names a filesystem path.
* ``download_app(store, secret=...)`` is a mountable ASGI app serving the signed,
  expiring links that ``get_url`` makes when a local store has ``url_base`` and
  ``url_secret``: expired, tampered or re-targeted links get 403.

A client that disconnects mid-download stops the stream at once (the file or S3
connection is released); a slow client slows the stream down (the server's
``send`` waits), so memory stays flat. The HTTP decisions live in
``artifactstore._http``; the aiohttp flavour is ``artifactstore.web.aiohttp``.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .._http import ResponsePlan, plan_response
from ..errors import ArtifactNotFoundError, ArtifactStoreError, InvalidKeyError
from ..protocol import ArtifactStore
from ..signing import verify

__all__ = ["ArtifactResponse", "artifact_response", "download_app"]

log = logging.getLogger("artifactstore")

#: Bytes read from the store and handed to the server at a time.
WEB_CHUNK_SIZE = 256 * 1024


class ArtifactResponse(Response):
    """An ASGI response that streams one artifact (see ``artifact_response``)."""

    def __init__(
        self,
        store: ArtifactStore,
        key: str,
        request: Request | None = None,
        *,
        filename: str | None = None,
        inline: bool = False,
        chunk_size: int = WEB_CHUNK_SIZE,
    ) -> None:
        self.store = store
        self.key = key
        self.honour_request = request is not None
        self.filename = filename
        self.inline = inline
        self.chunk_size = chunk_size
        self.status_code = 200
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Look the artifact up, plan the answer, stream it."""
        try:
            key = self.store.normalize_key(self.key)
        except InvalidKeyError:
            await PlainTextResponse("invalid artifact key", 400)(scope, receive, send)
            return
        headers = Headers(scope=scope) if self.honour_request else None
        method = scope.get("method", "GET")
        for _attempt in range(3):
            try:
                meta = await self.store.get_metadata(key)
            except ArtifactNotFoundError:
                await PlainTextResponse("artifact not found", 404)(scope, receive, send)
                return
            except ArtifactStoreError:
                log.exception("artifactstore: serving %r failed", key)
                await PlainTextResponse("storage unavailable", 503)(scope, receive, send)
                return
            plan = plan_response(
                meta, method=method, headers=headers, filename=self.filename, inline=self.inline
            )
            if not plan.send_body:
                await _start(send, plan)
                await send({"type": "http.response.body", "body": b""})
                return
            stream = self.store.stream(
                key, start=plan.start, end=plan.end, chunk_size=self.chunk_size
            )
            try:
                async with stream:
                    if stream.metadata.sha256 != meta.sha256:
                        continue  # replaced between the two looks: plan again
                    await _start(send, plan)
                    await _send_body(stream, send, receive)
                    return
            except ArtifactNotFoundError:
                continue  # deleted between the two looks: plan again (and 404)
        await PlainTextResponse("artifact is changing, retry", 503)(scope, receive, send)


async def _start(send: Send, plan: ResponsePlan) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": plan.status,
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.headers.items()
            ],
        }
    )


async def _send_body(stream: Any, send: Send, receive: Receive) -> None:
    """Send the chunks; stop at once if the client disconnects."""
    async with anyio.create_task_group() as group:

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()

        group.start_soon(watch_disconnect)
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        group.cancel_scope.cancel()


def artifact_response(
    store: ArtifactStore,
    key: str,
    request: Request | None = None,
    *,
    filename: str | None = None,
    inline: bool = False,
) -> ArtifactResponse:
    """A response streaming the artifact at ``key`` (return it from a handler).

    With ``request``, conditional and range requests are honoured; without, the
    whole artifact is always sent. ``filename`` defaults to the key's last
    segment; ``inline=True`` asks browsers to display rather than download.
    """
    return ArtifactResponse(store, key, request, filename=filename, inline=inline)


def download_app(store: ArtifactStore, *, secret: str | bytes) -> Starlette:
    """An ASGI app serving signed links: mount it at the path of the store's ``url_base``.

    ``app.mount("/downloads", download_app(store, secret=SECRET))`` with
    ``url_base="https://host/downloads"``.
    """

    async def download(request: Request) -> Response:
        key = request.path_params["key"]
        query = request.query_params
        if not verify(secret, key, query.get("expires"), query.get("signature")):
            return PlainTextResponse("link expired or invalid", 403)
        return artifact_response(store, key, request)

    return Starlette(routes=[Route("/{key:path}", download, methods=["GET", "HEAD"])])
