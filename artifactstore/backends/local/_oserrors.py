"""Translating ``OSError`` into the library's errors, at the local backend's boundary."""

from __future__ import annotations

import errno
from typing import NoReturn

from ...errors import (
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidKeyError,
    StorageBackendError,
    StoragePermissionError,
)

__all__ = ["fail", "not_found"]

_NOT_THERE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


# What a network filesystem (NFS, SMB) answers for a moment's trouble: worth a retry.
_TRANSIENT = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT}


def not_found(key: str) -> ArtifactNotFoundError:
    """The error for a key with no artifact."""
    return ArtifactNotFoundError(
        f"no artifact at {key!r}; check the key, or list the folder to see what is there",
        key=key,
    )


def fail(key: str, exc: OSError, doing: str) -> NoReturn:
    """Raise the library's error for an ``OSError`` met while ``doing`` ``key``."""
    if isinstance(exc, ArtifactStoreError):  # already ours (some are OSErrors too)
        raise exc
    if isinstance(exc, _NOT_THERE) and doing == "reading":
        raise not_found(key) from exc
    if isinstance(exc, PermissionError):
        raise StoragePermissionError(
            f"permission denied {doing} {key!r}: the DataRoom must be readable and "
            "writable by this process's user",
            key=key,
        ) from exc
    if isinstance(exc, (IsADirectoryError, NotADirectoryError, FileExistsError)) or (
        exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP)
    ):
        raise InvalidKeyError(
            f"cannot store {key!r} on the local backend: a folder and a file would share "
            "a name (or the path is too long); choose another key",
            key=key,
        ) from exc
    if exc.errno == errno.ENOSPC:
        raise StorageBackendError(
            f"no space left on the DataRoom's disk {doing} {key!r}", key=key
        ) from exc
    raise StorageBackendError(
        f"filesystem error {doing} {key!r}: {exc.strerror or exc}",
        key=key,
        retryable=exc.errno in _TRANSIENT,
    ) from exc
