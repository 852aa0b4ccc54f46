"""The legacy ``_artifacts`` helpers: old names, old behaviour, on the new store.

A host application's ``actions/executors/_artifacts.py`` becomes one line::

    from artifactstore.compat import *  # noqa: F401,F403

and code written against the original synchronous ``core.storage`` interface
(``store = get_artifact_store(); meta = store.put(...); store.get(...)``) runs
unchanged once its import points here: ``get_artifact_store()`` in this module is
a synchronous facade (``LegacyArtifactStore``) that also takes the original
interface's arguments positionally (``store.list("DEAL-1", True)``).

Layout of action artifacts. ``ctx`` is any object with ``deal_id`` and
``action_id`` attributes, and optionally ``action_type``::

    {deal_id}/actions/{action_id}/{filename}                  without action_type
    {deal_id}/actions/{action_type}/{action_id}/{filename}    with action_type

With the local backend, ``resolve_action_artifact_dir(ctx) / name`` (a file
written the old way) and ``get_action_storage_key(ctx, name)`` (through the new
API) are the same artifact, both ways round. With S3 configured, the directory
is still a local folder under the DataRoom root: files written there stay on this
machine; use ``store_action_artifact`` to reach the bucket. The folder is made by
the local backend's rules (``ensure_folder``): every missing level ``0o750`` whatever
the umask, and a symlink followed only inside the DataRoom, never out of it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from ._sources import PutData
from .backends.local import ensure_folder
from .factory import dataroom_root
from .factory import get_artifact_store as _async_store
from .keys import build_key, normalize_key
from .metadata import ArtifactMetadata
from .options import DEFAULT_CHUNK_SIZE
from .sync import SyncArtifactStore

__all__ = [
    "LegacyArtifactStore",
    "_dataroom_root",
    "aget_artifact",
    "artifact_exists",
    "astore_action_artifact",
    "astore_deal_artifact",
    "get_action_artifact_store",
    "get_action_storage_key",
    "get_artifact",
    "get_artifact_store",
    "get_artifact_url",
    "resolve_action_artifact_dir",
    "store_action_artifact",
    "store_deal_artifact",
]

ACTIONS_FOLDER = "actions"


def _dataroom_root() -> Path:
    """The DataRoom folder (DATAROOM_ROOT / ARTIFACT_STORAGE_PATH, else ~/DataRoom)."""
    return Path(dataroom_root())


def _action_folder(ctx: Any) -> str:
    parts = [str(ctx.deal_id), ACTIONS_FOLDER]
    action_type = getattr(ctx, "action_type", None)
    if action_type:
        parts.append(str(action_type))
    parts.append(str(ctx.action_id))
    for part in parts:  # each part one plain segment: no '/', no traversal
        build_key(part, "x", "x")
    return normalize_key("/".join(parts))


def get_action_storage_key(ctx: Any, filename: str) -> str:
    """The key of an action's artifact (see the layout in the module docstring)."""
    build_key("x", "x", filename)  # the filename must be one plain segment
    return normalize_key(f"{_action_folder(ctx)}/{filename}")


def resolve_action_artifact_dir(ctx: Any) -> Path:
    """The local folder of an action's artifacts, created if missing.

    Made by the local backend's rules (``ensure_folder``): every missing level,
    the DataRoom root included, gets ``0o750`` whatever the umask; a symlink on the
    way is followed only inside the DataRoom and never into ``.artifactstore``, and
    any other raises ``InvalidKeyError`` with nothing created outside the root. The
    path returned is the real folder (links inside the DataRoom resolved).
    """
    root = _dataroom_root()
    return Path(ensure_folder(root, _action_folder(ctx), dir_mode=0o750))


class LegacyArtifactStore(SyncArtifactStore):
    """The sync facade with the original ``core.storage`` signatures, positional included.

    What ``get_artifact_store()`` of this module returns. Every method of
    ``SyncArtifactStore`` works unchanged; these also take their arguments by
    position, as the original interface did: ``put(key, data, mime_type,
    metadata)``, ``get_url(key, expires_in)``, ``list(prefix, recursive)``.
    """

    def __repr__(self) -> str:
        return f"LegacyArtifactStore({self.async_store!r})"

    def put(
        self,
        key: str,
        data: PutData,
        mime_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_not_exists: bool = False,
    ) -> ArtifactMetadata:
        """Store ``data`` (see ``SyncArtifactStore.put``)."""
        return super().put(
            key, data, mime_type=mime_type, metadata=metadata, if_not_exists=if_not_exists
        )

    def get(self, key: str, verify: bool = False) -> bytes:
        """The artifact's bytes; ``verify=True`` re-hashes them first."""
        return super().get(key, verify=verify)

    def get_stream(self, key: str, chunk_size: int = DEFAULT_CHUNK_SIZE) -> IO[bytes]:
        """A readable binary file object over the artifact (see ``SyncArtifactStore``)."""
        return super().get_stream(key, chunk_size=chunk_size)

    def stream(
        self,
        key: str,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        start: int | None = None,
        end: int | None = None,
    ) -> Iterator[bytes]:
        """The artifact's bytes (or ``[start, end)``) as an iterator of chunks."""
        return super().stream(key, chunk_size=chunk_size, start=start, end=end)

    def copy(self, src_key: str, dst_key: str, if_not_exists: bool = False) -> ArtifactMetadata:
        """Copy an artifact within the store (see ``ArtifactStore.copy``)."""
        return super().copy(src_key, dst_key, if_not_exists=if_not_exists)

    def move(self, src_key: str, dst_key: str, if_not_exists: bool = False) -> ArtifactMetadata:
        """Move an artifact within the store (see ``ArtifactStore.move``)."""
        return super().move(src_key, dst_key, if_not_exists=if_not_exists)

    def list(self, prefix: str = "", recursive: bool = True) -> Iterator[ArtifactMetadata]:
        """The artifacts under ``prefix`` in key order, fetched in batches."""
        return super().list(prefix, recursive=recursive)

    def __enter__(self) -> LegacyArtifactStore:
        return self


_legacy: LegacyArtifactStore | None = None
_legacy_lock = threading.Lock()


def get_artifact_store() -> LegacyArtifactStore:
    """The process-wide sync store, as ``core.storage`` returned it (positional arguments too).

    A ``LegacyArtifactStore`` (a ``SyncArtifactStore``) over the same async store as
    ``get_sync_artifact_store()``; ``reset_artifact_store()`` replaces both.
    """
    global _legacy
    with _legacy_lock:
        store = _async_store()
        if _legacy is None or _legacy.async_store is not store:
            _legacy = LegacyArtifactStore(store)
        return _legacy


get_action_artifact_store = get_artifact_store
"""The same function as :func:`get_artifact_store`, under the other legacy name."""


def _content(content: bytes | str) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def store_action_artifact(
    ctx: Any, filename: str, content: bytes | str, mime_type: str | None = None
) -> ArtifactMetadata:
    """Store an action's artifact (``str`` content is stored as UTF-8)."""
    key = get_action_storage_key(ctx, filename)
    return get_artifact_store().put(key, _content(content), mime_type=mime_type)


def store_deal_artifact(
    deal_id: str,
    category: str,
    filename: str,
    content: bytes | str,
    subcategory: str | None = None,
    mime_type: str | None = None,
) -> ArtifactMetadata:
    """Store a deal artifact at ``build_key(deal_id, category, filename, subcategory)``."""
    key = build_key(deal_id, category, filename, subcategory)
    return get_artifact_store().put(key, _content(content), mime_type=mime_type)


def get_artifact(key: str) -> bytes:
    """The artifact's bytes (``ArtifactNotFoundError``, a ``FileNotFoundError``, if none)."""
    return get_artifact_store().get(key)


def artifact_exists(key: str) -> bool:
    """Whether an artifact is stored at ``key``."""
    return get_artifact_store().exists(key)


def get_artifact_url(key: str, expires_in: int = 3600) -> str:
    """A URL for the artifact: presigned on S3, a signed link or ``file://`` locally.

    Locally it is a signed http(s) link when ``ARTIFACT_URL_BASE`` and
    ``ARTIFACT_URL_SECRET`` are set.
    """
    return get_artifact_store().get_url(key, expires_in)


# ------------------------------------------------------------- async twins


async def astore_action_artifact(
    ctx: Any, filename: str, content: bytes | str, mime_type: str | None = None
) -> ArtifactMetadata:
    """``store_action_artifact`` for async code: awaits the async store directly."""
    key = get_action_storage_key(ctx, filename)
    return await _async_store().put(key, _content(content), mime_type=mime_type)


async def astore_deal_artifact(
    deal_id: str,
    category: str,
    filename: str,
    content: bytes | str,
    subcategory: str | None = None,
    mime_type: str | None = None,
) -> ArtifactMetadata:
    """``store_deal_artifact`` for async code."""
    key = build_key(deal_id, category, filename, subcategory)
    return await _async_store().put(key, _content(content), mime_type=mime_type)


async def aget_artifact(key: str) -> bytes:
    """``get_artifact`` for async code."""
    return await _async_store().get(key)
