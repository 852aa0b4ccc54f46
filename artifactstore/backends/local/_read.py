"""Reading: opening an artifact through the tree, reading and hashing it.

``open_reader``, ``read_small`` and ``exists`` touch the index (or may) and run on
the store's small lane. A ``Reader``'s ``read``, ``hash_more`` and ``close`` touch
only its descriptor; the store runs them on the lane the reader was given when
opened (small files on the small lane, large ones on the large lane), so jobs of
one reader never run at the same time.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass

from ...metadata import ArtifactMetadata, guess_mime_type
from ._index import fingerprint
from ._oserrors import fail, not_found
from ._room import Room

__all__ = [
    "SMALL_FILE",
    "Reader",
    "close",
    "exists",
    "hash_more",
    "metadata_of",
    "open_reader",
    "read",
    "read_small",
    "remember",
]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _O_CLOEXEC | os.O_NONBLOCK | _O_NOFOLLOW
#: Files up to this size are read, or hashed on demand, in a single small-lane job.
SMALL_FILE = 1024 * 1024


@dataclass
class Reader:
    """An artifact opened for reading; ``sha256`` is ``None`` until known."""

    key: str
    fd: int
    st: os.stat_result
    sha256: str | None
    mime_type: str
    metadata: dict[str, str]
    #: Whether its jobs belong on the large lane: fixed at open, so that every job of
    #: a reader (its close included) runs on one lane, whatever the file does later.
    large: bool = False

    def __post_init__(self) -> None:
        self.large = self.st.st_size > SMALL_FILE


def _open_file(room: Room, key: str) -> int:
    """A descriptor of the regular file at ``key``, found by the tree's rule."""
    try:
        place = room.tree.locate(key)
        if place is None:
            raise not_found(key)
        folder, name = place
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=folder.fd)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                folder.close()
                raise
            # A symlink: follow it by the rule, then open its target without following.
            target = room.tree.follow(folder, name, key)
            if target is None:
                raise not_found(key) from None
            folder, name = target
            try:
                fd = os.open(name, _READ_FLAGS, dir_fd=folder.fd)
            finally:
                folder.close()
        else:
            folder.close()
    except OSError as exc:
        fail(key, exc, "reading")
    return fd


def open_reader(room: Room, key: str, hash_small: bool = True) -> Reader:
    """Open ``key`` for reading, with what the index knows of this version.

    A small file the index does not know is hashed at once (``hash_small``).
    """
    fd = _open_file(room, key)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        row = room.index.get(key)
    except OSError as exc:
        os.close(fd)
        fail(key, exc, "reading")
    except BaseException:
        os.close(fd)
        raise
    if row is not None and row.fingerprint == fingerprint(st):
        return Reader(key, fd, st, row.sha256, row.mime_type, row.metadata)
    reader = Reader(key, fd, st, None, guess_mime_type(key), {})
    if hash_small and st.st_size <= SMALL_FILE:
        hash_more(room, reader, hashlib.sha256(), 0, SMALL_FILE + 1)
        remember(room, reader)
    return reader


def hash_more(room: Room, reader: Reader, hasher: hashlib._Hash, offset: int, size: int) -> int:
    """Hash a file the index knows nothing (current) about, one chunk a job.

    Returns the bytes hashed while more may follow, 0 when done: then
    ``reader.sha256`` is set (the caller records it, on the small lane), or, if
    the file changed meanwhile, ``reader.st`` describes the new version and
    hashing must start over.
    """
    chunk = read(reader, offset, size)
    hasher.update(chunk)
    if len(chunk) == size:
        return size
    _settle(reader, hasher.hexdigest())
    return 0


def _settle(reader: Reader, sha256: str) -> None:
    st = os.fstat(reader.fd)
    if fingerprint(st) == fingerprint(reader.st):
        reader.sha256 = sha256
    else:
        reader.st = st


def remember(room: Room, reader: Reader) -> None:
    """Record a SHA-256 computed while reading (small lane; best effort)."""
    if reader.sha256 is not None:
        room.record(reader.key, reader.st, reader.sha256, reader.mime_type, {}, required=False)


def read(reader: Reader, offset: int, size: int) -> bytes:
    """Read up to ``size`` bytes at ``offset``."""
    try:
        return os.pread(reader.fd, size, offset)
    except OSError as exc:
        fail(reader.key, exc, "reading")


def read_small(room: Room, key: str) -> tuple[Reader, bytes | None]:
    """Open ``key`` and, if it is small, read it whole in the same job."""
    reader = open_reader(room, key, hash_small=False)
    try:
        if reader.large:
            return reader, None
        data = read(reader, 0, reader.st.st_size + 1)
        if reader.sha256 is None and len(data) == reader.st.st_size:
            _settle(reader, hashlib.sha256(data).hexdigest())
            remember(room, reader)
    finally:
        close(reader)
    return reader, data


def close(reader: Reader) -> None:
    """Close the reader's file; idempotent."""
    if reader.fd >= 0:
        fd, reader.fd = reader.fd, -1
        os.close(fd)


def metadata_of(room: Room, reader: Reader) -> ArtifactMetadata:
    """The reader's artifact metadata."""
    return room.metadata(reader.key, reader.st, reader.sha256, reader.mime_type, reader.metadata)


def exists(room: Room, key: str) -> bool:
    """Whether a regular file is stored at ``key`` (by the tree's rule; no hashing)."""
    try:
        place = room.tree.locate(key)
        if place is None:
            return False
        folder, name = place
        try:
            st = os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
        except BaseException:
            folder.close()
            raise
        if stat.S_ISLNK(st.st_mode):
            target = room.tree.follow(folder, name, key)
            if target is None:
                return False
            folder, name = target
            try:
                st = os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
            finally:
                folder.close()
        else:
            folder.close()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        if isinstance(exc, IsADirectoryError):
            return False
        fail(key, exc, "reading")
    return stat.S_ISREG(st.st_mode)
