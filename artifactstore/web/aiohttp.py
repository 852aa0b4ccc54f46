"""Serving artifacts from aiohttp handlers: the same answers as ``artifactstore.web``.

::

    async def download(request: web.Request) -> web.StreamResponse:
        return await artifact_response(store, request.match_info["key"], request)

    app.add_subapp("/downloads", download_app(store, secret=SECRET))  # signed links

The serving loop is ``artifactstore.web._serve``'s, shared with the Starlette
flavour; this module speaks aiohttp. It does not need Starlette.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from ..signing import check_secret
from ..store import ArtifactStore
from ._http import ResponsePlan
from ._links import ANSWERS, redeem
from ._serve import WEB_CHUNK_SIZE, serve

__all__ = ["WEB_CHUNK_SIZE", "artifact_response", "download_app"]


class _AiohttpResponder:
    """``serve``'s answers, as an aiohttp response (kept in ``response``)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    async def text(self, status: int, message: str) -> None:
        self.response = web.Response(status=status, text=message)

    async def headers_only(self, plan: ResponsePlan) -> None:
        fields = {k: v for k, v in plan.headers.items() if k != "content-length"}
        if self.request.method != "HEAD" or plan.status not in (200, 206):
            self.response = web.Response(status=plan.status, headers=fields)
            return
        head = web.StreamResponse(status=plan.status, headers=fields)
        head.content_length = plan.end - plan.start  # what a GET would send
        await head.prepare(self.request)
        await head.write_eof()
        self.response = head

    async def body(self, plan: ResponsePlan, chunks: AsyncIterator[bytes]) -> None:
        response = web.StreamResponse(status=plan.status, headers=plan.headers)
        response.content_length = plan.end - plan.start
        await response.prepare(self.request)
        self.response = response
        try:
            async for chunk in chunks:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away; leaving serve's block closes the stream


async def artifact_response(
    store: ArtifactStore,
    key: str,
    request: web.Request,
    *,
    filename: str | None = None,
    inline: bool = False,
    honour_request: bool = True,
    allow_active: bool = False,
) -> web.StreamResponse:
    """Stream the artifact at ``key`` as the answer to ``request``.

    Conditional and range requests are honoured unless ``honour_request=False``.
    ``inline=True`` shows the artifact rather than downloading it, except active
    types (HTML, XHTML, SVG, XML, JavaScript): attachments unless ``allow_active=True``.
    Every response carries ``Content-Security-Policy: sandbox`` and ``nosniff``.
    ``resp.write`` waits while the client is slow, so memory stays flat; a client
    that disconnects ends the stream and releases the file or S3 connection.
    """
    return await _respond(
        store,
        key,
        request,
        filename=filename,
        inline=inline,
        honour_request=honour_request,
        allow_active=allow_active,
    )


async def _respond(
    store: ArtifactStore,
    key: str,
    request: web.Request,
    *,
    filename: str | None = None,
    inline: bool = False,
    honour_request: bool = True,
    allow_active: bool = False,
    expected_sha256: str | None = None,
) -> web.StreamResponse:
    responder = _AiohttpResponder(request)
    await serve(
        store,
        key,
        responder,
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()} if honour_request else None,
        filename=filename,
        inline=inline,
        allow_active=allow_active,
        expected_sha256=expected_sha256,
    )
    assert responder.response is not None  # serve always answers
    return responder.response


def download_app(store: ArtifactStore, *, secret: str | bytes) -> web.Application:
    """An aiohttp app serving signed links, to mount with ``app.add_subapp(path, ...)``.

    Mount it at the path of the store's ``url_base``, as ``artifactstore.web``'s
    ``download_app`` is mounted in Starlette; it answers the same (403 for an
    expired, tampered, malformed or re-targeted link, 410 for a link whose document
    has changed since). A ``secret`` shorter than
    32 bytes is a ``StorageConfigError`` (``artifactstore.signing.check_secret``).
    """
    check_secret(secret, setting="secret")

    async def download(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        query = request.query
        judged = await redeem(
            store,
            secret,
            key,
            query.getall("expires", []),
            query.getall("signature", []),
            request.remote,
            query.getall("sha256", []),
        )
        if judged.status is not None:
            return web.Response(status=judged.status, text=ANSWERS[judged.status])
        with judged.context():
            return await _respond(store, key, request, expected_sha256=judged.sha256)

    app = web.Application()
    app.router.add_get("/{key:.+}", download)  # HEAD too
    return app
