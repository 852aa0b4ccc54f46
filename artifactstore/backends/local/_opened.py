"""An open local artifact, read chunk by chunk on its reader's lane."""

from __future__ import annotations

from ..._worker import BatchWorker
from ...options import ReadOptions
from . import _read
from ._read import Reader
from ._room import Room

__all__ = ["LocalOpened"]


class LocalOpened:
    """An open local artifact, read chunk by chunk on its reader's lane."""

    def __init__(self, room: Room, lane: BatchWorker, reader: Reader, options: ReadOptions) -> None:
        self.metadata = _read.metadata_of(room, reader)
        self._lane = lane
        self._reader = reader
        size, end = reader.st.st_size, options.end
        self._offset = options.start
        self._end = size if end is None else min(end, size)
        self._chunk = options.chunk_size
        self._closed = False

    async def read(self) -> bytes:
        size = min(self._chunk, self._end - self._offset)
        if size <= 0 or self._closed:
            return b""
        data = await self._lane.run(_read.read, self._reader, self._offset, size)
        self._offset += len(data)
        if not data:  # the file shrank under us: stop rather than spin
            self._end = self._offset
        return data

    async def aclose(self) -> None:
        self.close_nowait()

    def close_nowait(self) -> None:
        # Queued, not run here: the lane may be reading this file right now, and
        # jobs of a lane run in order, so the close comes after that read.
        if not self._closed:
            self._closed = True
            self._lane.submit(_read.close, self._reader)
