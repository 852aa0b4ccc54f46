"""``LocalFilesystemArtifactStore``: artifacts as plain files in a DataRoom folder.

The default backend. Artifacts are ordinary files at ``{root}/{key}``, so the
DataRoom stays browsable by a person; the store's own bookkeeping (an index of
SHA-256, mime type and user metadata) lives in ``{root}/.artifactstore/``.

Guarantees:

* Atomic puts: bytes go to a temporary file beside the destination, are hashed as
  they are written, fsynced (``durable=True``), then renamed into place; the
  directory is fsynced before ``put`` returns. Readers never see partial content;
  a failed or cancelled put leaves the key as it was (the previous artifact, or
  nothing) and no temporary file.
* No blocking call on the event loop: all file work runs on one worker thread per
  store, in batches (``artifactstore._worker``), which is what makes small puts and
  gets fast.
* Keys never reach outside the root, and symlinks leading out of it are refused.
* ``copy`` is staged and committed like a put, its bytes moved by the kernel
  (reflink or ``copy_file_range``); ``move`` is a rename, its index row following
  the file; ``delete_prefix`` unlinks a thousand files per worker job.
* New files get ``file_mode`` (0o640) and folders ``dir_mode`` (0o750), whatever
  the process umask: deal documents are confidential.
* Files written by other means (legacy code) are artifacts too; their SHA-256 is
  computed on demand, and a file changed outside the library is re-hashed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import PurePosixPath
from typing import Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit

import anyio

from .._sources import AsyncIterableSource, BytesSource, FileSource, PathSource, Source, rechunk
from .._worker import BatchWorker
from ..errors import InvalidKeyError
from ..metadata import ArtifactMetadata
from ..protocol import DEFAULT_CHUNK_SIZE, ArtifactStore, Listing
from ..signing import check_link_settings, signed_url
from ._local_fs import SMALL_FILE, LocalFS, Reader, Upload
from ._local_listing import scan, sweep_temporaries
from ._local_manage import (
    COPY_CHUNK,
    DELETE_BATCH,
    Copy,
    CopySlot,
    abort_copy,
    begin_copy,
    commit_copy,
    copy_more,
    delete_keys,
    hash_copy,
    move,
    plan_prefix,
    remove_folders,
)

__all__ = ["LocalFilesystemArtifactStore"]

T = TypeVar("T")


class _LocalOpened:
    """An open local artifact, read chunk by chunk on the store's worker."""

    def __init__(
        self,
        fs: LocalFS,
        worker: BatchWorker,
        reader: Reader,
        start: int,
        end: int | None,
        chunk: int,
    ) -> None:
        self.metadata = fs.metadata_of(reader)
        self._fs = fs
        self._worker = worker
        self._reader = reader
        self._offset = start
        self._end = reader.st.st_size if end is None else min(end, reader.st.st_size)
        self._chunk = chunk
        self._closed = False

    async def read(self) -> bytes:
        size = min(self._chunk, self._end - self._offset)
        if size <= 0 or self._closed:
            return b""
        data = await self._worker.run(self._fs.read, self._reader, self._offset, size)
        self._offset += len(data)
        if not data:  # the file shrank under us: stop rather than spin
            self._end = self._offset
        return data

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        # Queued, not run here: the worker may be reading this file right now, and
        # jobs run in order, so the close comes after that read.
        if not self._closed:
            self._closed = True
            self._worker.submit(self._fs.close, self._reader)


class LocalFilesystemArtifactStore(ArtifactStore):
    """Artifacts as files under ``root`` (the DataRoom).

    :param root: the DataRoom folder; created (with ``dir_mode``) if missing and
        ``create`` is true.
    :param durable: fsync files and folders before a put returns (default). Turn
        it off only for scratch data: a power cut may then lose recent puts.
    :param file_mode: permission bits of new files, whatever the umask.
    :param dir_mode: permission bits of new folders, whatever the umask.
    :param create: create ``root`` if it does not exist.
    :param url_base: with ``url_secret``, ``get_url`` returns signed, expiring http(s)
        links under this base (served by ``artifactstore.web.download_app``)
        instead of ``file://`` URIs.
    :param url_secret: the HMAC secret of those links (at least 32 characters).
    """

    backend_name: ClassVar[str] = "local"
    supports_file_and_folder_at_same_key: ClassVar[bool] = False
    runs_without_event_loop: ClassVar[bool] = True

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durable: bool = True,
        file_mode: int = 0o640,
        dir_mode: int = 0o750,
        create: bool = True,
        url_base: str | None = None,
        url_secret: str | bytes | None = None,
    ) -> None:
        check_link_settings(url_base, url_secret)
        self._url_base = url_base
        self._url_secret = url_secret
        given = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self._given_root = given
        self._worker = BatchWorker(
            f"artifactstore-local:{given}",
            on_batch_end=self._flush,
            on_fork=self._after_fork,
        )
        self._fs = LocalFS(
            given,
            durable=durable,
            file_mode=file_mode,
            dir_mode=dir_mode,
            create=create,
            on_staged=self._worker.mark_needs_flush,
        )
        self._closed = False

    def _flush(self) -> None:
        self._fs.flush()

    def _after_fork(self) -> None:
        self._fs.index.forget_connection()

    @property
    def root(self) -> str:
        """The DataRoom folder, symlinks resolved."""
        return self._fs.root

    @property
    def durable(self) -> bool:
        """Whether puts are fsynced before they return."""
        return self._fs.durable

    async def _run(
        self, fn: Callable[..., T], *args: Any, discard: Callable[[T], object] | None = None
    ) -> T:
        if self._closed:
            raise RuntimeError("this artifact store is closed")
        return await self._worker.run(fn, *args, discard=discard)

    def _url(self) -> str:
        # The resolved root, percent-encoded as storage URIs are (never the URL secret);
        # a non-default durability is named, so store_from_url builds the same store.
        uri = PurePosixPath(self._fs.root).as_uri()
        return uri if self._fs.durable else f"{uri}?durable=false"

    # ---------------------------------------------------------------- key spellings

    def _key_from_location(self, key: str) -> str | None:
        if key.startswith("file:"):
            parts = urlsplit(key)
            if parts.netloc not in ("", "localhost"):
                raise InvalidKeyError(f"{key!r} is a file URI of another host", key=key)
            path = unquote(parts.path)
        elif key.startswith("/"):
            path = key
        else:
            return None
        if "\x00" in path or "/../" in path + "/":
            raise InvalidKeyError(f"absolute path {key!r} must not contain '..'", key=key)
        for root in (self._fs.root, self._given_root):
            if path.startswith(root + "/"):
                return path[len(root) + 1 :]
        raise InvalidKeyError(
            f"{key!r} is an absolute path outside the DataRoom ({self._fs.root}); "
            "give a key relative to it",
            key=key,
        )

    # ------------------------------------------------------------------- writing

    async def _put(
        self,
        key: str,
        source: Source,
        *,
        mime_type: str,
        metadata: dict[str, str],
        if_not_exists: bool,
    ) -> ArtifactMetadata:
        fs = self._fs
        if isinstance(source, BytesSource) and len(source.data) <= SMALL_FILE:
            return await self._run(
                fs.put_bytes, key, source.data, mime_type, metadata, if_not_exists
            )
        path = source.path if isinstance(source, PathSource) else None
        upload: Upload = await self._run(fs.begin, key, path, discard=fs.abort)
        try:
            if isinstance(source, BytesSource):
                view = source.data
                for i in range(0, len(view), DEFAULT_CHUNK_SIZE):
                    await self._run(fs.write, upload, view[i : i + DEFAULT_CHUNK_SIZE])
            elif isinstance(source, AsyncIterableSource):
                async for chunk in rechunk(source.iterable, DEFAULT_CHUNK_SIZE):
                    await self._run(fs.write, upload, chunk)
            else:
                file = source.file if isinstance(source, FileSource) else None
                while await self._run(fs.copy_chunk, upload, file, DEFAULT_CHUNK_SIZE):
                    pass
            return await self._run(fs.commit, upload, mime_type, metadata, if_not_exists)
        finally:
            # A no-op after a commit; otherwise removes the temporary file. Queued,
            # not awaited, so it also runs when this task is being cancelled.
            self._worker.submit(fs.abort, upload)

    # ---------------------------------------------------------------- management

    async def _copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """A kernel copy (reflink or ``copy_file_range``) staged and committed like a put.

        The source's recorded SHA-256 is carried only if the source did not change
        during the copy; otherwise the copied bytes are hashed. A chunk per job.
        """
        fs = self._fs
        slot = CopySlot()
        try:
            copy: Copy = await self._run(begin_copy, fs, slot, src, dst, if_not_exists)
            while await self._run(copy_more, fs, copy, COPY_CHUNK):
                pass
            if copy.sha256 is None:  # a legacy file, or changed under us: hash the copy
                offset = 0
                while n := await self._run(hash_copy, fs, copy, offset, COPY_CHUNK):
                    offset += n
            return await self._run(commit_copy, fs, copy, if_not_exists)
        finally:
            # A no-op after the commit; otherwise removes the temporary file. Queued,
            # not awaited, so it also runs when this task is being cancelled.
            self._worker.submit(abort_copy, fs, slot)

    async def _move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """An atomic rename (link then unlink with ``if_not_exists``); the index row follows."""
        renamed, meta = await self._run(move, self._fs, src, dst, if_not_exists)
        if not renamed:  # a symlink: copy what it leads to, then remove the link
            return await super()._move(src, dst, if_not_exists=if_not_exists)
        if meta is None:  # the index knew nothing current: hash it at its new place
            return await self._head(dst)
        return meta

    async def _delete_prefix(self, prefix: str) -> int:
        """Unlink every artifact under ``prefix`` (a thousand per job), then empty folders."""
        plan = await self._run(plan_prefix, self._fs, prefix)
        count = 0
        for i in range(0, len(plan.keys), DELETE_BATCH):
            count += await self._run(delete_keys, self._fs, plan.keys[i : i + DELETE_BATCH])
        await self._run(remove_folders, self._fs, prefix, plan.folders)
        return count

    # ------------------------------------------------------------------- reading

    async def _complete(self, reader: Reader) -> Reader:
        """Fill in ``reader.sha256`` by hashing the file, a chunk per job."""
        while reader.sha256 is None:  # hash_more starts over if the file changes
            hasher, offset = hashlib.sha256(), 0
            while n := await self._run(
                self._fs.hash_more, reader, hasher, offset, DEFAULT_CHUNK_SIZE
            ):
                offset += n
        return reader

    async def _open(self, key: str, start: int, end: int | None, chunk: int) -> _LocalOpened:
        fs = self._fs
        reader: Reader = await self._run(fs.open, key, discard=fs.close)
        try:
            await self._complete(reader)
        except BaseException:
            self._worker.submit(fs.close, reader)
            raise
        return _LocalOpened(fs, self._worker, reader, start, end, chunk)

    async def get(self, key: str, *, verify: bool = False) -> bytes:
        """Return the artifact's bytes (small ones in a single worker hop)."""
        key = self.normalize_key(key)
        reader, data = await self._run(self._fs.read_small, key)
        if data is None or reader.sha256 is None:  # large: read it in chunks
            self._worker.submit(self._fs.close, reader)
            return await super().get(key, verify=verify)
        if verify:
            self._verify(key, data, reader.sha256)
        return data

    async def _head(self, key: str) -> ArtifactMetadata:
        fs = self._fs
        reader: Reader = await self._run(fs.open, key, discard=fs.close)
        try:
            await self._complete(reader)
            return fs.metadata_of(reader)
        finally:
            self._worker.submit(fs.close, reader)

    async def exists(self, key: str) -> bool:
        """Return whether an artifact is stored at ``key`` (one ``stat``, no hashing)."""
        return await self._run(self._fs.exists, self.normalize_key(key))

    async def _delete(self, key: str) -> bool:
        return await self._run(self._fs.delete, key)

    async def _get_url(self, key: str, expires_in: int) -> str:
        if self._url_base is not None and self._url_secret is not None:
            return signed_url(self._url_base, self._url_secret, key, expires_in)
        return self._fs.uri_of(key)

    async def _list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        if not recursive:
            entries = await self._run(scan, self._fs, prefix, True)
            yield Listing(
                [meta for _, meta in entries if meta is not None],
                [key for key, meta in entries if meta is None],
            )
            return
        # Depth-first, each folder's entries in order: that is key order, because
        # folders sort as "name/". Memory holds one folder listing per level.
        stack = [iter(await self._run(scan, self._fs, prefix, False))]
        while stack:
            page: list[ArtifactMetadata] = []
            for key, meta in stack[-1]:
                if meta is None:
                    if page:
                        yield Listing(page, [])
                    stack.append(iter(await self._run(scan, self._fs, key, False)))
                    break
                page.append(meta)
            else:
                stack.pop()
                if page:
                    yield Listing(page, [])

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove temporary files of dead writers (and, with ``older_than``, older ones)."""
        if self._closed:
            raise RuntimeError("this artifact store is closed")
        await self._run(self._fs.checked_path, "x")  # prepares the root, on the worker
        return await anyio.to_thread.run_sync(sweep_temporaries, self._fs, older_than)

    async def aclose(self) -> None:
        """Finish queued work (committing the index), then stop the worker thread."""
        if self._closed:
            return
        self._closed = True
        await self._worker.run(self._fs.index.close)
        self._worker.submit(self._fs.shutdown)
        self._worker.close()
