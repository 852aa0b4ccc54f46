"""Copy and move, as jobs over a ``Room``.

A copy is staged like a put (a temporary file beside the destination, committed by
``_write.commit``), but its bytes move inside the kernel: a reflink where the
filesystem has one, else ``copy_file_range``, else read/write, a chunk per job on
the large lane. A move is a rename between two folder descriptors: the file keeps
its inode, size and mtime, so its index row (keyed by that fingerprint) follows it.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from dataclasses import dataclass, field

from ...errors import ArtifactExistsError, ArtifactStoreError
from ...metadata import ArtifactMetadata
from . import _read, _write
from ._index import IndexRow, fingerprint
from ._oserrors import fail, not_found
from ._read import Reader
from ._room import Room
from ._tree import Folder
from ._write import Upload

__all__ = [
    "COPY_CHUNK",
    "Copy",
    "CopySlot",
    "abort_copy",
    "begin_copy",
    "commit_copy",
    "copy_more",
    "hash_copy",
    "move",
]

#: Bytes copied (or hashed) per large-lane job.
COPY_CHUNK = 16 * 1024 * 1024
#: Linux's ``FICLONE`` ioctl (``_IOW(0x94, 9, int)``): a whole-file reflink.
_FICLONE = 0x40049409
_IO_CHUNK = 1024 * 1024
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: ``copy_file_range`` errors that mean "not here": fall back to read/write.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


@dataclass
class Copy:
    """A copy in progress: the source opened, the temporary destination being filled."""

    reader: Reader
    upload: Upload
    offset: int = 0
    done: bool = False
    tried_reflink: bool = False
    #: The source's recorded SHA-256 while it may be trusted for the copied bytes;
    #: ``None`` once the temporary file must be hashed instead.
    sha256: str | None = None
    kernel: bool = hasattr(os, "copy_file_range")
    read_fd: int = -1
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class CopySlot:
    """Where ``begin_copy`` leaves its ``Copy``, made before the job is queued.

    The clean-up in the caller's ``finally`` is given the slot, not the job's
    result: a task cancelled just as the job's result arrives never sees that
    result, but the slot holds it all the same, so no temporary file is left.
    """

    copy: Copy | None = None


def begin_copy(room: Room, slot: CopySlot, src: str, dst: str, if_not_exists: bool) -> Copy:
    """Open ``src`` (as a read would) and a temporary file beside ``dst`` (as a put would)."""
    reader = _read.open_reader(room, src, hash_small=False)
    try:
        if if_not_exists and _read.exists(room, dst):  # fail early; the commit's link decides
            raise ArtifactExistsError(
                f"an artifact already exists at {dst!r}; copy without if_not_exists=True "
                "to replace it, or choose another key",
                key=dst,
            )
        upload = _write.open_temp(room, dst)
    except BaseException:
        _read.close(reader)
        raise
    copy = slot.copy = Copy(reader, upload, sha256=reader.sha256, metadata=dict(reader.metadata))
    return copy


def _reflink(dst_fd: int, src_fd: int) -> bool:
    """Share the source's blocks (btrfs, XFS...): instant whatever the size; False if unable."""
    if sys.platform != "linux":
        return False
    import fcntl

    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
    except OSError:
        return False  # not a filesystem with reflinks (or another one): copy instead
    return True


def copy_more(room: Room, copy: Copy, size: int) -> int:
    """Copy up to ``size`` more bytes; return how many, 0 once the copy is complete."""
    with copy.upload.lock:
        copy.upload.check_open()
        if copy.done:
            return 0
        src, dst = copy.reader.fd, copy.upload.fd
        if not copy.tried_reflink:
            copy.tried_reflink = True
            if _reflink(dst, src):
                copy.done = True
                _settle(copy)
                return copy.reader.st.st_size or 1
        start = copy.offset
        end = start + size
        try:
            while copy.offset < end:
                want = end - copy.offset
                if copy.kernel:
                    try:
                        n = os.copy_file_range(src, dst, want, copy.offset, copy.offset)
                    except OSError as exc:
                        if exc.errno not in _NO_KERNEL_COPY:
                            raise
                        copy.kernel = False
                        continue
                else:
                    data = os.pread(src, min(want, _IO_CHUNK), copy.offset)
                    n = len(data)
                    view, at = memoryview(data), copy.offset
                    while view:
                        written = os.pwrite(dst, view, at)
                        view, at = view[written:], at + written
                if n == 0:
                    copy.done = True
                    _settle(copy)
                    break
                copy.offset += n
        except OSError as exc:
            fail(copy.upload.key, exc, "copying to")
        return copy.offset - start or (1 if copy.done and start == 0 else 0)


def _settle(copy: Copy) -> None:
    """At the end of the copy: keep the source's SHA-256 only if the source did not change.

    ``reader.sha256`` was read from an index row describing the very version the
    reader opened; the same fingerprint now means those are the bytes copied.
    """
    if fingerprint(os.fstat(copy.reader.fd)) != fingerprint(copy.reader.st):
        copy.sha256 = None


def hash_copy(room: Room, copy: Copy, offset: int, size: int) -> int:
    """Hash up to ``size`` bytes of the temporary file from ``offset``; 0 at its end.

    The hash goes to ``copy.upload.hasher``, which ``_write.commit`` records.
    """
    upload = copy.upload
    with upload.lock:
        upload.check_open()
        assert upload.tmp is not None
        done = 0
        try:
            if copy.read_fd < 0:
                flags = os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW
                copy.read_fd = os.open(upload.tmp, flags, dir_fd=upload.folder.fd)
            while done < size:
                data = os.pread(copy.read_fd, min(size - done, _IO_CHUNK), offset + done)
                if not data:
                    break
                upload.hasher.update(data)
                done += len(data)
        except OSError as exc:
            fail(upload.key, exc, "copying to")
        return done


def commit_copy(room: Room, copy: Copy, if_not_exists: bool) -> ArtifactMetadata:
    """Commit the temporary file exactly as a put commits its own."""
    with copy.upload.lock:  # a cancelled copy's abort may be closing them on the other lane
        _close_copy_sources(copy)
    return _write.commit(
        room, copy.upload, copy.reader.mime_type, copy.metadata, if_not_exists, sha256=copy.sha256
    )


def _close_copy_sources(copy: Copy) -> None:
    _read.close(copy.reader)
    if copy.read_fd >= 0:
        fd, copy.read_fd = copy.read_fd, -1
        os.close(fd)


def abort_copy(room: Room, copy: Copy | CopySlot) -> None:
    """Close everything and remove the temporary file; a no-op after a commit."""
    if isinstance(copy, CopySlot):
        if copy.copy is None:
            return  # the job never ran (or failed, cleaning up itself)
        copy = copy.copy
    with copy.upload.lock:
        _close_copy_sources(copy)
    _write.abort(room, copy.upload)


# ---------------------------------------------------------------------- move


def move(
    room: Room, src: str, dst: str, if_not_exists: bool
) -> tuple[bool, ArtifactMetadata | None]:
    """Rename ``src`` to ``dst``; the index row follows the file.

    Returns ``(False, None)`` when ``src`` is a symlink (the caller copies through
    it and deletes the link instead: renaming a link could break its target), else
    ``(True, metadata)``, where metadata is ``None`` when the index knew nothing
    current about the file (the caller hashes it at its new place).
    """
    tree = room.tree
    folders: list[Folder] = []
    try:
        try:
            place = tree.locate(src)
            if place is None:
                raise not_found(src)
            src_folder, src_name = place
            folders.append(src_folder)
            st = os.stat(src_name, dir_fd=src_folder.fd, follow_symlinks=False)
        except OSError as exc:
            fail(src, exc, "reading")
        if stat.S_ISLNK(st.st_mode):
            return False, None
        if not stat.S_ISREG(st.st_mode):
            raise not_found(src)
        row = room.index.get(src)
        try:
            dst_place = tree.locate(dst, create=True)
        except OSError as exc:
            fail(dst, exc, "moving to")
        assert dst_place is not None
        dst_folder, dst_name = dst_place
        folders.append(dst_folder)
        pair = {"src_dir_fd": src_folder.fd, "dst_dir_fd": dst_folder.fd}
        try:
            if if_not_exists:
                _link(dst, src_name, dst_name, pair, dst_folder)
                os.unlink(src_name, dir_fd=src_folder.fd)
            else:
                os.rename(src_name, dst_name, **pair)
            moved = os.stat(dst_name, dir_fd=dst_folder.fd, follow_symlinks=False)
        except ArtifactStoreError:  # ArtifactExistsError is an OSError too
            raise
        except FileNotFoundError as exc:  # the source went away meanwhile
            raise not_found(src) from exc
        except OSError as exc:
            fail(dst, exc, "moving to")
        room.dirty(src_folder)
        room.dirty(dst_folder)
    finally:
        for folder in folders:
            folder.close()
    room.index.stage_delete(src)
    room.on_staged()
    if row is None or row.fingerprint != fingerprint(st) or fingerprint(moved) != fingerprint(st):
        return True, None
    room.index.stage(dst, IndexRow(fingerprint(moved), row.sha256, row.mime_type, row.metadata))
    return True, room.metadata(dst, moved, row.sha256, row.mime_type, row.metadata)


def _link(dst: str, src_name: str, dst_name: str, pair: dict[str, int], folder: Folder) -> None:
    """Link the source at ``dst_name`` only if nothing is there (an atomic create)."""
    try:
        os.link(src_name, dst_name, follow_symlinks=False, **pair)
    except FileExistsError as exc:
        st = os.stat(dst_name, dir_fd=folder.fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            fail(dst, exc, "moving to")
        raise ArtifactExistsError(
            f"an artifact already exists at {dst!r}; move without if_not_exists=True to "
            "replace it, or choose another key",
            key=dst,
        ) from exc
