"""``copy --manifest FILE``: where each artifact lives after the copy, for the database.

The folder of FILE is checked before anything is copied, so a mistyped path is a
usage error (exit 2) and not a finished migration without its manifest.
"""

from __future__ import annotations

import os

import anyio

from ..errors import StorageConfigError

__all__ = ["check_manifest_path"]


def _check(path: str) -> str:
    target = os.path.abspath(os.path.expanduser(path))
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise StorageConfigError(f"--manifest {path!r} is a folder", setting="manifest")
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise StorageConfigError(
            f"--manifest {path!r}: the folder {folder} does not exist or is not writable",
            setting="manifest",
        )
    return target


async def check_manifest_path(path: str | None) -> str | None:
    """``path`` made absolute (``~`` expanded) if a manifest can be written there; else raise."""
    if path is None:
        return None
    return await anyio.to_thread.run_sync(_check, path)
