"""Names that are not keys: listed with the artifacts, so that no run skips them silently.

A store's listing leaves out what no key can spell (an NFD "Café", a backslash, an
empty segment): such a document is never read, copied or verified. Every report
of :mod:`artifactstore.transfer` names them (``skipped_invalid``) and counts them
against ``ok``, so that a run that did not look at every document never says ok.
"""

from __future__ import annotations

import unicodedata

from .. import keys as _keys
from ..errors import InvalidKeyError
from ..metadata import ArtifactMetadata
from ..store import ArtifactStore

__all__ = ["list_all", "why_invalid"]


async def list_all(
    store: ArtifactStore, prefix: str
) -> tuple[list[ArtifactMetadata], list[tuple[str, str]]]:
    """The artifacts under ``prefix`` (as ``store.list``), and ``(name, why)`` of the others."""
    items: list[ArtifactMetadata] = []
    invalid: set[str] = set()
    pages = store.backend.list_dir(_keys.normalize_prefix(prefix), recursive=True)
    try:
        async for page in pages:
            items.extend(page.artifacts)
            invalid.update(page.invalid)
    finally:
        await pages.aclose()  # type: ignore[attr-defined]
    return items, [(name, why_invalid(name)) for name in sorted(invalid)]


def why_invalid(name: str) -> str:
    """Why ``name`` is not a key (a folder's name ends in ``/``: nothing in it was listed)."""
    what = "a folder: nothing in it was read; " if name.endswith("/") else ""
    try:
        normalized = _keys.normalize_key(name.rstrip("/"))
    except InvalidKeyError as exc:
        return what + str(exc)
    nfd = unicodedata.normalize("NFC", name) != name
    return what + ("not in Unicode NFC: " if nfd else "") + f"its key would be {normalized!r}"
