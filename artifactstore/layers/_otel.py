"""``OpenTelemetryLayer``: one span, one duration and one DEBUG record per user call.

Every store puts this layer outermost by itself when ``opentelemetry-api`` is
importable (see ``ArtifactStore``'s ``telemetry=``); it is public so that a store
can be given its own providers or ``include_keys``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from .. import _telemetry
from ..backend import Backend, Listing, OpenedArtifact
from ..metadata import ArtifactMetadata
from ..options import ReadOptions
from ._base import Layer, LayeredBackend, Operation
from ._logging import log_operation

__all__ = ["OpenTelemetryLayer"]

T = TypeVar("T")

#: Operations whose bytes count as written or read in ``artifactstore.io``.
_DIRECTION = {"put": "write", "get": "read", "stream": "read"}


class OpenTelemetryLayer(Layer):
    """Trace, measure and log every operation with OpenTelemetry (``opentelemetry-api``).

    Each user call makes one span, ``artifactstore.<operation>`` (kind CLIENT), the
    parent of whatever HTTP or AWS SDK instrumentation records inside it; it
    records ``artifactstore.operation.duration`` and friends on the meter
    ``artifactstore``, and one DEBUG record on ``artifactstore.telemetry``. See
    docs/observability.md for the span attributes and metrics.

    :param tracer_provider: the provider to trace with (default: the global one).
    :param meter_provider: the provider to measure with (default: the global one).
        The layers' and backends' own metrics (retries, limit waits, lanes, S3
        parts) always go to the global provider.
    :param include_keys: add the key (``artifactstore.key``) to spans and records;
        off by default because deal names are confidential. Metrics never carry keys.
    """

    name = "otel"

    def __init__(
        self,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        include_keys: bool = False,
    ) -> None:
        if not _telemetry.AVAILABLE:
            raise RuntimeError(
                "OpenTelemetryLayer needs opentelemetry-api: pip install 'artifactstore[otel]'"
            )
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self.include_keys = include_keys

    @property
    def always(self) -> bool:
        """Whether this layer was given a provider of its own (then it never steps aside)."""
        return self.tracer_provider is not None or self.meter_provider is not None

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _TracedBackend(backend, self)


class _Call:
    """One operation being traced: its span, start time and attributes."""

    __slots__ = ("attributes", "backend", "operation", "span", "started", "tally", "token")

    def __init__(self, backend: _TracedBackend, operation: str, key: str | None) -> None:
        from opentelemetry import context, trace

        self.backend = backend
        self.operation = operation
        self.tally: _telemetry.Attributes = (
            ("artifactstore.operation", operation),
            ("artifactstore.backend", backend.info.name),
        )
        self.attributes = dict(self.tally)
        span_attributes: dict[str, Any] = dict(self.attributes)
        if backend.include_keys and key is not None:
            span_attributes["artifactstore.key"] = key
        self.span = backend.tracer.start_span(
            f"artifactstore.{operation}",
            kind=trace.SpanKind.CLIENT,
            attributes=span_attributes,
        )
        self.token: object = None
        self.started = time.perf_counter()
        backend.meters.active.add(1, self.tally)
        # Current while the backend works, so that aiohttp's or botocore's spans are
        # its children; detached again before control returns to the caller.
        self.token = context.attach(trace.set_span_in_context(self.span))

    def detach(self) -> None:
        from opentelemetry import context

        if self.token is not None:
            context.detach(self.token)  # type: ignore[arg-type]
            self.token = None

    def end(self, size: int, error: BaseException | None, key: str | None, **more: Any) -> None:
        """End the span and record the call's metrics and DEBUG record."""
        from opentelemetry.trace import Status, StatusCode

        self.detach()
        duration = time.perf_counter() - self.started
        backend, span, attributes = self.backend, self.span, self.attributes
        meters = backend.meters
        meters.active.add(-1, self.tally)
        if size:
            span.set_attribute("artifactstore.bytes", size)
            direction = _DIRECTION.get(self.operation)
            if direction is not None:
                meters.io.add(size, (*self.tally, ("artifactstore.io.direction", direction)))
        for name, value in more.items():
            span.set_attribute(f"artifactstore.{name}", value)
        if error is not None:
            kind = _telemetry.error_type(error)
            span.set_status(Status(StatusCode.ERROR, _describe(error)))
            span.set_attribute("error.type", kind)
            attributes = {**attributes, "error.type": kind}
        meters.duration.record(duration, attributes)
        span.end()
        log = _telemetry.OPERATIONS_LOG
        if log.isEnabledFor(logging.DEBUG):
            log_operation(
                log,
                logging.DEBUG,
                self.operation,
                backend.info.name,
                key if backend.include_keys else None,
                duration,
                size,
                error,
                **more,
            )


def _describe(error: BaseException) -> str:
    # Only the class: error messages name keys, which are confidential.
    return type(error).__name__


def _size(result: object) -> int:
    if isinstance(result, ArtifactMetadata):
        return result.size_bytes
    if isinstance(result, tuple) and result and isinstance(result[0], bytes):
        return len(result[0])
    return 0


class _TracedBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: OpenTelemetryLayer) -> None:
        super().__init__(inner, layer)
        self.include_keys = layer.include_keys
        self.tracer = _telemetry.tracer(layer.tracer_provider)
        self.meters = _telemetry.instruments(layer.meter_provider)

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        traced = _Call(self, operation, key)
        try:
            result = await call()
        except BaseException as exc:
            traced.end(0, exc, key)
            raise
        traced.end(_size(result), None, key)
        return result

    async def open(self, key: str, options: ReadOptions) -> OpenedArtifact:
        traced = _Call(self, "stream", key)
        try:
            opened = await self.inner.open(key, options)
        except BaseException as exc:
            traced.end(0, exc, key)
            raise
        traced.detach()
        return _TracedStream(traced, key, opened)

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        from opentelemetry import context, trace

        traced = _Call(self, "list", prefix)
        traced.detach()  # current only while a page is fetched, not while the caller works
        pages = self.inner.list_dir(prefix, recursive=recursive)
        items, error = 0, None
        try:
            while True:
                token = context.attach(trace.set_span_in_context(traced.span))
                try:
                    page = await anext(pages, None)
                finally:
                    context.detach(token)
                if page is None:
                    return
                items += len(page.artifacts) + len(page.folders)
                yield page
        except BaseException as exc:
            error = exc
            raise
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
            traced.end(0, error, prefix, items=items)


class _TracedStream:
    """A stream whose span covers opening it, every read, and its time to first byte."""

    def __init__(self, traced: _Call, key: str, opened: OpenedArtifact) -> None:
        self.metadata = opened.metadata
        self._traced = traced
        self._key = key
        self._opened = opened
        self._bytes = 0
        self._first: float | None = None
        self._error: BaseException | None = None
        self._ended = False

    async def read(self) -> bytes:
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(self._traced.span))
        try:
            chunk = await self._opened.read()
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            context.detach(token)
        if chunk and self._first is None:
            self._first = time.perf_counter() - self._traced.started
            self._traced.backend.meters.first_byte.record(self._first, self._traced.attributes)
        self._bytes += len(chunk)
        return chunk

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            more = {} if self._first is None else {"time_to_first_byte": self._first}
            self._traced.end(self._bytes, self._error, self._key, **more)

    async def aclose(self) -> None:
        try:
            await self._opened.aclose()
        finally:
            self._end()

    def close_nowait(self) -> None:
        try:
            self._opened.close_nowait()
        finally:
            self._end()
