"""Where ``ArtifactStore`` was defined before the store and its backends were split.

Kept so that imports of ``artifactstore.protocol`` go on working; the store is now
:mod:`artifactstore.store`, the backend interface :mod:`artifactstore.backend`.
"""

from __future__ import annotations

from .backend import Listing, OpenedArtifact
from .options import DEFAULT_CHUNK_SIZE
from .store import MAX_URL_EXPIRY, ArtifactStore, ArtifactStream

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "MAX_URL_EXPIRY",
    "ArtifactStore",
    "ArtifactStream",
    "Listing",
    "OpenedArtifact",
]
