"""The local backend's blocking filesystem work: everything here runs on its worker thread.

``LocalFilesystemArtifactStore`` (``local.py``) is the async face; this module holds
the file operations it queues on its ``BatchWorker``. Each function is one job: it
does all the small-file work of one call in one hop (path checks, open, hash,
write, fsync, rename, index), so a burst of concurrent calls costs a few thread
wake-ups, not a few per call.

Layout on disk: artifacts are plain files at ``{root}/{key}``; writes are staged in
``.artifactstore.<random>-<pid>-<counter>.tmp`` beside their destination; the index lives in
``{root}/.artifactstore/``. Names starting with ``.artifactstore`` are reserved, so
no key can reach them and no listing shows them.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import logging
import os
import re
import sqlite3
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import PurePosixPath
from typing import IO, NoReturn
from urllib.parse import quote

from ..errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    InvalidKeyError,
    StorageBackendError,
    StorageConfigError,
    StoragePermissionError,
)
from ..keys import RESERVED_PREFIX
from ..metadata import ArtifactMetadata, guess_mime_type
from ._local_index import IndexRow, LocalIndex, fingerprint
from ._local_listing import sweep_quietly

__all__ = ["LocalFS", "Reader", "Upload"]

log = logging.getLogger("artifactstore")

_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_URI_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")
#: Chunks from this size on are hashed on a second thread while they are written.
PARALLEL_HASH = 256 * 1024
#: Files up to this size are read, or hashed on demand, in a single job.
SMALL_FILE = 4 * 1024 * 1024


@dataclass
class Upload:
    """A put in progress: a temporary file being written and hashed."""

    key: str
    path: str
    tmp: str | None
    fd: int
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)
    source_fd: int = -1


@dataclass
class Reader:
    """An artifact opened for reading; ``sha256`` is ``None`` until known."""

    key: str
    fd: int
    st: os.stat_result
    sha256: str | None
    mime_type: str
    metadata: dict[str, str]


_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC | _O_NOFOLLOW


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):
        pass


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    written = os.write(fd, data)
    if written < len(data):  # rare: a short write
        view = memoryview(data)[written:]
        while view:
            view = view[os.write(fd, view) :]


class LocalFS:
    """The filesystem side of one local store; call its methods on the worker only."""

    def __init__(
        self,
        root: str,
        *,
        durable: bool,
        file_mode: int,
        dir_mode: int,
        create: bool,
        on_staged: Callable[[], None],
    ) -> None:
        self.root = os.path.realpath(root)
        self._root_uri = PurePosixPath(self.root).as_uri().rstrip("/") + "/"
        # Temporary names, unique without a syscall each: pid (fork-safe), random, counter.
        self._tmp_prefix = f"{RESERVED_PREFIX}.{os.urandom(4).hex()}-"
        self._tmp_counter = itertools.count()
        self._hash_pool: tuple[int, ThreadPoolExecutor] | None = None
        self.durable = durable
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self._create = create
        self._on_staged = on_staged
        self._ready = False
        self._dirty_dirs: set[str] = set()
        bookkeeping = os.path.join(self.root, RESERVED_PREFIX)
        self.index = LocalIndex(
            os.path.join(bookkeeping, "index.sqlite3"),
            self.path_of,
            durable=durable,
            file_mode=file_mode,
        )

    # ------------------------------------------------------------ paths, errors

    def path_of(self, key: str) -> str:
        """The file of ``key`` (a normalized key), without any check."""
        return f"{self.root}/{key}"

    def uri_of(self, key: str) -> str:
        """The ``file://`` URI of ``key``: its ``storage_uri`` and local ``get_url``."""
        # What PurePosixPath.as_uri() gives, at a tenth of the cost (this is per put).
        return self._root_uri + (key if _URI_SAFE.fullmatch(key) else quote(key))

    def _prepare(self) -> None:
        if self._ready:
            return
        if not os.path.isdir(self.root):
            if not self._create:
                raise StorageConfigError(
                    f"the DataRoom folder {self.root} does not exist; create it or pass "
                    "create=True",
                    setting="root",
                )
            self._makedirs_from("", self.root)
        bookkeeping = os.path.join(self.root, RESERVED_PREFIX)
        if not os.path.isdir(bookkeeping):
            try:
                os.mkdir(bookkeeping, self.dir_mode)
                os.chmod(bookkeeping, self.dir_mode)
            except FileExistsError:
                pass
        self._ready = True
        # Temporary files of writers that died (a crash, SIGKILL) are swept once
        # per store, off the worker so no put waits for a walk of the DataRoom.
        threading.Thread(
            target=sweep_quietly, args=(self,), name="artifactstore-sweep", daemon=True
        ).start()

    def checked_path(self, key: str, *, final: bool = True) -> str:
        """The file of ``key``, refusing any symlink on the way that leads out of the root.

        ``final=False`` leaves the last segment to the caller: a rename replaces a
        symlink rather than writing through it, and reads open with ``O_NOFOLLOW``.
        """
        self._prepare()
        current = self.root
        segments = key.split("/")
        if not final:
            segments.pop()
        for segment in segments:
            current = f"{current}/{segment}"
            try:
                st = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                break  # nothing further exists, so nothing further can be followed
            if stat.S_ISLNK(st.st_mode):
                self._check_real(key)
                break
        return self.path_of(key)

    def _check_real(self, key: str) -> None:
        real = os.path.realpath(self.path_of(key))
        if real != self.root and not real.startswith(self.root + "/"):
            raise InvalidKeyError(
                f"artifact key {key!r} leads through a symlink out of the DataRoom; "
                "such links are never followed",
                key=key,
            )

    def _fail(self, key: str, exc: OSError, doing: str) -> NoReturn:
        """Raise the library's error for an ``OSError`` met while ``doing`` ``key``."""
        if isinstance(exc, (FileNotFoundError, IsADirectoryError, NotADirectoryError)) and (
            doing == "reading"
        ):
            raise ArtifactNotFoundError(
                f"no artifact at {key!r}; check the key, or list the folder to see what is there",
                key=key,
            ) from exc
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
            f"filesystem error {doing} {key!r}: {exc.strerror or exc}", key=key
        ) from exc

    def _makedirs_from(self, key: str, directory: str) -> None:
        """Create ``directory`` and its missing parents with ``dir_mode``, whatever the umask."""
        missing = []
        current = directory
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for path in reversed(missing):
            try:
                os.mkdir(path, self.dir_mode)
            except FileExistsError:
                if not os.path.isdir(path):
                    raise
                continue
            os.chmod(path, self.dir_mode)
            self._dirty_dirs.add(os.path.dirname(path))

    # ------------------------------------------------------------------- metadata

    def _metadata(
        self,
        key: str,
        st: os.stat_result,
        sha256: str | None,
        mime: str | None,
        meta: dict[str, str],
    ) -> ArtifactMetadata:
        return ArtifactMetadata(
            storage_backend="local",
            storage_key=key,
            storage_uri=self.uri_of(key),
            sha256=sha256,
            size_bytes=st.st_size,
            mime_type=mime,
            last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc),
            metadata=meta,
        )

    def _known(self, key: str, st: os.stat_result, row: IndexRow | None) -> ArtifactMetadata:
        """Metadata from a row that describes this very version of the file, else partial."""
        if row is not None and row.fingerprint == fingerprint(st):
            return self._metadata(key, st, row.sha256, row.mime_type, row.metadata)
        return self._metadata(key, st, None, guess_mime_type(key), {})

    def record(
        self,
        key: str,
        st: os.stat_result,
        sha256: str,
        mime: str,
        meta: dict[str, str],
        *,
        required: bool = True,
    ) -> None:
        """Stage the index row for the version of ``key`` that ``st`` describes.

        ``required=False`` for a SHA-256 computed while reading: worth keeping,
        but a read must not fail because the index could not take it.
        """
        self.index.stage(key, IndexRow(fingerprint(st), sha256, mime, meta))
        if required:
            self._on_staged()

    def flush(self) -> None:
        """End of a batch: make its renames durable, then commit its index rows.

        A failure here fails every put of the batch with ``StorageBackendError``:
        their files may be in place, but durability or metadata was not secured.
        """
        dirty, self._dirty_dirs = self._dirty_dirs, set()
        try:
            if self.durable:
                for directory in dirty:
                    fd = os.open(directory, os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            self.index.flush()
        except (OSError, sqlite3.Error) as exc:
            raise StorageBackendError(
                f"could not make a batch of puts durable in the DataRoom ({exc}); the "
                "artifacts may be in place without their metadata: put them again. If the "
                "index (.artifactstore/index.sqlite3) is damaged, move it away: it is "
                "rebuilt from the files, losing only user metadata",
            ) from exc

    # ------------------------------------------------------------------- writing

    def _open_temp(self, key: str) -> tuple[str, str, str, int]:
        """Create the temporary file beside ``key``'s destination: (path, folder, tmp, fd).

        Raises the library's error; on failure nothing is left behind.
        """
        path = self.checked_path(key, final=False)
        directory = path[: path.rfind("/")]
        tmp = f"{directory}/{self._tmp_prefix}{os.getpid()}-{next(self._tmp_counter)}.tmp"
        try:
            try:
                fd = os.open(tmp, _TMP_FLAGS, self.file_mode)
            except FileNotFoundError:
                self._makedirs_from(key, directory)
                fd = os.open(tmp, _TMP_FLAGS, self.file_mode)
        except OSError as exc:
            self._fail(key, exc, "writing")
        try:
            os.fchmod(fd, self.file_mode)  # the configured mode, whatever the umask
        except OSError as exc:
            os.close(fd)
            _unlink_quietly(tmp)
            self._fail(key, exc, "writing")
        return path, directory, tmp, fd

    def begin(self, key: str, source_path: str | None = None) -> Upload:
        """Open a temporary file beside ``key``'s destination (and the source file, if any)."""
        source_fd = -1
        if source_path is not None:
            source_fd = os.open(source_path, os.O_RDONLY | _O_CLOEXEC)  # the caller's error
        try:
            path, _, tmp, fd = self._open_temp(key)
        except BaseException:
            if source_fd >= 0:
                os.close(source_fd)
            raise
        return Upload(key, path, tmp, fd, source_fd=source_fd)

    def write(self, upload: Upload, data: bytes | bytearray | memoryview) -> None:
        """Hash and append one chunk; a big chunk is hashed on a second thread meanwhile.

        hashlib and os.write both release the GIL, so the hash of a large chunk
        costs no time beyond its write.
        """
        hashing = None
        if len(data) >= PARALLEL_HASH:
            hashing = self._hasher().submit(upload.hasher.update, data)
        else:
            upload.hasher.update(data)
        try:
            _write_all(upload.fd, data)
        except OSError as exc:
            self._fail(upload.key, exc, "writing")
        finally:
            if hashing is not None:
                hashing.result()

    def _hasher(self) -> ThreadPoolExecutor:
        pool = self._hash_pool
        if pool is None or pool[0] != os.getpid():  # a forked child needs its own thread
            pool = self._hash_pool = (os.getpid(), ThreadPoolExecutor(1, "artifactstore-hash"))
        return pool[1]

    def shutdown(self) -> None:
        """Stop the hashing thread (the store is closing)."""
        if self._hash_pool is not None and self._hash_pool[0] == os.getpid():
            self._hash_pool[1].shutdown(wait=False)
        self._hash_pool = None

    def copy_chunk(self, upload: Upload, file: IO[bytes] | None, size: int) -> int:
        """Read up to ``size`` bytes from the source (file object or source file), hash, write."""
        if file is None:
            chunk: object = os.read(upload.source_fd, size)
        else:
            chunk = file.read(size)
        if chunk is None:
            raise TypeError("the file object is non-blocking and had no data; pass a blocking one")
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"the file object's read() returned {type(chunk).__name__}, not bytes")
        if chunk:
            self.write(upload, chunk)
        return len(chunk)

    def commit(
        self,
        upload: Upload,
        mime: str,
        meta: dict[str, str],
        if_not_exists: bool,
        sha256: str | None = None,
    ) -> ArtifactMetadata:
        """fsync, then rename (or link, for ``if_not_exists``) the temporary file into place.

        ``sha256``: the bytes' hash when known otherwise (a copy); else the upload's.
        """
        key, tmp = upload.key, upload.tmp
        assert tmp is not None
        try:
            if self.durable:
                os.fsync(upload.fd)
            st = os.fstat(upload.fd)
            self._close(upload)
            if not if_not_exists:
                os.replace(tmp, upload.path)
        except OSError as exc:
            self._fail(key, exc, "writing")
        upload.tmp = None
        if if_not_exists:
            self._link_into_place(key, tmp, upload.path)
        self._dirty_dirs.add(os.path.dirname(upload.path))
        if sha256 is None:
            sha256 = upload.hasher.hexdigest()
        self.record(key, st, sha256, mime, meta)
        return self._metadata(key, st, sha256, mime, meta)

    def _close(self, upload: Upload) -> None:
        if upload.fd >= 0:
            fd, upload.fd = upload.fd, -1
            os.close(fd)
        if upload.source_fd >= 0:
            fd, upload.source_fd = upload.source_fd, -1
            os.close(fd)

    def abort(self, upload: Upload) -> None:
        """Close and remove the temporary file; idempotent."""
        self._close(upload)
        if upload.tmp is not None:
            tmp, upload.tmp = upload.tmp, None
            _unlink_quietly(tmp)

    def put_bytes(
        self, key: str, data: memoryview, mime: str, meta: dict[str, str], if_not_exists: bool
    ) -> ArtifactMetadata:
        """A whole small put in one job.

        The same steps as begin/write/commit, written out straight: this is the
        hot path of small puts, and every call saved here is throughput.
        """
        path, directory, tmp, fd = self._open_temp(key)
        try:
            try:
                sha256 = hashlib.sha256(data).hexdigest()
                _write_all(fd, data)
                if self.durable:
                    os.fsync(fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            if not if_not_exists:
                os.replace(tmp, path)
                tmp = ""
        except OSError as exc:
            if tmp:
                _unlink_quietly(tmp)
            self._fail(key, exc, "writing")
        if tmp:
            self._link_into_place(key, tmp, path)
        self._dirty_dirs.add(directory)
        self.index.stage(key, IndexRow((st.st_ino, st.st_size, st.st_mtime_ns), sha256, mime, meta))
        self._on_staged()
        return self._metadata(key, st, sha256, mime, meta)

    def _link_into_place(self, key: str, tmp: str, path: str) -> None:
        """Move ``tmp`` to ``path`` only if nothing is there: link() is an atomic create."""
        try:
            os.link(tmp, path)
        except FileExistsError as exc:
            if os.path.isdir(path):
                self._fail(key, exc, "writing")
            raise ArtifactExistsError(
                f"an artifact already exists at {key!r}; put without if_not_exists=True "
                "to replace it, or choose another key",
                key=key,
            ) from exc
        except OSError as exc:
            self._fail(key, exc, "writing")
        finally:
            _unlink_quietly(tmp)

    # ------------------------------------------------------------------- reading

    def open(self, key: str, hash_small: bool = True) -> Reader:
        """Open ``key`` for reading, with what the index knows of this version.

        A small file the index does not know is hashed at once (``hash_small``).
        """
        flags = os.O_RDONLY | _O_CLOEXEC | os.O_NONBLOCK
        path = self.checked_path(key, final=False)
        try:
            try:
                fd = os.open(path, flags | _O_NOFOLLOW)
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                self._check_real(key)  # a symlink: followed only if it stays inside
                fd = os.open(path, flags)
        except OSError as exc:
            self._fail(key, exc, "reading")
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "not a regular file")
            row = self.index.get(key)
        except OSError as exc:
            os.close(fd)
            self._fail(key, exc, "reading")
        except BaseException:
            os.close(fd)
            raise
        if row is not None and row.fingerprint == fingerprint(st):
            return Reader(key, fd, st, row.sha256, row.mime_type, row.metadata)
        reader = Reader(key, fd, st, None, guess_mime_type(key), {})
        if hash_small and st.st_size <= SMALL_FILE:
            self.hash_more(reader, hashlib.sha256(), 0, SMALL_FILE + 1)
        return reader

    def hash_more(self, reader: Reader, hasher: hashlib._Hash, offset: int, size: int) -> int:
        """Hash a file the index knows nothing (current) about, one chunk a job.

        Returns the bytes hashed while more may follow, 0 when done: then
        ``reader.sha256`` is set and recorded, or, if the file changed meanwhile,
        ``reader.st`` describes the new version and hashing must start over.
        """
        chunk = self.read(reader, offset, size)
        hasher.update(chunk)
        if len(chunk) == size:
            return size
        self._settle(reader, hasher.hexdigest())
        return 0

    def _settle(self, reader: Reader, sha256: str) -> None:
        st = os.fstat(reader.fd)
        if fingerprint(st) == fingerprint(reader.st):
            reader.sha256 = sha256
            self.record(reader.key, st, sha256, reader.mime_type, {}, required=False)
        else:
            reader.st = st

    def read(self, reader: Reader, offset: int, size: int) -> bytes:
        """Read up to ``size`` bytes at ``offset``."""
        try:
            return os.pread(reader.fd, size, offset)
        except OSError as exc:
            self._fail(reader.key, exc, "reading")

    def read_small(self, key: str) -> tuple[Reader, bytes | None]:
        """Open ``key`` and, if it is small, read it whole in the same job."""
        reader = self.open(key, hash_small=False)
        try:
            if reader.st.st_size > SMALL_FILE:
                return reader, None
            data = self.read(reader, 0, reader.st.st_size + 1)
            if reader.sha256 is None and len(data) == reader.st.st_size:
                self._settle(reader, hashlib.sha256(data).hexdigest())
        finally:
            self.close(reader)
        return reader, data

    def close(self, reader: Reader) -> None:
        """Close the reader's file; idempotent."""
        if reader.fd >= 0:
            fd, reader.fd = reader.fd, -1
            os.close(fd)

    def metadata_of(self, reader: Reader) -> ArtifactMetadata:
        """The reader's artifact metadata."""
        return self._metadata(
            reader.key, reader.st, reader.sha256, reader.mime_type, reader.metadata
        )

    def exists(self, key: str) -> bool:
        """Whether a regular file is stored at ``key``."""
        try:
            return stat.S_ISREG(os.stat(self.checked_path(key)).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            self._fail(key, exc, "reading")

    def delete(self, key: str) -> bool:
        """Remove ``key``'s file and its index row."""
        path = self.checked_path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except IsADirectoryError:
            return False
        except OSError as exc:
            if exc.errno == errno.EPERM and os.path.isdir(path):
                return False  # unlink() of a folder on some systems
            self._fail(key, exc, "deleting")
        self._dirty_dirs.add(os.path.dirname(path))
        self.index.stage_delete(key)
        self._on_staged()
        return True
