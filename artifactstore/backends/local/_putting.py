"""The local backend's puts (``Puts``, a part of ``LocalBackend``): three paths.

* small bytes: one small-lane job writes, fsyncs and renames (``put_bytes``);
* anything larger: a temporary file written chunk by chunk on the large lane,
  committed on the small one (``begin``, ``write``, ``sync``, ``commit``);
* a put with ``before_commit`` (the audit layer's): the bytes staged in a synced
  temporary file, the callback awaited, then the commit (``stage_bytes``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..._sources import BytesSource, Source, chunks_of
from ..._worker import BatchWorker
from ...metadata import ArtifactMetadata
from ...options import DEFAULT_CHUNK_SIZE, PutOptions
from . import _write

if TYPE_CHECKING:
    from ._room import Room

__all__ = ["SMALL_PUT", "Puts"]

T = TypeVar("T")
#: Puts of up to this many bytes are written, fsynced and renamed in one small-lane job.
SMALL_PUT = 1024 * 1024


class Puts:
    """``LocalBackend``'s writes: it provides the lanes and the room."""

    _room: Room
    _large: BatchWorker

    if TYPE_CHECKING:

        async def _run(
            self, fn: Callable[..., T], *args: Any, discard: Callable[[T], object] | None = None
        ) -> T: ...

        async def _run_large(self, fn: Callable[..., T], *args: Any) -> T: ...

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        """Small data in one small-lane job; larger data staged chunk by chunk on the large lane."""
        mime_type, if_not_exists = options.mime_type, options.if_not_exists
        metadata = dict(options.metadata)
        if options.before_commit is not None:
            return await self._put_staged(key, source, options)
        if isinstance(source, BytesSource) and len(source.data) <= SMALL_PUT:
            return await self._run(
                _write.put_bytes, key, source.data, mime_type, metadata, if_not_exists
            )
        chunks = chunks_of(source, DEFAULT_CHUNK_SIZE)
        try:
            # A source that turns out small is written in one job, like small bytes.
            head: list[bytes | bytearray | memoryview] = []
            total = 0
            async for chunk in chunks:
                head.append(chunk)
                total += len(chunk)
                if total > SMALL_PUT:
                    break
            else:
                data = memoryview(b"".join(head))
                return await self._run(
                    _write.put_bytes, key, data, mime_type, metadata, if_not_exists
                )
            return await self._put_large(key, head, chunks, mime_type, metadata, if_not_exists)
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    async def _put_large(
        self,
        key: str,
        head: list[bytes | bytearray | memoryview],
        rest: AsyncIterator[bytes | bytearray | memoryview],
        mime_type: str,
        metadata: dict[str, str],
        if_not_exists: bool,
    ) -> ArtifactMetadata:
        room = self._room
        upload: _write.Upload = await self._run(_write.begin, key, discard=self._abort_later)
        try:
            for chunk in head:
                await self._run_large(_write.write, room, upload, chunk)
            head.clear()
            async for chunk in rest:
                await self._run_large(_write.write, room, upload, chunk)
            await self._run_large(_write.sync, room, upload)
            return await self._run(_write.commit, upload, mime_type, metadata, if_not_exists)
        except BaseException as exc:
            # Removes the temporary file (a no-op if the commit happened after all),
            # on the large lane, after any write of this upload still running there.
            await self._clean_up(self._large, exc, _write.abort, room, upload)
            raise

    async def _put_staged(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        """A put whose ``before_commit`` runs between staging the bytes and the commit."""
        assert options.before_commit is not None
        room = self._room
        if isinstance(source, BytesSource) and len(source.data) <= SMALL_PUT:
            data = memoryview(source.data)
            upload = await self._run(_write.stage_bytes, key, data, discard=self._abort_later)
        else:
            upload = await self._run(_write.begin, key, discard=self._abort_later)
            try:
                chunks = chunks_of(source, DEFAULT_CHUNK_SIZE)
                try:
                    async for chunk in chunks:
                        await self._run_large(_write.write, room, upload, chunk)
                finally:
                    await chunks.aclose()  # type: ignore[attr-defined]
                await self._run_large(_write.sync, room, upload)
            except BaseException as exc:
                await self._clean_up(self._large, exc, _write.abort, room, upload)
                raise
        try:
            if upload.replacing is None:
                await self._run_large(_write.replacing, room, upload)
            await options.before_commit(upload.hasher.hexdigest(), upload.size, upload.replacing)
            meta: ArtifactMetadata = await self._run(
                _write.commit, upload, options.mime_type, dict(options.metadata),
                options.if_not_exists,
            )  # fmt: skip
            return meta
        except BaseException as exc:
            await self._clean_up(self._large, exc, _write.abort, room, upload)
            raise

    def _abort_later(self, upload: _write.Upload) -> None:
        self._large.submit(_write.abort, self._room, upload)

    async def _clean_up(
        self, lane: BatchWorker, exc: BaseException, fn: Callable[..., object], *args: Any
    ) -> None:
        """Run the clean-up ``fn(*args)`` of a write that raised ``exc``.

        After a failure it is awaited, so that the error reaches the caller once
        nothing of the write is left on disk. After a cancellation (or if running it
        fails) it is queued instead: a cancelled task must not wait for the disk.
        """
        if isinstance(exc, Exception):
            try:
                await lane.run(fn, *args)
                return
            except Exception:  # queued below: a second failure is logged there
                pass
            except BaseException:  # cancelled meanwhile: an abandoned job is skipped
                lane.submit(fn, *args)  # (a second run of it is a no-op)
                raise
        lane.submit(fn, *args)
