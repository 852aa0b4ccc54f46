"""``ReadOnlyLayer``: every write refused before anything is touched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..backend import Backend
from ..errors import ReadOnlyStoreError
from ._base import WRITES, Layer, LayeredBackend, Operation

__all__ = ["ReadOnlyLayer"]

T = TypeVar("T")


class ReadOnlyLayer(Layer):
    """Refuse ``put``, ``copy``, ``move``, ``delete``, ``delete_prefix`` and ``cleanup``.

    Each raises :class:`~artifactstore.errors.ReadOnlyStoreError` (a
    ``PermissionError``) before the backend is called, so nothing is written,
    created or removed. For auditors' stores, and for the source side of a
    migration. Reads, listings and URLs pass through.
    """

    name = "read_only"

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _ReadOnlyBackend(backend, self)


class _ReadOnlyBackend(LayeredBackend):
    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        if operation in WRITES:
            what = f" {key!r}" if key is not None else ""
            raise ReadOnlyStoreError(
                f"this store is read-only: {operation}{what} was refused, and nothing was "
                "changed; write through a store without ReadOnlyLayer",
                key=key,
            )
        return await call()
