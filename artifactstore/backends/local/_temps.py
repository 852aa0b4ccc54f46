"""Temporary files: their name format, their writers' locks, and the sweep of leftovers.

A put stages its bytes in ``.artifactstore.<random>-n<namespace>-<pid>-<counter>.tmp``
beside the destination. The name is reserved (no key can spell it, no listing shows
it), unique without a system call (random per store, pid for fork safety, a
counter), and carries its writer's pid *and* the PID namespace that pid belongs to
(a hash of the host's boot id and of ``/proc/self/ns/pid``'s inode).

The sweep trusts ``kill(pid, 0)`` only for files of its own namespace: a store in
another container sharing the volume sees pids that mean nothing there, so such
files go by age alone (``FOREIGN_AGE`` unless ``older_than`` says otherwise).

Whatever the name says, a temporary file that outlives one job (a streamed, staged
or copied put: ``lock_temp``) is locked with ``flock`` by its writer until it is in
place, and the sweep skips every file it cannot lock itself. A small put's
temporary file is not locked (that would cost a system call on the hot path): it
lives within one job of the writer's small lane, so its writer's pid is alive for
a sweep of the same namespace, and it is younger than ``FOREIGN_AGE`` for any other.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import time

from ...keys import RESERVED_PREFIX
from ._tree import is_reserved

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FOREIGN_AGE",
    "TempNames",
    "lock_temp",
    "namespace_id",
    "sweep_quietly",
    "sweep_temporaries",
]

log = logging.getLogger("artifactstore")

#: Seconds after which a temporary file of another PID namespace (or of a writer
#: older than the namespace in its name), not locked by its writer, is a leftover.
FOREIGN_AGE = 3600.0

#: ``.artifactstore.<random>-n<ns>-<pid>-<counter>.tmp`` (and the older
#: ``.artifactstore.<random>-<pid>-<counter>.tmp``): group 1 the namespace, 2 the pid.
_TMP_NAME = re.compile(re.escape(RESERVED_PREFIX) + r"\.[0-9a-f]+-(?:n([0-9a-f]+)-)?(\d+)-\d+\.tmp")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_namespace: str | None = None


def namespace_id() -> str:
    """The PID namespace of this process, as a short hex string (read once per process).

    The boot id tells hosts (and boots) apart, the inode of ``/proc/self/ns/pid``
    the namespaces of one host; where neither exists, the host name stands in.
    Reads files: call it off the event loop.
    """
    global _namespace
    if _namespace is None:
        parts = []
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as f:
                parts.append(f.read().strip())
        except OSError:
            parts.append(os.uname().nodename.encode())
        try:
            parts.append(str(os.stat("/proc/self/ns/pid").st_ino).encode())
        except OSError:
            pass
        _namespace = hashlib.sha256(b"\0".join(parts)).hexdigest()[:12]
    return _namespace


class TempNames:
    """Fresh temporary file names for one store."""

    def __init__(self) -> None:
        self._random = os.urandom(4).hex()
        self._prefix = ""
        self._counter = itertools.count()

    def next(self) -> str:
        """A name no other writer uses (the pid is read each time: fork-safe)."""
        if not self._prefix:  # first use, on a lane's thread: it reads /proc
            self._prefix = f"{RESERVED_PREFIX}.{self._random}-n{namespace_id()}-"
        return f"{self._prefix}{os.getpid()}-{next(self._counter)}.tmp"


def lock_temp(fd: int) -> None:
    """Mark the temporary file open at ``fd`` as a live writer's until ``fd`` is closed."""
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh file: never held


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _unlink_unless_locked(name: str, dir_fd: int) -> bool:
    """Remove ``name`` unless a writer holds its lock (or it cannot be opened to check)."""
    try:
        fd = os.open(name, os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return False  # gone, a symlink, or not ours to open: left alone
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a live writer's
        try:
            os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        return True
    finally:
        os.close(fd)  # releases the lock


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
    """Remove temporary files whose writer is gone; return how many.

    A file of this PID namespace is a leftover once its writer's pid is dead; one
    of another namespace (another container, another machine: its pid says
    nothing here) once it is older than ``FOREIGN_AGE``. With ``older_than``
    (seconds), also every file older than that, and that age replaces
    ``FOREIGN_AGE``. Whatever its name and age, a file its writer holds locked
    (a put in progress) is never removed.
    Walks from the root's descriptor without following symlinks, and unlinks
    relative to each folder's descriptor: nothing outside the DataRoom is touched.
    Closes ``root_fd`` (a duplicate of the root's: the store may close its own first).
    ``pause``: seconds to sleep after each folder, so that a background sweep of a
    large DataRoom never competes with the store's own work for long.
    """
    removed = 0
    now = time.time()
    ours = namespace_id()
    foreign_age = FOREIGN_AGE if older_than is None else older_than
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
                pid = int(found.group(2))
                if found.group(1) == ours:
                    stale = pid != os.getpid() and not _alive(pid)
                    age = older_than
                else:
                    stale, age = False, foreign_age
                if not stale and age is not None:
                    try:
                        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    stale = now - st.st_mtime > age
                if stale and _unlink_unless_locked(name, dir_fd):
                    removed += 1
    finally:
        os.close(root_fd)
    return removed
