"""Temporary files: their name format, and the sweep of those dead writers left behind.

A put stages its bytes in ``.artifactstore.<random>-<pid>-<counter>.tmp`` beside the
destination. The name is reserved (no key can spell it, no listing shows it), unique
without a system call (random per store, pid for fork safety, a counter), and
carries its writer's pid so that a later store can tell a dead writer's leftover
from a live put.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import time

from ...keys import RESERVED_PREFIX
from ._tree import is_reserved

__all__ = ["TempNames", "sweep_quietly", "sweep_temporaries"]

log = logging.getLogger("artifactstore")

#: ``.artifactstore.<random>-<pid>-<counter>.tmp``: group 1 is the writer's pid.
_TMP_NAME = re.compile(re.escape(RESERVED_PREFIX) + r"\.[0-9a-f]+-(\d+)-\d+\.tmp")


class TempNames:
    """Fresh temporary file names for one store."""

    def __init__(self) -> None:
        self._prefix = f"{RESERVED_PREFIX}.{os.urandom(4).hex()}-"
        self._counter = itertools.count()

    def next(self) -> str:
        """A name no other writer uses (the pid is read each time: fork-safe)."""
        return f"{self._prefix}{os.getpid()}-{next(self._counter)}.tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def sweep_quietly(root_fd: int) -> None:
    """``sweep_temporaries`` in the background: paced, logging instead of raising."""
    try:
        removed = sweep_temporaries(root_fd, pause=0.001)
    except Exception:
        log.warning("artifactstore: sweeping leftover temporary files failed", exc_info=True)
        return
    if removed:
        log.info("artifactstore: removed %d temporary files left by dead writers", removed)


def sweep_temporaries(root_fd: int, older_than: float | None = None, *, pause: float = 0) -> int:
    """Remove temporary files whose writer process is gone; return how many.

    With ``older_than`` (seconds), also those older than that whatever their writer
    (for a DataRoom shared by several machines, where a process id says nothing).
    Walks from the root's descriptor without following symlinks, and unlinks
    relative to each folder's descriptor: nothing outside the DataRoom is touched.
    Closes ``root_fd`` (a duplicate of the root's: the store may close its own first).
    ``pause``: seconds to sleep after each folder, so that a background sweep of a
    large DataRoom never competes with the store's own work for long.
    """
    removed = 0
    now = time.time()
    try:
        for _, folders, files, dir_fd in os.fwalk(".", dir_fd=root_fd, follow_symlinks=False):
            folders[:] = [name for name in folders if not is_reserved(name)]
            if pause:
                time.sleep(pause)
            for name in files:
                if not name.startswith(RESERVED_PREFIX):
                    continue  # the common case, cheaply
                found = _TMP_NAME.fullmatch(name)
                if found is None:
                    continue
                pid = int(found.group(1))
                stale = pid != os.getpid() and not _alive(pid)
                if not stale and older_than is not None:
                    try:
                        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    stale = now - st.st_mtime > older_than
                if stale:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(name, dir_fd=dir_fd)
                        removed += 1
    finally:
        os.close(root_fd)
    return removed
