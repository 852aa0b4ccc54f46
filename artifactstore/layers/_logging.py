"""``LoggingLayer``: one standard ``logging`` record per operation."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from ..backend import Backend, Listing, OpenedArtifact
from ..errors import ArtifactExistsError, ArtifactNotFoundError
from ..metadata import ArtifactMetadata
from ._base import Layer, LayeredBackend, Operation

__all__ = ["LoggingLayer", "log_operation"]

T = TypeVar("T")

#: Outcomes that answer the question asked rather than fail it.
_ANSWERS = (ArtifactNotFoundError, ArtifactExistsError)


class LoggingLayer(Layer):
    """Log every operation once, when it ends: operation, backend, duration, bytes, outcome.

    Each record's message reads ``put local ok 0.412 ms 4096 B``; the same values are
    attributes of the record (``artifactstore_operation``, ``artifactstore_backend``,
    ``artifactstore_duration`` in seconds, ``artifactstore_bytes``,
    ``artifactstore_outcome``: ``ok`` or the error's class name), for structured
    handlers. A stream is one operation, logged when it is closed, with the bytes
    read; a listing is one, logged when it ends, with ``artifactstore_items``.

    Keys are left out unless ``include_keys=True`` (deal names are confidential);
    URLs, credentials and data never appear.

    :param logger: the logger, or its name (default ``artifactstore.operations``).
    :param level: the level of operations that succeeded, or answered "not found" or
        "exists" (default ``INFO``).
    :param error_level: the level of operations that failed (default ``WARNING``).
    :param include_keys: add the key (``artifactstore_key``) to each record.
    """

    name = "logging"

    def __init__(
        self,
        logger: logging.Logger | str | None = None,
        *,
        level: int = logging.INFO,
        error_level: int = logging.WARNING,
        include_keys: bool = False,
    ) -> None:
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or "artifactstore.operations")
        self.logger = logger
        self.level = level
        self.error_level = error_level
        self.include_keys = include_keys

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _LoggingBackend(backend, self)


def _size(result: object) -> int:
    if isinstance(result, ArtifactMetadata):
        return result.size_bytes
    if isinstance(result, tuple) and result and isinstance(result[0], bytes):
        return len(result[0])
    return 0


def log_operation(
    logger: logging.Logger,
    level: int,
    operation: str,
    backend: str,
    key: str | None,
    duration: float,
    size: int,
    error: BaseException | None,
    **more: Any,
) -> None:
    """Log one operation: ``put local ok 0.412 ms 4096 B`` and the same as ``extra`` fields.

    ``key`` is added (``artifactstore_key``) when not ``None``: pass it only when the
    application asked for keys.
    """
    outcome = "ok" if error is None else type(error).__name__
    extra: dict[str, Any] = {
        "artifactstore_operation": operation,
        "artifactstore_backend": backend,
        "artifactstore_duration": duration,
        "artifactstore_bytes": size,
        "artifactstore_outcome": outcome,
        **{f"artifactstore_{name}": value for name, value in more.items()},
    }
    message = "%s %s %s %.3f ms %d B"
    args: tuple[Any, ...] = (operation, backend, outcome, duration * 1e3, size)
    if key is not None:
        extra["artifactstore_key"] = key
        message += " %r"
        args += (key,)
    logger.log(level, message, *args, extra=extra)


class _LoggingBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: LoggingLayer) -> None:
        super().__init__(inner, layer)
        self._layer = layer
        self._backend = inner.info.name
        self._logger = layer.logger
        self._lowest = min(layer.level, layer.error_level)

    def _enabled(self) -> bool:
        return self._logger.isEnabledFor(self._lowest)

    def emit(
        self,
        operation: str,
        key: str | None,
        started: float,
        size: int,
        error: BaseException | None,
        **more: Any,
    ) -> None:
        layer = self._layer
        failed = error is not None and not isinstance(error, _ANSWERS)
        level = layer.error_level if failed else layer.level
        if layer.logger.isEnabledFor(level):
            duration = time.perf_counter() - started
            shown = key if layer.include_keys else None
            log_operation(
                layer.logger, level, operation, self._backend, shown, duration, size, error, **more
            )

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        if operation == "list" or not self._enabled():  # a listing is logged whole, below
            return await call()
        started = time.perf_counter()
        try:
            result = await call()
        except BaseException as exc:
            self.emit(operation, key, started, 0, exc)
            raise
        self.emit(operation, key, started, _size(result), None)
        return result

    async def open(self, key: str, options: Any) -> OpenedArtifact:
        started = time.perf_counter()
        try:
            opened = await self.inner.open(key, options)
        except BaseException as exc:
            if self._enabled():
                self.emit("stream", key, started, 0, exc)
            raise
        return _LoggedStream(self, key, opened, started) if self._enabled() else opened

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        if not self._enabled():
            async for page in super().list_dir(prefix, recursive=recursive):
                yield page
            return
        started, items, error = time.perf_counter(), 0, None
        try:
            async for page in super().list_dir(prefix, recursive=recursive):
                items += len(page.artifacts) + len(page.folders)
                yield page
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.emit("list", prefix, started, 0, error, items=items)


class _LoggedStream:
    """A stream that counts its bytes and logs once, when closed."""

    def __init__(
        self, backend: _LoggingBackend, key: str, opened: OpenedArtifact, started: float
    ) -> None:
        self.metadata = opened.metadata
        self._backend = backend
        self._key = key
        self._opened = opened
        self._started = started
        self._bytes = 0
        self._error: BaseException | None = None
        self._logged = False

    async def read(self) -> bytes:
        try:
            chunk = await self._opened.read()
        except BaseException as exc:
            self._error = exc
            raise
        self._bytes += len(chunk)
        return chunk

    def _log(self) -> None:
        if not self._logged:
            self._logged = True
            self._backend.emit("stream", self._key, self._started, self._bytes, self._error)

    async def aclose(self) -> None:
        try:
            await self._opened.aclose()
        finally:
            self._log()

    def close_nowait(self) -> None:
        try:
            self._opened.close_nowait()
        finally:
            self._log()
