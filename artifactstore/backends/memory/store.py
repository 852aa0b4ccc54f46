"""``MemoryArtifactStore``: the store over a ``MemoryBackend``, and its URLs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..._config import flag, shown
from ...errors import StorageConfigError
from ...store import ArtifactStore
from .backend import MemoryBackend

if TYPE_CHECKING:
    from ...audit import AuditLayer
    from ...layers import Layer, OpenTelemetryLayer

__all__ = ["MemoryArtifactStore", "options_from_env", "options_from_url"]


class MemoryArtifactStore(ArtifactStore):
    """Artifacts in this process's memory: the whole contract, nothing on disk.

    For tests of code that uses a store, and for scratch work. Safe to use from
    many tasks, event loops and threads at once (and through ``SyncArtifactStore``).
    Everything is lost when the store is closed or the process ends.

    :param name: a label for the store's URL (``memory://name``) and its artifacts'
        ``storage_uri``; letters, digits, ``.``, ``_`` and ``-`` (shares nothing).
    :param layers: layers to wrap the backend in (see :meth:`ArtifactStore.layer`).
    :param audit: keep an audit trail of every operation (see :meth:`audit_log`).
    :param telemetry: OpenTelemetry (see :class:`ArtifactStore`); ``False`` for off.
    """

    def __init__(
        self,
        name: str = "",
        *,
        layers: Sequence[Layer] = (),
        audit: bool | AuditLayer = False,
        telemetry: bool | OpenTelemetryLayer | None = None,
    ) -> None:
        self._memory = MemoryBackend(name)
        super().__init__(self._memory, layers=layers, audit=audit, telemetry=telemetry)

    @property
    def name(self) -> str:
        """The store's label (``""`` by default)."""
        return self._memory.name


def options_from_url(url: str) -> dict[str, Any]:
    """The options of ``memory://`` or ``memory://name`` (a name only: no path or query)."""
    parts = urlsplit(url)
    if not url[len("memory:") :].startswith("//"):
        raise StorageConfigError(f"{shown(url)!r} is not memory://name", setting="url")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise StorageConfigError(
            f"{shown(url)!r} is not memory:// or memory://name: a memory store URL has "
            "no path, user, query options or fragment",
            setting="url",
        )
    return {"name": parts.netloc}


def options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``ARTIFACT_STORAGE_BACKEND=memory`` needs ``ALLOW_MEMORY_DEFAULT=true`` too.

    A memory store keeps nothing once the process ends: picked from the
    environment by mistake, every put, legacy helper and command would succeed and
    lose everything. As S3 needs ``ALLOW_CLOUD_DEFAULT``, memory needs its own yes.
    """
    if not flag(environ, "ALLOW_MEMORY_DEFAULT", False):
        raise StorageConfigError(
            "ARTIFACT_STORAGE_BACKEND=memory needs ALLOW_MEMORY_DEFAULT=true: a memory "
            "store keeps nothing once the process ends",
            setting="ALLOW_MEMORY_DEFAULT",
        )
    return {}
