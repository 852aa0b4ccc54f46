"""``ArtifactMetadata``: what the store knows about one artifact, and its database row."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TypedDict

__all__ = ["ArtifactMetadata", "ArtifactRow", "guess_mime_type", "validate_user_metadata"]

DEFAULT_MIME_TYPE = "application/octet-stream"

# Types the deal team handles that the platform's mime table may lack or get wrong.
_EXTRA_TYPES = {
    ".eml": "message/rfc822",
    ".msg": "application/vnd.ms-outlook",
    ".md": "text/markdown",
    ".json": "application/json",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".csv": "text/csv",
    ".pdf": "application/pdf",
    ".parquet": "application/vnd.apache.parquet",
}

# mimetypes reads the system's mime.types files on first use: do it at import, not
# on an event loop in the middle of a put.
mimetypes.init()

# The limits of the existing ``artifacts`` table.
_COLUMN_LIMITS = {"storage_backend": 50, "storage_uri": 1024, "storage_key": 500}


def guess_mime_type(key: str) -> str:
    """Guess a MIME type from the key's extension (``.eml`` is ``message/rfc822``)."""
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot > 0:
        extra = _EXTRA_TYPES.get(name[dot:].lower())
        if extra is not None:
            return extra
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or DEFAULT_MIME_TYPE


def validate_user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Check a user metadata mapping (str -> str, printable ASCII names) and copy it.

    Names are lower-cased ASCII tokens so that they survive every backend (S3 sends
    them as ``x-amz-meta-*`` HTTP headers, which are case-insensitive).
    """
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a mapping of str to str, not {type(metadata).__name__}")
    result: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"metadata must map str to str; got {name!r}: {value!r}")
        lowered = name.lower()
        if not lowered or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in lowered):
            raise ValueError(
                f"metadata name {name!r} must be non-empty ASCII letters, digits, '-', '_' or '.'"
            )
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError(f"metadata value of {name!r} contains control characters")
        if lowered in result:
            raise ValueError(f"metadata name {name!r} is given twice (names are case-insensitive)")
        result[lowered] = value
    if sum(len(k) + len(v.encode()) for k, v in result.items()) > 2048:
        raise ValueError(
            "metadata is larger than 2 KiB (the S3 limit); store big data as an artifact"
        )
    return result


class ArtifactRow(TypedDict):
    """The columns of the ``artifacts`` table that describe where an artifact lives."""

    storage_backend: str
    storage_uri: str
    storage_key: str
    sha256: str | None
    file_size: int
    mime_type: str | None


@dataclass(frozen=True)
class ArtifactMetadata:
    """What the store knows about one artifact.

    ``sha256`` and ``mime_type`` are always set by ``put`` and ``get_metadata``; an
    item from ``list`` may leave them ``None`` where the backend cannot know them
    without one more request per artifact.
    """

    storage_backend: str
    storage_key: str
    storage_uri: str
    sha256: str | None
    size_bytes: int
    mime_type: str | None
    last_modified: datetime
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.last_modified.tzinfo is None:
            raise ValueError("last_modified must be timezone-aware")
        # A read-only copy: the dataclass is frozen, its mapping should be too.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def to_db_row(self) -> ArtifactRow:
        """Return the ``artifacts`` table columns for this artifact.

        Raises ``ValueError`` when a value does not fit its column, rather than
        letting the database truncate a key or a URI.
        """
        row = ArtifactRow(
            storage_backend=self.storage_backend,
            storage_uri=self.storage_uri,
            storage_key=self.storage_key,
            sha256=self.sha256,
            file_size=self.size_bytes,
            mime_type=self.mime_type,
        )
        for column, limit in _COLUMN_LIMITS.items():
            value = row[column]  # type: ignore[literal-required]
            if len(value) > limit:
                raise ValueError(
                    f"{column} of {self.storage_key!r} is {len(value)} characters, over the "
                    f"column's {limit}; use a shorter key or DataRoom path"
                )
        return row
