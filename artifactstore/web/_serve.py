"""What both web flavours do, written once: serve an artifact.

``serve`` looks the artifact up, plans the answer (``artifactstore.web._http``), opens
the stream, checks that it opened the version it planned for, and hands the plan
and the chunks to a ``Responder``; if the artifact was replaced or deleted in
between, it plans again (three attempts, then 503). ``artifactstore.web._starlette``
and ``artifactstore.web.aiohttp`` are adapters: a ``Responder`` that speaks ASGI or
aiohttp, and the framework's routing. Signed links are judged (and recorded)
in ``_links``.

Framework-free: imported by the aiohttp flavour, which must work without Starlette.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from ..errors import ArtifactNotFoundError, ArtifactStoreError, InvalidKeyError
from ..metadata import ArtifactMetadata
from ..store import ArtifactStore
from ._http import ResponsePlan, plan_response

__all__ = ["ATTEMPTS", "WEB_CHUNK_SIZE", "Responder", "serve"]

log = logging.getLogger("artifactstore")

#: Bytes read from the store and handed to the server at a time.
WEB_CHUNK_SIZE = 256 * 1024
#: Looks at an artifact that keeps changing before answering 503.
ATTEMPTS = 3


class Responder(Protocol):
    """How one framework answers; ``serve`` calls exactly one of these, once."""

    async def text(self, status: int, message: str) -> None:
        """A short plain-text answer (400, 404, 410, 503)."""

    async def headers_only(self, plan: ResponsePlan) -> None:
        """The plan's status and headers without a body (HEAD, 304, 412, 416)."""

    async def body(self, plan: ResponsePlan, chunks: AsyncIterator[bytes]) -> None:
        """The plan's status and headers, then ``chunks``; stop if the client goes away."""


async def serve(
    store: ArtifactStore,
    key: str,
    responder: Responder,
    *,
    method: str,
    headers: Mapping[str, str] | None,
    filename: str | None = None,
    inline: bool = False,
    allow_active: bool = False,
    chunk_size: int = WEB_CHUNK_SIZE,
    expected_sha256: str | None = None,
) -> None:
    """Answer ``method`` on the artifact at ``key`` through ``responder``.

    ``headers`` (lower-case names) are the request's, or ``None`` to ignore
    conditional and range requests. With ``expected_sha256`` (a link bound to a
    document), an artifact with other bytes is answered 410 Gone.
    """
    try:
        key = store.normalize_key(key)
    except InvalidKeyError:
        await responder.text(400, "invalid artifact key")
        return
    for _attempt in range(ATTEMPTS):
        try:
            meta = await store.get_metadata(key)
        except ArtifactNotFoundError:
            await responder.text(404, "artifact not found")
            return
        except ArtifactStoreError as exc:
            # No traceback: formatting one reads source files, on the event loop.
            log.error("artifactstore: serving an artifact failed: %s", type(exc).__name__)
            await responder.text(503, "storage unavailable")
            return
        if expected_sha256 is not None and meta.sha256 != expected_sha256:
            await responder.text(410, "the document this link named has changed")
            return
        plan = plan_response(
            meta,
            method=method,
            headers=headers,
            filename=filename,
            inline=inline,
            allow_active=allow_active,
        )
        if not plan.send_body:
            await responder.headers_only(plan)
            return
        stream = store.stream(key, start=plan.start, end=plan.end, chunk_size=chunk_size)
        answering = False
        try:
            async with stream:
                if _replaced(meta, stream.metadata):
                    continue  # replaced between the two looks: plan again
                answering = True
                await responder.body(plan, stream)
                return
        except ArtifactNotFoundError:
            if answering:
                raise  # the headers may be out: too late to plan again
            continue  # deleted between the two looks: plan again (and 404)
        except ArtifactStoreError as exc:
            if answering:
                raise  # the headers may be out: too late for another status
            log.error("artifactstore: serving an artifact failed: %s", type(exc).__name__)
            await responder.text(503, "storage unavailable")
            return
    await responder.text(503, "artifact is changing, retry")


def _replaced(planned: ArtifactMetadata, opened: ArtifactMetadata) -> bool:
    """Whether the artifact opened is another one than the one the plan was made for."""
    if planned.sha256 is not None and opened.sha256 is not None:
        return planned.sha256 != opened.sha256
    # A range of an S3 object stored by other tools may open without its SHA-256.
    return (planned.size_bytes, planned.last_modified) != (opened.size_bytes, opened.last_modified)
