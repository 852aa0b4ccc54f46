"""``FaultLayer``: failures, latency and stalls injected per operation and per call."""

from __future__ import annotations

import collections
import copy
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, Union

from .._drive import sleep
from ..backend import Backend, OpenedArtifact
from ..errors import StorageBackendError
from ..layers import Layer, LayeredBackend, Operation

if TYPE_CHECKING:
    from ..audit import AuditRecord, AuditSink

__all__ = ["Fault", "FaultLayer", "transient"]

T = TypeVar("T")
ErrorSpec = Union[BaseException, type[BaseException], Callable[[], BaseException]]  # noqa: UP007

#: Seconds a stalled call waits: longer than any test, shorter than for ever.
STALL = 3600.0


def transient(message: str = "injected transient failure") -> StorageBackendError:
    """A ``StorageBackendError`` marked retryable, as a backend raises for a dropped connection."""
    return StorageBackendError(message, retryable=True)


@dataclass(frozen=True)
class Fault:
    """One fault: which calls it hits, and what happens to them.

    ``operation`` is an :data:`artifactstore.layers.Operation` (``"put"``,
    ``"get"``, ``"stream"``, ...), ``"read"`` for each chunk read from a stream, or
    ``"audit"`` for each append to the store's audit trail;
    ``None`` hits every operation. ``calls`` holds the numbers (from 1) of the
    matching calls it hits, counted per operation by the layer (``{1}``,
    ``range(1, 4)``); ``None`` hits every one.
    """

    operation: str | None = None
    calls: Container[int] | None = None
    #: Raised: an exception, an exception class, or a function returning one.
    error: ErrorSpec | None = None
    #: Seconds of latency before the call.
    delay: float = 0.0
    #: Never answer (until cancelled, or a deadline passes).
    stall: bool = False
    #: Raise ``error`` after the call went through: the work is done, its answer lost.
    after: bool = False

    def hits(self, operation: str, number: int) -> bool:
        """Whether call ``number`` of ``operation`` is hit."""
        if self.operation is not None and self.operation != operation:
            return False
        return self.calls is None or number in self.calls

    def raise_error(self) -> None:
        """Raise this fault's error, if it has one."""
        error = self.error
        if error is None:
            return
        if isinstance(error, BaseException):
            raise copy.copy(error)
        raise error()


class FaultLayer(Layer):
    """Inject failures, latency and stalls below a store, for tests.

    Not for production (in the manner of object_store's ``ThrottledStore``, it is
    kept out of :mod:`artifactstore.layers`)::

        store = MemoryArtifactStore().layer(
            FaultLayer(Fault("put", calls={1}, error=transient())),
            RetryLayer(),
        )

    ``calls`` counts the calls seen per operation. Keeps the sync facade's fast
    path: a delay or a stall blocks the driving thread.
    """

    name = "fault"

    def __init__(self, *faults: Fault) -> None:
        self.faults = list(faults)
        self.calls: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def count(self, operation: str) -> list[Fault]:
        """Count one call of ``operation``; return the faults that hit it."""
        with self._lock:
            self.calls[operation] += 1
            number = self.calls[operation]
        return [f for f in self.faults if f.hits(operation, number)]

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _FaultBackend(backend, self)


async def _before(hits: list[Fault]) -> None:
    for fault in hits:
        if fault.delay:
            await sleep(fault.delay)
        if fault.stall:
            await sleep(STALL)
        if not fault.after:
            fault.raise_error()


def _after(hits: list[Fault]) -> None:
    for fault in hits:
        if fault.after:
            fault.raise_error()


class _FaultBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: FaultLayer) -> None:
        super().__init__(inner, layer)
        self._layer = layer

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        hits = self._layer.count(operation)
        if not hits:
            return await call()
        await _before(hits)
        result = await call()
        _after(hits)
        return result

    def opened(self, key: str, opened: OpenedArtifact) -> OpenedArtifact:
        return _FaultyStream(self._layer, opened)

    def audit_sink(self) -> AuditSink | None:
        # Appends to the audit trail are operation "audit": a fault there is an
        # event that cannot be recorded.
        sink = self.inner.audit_sink()
        return None if sink is None else _faulty_sink(self._layer, sink)


def _faulty_sink(layer: FaultLayer, sink: AuditSink) -> AuditSink:
    from ..audit import AuditSink

    class FaultySink(AuditSink):
        async def append(self, records: Sequence[AuditRecord]) -> list[int]:
            hits = layer.count("audit")
            await _before(hits)
            seqs = await sink.append(records)
            _after(hits)
            return seqs

        def entries(self, start: int = 1) -> AsyncIterator[tuple[int, bytes]]:
            return sink.entries(start)

        async def origin(self) -> str:
            return await sink.origin()

    return FaultySink()


class _FaultyStream:
    def __init__(self, layer: FaultLayer, opened: OpenedArtifact) -> None:
        self.metadata = opened.metadata
        self._layer = layer
        self._opened = opened

    async def read(self) -> bytes:
        hits = self._layer.count("read")
        await _before(hits)
        chunk = await self._opened.read()
        _after(hits)
        return chunk

    async def aclose(self) -> None:
        await self._opened.aclose()

    def close_nowait(self) -> None:
        self._opened.close_nowait()
