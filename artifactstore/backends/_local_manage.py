"""The local backend's management jobs: copy, move, and delete of a whole prefix.

Functions of a ``LocalFS``, each one job on the store's worker thread (see
``_local_fs``). A copy is staged like a put (a temporary file beside the
destination, committed by ``LocalFS.commit``), but its bytes move inside the
kernel: a reflink where the filesystem has one, else ``copy_file_range``, else
read/write, a chunk per job so a large copy never holds up small operations for
long. A move is a rename: the file keeps its inode, size and mtime, so its index
row (keyed by that fingerprint) simply follows it.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from dataclasses import dataclass, field

from ..errors import ArtifactExistsError, ArtifactNotFoundError, ArtifactStoreError
from ..metadata import ArtifactMetadata
from ._local_fs import LocalFS, Reader, Upload
from ._local_index import IndexRow, fingerprint
from ._local_listing import is_key

__all__ = [
    "COPY_CHUNK",
    "DELETE_BATCH",
    "Copy",
    "CopySlot",
    "PrefixPlan",
    "abort_copy",
    "begin_copy",
    "commit_copy",
    "copy_more",
    "delete_keys",
    "hash_copy",
    "move",
    "plan_prefix",
    "remove_folders",
]

#: Bytes copied (or hashed) per worker job: big enough that a copy costs few hops,
#: small enough that other jobs wait a few milliseconds at most.
COPY_CHUNK = 16 * 1024 * 1024
#: Files deleted per worker job by ``delete_prefix``.
DELETE_BATCH = 1000
#: Linux's ``FICLONE`` ioctl (``_IOW(0x94, 9, int)``): a whole-file reflink.
_FICLONE = 0x40049409
_IO_CHUNK = 1024 * 1024
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: ``copy_file_range`` errors that mean "not here" (another filesystem, an old
#: kernel, a filesystem without it): fall back to read/write.
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP}


@dataclass
class Copy:
    """A copy in progress: the source opened, the temporary destination being filled."""

    reader: Reader
    upload: Upload
    offset: int = 0
    done: bool = False
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


def begin_copy(fs: LocalFS, slot: CopySlot, src: str, dst: str, if_not_exists: bool) -> Copy:
    """Open ``src`` (as a read would) and a temporary file beside ``dst`` (as a put would)."""
    reader = fs.open(src, hash_small=False)
    try:
        if if_not_exists and fs.exists(dst):  # fail early; the commit's link decides
            raise ArtifactExistsError(
                f"an artifact already exists at {dst!r}; copy without if_not_exists=True "
                "to replace it, or choose another key",
                key=dst,
            )
        path, _, tmp, fd = fs._open_temp(dst)
    except BaseException:
        fs.close(reader)
        raise
    copy = slot.copy = Copy(reader, Upload(dst, path, tmp, fd), sha256=reader.sha256)
    copy.metadata = dict(reader.metadata)
    try:
        if _reflink(fd, reader.fd):
            copy.done = True
            _settle(copy)
    except BaseException:
        abort_copy(fs, copy)
        raise
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


def copy_more(fs: LocalFS, copy: Copy, size: int) -> int:
    """Copy up to ``size`` more bytes; return how many, 0 once the copy is complete."""
    if copy.done:
        return 0
    src, dst = copy.reader.fd, copy.upload.fd
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
                view = memoryview(data)
                at = copy.offset
                while view:
                    written = os.pwrite(dst, view, at)
                    view, at = view[written:], at + written
            if n == 0:
                copy.done = True
                _settle(copy)
                break
            copy.offset += n
    except OSError as exc:
        fs._fail(copy.upload.key, exc, "copying to")
    return copy.offset - start


def _settle(copy: Copy) -> None:
    """At the end of the copy: keep the source's SHA-256 only if the source did not change.

    ``reader.sha256`` was read from an index row describing the very version the
    reader opened; the same fingerprint now means those are the bytes copied.
    """
    if fingerprint(os.fstat(copy.reader.fd)) != fingerprint(copy.reader.st):
        copy.sha256 = None


def hash_copy(fs: LocalFS, copy: Copy, offset: int, size: int) -> int:
    """Hash up to ``size`` bytes of the temporary file from ``offset``; 0 at its end.

    The hash goes to ``copy.upload.hasher``, which ``LocalFS.commit`` records.
    """
    try:
        if copy.read_fd < 0:
            assert copy.upload.tmp is not None
            copy.read_fd = os.open(copy.upload.tmp, os.O_RDONLY | _O_CLOEXEC | _O_NOFOLLOW)
        done = 0
        while done < size:
            data = os.pread(copy.read_fd, min(size - done, _IO_CHUNK), offset + done)
            if not data:
                break
            copy.upload.hasher.update(data)
            done += len(data)
    except OSError as exc:
        fs._fail(copy.upload.key, exc, "copying to")
    return done


def commit_copy(fs: LocalFS, copy: Copy, if_not_exists: bool) -> ArtifactMetadata:
    """Commit the temporary file exactly as a put commits its own."""
    _close_copy_sources(fs, copy)
    return fs.commit(
        copy.upload, copy.reader.mime_type, copy.metadata, if_not_exists, sha256=copy.sha256
    )


def _close_copy_sources(fs: LocalFS, copy: Copy) -> None:
    fs.close(copy.reader)
    if copy.read_fd >= 0:
        fd, copy.read_fd = copy.read_fd, -1
        os.close(fd)


def abort_copy(fs: LocalFS, copy: Copy | CopySlot) -> None:
    """Close everything and remove the temporary file; a no-op after a commit."""
    if isinstance(copy, CopySlot):
        if copy.copy is None:
            return  # the job never ran (or failed, cleaning up itself)
        copy = copy.copy
    _close_copy_sources(fs, copy)
    fs.abort(copy.upload)


# ---------------------------------------------------------------------- move


def move(
    fs: LocalFS, src: str, dst: str, if_not_exists: bool
) -> tuple[bool, ArtifactMetadata | None]:
    """Rename ``src`` to ``dst``; the index row follows the file.

    Returns ``(False, None)`` when ``src`` is a symlink (the caller copies through
    it and deletes the link instead: renaming a link could break its target), else
    ``(True, metadata)``, where metadata is ``None`` when the index knew nothing
    current about the file (the caller hashes it at its new place).
    """
    src_path = fs.checked_path(src, final=False)
    try:
        st = os.lstat(src_path)
    except OSError as exc:
        fs._fail(src, exc, "reading")
    if stat.S_ISLNK(st.st_mode):
        return False, None
    if not stat.S_ISREG(st.st_mode):
        fs._fail(src, IsADirectoryError(errno.EISDIR, "not a regular file"), "reading")
    row = fs.index.get(src)
    dst_path = fs.checked_path(dst, final=False)
    directory = os.path.dirname(dst_path)
    try:
        if not os.path.isdir(directory):
            fs._makedirs_from(dst, directory)
        if if_not_exists:
            _link(fs, dst, src_path, dst_path)
            os.unlink(src_path)
        else:
            os.rename(src_path, dst_path)
        moved = os.stat(dst_path)
    except ArtifactStoreError:  # ArtifactExistsError is an OSError too
        raise
    except FileNotFoundError as exc:  # the source went away meanwhile
        raise ArtifactNotFoundError(f"no artifact at {src!r}", key=src) from exc
    except OSError as exc:
        fs._fail(dst, exc, "moving to")
    fs._dirty_dirs.update((os.path.dirname(src_path), directory))
    fs.index.stage_delete(src)
    fs._on_staged()
    if row is None or row.fingerprint != fingerprint(st) or fingerprint(moved) != fingerprint(st):
        return True, None
    fs.index.stage(dst, IndexRow(fingerprint(moved), row.sha256, row.mime_type, row.metadata))
    return True, fs._metadata(dst, moved, row.sha256, row.mime_type, row.metadata)


def _link(fs: LocalFS, dst: str, src_path: str, dst_path: str) -> None:
    """Link the source at ``dst_path`` only if nothing is there (an atomic create)."""
    try:
        os.link(src_path, dst_path)
    except FileExistsError as exc:
        if os.path.isdir(dst_path):
            fs._fail(dst, exc, "moving to")
        raise ArtifactExistsError(
            f"an artifact already exists at {dst!r}; move without if_not_exists=True to "
            "replace it, or choose another key",
            key=dst,
        ) from exc


# ------------------------------------------------------------- delete_prefix


@dataclass
class PrefixPlan:
    """What ``delete_prefix`` removes: artifact keys, then folders (deepest first)."""

    keys: list[str]
    folders: list[str]


def plan_prefix(fs: LocalFS, prefix: str) -> PrefixPlan:
    """Every artifact under the folder ``prefix``, by the rules of ``list``.

    Reserved names, names no key can spell, symlinks leading out of the root and
    symlinked folders are left alone, as ``list`` leaves them out. A ``prefix``
    naming a file (not a folder) plans nothing: prefixes match whole segments.
    """
    fs.checked_path(prefix)  # refuses a prefix reached through a symlink out of the root
    keys: list[str] = []
    folders: list[str] = []
    pending = [prefix]
    while pending:
        folder = pending.pop()
        path = fs.path_of(folder)
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            fs._fail(folder, exc, "listing")
        folders.append(path)
        for entry in entries:
            key = f"{folder}/{entry.name}"
            if not is_key(key):  # also skips our own (reserved) names
                continue
            try:
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                    if real.startswith(fs.root + "/") and os.path.isfile(real):
                        keys.append(key)
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(key)
                elif entry.is_file(follow_symlinks=False):
                    keys.append(key)
            except OSError:
                continue  # vanished while we looked
    folders.reverse()  # pre-order reversed: every folder after its sub-folders
    return PrefixPlan(keys, folders)


class _Folders:
    """Descriptors of folders, each opened from the root one segment at a time.

    ``O_NOFOLLOW`` on every segment: a folder swapped for a symlink after the plan
    was made (or a symlinked folder in the prefix) is never entered, so nothing
    outside the DataRoom can be unlinked through it.
    """

    _FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_NOFOLLOW | _O_CLOEXEC

    def __init__(self, root: str) -> None:
        self._root = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _O_CLOEXEC)
        self._open: dict[str, int | None] = {"": self._root}

    def fd(self, folder: str) -> int | None:
        """A descriptor of ``folder`` (a key-like path, "" the root), or None if unreachable."""
        if folder in self._open:
            return self._open[folder]
        parent, _, name = folder.rpartition("/")
        parent_fd = self.fd(parent)
        found: int | None = None
        if parent_fd is not None:
            try:
                found = os.open(name, self._FLAGS, dir_fd=parent_fd)
            except OSError:
                found = None  # gone, not a folder, or a symlink: left alone
        self._open[folder] = found
        return found

    def close(self) -> None:
        for fd in self._open.values():
            if fd is not None:
                os.close(fd)
        self._open.clear()


def delete_keys(fs: LocalFS, keys: list[str]) -> int:
    """Unlink the files of ``keys`` and stage their index rows' removal; return how many."""
    count = 0
    folders = _Folders(fs.root)
    try:
        for key in keys:
            folder, _, name = key.rpartition("/")
            dir_fd = folders.fd(folder)
            if dir_fd is None:
                continue  # its folder vanished or became a symlink since the plan
            try:
                os.unlink(name, dir_fd=dir_fd)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                continue
            except OSError as exc:
                if exc.errno in (errno.EPERM, errno.EISDIR):
                    continue  # unlink() of a folder on some systems
                fs._fail(key, exc, "deleting")
            finally:
                fs.index.stage_delete(key)  # dropped at flush if a file is there after all
            fs._dirty_dirs.add(os.path.dirname(fs.path_of(key)))
            count += 1
    finally:
        folders.close()
    if keys:
        fs._on_staged()
    return count


def remove_folders(fs: LocalFS, prefix: str, folders: list[str]) -> None:
    """Remove the folders left empty (deepest first), and index rows of vanished files."""
    handles = _Folders(fs.root) if folders else None
    try:
        for path in folders:
            assert handles is not None
            folder = path[len(fs.root) + 1 :]
            parent, _, name = folder.rpartition("/")
            parent_fd = handles.fd(parent)
            if parent_fd is None or not name:
                continue
            try:
                os.rmdir(name, dir_fd=parent_fd)
            except OSError:
                continue  # not empty (a file arrived, a non-artifact name), or gone
            fs._dirty_dirs.discard(path)  # nothing left to fsync there
            fs._dirty_dirs.add(os.path.dirname(path))
    finally:
        if handles is not None:
            handles.close()
    stale = fs.index.keys_under(prefix)
    for key in stale:
        fs.index.stage_delete(key)  # dropped at flush for a file still in place
    if stale:
        fs._on_staged()
