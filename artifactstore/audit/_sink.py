"""``AuditSink``: where a backend keeps its audit events, and the in-memory one.

A backend that can be audited returns a sink from ``Backend.audit_sink()``. The
sink gives each record the next sequence number and stores its canonical bytes
durably, in order, before ``append`` returns: the local backend in its index
database (group-committed with the batch), S3 as conditional objects under the
store's reserved area, memory in a list. Everything else (the layer, queries,
checkpoints, verification, proofs) works on any sink.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from ._events import AuditRecord

__all__ = ["AuditSink", "MemoryAuditSink"]


class AuditSink(Protocol):
    """An append-only, durable sequence of canonical audit events (see the module docstring).

    A protocol: a backend's sink need not import this package (the local and S3
    sinks do not, so that a store that keeps no trail never loads it).
    """

    async def append(self, records: Sequence[AuditRecord]) -> list[int]:
        """Number ``records`` consecutively after the last event and store them durably.

        All or nothing, in order; returns their sequence numbers. Several processes
        and event loops may append at once: numbers are never reused or skipped.
        Raises the library's errors when the events cannot be stored.
        """
        ...

    def entries(self, start: int = 1) -> AsyncIterator[tuple[int, bytes]]:
        """The stored events from ``start`` on as ``(seq, canonical bytes)``, in stored order.

        As stored, unchecked: verification is the reader's job.
        """
        ...

    async def origin(self) -> str:
        """The log's name in its checkpoints: stable for the life of the record."""
        ...


class MemoryAuditSink(AuditSink):
    """Events in this process's memory (the memory backend's): lost with it."""

    def __init__(self) -> None:
        self._events: list[bytes] = []
        self._lock = threading.Lock()
        self._origin = f"artifactstore.memory/{uuid.uuid4().hex}"

    async def append(self, records: Sequence[AuditRecord]) -> list[int]:
        """Number and keep ``records``."""
        with self._lock:
            first = len(self._events) + 1
            self._events.extend(r.seal(first + i) for i, r in enumerate(records))
        return list(range(first, first + len(records)))

    async def entries(self, start: int = 1) -> AsyncIterator[tuple[int, bytes]]:
        """The events from ``start`` on."""
        index = max(start, 1) - 1
        while True:
            with self._lock:
                if index >= len(self._events):
                    return
                raw = self._events[index]
            index += 1
            yield index, raw

    async def origin(self) -> str:
        """A random name, made with the store."""
        return self._origin

    def tamper(self) -> list[bytes]:
        """The stored bytes themselves, for tests that edit the record behind the log's back."""
        return self._events
