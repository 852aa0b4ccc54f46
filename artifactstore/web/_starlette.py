"""The Starlette (and FastAPI) side of ``artifactstore.web``.

* ``artifact_response(store, key, request)`` streams an artifact, never loading it
  whole: Content-Type, Content-Length, ETag (the SHA-256), Last-Modified,
  Content-Disposition (RFC 6266), Accept-Ranges; one byte range (206, or 416),
  If-Match / If-Unmodified-Since (412), If-None-Match / If-Modified-Since (304),
  If-Range, HEAD. A missing artifact is a
  404, an invalid key a 400; no answer names a filesystem path.
* ``download_app(store, secret=...)`` is a mountable ASGI app serving the signed,
  expiring links that ``get_url`` makes when a local store has ``url_base`` and
  ``url_secret``: expired, tampered, malformed or re-targeted links get 403, a
  link whose document has changed since (bound to its SHA-256) 410 Gone.

A client that disconnects mid-download stops the stream at once (the file or S3
connection is released); a slow client slows the stream down (the server's
``send`` waits), so memory stays flat. The HTTP decisions live in
``artifactstore.web._http``, the serving loop in ``artifactstore.web._serve`` (shared
with the aiohttp flavour, ``artifactstore.web.aiohttp``); this module speaks ASGI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..signing import check_secret
from ..store import ArtifactStore
from ._http import ResponsePlan
from ._links import ANSWERS, Redemption, redeem
from ._serve import WEB_CHUNK_SIZE, serve

__all__ = ["ArtifactResponse", "artifact_response", "download_app"]


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
        allow_active: bool = False,
        chunk_size: int = WEB_CHUNK_SIZE,
    ) -> None:
        self.store = store
        self.key = key
        self.honour_request = request is not None
        self.filename = filename
        self.inline = inline
        self.allow_active = allow_active
        self.chunk_size = chunk_size
        self._expected_sha256: str | None = None  # set by download_app for bound links
        self.status_code = 200
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Look the artifact up, plan the answer, stream it."""
        await serve(
            self.store,
            self.key,
            _AsgiResponder(scope, receive, send),
            method=scope.get("method", "GET"),
            headers=Headers(scope=scope) if self.honour_request else None,
            filename=self.filename,
            inline=self.inline,
            allow_active=self.allow_active,
            chunk_size=self.chunk_size,
            expected_sha256=self._expected_sha256,
        )


class _AsgiResponder:
    """``serve``'s answers, as ASGI messages."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    async def text(self, status: int, message: str) -> None:
        await PlainTextResponse(message, status)(self.scope, self.receive, self.send)

    async def headers_only(self, plan: ResponsePlan) -> None:
        await self._start(plan)
        await self.send({"type": "http.response.body", "body": b""})

    async def body(self, plan: ResponsePlan, chunks: AsyncIterator[bytes]) -> None:
        """Send the chunks; stop at once if the client disconnects."""
        await self._start(plan)
        send, receive = self.send, self.receive
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            group.cancel_scope.cancel()

    async def _start(self, plan: ResponsePlan) -> None:
        await self.send(
            {
                "type": "http.response.start",
                "status": plan.status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in plan.headers.items()
                ],
            }
        )


def artifact_response(
    store: ArtifactStore,
    key: str,
    request: Request | None = None,
    *,
    filename: str | None = None,
    inline: bool = False,
    allow_active: bool = False,
) -> ArtifactResponse:
    """A response streaming the artifact at ``key`` (return it from a handler).

    With ``request``, conditional and range requests are honoured; without, the
    whole artifact is always sent. ``filename`` defaults to the key's last
    segment; ``inline=True`` asks browsers to display rather than download, except
    for active types (HTML, XHTML, SVG, XML, JavaScript), which are attachments
    unless ``allow_active=True``. Every response carries
    ``Content-Security-Policy: sandbox`` and ``X-Content-Type-Options: nosniff``.
    """
    return ArtifactResponse(
        store, key, request, filename=filename, inline=inline, allow_active=allow_active
    )


class _InContext(Response):
    """A response sent inside its link's audit context.

    Its body is sent after the endpoint returned, where a ``with`` would have ended.
    """

    def __init__(self, response: Response, judged: Redemption) -> None:
        self._response = response
        self._judged = judged

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with self._judged.context():
            await self._response(scope, receive, send)


def download_app(store: ArtifactStore, *, secret: str | bytes) -> Starlette:
    """An ASGI app serving signed links: mount it at the path of the store's ``url_base``.

    ``app.mount("/downloads", download_app(store, secret=SECRET))`` with
    ``url_base="https://host/downloads"``. A ``secret`` shorter than 32 bytes is a
    ``StorageConfigError`` (``artifactstore.signing.check_secret``).
    """
    check_secret(secret, setting="secret")

    async def download(request: Request) -> Response:
        key = request.path_params["key"]
        query = request.query_params
        client = request.client.host if request.client else None
        judged = await redeem(
            store,
            secret,
            key,
            query.getlist("expires"),
            query.getlist("signature"),
            client,
            query.getlist("sha256"),
        )
        if judged.status is not None:
            return PlainTextResponse(ANSWERS[judged.status], judged.status)
        response = artifact_response(store, key, request)
        response._expected_sha256 = judged.sha256
        return _InContext(response, judged)

    return Starlette(routes=[Route("/{key:path}", download, methods=["GET", "HEAD"])])
