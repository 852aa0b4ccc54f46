"""The memory backend: artifacts held in this process's memory (see ``backend``).

``backend`` (``MemoryBackend``: the artifacts, under a lock), ``store``
(``MemoryArtifactStore`` and ``memory://`` URLs).
"""

from __future__ import annotations

from .backend import MemoryBackend
from .store import MemoryArtifactStore, options_from_env, options_from_url

__all__ = ["MemoryArtifactStore", "MemoryBackend", "options_from_env", "options_from_url"]
