"""Checks of the store's arguments, and the integrity errors of a verified read."""

from __future__ import annotations

import hashlib

from .errors import ArtifactIntegrityError

__all__ = ["check_mime_type", "check_range", "unverifiable", "verify_bytes"]


def check_mime_type(mime_type: object) -> str:
    """``mime_type`` if it looks like ``type/subtype`` with no control characters."""
    if not isinstance(mime_type, str) or not mime_type.isascii() or "/" not in mime_type:
        raise ValueError(f"mime_type must look like 'type/subtype', not {mime_type!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in mime_type):
        raise ValueError(f"mime_type contains control characters: {mime_type!r}")
    return mime_type


def check_range(start: int | None, end: int | None) -> tuple[int, int | None]:
    """A read's ``[start, end)`` checked, ``start`` defaulting to 0."""
    first = 0 if start is None else start
    if not isinstance(first, int) or first < 0:
        raise ValueError(f"start must be a non-negative int, not {start!r}")
    if end is not None and (not isinstance(end, int) or end < first):
        raise ValueError(f"end must be an int >= start ({first}), not {end!r}")
    return first, end


def unverifiable(key: str, actual: str) -> ArtifactIntegrityError:
    """The error of a verified read of an artifact that has no SHA-256 recorded."""
    return ArtifactIntegrityError(
        f"artifact {key!r} cannot be verified: no SHA-256 is recorded for it (an object "
        f"written by another tool); its bytes hash to {actual}. Read it without verify, "
        "or store it again through artifactstore to record one",
        key=key,
        expected="",
        actual=actual,
    )


def verify_bytes(key: str, data: bytes, expected: str | None) -> None:
    """Raise ``ArtifactIntegrityError`` when ``data`` does not hash to ``expected``.

    ``None`` (nothing recorded) is an error too: verified bytes are bytes that match
    a record.
    """
    actual = hashlib.sha256(data).hexdigest()
    if expected is None:
        raise unverifiable(key, actual)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"artifact {key!r} is corrupt: its bytes hash to {actual}, but {expected} was "
            "recorded when it was stored; restore it from a backup or store it again",
            key=key,
            expected=expected,
            actual=actual,
        )
