"""The options of a write and of a read, as the store hands them to its backend.

``ArtifactStore.put`` and ``ArtifactStore.stream`` check and normalize their keyword
arguments once, then pass one of these frozen records down through the layers to
the backend. A new option is a field here, a keyword of the public method, and
code in the backends that implement it: no backend or layer signature changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_CHUNK_SIZE", "BeforeCommit", "PutOptions", "ReadOptions"]

#: ``before_commit(sha256, size, replacing)``: see :attr:`PutOptions.before_commit`.
BeforeCommit = Callable[[str, int, "bool | None"], Awaitable[None]]

#: Chunk size of reads and streamed writes: large enough to amortize a thread hop
#: or an HTTP read, small enough that memory stays flat.
DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class PutOptions:
    """How to store one artifact (already checked by ``ArtifactStore.put``)."""

    #: The artifact's mime type (``type/subtype``; guessed from the key when not given).
    mime_type: str
    #: The user's metadata, checked by :func:`artifactstore.metadata.validate_user_metadata`.
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: Fail with ``ArtifactExistsError`` when the key exists (atomically).
    if_not_exists: bool = False
    #: Awaited by the backend once the bytes are stored but before they become
    #: visible at the key, with their SHA-256, size and whether they replace an
    #: artifact (``None``: not known). If it raises, the put fails and nothing
    #: becomes visible. The audit layer records a put's event here, ahead of the
    #: write; a backend that does not call it gets its event after the put instead.
    before_commit: BeforeCommit | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Which bytes of an artifact to read, and in what chunks (checked by ``stream``)."""

    #: First byte to read.
    start: int = 0
    #: One past the last byte to read (exclusive, as in slicing); ``None``: to the end.
    end: int | None = None
    #: Largest chunk a read returns.
    chunk_size: int = DEFAULT_CHUNK_SIZE

    @property
    def ranged(self) -> bool:
        """Whether only part of the artifact is asked for."""
        return self.start != 0 or self.end is not None
