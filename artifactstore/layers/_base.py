"""``Layer`` and ``LayeredBackend``: a backend that wraps another one.

A :class:`Layer` is the configuration (``RetryLayer(attempts=5)``); its
:meth:`Layer.wrap` returns a :class:`LayeredBackend` over the backend below. A
layered backend forwards everything it does not change. Every single-step
operation passes through :meth:`LayeredBackend.around`, so a layer that treats all
operations alike (a limit, a deadline, a log line) overrides that one method;
streams are handed to :meth:`LayeredBackend.opened` once open.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from .._sources import Source
from ..backend import Backend, BackendInfo, Listing, OpenedArtifact
from ..metadata import ArtifactMetadata
from ..options import PutOptions, ReadOptions

if TYPE_CHECKING:
    from ..audit import AuditSink
    from ..holds import HoldRegistry

__all__ = ["WRITES", "AroundEachRead", "Layer", "LayeredBackend", "Operation"]

T = TypeVar("T")

#: The operations a layer sees, named after the public method they serve: ``get``
#: is :meth:`Backend.read`, ``stream`` :meth:`Backend.open`, ``get_metadata``
#: :meth:`Backend.head`, ``list`` one page of :meth:`Backend.list_dir`.
Operation = Literal[
    "put",
    "get",
    "stream",
    "get_metadata",
    "exists",
    "delete",
    "copy",
    "move",
    "delete_prefix",
    "list",
    "get_url",
    "cleanup",
]
#: The operations that change what is stored.
WRITES: frozenset[str] = frozenset({"put", "copy", "move", "delete", "delete_prefix", "cleanup"})

_END = object()


class Layer(abc.ABC):
    """A piece of behaviour put around every operation of a backend.

    Give layers to :meth:`ArtifactStore.layer` (or the store's ``layers=``); the
    first listed sits closest to the backend.
    """

    #: The layer's name in ``BackendInfo.layers``.
    name: ClassVar[str] = "layer"
    #: Whether a backend that runs without an event loop still does under this
    #: layer (the sync facade's fast path): true when the layer awaits nothing
    #: but what it wraps, or waits through ``artifactstore._drive`` (which blocks
    #: the driving thread instead of the loop).
    keeps_sync_fast_path: ClassVar[bool] = True

    @abc.abstractmethod
    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` wrapped in this layer."""


class LayeredBackend(Backend):
    """A backend over ``inner`` that forwards everything, through :meth:`around`.

    :param inner: the backend below.
    :param layer: the layer this backend applies (names it in ``info.layers`` and
        says whether the sync fast path is kept).
    """

    def __init__(self, inner: Backend, layer: Layer) -> None:
        self.inner = inner
        below = inner.info
        self.info: BackendInfo = dataclasses.replace(
            below,
            layers=(layer.name, *below.layers),
            runs_without_event_loop=below.runs_without_event_loop and layer.keeps_sync_fast_path,
        )
        # Asked on every call (normalize_key): straight to the backend that answers it,
        # unless this layer changes the answer.
        if type(self).key_from_location is LayeredBackend.key_from_location:
            self.key_from_location = inner.key_from_location  # type: ignore[method-assign]

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        """Run one operation (``call()``, the backend below doing it); override to change it.

        ``key`` is the artifact key, the source key of a copy or move, the prefix of
        a listing or ``delete_prefix``, or ``None`` (``cleanup``).
        """
        return await call()

    def opened(self, key: str, opened: OpenedArtifact) -> OpenedArtifact:
        """The stream of ``key`` as this layer hands it up; override to watch its reads."""
        return opened

    # ------------------------------------------------------------- forwarded

    # Plain methods returning around()'s coroutine, with the call as a partial: one
    # coroutine frame per layer instead of three (this is the layers' whole cost).

    def put(
        self, key: str, source: Source, options: PutOptions
    ) -> Coroutine[Any, Any, ArtifactMetadata]:
        return self.around("put", key, partial(self.inner.put, key, source, options))

    def check_put(self, key: str, options: PutOptions) -> None:
        self.inner.check_put(key, options)

    async def open(self, key: str, options: ReadOptions) -> OpenedArtifact:
        opened = await self.around("stream", key, partial(self.inner.open, key, options))
        return self.opened(key, opened)

    def read(self, key: str) -> Coroutine[Any, Any, tuple[bytes, ArtifactMetadata]]:
        return self.around("get", key, partial(self.inner.read, key))

    def head(self, key: str) -> Coroutine[Any, Any, ArtifactMetadata]:
        return self.around("get_metadata", key, partial(self.inner.head, key))

    def exists(self, key: str) -> Coroutine[Any, Any, bool]:
        return self.around("exists", key, partial(self.inner.exists, key))

    def delete(self, key: str) -> Coroutine[Any, Any, bool]:
        return self.around("delete", key, partial(self.inner.delete, key))

    def copy(
        self, src: str, dst: str, *, if_not_exists: bool
    ) -> Coroutine[Any, Any, ArtifactMetadata]:
        call = partial(self.inner.copy, src, dst, if_not_exists=if_not_exists)
        return self.around("copy", src, call)

    def move(
        self, src: str, dst: str, *, if_not_exists: bool
    ) -> Coroutine[Any, Any, ArtifactMetadata]:
        call = partial(self.inner.move, src, dst, if_not_exists=if_not_exists)
        return self.around("move", src, call)

    def delete_prefix(self, prefix: str) -> Coroutine[Any, Any, int]:
        return self.around("delete_prefix", prefix, partial(self.inner.delete_prefix, prefix))

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        pages = self.inner.list_dir(prefix, recursive=recursive)
        try:
            while True:
                page = await self.around("list", prefix, partial(anext, pages, _END))
                if page is _END:
                    return
                assert isinstance(page, Listing)
                yield page
        finally:
            await pages.aclose()  # type: ignore[attr-defined]

    def get_url(self, key: str, expires_in: int) -> Coroutine[Any, Any, str]:
        return self.around("get_url", key, partial(self.inner.get_url, key, expires_in))

    def cleanup(self, *, older_than: float | None = None) -> Coroutine[Any, Any, int]:
        return self.around("cleanup", None, partial(self.inner.cleanup, older_than=older_than))

    def url(self) -> str:
        return self.inner.url()

    def key_from_location(self, key: str) -> str | None:
        return self.inner.key_from_location(key)

    def quiesce(self) -> Coroutine[Any, Any, None]:
        return self.inner.quiesce()

    def audit_sink(self) -> AuditSink | None:
        return self.inner.audit_sink()

    def hold_registry(self) -> HoldRegistry | None:
        return self.inner.hold_registry()

    def recorded(self, prefix: str) -> Coroutine[Any, Any, list[tuple[str, str]] | None]:
        return self.inner.recorded(prefix)

    def aclose(self) -> Coroutine[Any, Any, None]:
        return self.inner.aclose()


class AroundEachRead:
    """A stream whose every chunk read goes through its layer's ``around`` (as ``stream``).

    What ``opened()`` returns for a layer that treats each read as an operation of
    its own: a deadline per chunk, a permit per chunk.
    """

    def __init__(self, backend: LayeredBackend, key: str, opened: OpenedArtifact) -> None:
        self.metadata = opened.metadata
        self._backend = backend
        self._key = key
        self._opened = opened

    async def read(self) -> bytes:
        """The next chunk, through the layer."""
        return await self._backend.around("stream", self._key, self._opened.read)

    async def aclose(self) -> None:
        """Close the stream below."""
        await self._opened.aclose()

    def close_nowait(self) -> None:
        """Close the stream below without awaiting."""
        self._opened.close_nowait()
