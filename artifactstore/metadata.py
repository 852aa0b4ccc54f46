"""``ArtifactMetadata``: what the store knows about one artifact, and its database row."""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn, TypedDict

from .keys import has_control_characters

__all__ = [
    "ArtifactMetadata",
    "ArtifactRow",
    "FrozenMetadata",
    "guess_mime_type",
    "listed_metadata",
    "validate_user_metadata",
]

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

#: User metadata budget, names and UTF-8 values: S3's 2 KB, less the SHA-256 field.
MAX_USER_METADATA_BYTES = 1900
#: User metadata names starting with this are the store's own (the S3 SHA-256).
RESERVED_METADATA_PREFIX = "artifactstore-"

# mimetypes reads the system's mime.types files on first use: do it at import, not
# on an event loop in the middle of a put. Only if nobody did: init() rebuilds the
# table, which would erase the host application's own mimetypes.add_type() calls.
if not mimetypes.inited:
    mimetypes.init()

# The limits of the existing ``artifacts`` table.
_COLUMN_LIMITS = {"storage_backend": 50, "storage_uri": 1024, "storage_key": 500}


def guess_mime_type(key: str) -> str:
    """Guess a MIME type from the key's extension (``.eml`` is ``message/rfc822``)."""
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return _type_of_extension(name[dot:].lower()) if dot > 0 else DEFAULT_MIME_TYPE


@functools.lru_cache(maxsize=512)
def _type_of_extension(extension: str) -> str:
    # Cached: this runs on every put, and mimetypes.guess_type is slow.
    extra = _EXTRA_TYPES.get(extension)
    if extra is not None:
        return extra
    guessed, _ = mimetypes.guess_type("x" + extension, strict=False)
    return guessed or DEFAULT_MIME_TYPE


class FrozenMetadata(dict[str, str]):
    """A read-only ``dict`` of user metadata: hashable, picklable, printable as a dict."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("artifact metadata is read-only; put the artifact again to change it")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[object, ...]:
        return (FrozenMetadata, (dict(self),))

    def __copy__(self) -> FrozenMetadata:
        return self

    def __deepcopy__(self, memo: object) -> FrozenMetadata:
        return self


EMPTY_METADATA = FrozenMetadata()


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
        if not name.isascii() or not lowered or not all(c.isalnum() or c in "-_." for c in lowered):
            raise ValueError(
                f"metadata name {name!r} must be non-empty ASCII letters, digits, '-', '_' or '.'"
            )
        if has_control_characters(value):  # the key rules' characters: one rule for both
            raise ValueError(
                f"metadata value of {name!r} contains control characters or bidirectional "
                "overrides (C0, C1, DEL, U+202A-U+202E, U+2066-U+2069, ...)"
            )
        if lowered in result:
            raise ValueError(f"metadata name {name!r} is given twice (names are case-insensitive)")
        if lowered.startswith(RESERVED_METADATA_PREFIX):
            raise ValueError(
                f"metadata names starting with {RESERVED_METADATA_PREFIX!r} are reserved"
            )
        result[lowered] = value
    if sum(len(k) + len(v.encode()) for k, v in result.items()) > MAX_USER_METADATA_BYTES:
        raise ValueError(
            f"metadata is larger than {MAX_USER_METADATA_BYTES} bytes (S3's 2 KB less the "
            "store's own SHA-256 field); store big data as an artifact"
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

    ``etag`` names the stored version on S3 (its ETag, without quotes), from a
    listing, a HEAD or a put: a replaced object gets another. ``None`` on the other
    backends, and where it is not known (a put whose SHA-256 was recorded by a
    copy). Not compared by ``==``: the same artifact is equal however it was read.
    """

    storage_backend: str
    storage_key: str
    storage_uri: str
    sha256: str | None
    size_bytes: int
    mime_type: str | None
    last_modified: datetime
    metadata: Mapping[str, str] = field(default_factory=lambda: EMPTY_METADATA)
    etag: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.last_modified.tzinfo is None:
            raise ValueError("last_modified must be timezone-aware")
        # A read-only copy: the dataclass is frozen, its mapping should be too.
        if type(self.metadata) is not FrozenMetadata:
            frozen = FrozenMetadata(self.metadata) if self.metadata else EMPTY_METADATA
            object.__setattr__(self, "metadata", frozen)

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


_new = object.__new__


def listed_metadata(
    storage_backend: str,
    storage_key: str,
    storage_uri: str,
    sha256: str | None,
    size_bytes: int,
    mime_type: str | None,
    last_modified: datetime,
    metadata: Mapping[str, str],
) -> ArtifactMetadata:
    """An ``ArtifactMetadata`` from values a backend holds in canonical form already.

    For listings, which build hundreds of thousands: it skips the dataclass's
    ``__init__`` (a third of the cost). ``last_modified`` must be timezone-aware.
    """
    made: ArtifactMetadata = _new(ArtifactMetadata)
    made.__dict__.update(
        storage_backend=storage_backend,
        storage_key=storage_key,
        storage_uri=storage_uri,
        sha256=sha256,
        size_bytes=size_bytes,
        mime_type=mime_type,
        last_modified=last_modified,
        metadata=FrozenMetadata(metadata) if metadata else EMPTY_METADATA,
    )
    return made
