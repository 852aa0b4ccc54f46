"""Signed links as ``download_app`` judges and records them (Starlette and aiohttp).

A link bound to a SHA-256 (the default, ``sha256=`` in its query) names a
document: once the artifact at the key has other bytes (an overwrite, or a new put
after a delete) it is answered 410 Gone; with nothing at the key, 404 as for any
link. A key-bound link (no ``sha256``) serves whatever is at the key.

On an audited store every request to a link leaves an event before any byte is
sent: ``link_refused`` (with the reason: ``malformed``, ``expired``,
``bad_signature``, which also covers a link re-targeted to another key or re-bound
to other bytes, or ``changed`` for the 410) or ``link_redeemed`` (``ok``, or
``not_found``), each with the link's id and the client's address; the read that
follows is recorded with the link as its actor.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..errors import ArtifactNotFoundError, ArtifactStoreError, InvalidKeyError
from ..signing import is_sha256, verify
from ..store import ArtifactStore

__all__ = ["ANSWERS", "Redemption", "redeem"]

#: The plain-text bodies of the answers other than the artifact.
ANSWERS = {
    403: "link expired or invalid",
    404: "artifact not found",
    410: "the document this link named has changed",
    503: "storage unavailable",
}


def _verdict(
    secret: str | bytes,
    key: str,
    expires: Sequence[str],
    signature: Sequence[str],
    sha256: Sequence[str],
) -> str:
    """``ok``, or why the link is refused."""
    # Each exactly once (sha256 at most once): a repeated parameter is refused
    # rather than letting the framework pick one of the values.
    if len(expires) != 1 or len(signature) != 1 or len(sha256) > 1:
        return "malformed"
    if not (expires[0].isascii() and expires[0].isdigit()):
        return "malformed"
    bound = sha256[0] if sha256 else None
    if bound is not None and not is_sha256(bound):
        return "malformed"
    if verify(secret, key, expires[0], signature[0], sha256=bound):
        return "ok"
    if len(expires[0]) < 16 and int(expires[0]) < time.time():
        return "expired"
    return "bad_signature"


class Redemption:
    """What ``download_app`` does with one request: its answer, or serve in ``context()``."""

    def __init__(
        self,
        status: int | None,
        link: str | None,
        client: str | None,
        sha256: str | None = None,
    ) -> None:
        #: ``None``: serve the artifact; else the status to answer with (403, 404, 410, 503).
        self.status = status
        #: The SHA-256 the link is bound to: serve only those bytes (else 410).
        self.sha256 = sha256
        self._link = link
        self._client = client

    def context(self) -> AbstractContextManager[Any]:
        """Where to serve: the link is the actor of the read (on an audited store)."""
        if self._link is None:
            return nullcontext()
        from ..audit import audit_context

        return audit_context(actor=f"link:{self._link}", client_ip=self._client, link=self._link)


async def redeem(
    store: ArtifactStore,
    secret: str | bytes,
    key: str,
    expires: Sequence[str],
    signature: Sequence[str],
    client: str | None,
    sha256: Sequence[str] = (),
) -> Redemption:
    """Judge a request to a link, and record it first on an audited store.

    ``sha256``: the link's ``sha256`` parameters (none for a key-bound link).
    """
    verdict = _verdict(secret, key, expires, signature, sha256)
    bound = sha256[0] if verdict == "ok" and sha256 else None
    if not store.audited:
        return Redemption(None if verdict == "ok" else 403, None, client, bound)
    import hashlib

    from ..audit import audit_context

    sig = signature[0] if len(signature) == 1 else ""
    link = hashlib.sha256(sig.encode()).hexdigest()[:16]
    details = {"link": link, "client": client or "", "reason": verdict}
    try:
        normalized: str | None = store.normalize_key(key)
    except (InvalidKeyError, TypeError):
        normalized = None
    log = store.audit_log()
    try:
        with audit_context(client_ip=client, link=link):
            if verdict != "ok":
                await log.record("link_refused", normalized, outcome="refused", details=details)
                return Redemption(403, None, client)
            try:
                meta = await store.get_metadata(key)
            except ArtifactNotFoundError:
                del details["reason"]
                await log.record("link_redeemed", normalized, outcome="not_found", details=details)
                return Redemption(404, None, client)
            if bound is not None and meta.sha256 != bound:
                details["reason"] = "changed"
                await log.record("link_refused", normalized, outcome="refused", details=details)
                return Redemption(410, None, client)
            del details["reason"]
            await log.record("link_redeemed", normalized, details=details)
    except ArtifactStoreError:
        return Redemption(503, None, client)  # fail closed: nothing unrecorded is served
    return Redemption(None, link, client, bound)
