"""Writing: temporary files beside their destination, committed by rename or link.

Every function here is one job. ``put_bytes``, ``begin``, ``commit`` and ``delete``
touch the index and run on the store's small lane; ``write`` and ``sync`` only touch
their upload's own descriptor and run on the large lane. ``abort`` may run on
either. An upload's lock orders them when a cancelled caller's clean-up meets a
job still running on the other lane.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from dataclasses import dataclass, field

from ...errors import ArtifactExistsError
from ...metadata import ArtifactMetadata
from ._index import IndexRow
from ._oserrors import fail
from ._room import Room
from ._temps import lock_temp
from ._tree import Folder

__all__ = [
    "PARALLEL_HASH",
    "Upload",
    "abort",
    "begin",
    "commit",
    "delete",
    "open_temp",
    "put_bytes",
    "replacing",
    "stage_bytes",
    "sync",
    "write",
]

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW
#: Chunks from this size on are hashed on a second thread while they are written.
PARALLEL_HASH = 256 * 1024


@dataclass
class Upload:
    """A put (or copy) in progress: a temporary file in the destination's folder."""

    key: str
    folder: Folder
    name: str
    tmp: str | None
    fd: int
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    synced: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    size: int = 0
    #: Whether the commit replaces a file (``stage_bytes`` and ``replacing`` say).
    replacing: bool | None = None

    def check_open(self) -> None:
        """Raise if the upload was aborted (a job that lost the race with a clean-up)."""
        if self.tmp is None:
            raise RuntimeError("this upload was aborted")


def _unlink_quietly(folder: Folder, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder.fd)
    except (FileNotFoundError, NotADirectoryError):
        pass


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    written = os.write(fd, data)
    if written < len(data):  # rare: a short write
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


def open_temp(room: Room, key: str) -> Upload:
    """Create the temporary file in ``key``'s folder (creating folders on the way).

    The file is locked (``lock_temp``) until the upload's descriptor is closed, after
    its commit or abort: it may outlive its job, so the sweep of a store in another
    PID namespace, which cannot tell its writer alive, must see it locked.
    Raises the library's error; on failure nothing is left behind.
    """
    try:
        place = room.tree.locate(key, create=True)
    except OSError as exc:
        fail(key, exc, "writing")
    assert place is not None
    folder, name = place
    tmp = room.temp_names.next()
    try:
        fd = os.open(tmp, _TMP_FLAGS, room.file_mode, dir_fd=folder.fd)
    except OSError as exc:
        folder.close()
        fail(key, exc, "writing")
    try:
        os.fchmod(fd, room.file_mode)  # the configured mode, whatever the umask
        lock_temp(fd)
    except OSError as exc:
        os.close(fd)
        _unlink_quietly(folder, tmp)
        folder.close()
        fail(key, exc, "writing")
    return Upload(key, folder, name, tmp, fd)


def begin(room: Room, key: str) -> Upload:
    """Open a temporary file for ``key`` (small lane: it may create folders)."""
    return open_temp(room, key)


def write(room: Room, upload: Upload, data: bytes | bytearray | memoryview) -> None:
    """Hash and append one chunk; a big chunk is hashed on a second thread meanwhile.

    hashlib and os.write both release the GIL, so the hash of a large chunk costs
    no time beyond its write.
    """
    with upload.lock:
        upload.check_open()
        hashing = None
        if len(data) >= PARALLEL_HASH:
            hashing = room.hasher().submit(upload.hasher.update, data)
        else:
            upload.hasher.update(data)
        try:
            _write_all(upload.fd, data)
            upload.size += len(data)
        except OSError as exc:
            fail(upload.key, exc, "writing")
        finally:
            if hashing is not None:
                hashing.result()


def sync(room: Room, upload: Upload) -> None:
    """Make the temporary file durable (large lane: a big fsync must not hold up small work)."""
    with upload.lock:
        upload.check_open()
        if room.durable and not upload.synced:
            try:
                os.fsync(upload.fd)
            except OSError as exc:
                fail(upload.key, exc, "writing")
        upload.synced = True


def stage_bytes(room: Room, key: str, data: memoryview) -> Upload:
    """A small put's bytes in a synced temporary file, not yet at their key (one job).

    For a put whose ``before_commit`` must run before the bytes are visible:
    ``commit`` follows (or ``abort``).
    """
    upload = open_temp(room, key)
    try:
        upload.hasher.update(data)
        _write_all(upload.fd, data)
        upload.size = len(data)
        if room.durable:
            os.fsync(upload.fd)
        upload.synced = True
    except OSError as exc:
        abort(room, upload)
        fail(key, exc, "writing")
    upload.replacing = replacing(room, upload)
    return upload


def replacing(room: Room, upload: Upload) -> bool:
    """Whether committing ``upload`` would replace a file at its key (right now)."""
    try:
        os.stat(upload.name, dir_fd=upload.folder.fd, follow_symlinks=False)
    except OSError:
        upload.replacing = False
    else:
        upload.replacing = True
    return upload.replacing


def commit(
    room: Room,
    upload: Upload,
    mime: str,
    meta: dict[str, str],
    if_not_exists: bool,
    sha256: str | None = None,
) -> ArtifactMetadata:
    """Move the (synced) temporary file into place: rename, or link for ``if_not_exists``.

    ``sha256``: the bytes' hash when known otherwise (a copy); else the upload's.
    """
    with upload.lock:
        upload.check_open()
        key, tmp, folder = upload.key, upload.tmp, upload.folder
        assert tmp is not None
        # The descriptor (and so the temporary file's lock) is closed once the file
        # has left its temporary name: a sweep never sees it unlocked.
        try:
            try:
                if room.durable and not upload.synced:
                    os.fsync(upload.fd)
                st = os.fstat(upload.fd)
                if not if_not_exists:
                    os.replace(tmp, upload.name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
            except OSError as exc:
                fail(key, exc, "writing")
            upload.tmp = None
            try:
                if if_not_exists:
                    _link_into_place(key, folder, tmp, upload.name)
                room.dirty(folder)
            finally:
                folder.close()
        finally:
            if upload.tmp is None:
                fd, upload.fd = upload.fd, -1
                os.close(fd)
        if sha256 is None:
            sha256 = upload.hasher.hexdigest()
        room.record(key, st, sha256, mime, meta)
        return room.metadata(key, st, sha256, mime, meta)


def abort(room: Room, upload: Upload) -> None:
    """Close and remove the temporary file; a no-op after a commit (and the second time)."""
    with upload.lock:
        if upload.fd >= 0:
            fd, upload.fd = upload.fd, -1
            os.close(fd)
        if upload.tmp is not None:
            tmp, upload.tmp = upload.tmp, None
            _unlink_quietly(upload.folder, tmp)
        upload.folder.close()


def put_bytes(
    room: Room, key: str, data: memoryview, mime: str, meta: dict[str, str], if_not_exists: bool
) -> ArtifactMetadata:
    """A whole small put in one job.

    The same steps as open_temp/write/commit, written out straight: this is the
    hot path of small puts, and every call saved here is throughput.
    """
    try:
        place = room.tree.locate(key, create=True)
    except OSError as exc:
        fail(key, exc, "writing")
    assert place is not None
    folder, name = place
    tmp = room.temp_names.next()
    try:
        try:
            fd = os.open(tmp, _TMP_FLAGS, room.file_mode, dir_fd=folder.fd)
        except OSError as exc:
            fail(key, exc, "writing")
        try:
            try:
                os.fchmod(fd, room.file_mode)  # the configured mode, whatever the umask
                sha256 = hashlib.sha256(data).hexdigest()
                _write_all(fd, data)
                if room.durable:
                    os.fsync(fd)
                st = os.fstat(fd)  # after the fsync: a network file system may set mtime then
            finally:
                os.close(fd)
            if not if_not_exists:
                os.replace(tmp, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd)
                tmp = ""
        except OSError as exc:
            if tmp:
                _unlink_quietly(folder, tmp)
            fail(key, exc, "writing")
        if tmp:
            _link_into_place(key, folder, tmp, name)
        room.dirty(folder, take=True)
    finally:
        folder.close()
    room.index.stage(key, IndexRow((st.st_ino, st.st_size, st.st_mtime_ns), sha256, mime, meta))
    room.on_staged()
    return room.metadata(key, st, sha256, mime, meta)


def _is_folder(folder: Folder, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=folder.fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _link_into_place(key: str, folder: Folder, tmp: str, name: str) -> None:
    """Move ``tmp`` to ``name`` only if nothing is there: link() is an atomic create."""
    try:
        os.link(tmp, name, src_dir_fd=folder.fd, dst_dir_fd=folder.fd, follow_symlinks=False)
    except FileExistsError as exc:
        if _is_folder(folder, name):
            fail(key, exc, "writing")
        raise ArtifactExistsError(
            f"an artifact already exists at {key!r}; put without if_not_exists=True "
            "to replace it, or choose another key",
            key=key,
        ) from exc
    except OSError as exc:
        fail(key, exc, "writing")
    finally:
        _unlink_quietly(folder, tmp)


def _check_link(room: Room, folder: Folder, name: str, key: str) -> None:
    """Refuse (``InvalidKeyError``) a key whose link the tree's rule would not follow.

    Removing such a link would be harmless, but a key is either reachable or
    refused, the same for every operation.
    """
    again = room.tree.folder(folder.path, key)
    if again is not None:
        target = room.tree.follow(again, name, key)
        if target is not None:
            target[0].close()


def delete(room: Room, key: str) -> bool:
    """Remove ``key``'s file (a symlink itself, not its target) and its index row."""
    try:
        place = room.tree.locate(key)
    except NotADirectoryError:
        return False
    except OSError as exc:
        fail(key, exc, "deleting")
    if place is None:
        return False
    folder, name = place
    try:
        if stat.S_ISLNK(os.stat(name, dir_fd=folder.fd, follow_symlinks=False).st_mode):
            _check_link(room, folder, name, key)
        os.unlink(name, dir_fd=folder.fd)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return False
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EISDIR) and _is_folder(folder, name):
            return False  # unlink() of a folder on some systems
        fail(key, exc, "deleting")
    else:
        room.dirty(folder)
    finally:
        folder.close()
    room.index.stage_delete(key)
    room.on_staged()
    return True
