"""The local backend's folder walks: listing in key order, and sweeping leftovers.

Functions of a ``LocalFS``, run on its worker thread (``scan``) or on a thread of
their own (the sweep of temporary files that dead writers left behind).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
import time
from typing import TYPE_CHECKING

from ..errors import InvalidKeyError
from ..keys import RESERVED_PREFIX, normalize_key
from ..metadata import ArtifactMetadata

if TYPE_CHECKING:
    from ._local_fs import LocalFS

__all__ = ["is_key", "scan", "sweep_quietly", "sweep_temporaries"]

log = logging.getLogger("artifactstore")

#: ``.artifactstore.<random>-<pid>-<counter>.tmp``: group 1 is the writer's pid.
_TMP_NAME = re.compile(re.escape(RESERVED_PREFIX) + r"\.[0-9a-f]+-(\d+)-\d+\.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep_quietly(fs: LocalFS) -> None:
    try:
        removed = sweep_temporaries(fs)
    except Exception:
        log.warning("artifactstore: sweeping leftover temporary files failed", exc_info=True)
        return
    if removed:
        log.info("artifactstore: removed %d temporary files left by dead writers", removed)


def sweep_temporaries(fs: LocalFS, older_than: float | None = None) -> int:
    """Remove temporary files whose writer process is gone; return how many.

    With ``older_than`` (seconds), also those older than that whatever their
    writer (for a DataRoom shared by several machines, where a process id says
    nothing). A temporary file is never visible as an artifact either way.
    """
    removed = 0
    now = time.time()
    for folder, folders, files in os.walk(fs.root):
        if folder == fs.root and RESERVED_PREFIX in folders:
            folders.remove(RESERVED_PREFIX)
        for name in files:
            found = _TMP_NAME.fullmatch(name)
            if found is None:
                continue
            path = os.path.join(folder, name)
            pid = int(found.group(1))
            stale = pid != os.getpid() and not _alive(pid)
            if not stale and older_than is not None:
                try:
                    stale = now - os.lstat(path).st_mtime > older_than
                except FileNotFoundError:
                    continue
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
    return removed


def scan(fs: LocalFS, folder: str, with_folders: bool) -> list[tuple[str, ArtifactMetadata | None]]:
    """The artifacts and sub-folders directly in ``folder``, in key order.

    Each item is ``(key, metadata)`` for an artifact and ``(key, None)`` for a
    folder (with ``with_folders``, only folders that hold an artifact somewhere).
    Symlinks leading out of the root are skipped; symlinked folders are not
    descended (no cycles, no duplicates); names no key can spell are skipped.
    """
    if folder:
        directory = fs.checked_path(folder)
    else:
        fs._prepare()
        directory = fs.root
    try:
        with os.scandir(directory) as it:
            entries = list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        fs._fail(folder, exc, "listing")
    found: list[tuple[str, str, os.stat_result | None]] = []
    for entry in entries:
        name = entry.name
        key = f"{folder}/{name}" if folder else name
        if not is_key(key):  # also skips our own (reserved) names
            continue
        try:
            if entry.is_symlink():
                real = os.path.realpath(entry.path)
                if not real.startswith(fs.root + "/") or os.path.isdir(real):
                    continue
                st = os.stat(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                if not with_folders or _holds_artifacts(fs, key):
                    found.append((name + "/", key, None))
                continue
            else:
                st = entry.stat(follow_symlinks=False)
        except OSError:
            continue  # vanished while we looked
        if stat.S_ISREG(st.st_mode):
            found.append((name, key, st))
    found.sort()  # code point order is UTF-8 byte order; folders sort as "name/"
    rows = fs.index.get_many([key for _, key, st in found if st is not None])
    return [
        (key, None if st is None else fs._known(key, st, rows.get(key))) for _, key, st in found
    ]


def _holds_artifacts(fs: LocalFS, folder: str) -> bool:
    """Whether ``list(folder)`` would yield anything: the rule ``scan`` applies."""
    pending = [folder]
    while pending:
        for key, meta in scan(fs, pending.pop(), False):
            if meta is not None:
                return True
            pending.append(key)
    return False


def is_key(key: str) -> bool:
    """Whether ``key`` is the normalized spelling of a key (not reserved, not odd)."""
    try:
        return normalize_key(key) == key
    except InvalidKeyError:
        return False
