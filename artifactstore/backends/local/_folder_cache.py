"""Open folders: ``Folder``, and the cache of the folders recently walked to.

A walk (``_tree``) opens every folder on a key's way, one segment at a time: three
``openat`` and three ``close`` for ``DEAL-7/documents/cim``, on every put and get.
This cache keeps the final folder's descriptor, by its path below the root, and
checks it again on every use instead of walking again:

* ``/proc/self/fd/N`` names the folder a descriptor refers to *now*, as the kernel
  sees it (``d_path``): the real folders from the mount's root down, never a symlink.
  It must read exactly ``{root}/{path}``. A folder renamed, moved out of the
  DataRoom, or swapped for a symlink (itself, or any folder above it) reads
  otherwise; a removed one reads ``... (deleted)``. Then the descriptor is dropped
  and the caller walks again, by the tree's rule. So a cached descriptor is used
  only while the walk would have led to that very folder: one ``readlink`` instead
  of a descriptor per segment, with the walk's own window between check and use.
* Only folders reached without a symlink are cached (the walk's result has the
  path asked for), and only where ``/proc`` can tell (elsewhere: no cache, walks).
* Only on a local file system (ext4, xfs, btrfs, tmpfs, ...: ``/proc/self/mountinfo``
  says), and only folders on the root's own device: there the kernel's names are
  the truth at once, for every process. A network or FUSE file system may learn of
  another client's rename only when a lookup asks it again, which a walk does and
  a cached descriptor does not; there every lookup walks, as before.
* The caller always gets a descriptor of its own (a ``dup``): evicting or
  dropping an entry never closes a descriptor in use, on either lane.
* Bounded: at most ``capacity`` folders (least recently used out), and a folder
  unused for ``IDLE`` seconds is closed at the end of the next batch (``expire``),
  so a store at rest holds no folder open for long.
* Fork: a child closes the copies it inherited, before any other code runs in it
  (``os.register_at_fork``), and opens its own ``/proc/self/fd``: the parent's
  would describe the parent's descriptors.
"""

from __future__ import annotations

import os
import resource
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["CACHED_DEPTH", "Folder", "FolderCache"]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_DELETED = " (deleted)"
_PATH_MAX = 4096
#: File systems whose folders are cached: local ones, where the kernel's view is the truth.
LOCAL_FILESYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "ramfs", "f2fs", "zfs", "bcachefs"}
    | {"jfs", "reiserfs", "nilfs2", "overlay"}
)
#: Folders this many segments deep or deeper are cached; shallower ones are walked:
#: the check (a readlink, a dup) costs about what opening two segments does.
CACHED_DEPTH = 3
#: Seconds after which an unused folder's descriptor is closed (far above the gaps
#: between batches of a busy store; what a store at rest keeps open for a moment).
IDLE = 0.5


@dataclass
class Folder:
    """An open folder of the DataRoom: its descriptor and its real path below the root.

    ``path`` is "" for the root. ``close`` closes the descriptor unless it is the
    root's own (which lives as long as the store).
    """

    fd: int
    path: str
    owned: bool

    def close(self) -> None:
        """Close the descriptor (a no-op for the root's, and the second time)."""
        if self.owned and self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def join(self, name: str) -> str:
        """The real key-like path of ``name`` in this folder."""
        return f"{self.path}/{name}" if self.path else name


def default_capacity() -> int:
    """How many folders one store keeps open: 1/16 of the descriptor limit, 8 to 256."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        soft = 1024
    if soft == resource.RLIM_INFINITY:
        return 256
    return max(8, min(256, soft // 16))


class _Entry:
    __slots__ = ("expected", "fd", "name", "used")

    def __init__(self, fd: int, expected: str) -> None:
        self.fd = fd
        self.name = str(fd)  # its name in /proc/self/fd
        self.expected = expected  # what /proc must say of it
        self.used = time.monotonic()


class FolderCache:
    """Open folders of one DataRoom by their path below the root (see the module docstring).

    Thread-safe: both lanes walk.
    """

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = default_capacity() if capacity is None else capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._proc = -1  # /proc/self/fd of this process
        self._prefix = ""  # "{root as the kernel names it}/"; "" while disabled
        self._root_fd = -1
        self._dev = -1  # the root's device: only folders on it are cached
        #: Lookups answered from the cache, and those that had to walk (for tests).
        self.hits = 0
        self.misses = 0
        _live.add(self)

    @property
    def enabled(self) -> bool:
        """Whether descriptors are cached (``/proc`` tells where the root is)."""
        return bool(self._prefix)

    def start(self, root_fd: int) -> None:
        """Cache folders below the root open at ``root_fd`` (if ``/proc`` can check them)."""
        with self._lock:
            self._root_fd = root_fd
            if self.capacity <= 0:
                return
            self._dev = os.fstat(root_fd).st_dev
            if not _on_local_filesystem(self._dev):
                return  # every lookup walks
            try:
                proc = os.open("/proc/self/fd", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
            except OSError:
                return  # no /proc: every lookup walks
            try:
                where = os.readlink(str(root_fd), dir_fd=proc)
            except OSError:
                where = ""
            if not where.startswith("/") or where.endswith(_DELETED):
                os.close(proc)
                return
            self._proc = proc
            self._prefix = where.rstrip("/") + "/"

    def get(self, path: str) -> int:
        """A new descriptor of the folder at ``path`` if cached and still there, else -1."""
        with self._lock:
            entry = self._entries.get(path)
            if entry is None:
                self.misses += 1
                return -1
            try:
                where = os.readlink(entry.name, dir_fd=self._proc)
            except OSError:
                where = ""
            if where != entry.expected:  # moved, removed, or a link now stands there
                del self._entries[path]
                os.close(entry.fd)
                self.misses += 1
                return -1
            self._entries.move_to_end(path)
            entry.used = time.monotonic()
            self.hits += 1
            return os.dup(entry.fd)

    def put(self, path: str, fd: int) -> None:
        """Remember (a duplicate of) ``fd``, just walked to, as the folder at ``path``."""
        if not self._prefix or path.endswith(_DELETED):
            return
        expected = self._prefix + path
        if len(os.fsencode(expected)) >= _PATH_MAX:
            return  # /proc cannot name it: it would never be found valid
        with self._lock:
            if path in self._entries or not self._prefix:
                return
            try:  # not where expected (the root moved, a race), or another file system
                if os.readlink(str(fd), dir_fd=self._proc) != expected:
                    return
                if os.fstat(fd).st_dev != self._dev:
                    return
            except OSError:
                return
            self._entries[path] = _Entry(os.dup(fd), expected)
            while len(self._entries) > self.capacity:
                _, old = self._entries.popitem(last=False)
                os.close(old.fd)

    def expire(self, idle: float | None = None) -> None:
        """Close the folders unused for ``idle`` seconds (default ``IDLE``)."""
        if not self._entries:
            return
        cutoff = time.monotonic() - (IDLE if idle is None else idle)
        with self._lock:
            while self._entries:
                path, entry = next(iter(self._entries.items()))
                if entry.used > cutoff:
                    break
                del self._entries[path]
                os.close(entry.fd)

    def forget(self, path: str) -> None:
        """Drop ``path`` and the folders below it (the store removed it)."""
        with self._lock:
            below = path + "/"
            for cached in [p for p in self._entries if p == path or p.startswith(below)]:
                os.close(self._entries.pop(cached).fd)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        """Close every descriptor (the store is closing)."""
        with self._lock:
            entries, self._entries = self._entries, OrderedDict()
            for entry in entries.values():
                os.close(entry.fd)
            if self._proc >= 0:
                os.close(self._proc)
            self._proc, self._prefix, self._root_fd = -1, "", -1

    def _after_fork(self) -> None:
        # The child's copies of the parent's descriptors: close them (nothing else has
        # run in the child yet, so the numbers are still theirs). /proc/self/fd is
        # reopened: the parent's would describe the parent's descriptors.
        entries, proc = self._entries, self._proc
        self._lock = threading.Lock()  # the parent's may have been held by another thread
        self._entries = OrderedDict()
        self._proc = -1
        for fd in [entry.fd for entry in entries.values()] + ([proc] if proc >= 0 else []):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._prefix:
            try:
                self._proc = os.open("/proc/self/fd", os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
            except OSError:
                self._prefix = ""  # no cache in this child: every lookup walks


def _on_local_filesystem(dev: int) -> bool:
    """Whether the mount of device ``dev`` is a local file system (``LOCAL_FILESYSTEMS``)."""
    wanted = f"{os.major(dev)}:{os.minor(dev)}"
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 7 and fields[2] == wanted:  # ... - fstype source options
                    return fields[fields.index("-", 6) + 1] in LOCAL_FILESYSTEMS
    except (OSError, ValueError, IndexError):
        pass
    return False


_live: weakref.WeakSet[FolderCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for cache in list(_live):
        cache._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
