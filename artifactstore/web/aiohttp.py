"""Serving artifacts from aiohttp handlers: the same answers as ``artifactstore.web``.

::

    async def download(request: web.Request) -> web.StreamResponse:
        return await artifact_response(store, request.match_info["key"], request)
"""

from __future__ import annotations

import logging

from aiohttp import web

from .._http import plan_response
from ..errors import ArtifactNotFoundError, ArtifactStoreError, InvalidKeyError
from ..protocol import ArtifactStore

__all__ = ["artifact_response"]

log = logging.getLogger("artifactstore")

WEB_CHUNK_SIZE = 256 * 1024


async def artifact_response(
    store: ArtifactStore,
    key: str,
    request: web.Request,
    *,
    filename: str | None = None,
    inline: bool = False,
    honour_request: bool = True,
) -> web.StreamResponse:
    """Stream the artifact at ``key`` as the answer to ``request``.

    Conditional and range requests are honoured unless ``honour_request=False``.
    ``resp.write`` waits while the client is slow, so memory stays flat; a client
    that disconnects ends the stream and releases the file or S3 connection.
    """
    try:
        key = store.normalize_key(key)
    except InvalidKeyError:
        return web.Response(status=400, text="invalid artifact key")
    headers = {k.lower(): v for k, v in request.headers.items()} if honour_request else None
    for _attempt in range(3):
        try:
            meta = await store.get_metadata(key)
        except ArtifactNotFoundError:
            return web.Response(status=404, text="artifact not found")
        except ArtifactStoreError:
            log.exception("artifactstore: serving %r failed", key)
            return web.Response(status=503, text="storage unavailable")
        plan = plan_response(
            meta, method=request.method, headers=headers, filename=filename, inline=inline
        )
        if not plan.send_body:
            fields = {k: v for k, v in plan.headers.items() if k != "content-length"}
            if request.method != "HEAD" or plan.status not in (200, 206):
                return web.Response(status=plan.status, headers=fields)
            head = web.StreamResponse(status=plan.status, headers=fields)
            head.content_length = plan.end - plan.start  # what a GET would send
            await head.prepare(request)
            await head.write_eof()
            return head
        stream = store.stream(key, start=plan.start, end=plan.end, chunk_size=WEB_CHUNK_SIZE)
        try:
            async with stream:
                if stream.metadata.sha256 != meta.sha256:
                    continue  # replaced between the two looks: plan again
                response = web.StreamResponse(status=plan.status, headers=plan.headers)
                response.content_length = plan.end - plan.start
                await response.prepare(request)
                try:
                    async for chunk in stream:
                        await response.write(chunk)
                    await response.write_eof()
                except (ConnectionResetError, ConnectionError):
                    pass  # the client went away; leaving the block closes the stream
                return response
        except ArtifactNotFoundError:
            continue
    return web.Response(status=503, text="artifact is changing, retry")
