"""``LocalBackend``: the async face of the local filesystem backend.

It queues jobs (``_write``, ``_read``, ``_listing``, ``_manage``) on two lanes, each
a ``BatchWorker`` thread:

* the **small lane** runs everything that touches the index or a folder's entries
  (open, create, rename, link, unlink, scan, small reads and small puts in one job
  each) and ends every batch with the group commit (``Room.flush``);
* the **large lane** runs the long work that touches only one operation's own
  descriptors: chunks of large writes, their fsync, reads and hashing of large
  files, kernel copies, the walk that plans a ``delete_prefix``.

So a 1 GiB put never holds up a 5-byte get, and a caller's slow source (a pipe, a
FIFO, a stalled mount) is read on a thread of its own (``_sources``), not a lane.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..._drive import driving
from ..._worker import BatchWorker
from ...backend import Backend, BackendInfo, Listing
from ...errors import StorageConfigError, StoreClosedError
from ...metadata import ArtifactMetadata
from ...options import DEFAULT_CHUNK_SIZE, ReadOptions
from ...signing import check_link_settings, signed_url
from . import _manage, _prune, _read, _write
from ._audit import LocalAuditSink
from ._holds import LocalHoldRegistry
from ._listing import scan
from ._opened import LocalOpened
from ._putting import Puts
from ._read import Reader
from ._room import Room
from ._temps import sweep_temporaries
from .config import key_from_path

if TYPE_CHECKING:
    from ...audit import AuditSink

__all__ = ["LocalBackend"]

T = TypeVar("T")


class LocalBackend(Puts, Backend):
    """Artifacts as files under ``root`` (the DataRoom).

    The parameters are :class:`~artifactstore.LocalFilesystemArtifactStore`'s.
    """

    info = BackendInfo(
        name="local",
        scheme="file",
        file_and_folder_at_same_key=False,
        readable_urls=True,
        sha256_in_listings=True,
        runs_without_event_loop=True,
        staged_puts=True,
        holds=True,
    )

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
        url_binding: str = "sha256",
    ) -> None:
        check_link_settings(url_base, url_secret)
        if url_binding not in ("sha256", "key"):
            raise StorageConfigError(
                f"url_binding must be 'sha256' or 'key', not {url_binding!r}",
                setting="url_binding",
            )
        self._url_base = url_base
        self._url_secret = url_secret
        self._url_binding = url_binding
        given = os.path.abspath(os.path.expanduser(os.fspath(root)))
        self._given_root = given
        self._small = BatchWorker(
            f"artifactstore-local:{given}",
            on_batch_end=self._flush,
            on_fork=self._after_fork,
            lane="small",
        )
        self._large = BatchWorker(f"artifactstore-local-large:{given}", lane="large")
        self._room = Room(
            given,
            durable=durable,
            file_mode=file_mode,
            dir_mode=dir_mode,
            create=create,
            on_staged=self._small.mark_needs_flush,
        )
        self._closed = False
        self._audit: AuditSink | None = None
        self._holds: LocalHoldRegistry | None = None

    def _flush(self) -> None:
        self._room.flush()

    def _after_fork(self) -> None:
        self._room.after_fork()

    @property
    def root(self) -> str:
        """The DataRoom folder, symlinks resolved."""
        return self._room.root

    @property
    def durable(self) -> bool:
        """Whether puts are fsynced before they return."""
        return self._room.durable

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError()

    async def _run(
        self, fn: Callable[..., T], *args: Any, discard: Callable[[T], object] | None = None
    ) -> T:
        """Run ``fn(room, *args)`` on the small lane (preparing the root on first use)."""
        self._check_open()
        return await self._small.run(_prepared, self._room, fn, args, discard=discard)

    async def _run_large(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_open()
        return await self._large.run(fn, *args)

    def _lane(self, reader: Reader) -> BatchWorker:
        return self._large if reader.large else self._small

    def url(self) -> str:
        """``file:///root``, with ``?durable=false`` when so."""
        # Percent-encoded as storage URIs are; never the URL secret, so no link settings.
        uri = PurePosixPath(self._room.root).as_uri()
        return uri if self._room.durable else f"{uri}?durable=false"

    # ---------------------------------------------------------------- key spellings

    def key_from_location(self, key: str) -> str | None:
        """A ``file:`` URI or an absolute path inside the root, as a key."""
        return key_from_path(key, (self._room.root, self._given_root))

    # ---------------------------------------------------------------- management

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """A kernel copy (reflink or ``copy_file_range``) staged and committed like a put.

        The source's recorded SHA-256 is carried only if the source did not change
        during the copy; otherwise the copied bytes are hashed. A chunk per job.
        """
        room = self._room
        slot = _manage.CopySlot()
        copy: _manage.Copy | None = None
        try:
            copy = await self._run(_manage.begin_copy, slot, src, dst, if_not_exists)
            while await self._run_large(_manage.copy_more, room, copy, _manage.COPY_CHUNK):
                pass
            if copy.sha256 is None:  # a legacy file, or changed under us: hash the copy
                offset = 0
                while n := await self._run_large(
                    _manage.hash_copy, room, copy, offset, _manage.COPY_CHUNK
                ):
                    offset += n
            await self._run_large(_write.sync, room, copy.upload)
            return await self._run(_manage.commit_copy, copy, if_not_exists)
        except BaseException as exc:
            # Removes the temporary file (a no-op after a commit). Not begun yet
            # (cancelled while begin_copy ran): on the small lane, after it; else on
            # the large lane, after any copy job still running there.
            lane = self._small if copy is None else self._large
            await self._clean_up(lane, exc, _manage.abort_copy, room, slot)
            raise

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        """An atomic rename (link then unlink with ``if_not_exists``); the index row follows."""
        renamed, meta = await self._run(_manage.move, src, dst, if_not_exists)
        if not renamed:  # a symlink: copy what it leads to, then remove the link
            return await super().move(src, dst, if_not_exists=if_not_exists)
        if meta is None:  # the index knew nothing current: hash it at its new place
            return await self.head(dst)
        return meta

    async def delete_prefix(self, prefix: str) -> int:
        """Unlink every artifact under ``prefix`` (a thousand per job), then empty folders."""
        await self._run(_noop)  # prepares the root
        plan = await self._run_large(_prune.plan_prefix, self._room, prefix)
        count = 0
        for i in range(0, len(plan.keys), _prune.DELETE_BATCH):
            batch = plan.keys[i : i + _prune.DELETE_BATCH]
            count += await self._run(_prune.delete_keys, batch)
        await self._run(_prune.remove_folders, prefix, plan.folders)
        return count

    # ------------------------------------------------------------------- reading

    async def _complete(self, reader: Reader) -> Reader:
        """Fill in ``reader.sha256`` by hashing the file, a chunk per job on its lane."""
        lane = self._lane(reader)
        while reader.sha256 is None:  # hash_more starts over if the file changes
            hasher, offset = hashlib.sha256(), 0
            while n := await lane.run(
                _read.hash_more, self._room, reader, hasher, offset, DEFAULT_CHUNK_SIZE
            ):
                offset += n
        await self._run(_read.remember, reader)
        return reader

    async def _opened_reader(self, key: str) -> Reader:
        reader: Reader = await self._run(_read.open_reader, key, discard=self._close_later)
        try:
            if reader.sha256 is None:
                await self._complete(reader)
        except BaseException:
            self._close_later(reader)
            raise
        return reader

    def _close_later(self, reader: Reader) -> None:
        self._lane(reader).submit(_read.close, reader)

    async def open(self, key: str, options: ReadOptions) -> LocalOpened:
        """Open the file (hashing it first if the index has no current SHA-256)."""
        reader = await self._opened_reader(key)
        return LocalOpened(self._room, self._lane(reader), reader, options)

    async def read(self, key: str) -> tuple[bytes, ArtifactMetadata]:
        """A small artifact in a single small-lane job; a large one in chunks."""
        reader, data = await self._run(_read.read_small, key)
        if data is None or reader.sha256 is None:  # large: read it in chunks
            self._close_later(reader)
            return await super().read(key)
        return data, _read.metadata_of(self._room, reader)

    async def head(self, key: str) -> ArtifactMetadata:
        """The index row, or the file hashed when the index has none current."""
        reader = await self._opened_reader(key)
        try:
            return _read.metadata_of(self._room, reader)
        finally:
            self._close_later(reader)

    async def exists(self, key: str) -> bool:
        """One ``stat``, no hashing."""
        return await self._run(_read.exists, key)

    async def delete(self, key: str) -> bool:
        """Unlink the file and its index row."""
        return await self._run(_write.delete, key)

    async def get_url(self, key: str, expires_in: int) -> str:
        """A signed link under ``url_base`` (by default bound to the SHA-256), else ``file:``."""
        if self._url_base is None or self._url_secret is None:
            return self._room.uri_of(key)
        # Bound to the bytes there now (ArtifactNotFoundError if none), or to the key.
        sha256 = (await self.head(key)).sha256 if self._url_binding == "sha256" else None
        return signed_url(self._url_base, self._url_secret, key, expires_in, sha256=sha256)

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        """Folder by folder, depth first: key order."""
        if not recursive:
            entries = await self._run(scan, prefix, True)
            yield Listing(
                [meta for _, meta in entries if meta is not None],
                [key for key, meta in entries if meta is None],
            )
            return
        # Depth-first, each folder's entries in order: that is key order, because
        # folders sort as "name/". Memory holds one folder listing per level.
        stack = [iter(await self._run(scan, prefix, False))]
        while stack:
            page: list[ArtifactMetadata] = []
            for key, meta in stack[-1]:
                if meta is None:
                    if page:
                        yield Listing(page, [])
                    stack.append(iter(await self._run(scan, key, False)))
                    break
                page.append(meta)
            else:
                stack.pop()
                if page:
                    yield Listing(page, [])

    async def cleanup(self, *, older_than: float | None = None) -> int:
        """Remove temporary files of dead writers (and, with ``older_than``, older ones)."""
        root_fd = await self._run(_dup_root, discard=os.close)
        if driving():  # the sync facade's own thread may block
            return sweep_temporaries(root_fd, older_than)
        return await anyio.to_thread.run_sync(sweep_temporaries, root_fd, older_than)

    async def recorded(self, prefix: str) -> list[tuple[str, str]]:
        """The index's rows under ``prefix``: what was stored, files removed since included."""
        return await self._run(_recorded, prefix)

    def hold_registry(self) -> LocalHoldRegistry:
        """The DataRoom's holds and retentions, in its index database (``_holds``)."""
        if self._holds is None:
            self._holds = LocalHoldRegistry(self._run)
        return self._holds

    def audit_sink(self) -> AuditSink:
        """The DataRoom's audit trail, in its index database (``_audit``)."""
        if self._audit is None:
            self._audit = LocalAuditSink(self._run)
        return self._audit

    async def quiesce(self) -> None:
        """Wait for the clean-ups queued so far: small lane first, which may queue on the large."""
        if not self._closed:
            await self._small.run(_noop)
            await self._large.run(_noop)

    async def aclose(self) -> None:
        """Finish queued work (committing the index), then stop the lanes' threads."""
        if self._closed:
            return
        self._closed = True
        try:
            # Clean-ups first: a discarded result on the small lane queues its abort on
            # the large lane, so drain the small lane, then the large one.
            await self._small.run(_noop)
            await self._large.run(_noop)
            await self._small.run(self._room.index.close)
        finally:
            self._small.submit(self._room.shutdown)
            self._small.close()
            self._large.close()


def _prepared(room: Room, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    room.prepare()
    return fn(room, *args)


def _recorded(room: Room, prefix: str) -> list[tuple[str, str]]:
    return room.index.recorded_under(prefix)


def _noop(*_: object) -> None:
    pass


def _dup_root(room: Room) -> int:
    return os.dup(room.tree.fd)
