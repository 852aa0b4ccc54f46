"""``RetryLayer``: transient failures tried again, with exponential backoff and jitter."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from .. import _telemetry
from .._drive import sleep
from .._sources import Source
from ..backend import Backend, Listing
from ..errors import ArtifactExistsError, ArtifactNotFoundError, StorageBackendError
from ..metadata import ArtifactMetadata
from ..options import PutOptions
from ._base import Layer, LayeredBackend, Operation
from ._replay import Replay

__all__ = ["RetryLayer"]

T = TypeVar("T")
log = logging.getLogger("artifactstore")


class RetryLayer(Layer):
    """Try an operation again when it failed with a transient error.

    Only errors the backend marked ``retryable`` (a ``StorageBackendError`` for a
    dropped connection, a 5xx or throttling answer, a ``StorageTimeoutError``) are
    retried; a missing artifact, a refusal or a bad key never are. Waits between
    tries grow exponentially (``initial_delay`` times ``multiplier`` per try, at most
    ``max_delay``), each shortened by a random part of up to ``jitter`` of itself so
    that many clients do not retry in step.

    A put's data is sent again only when it can be: bytes, a regular file, a
    seekable file object (from where it stood); an async iterable or a pipe is
    buffered up front when it is at most ``buffer_limit`` bytes, and otherwise
    sent once and not retried. A conditional write (``if_not_exists=True``) whose
    first try stored the artifact but lost the answer is not reported as a
    conflict: when a retry finds the key taken by exactly what this call wrote
    (same SHA-256, size, mime type and metadata), it returns that artifact. A
    stream is retried while it opens, not midway; a listing until its first page.
    A move reads its source's metadata first (one ``head``), so that a retry
    after a lost answer recognizes the artifact at its destination.

    :param attempts: tries in all, the first included (at least 1).
    :param initial_delay: seconds before the second try.
    :param max_delay: the longest wait between two tries.
    :param multiplier: how much each wait grows.
    :param jitter: the largest fraction of a wait taken off at random (0 to 1).
    :param buffer_limit: bytes of an async iterable held to be able to send it again.
    """

    name = "retry"

    def __init__(
        self,
        *,
        attempts: int = 4,
        initial_delay: float = 0.05,
        max_delay: float = 5.0,
        multiplier: float = 2.0,
        jitter: float = 0.5,
        buffer_limit: int = 1024 * 1024,
    ) -> None:
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"attempts must be an int >= 1, not {attempts!r}")
        if not 0 <= initial_delay <= max_delay:
            raise ValueError("delays must satisfy 0 <= initial_delay <= max_delay")
        if multiplier < 1 or not 0 <= jitter <= 1 or buffer_limit < 0:
            raise ValueError("multiplier must be >= 1, jitter 0 to 1, buffer_limit >= 0")
        self.attempts = attempts
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.multiplier = multiplier
        self.jitter = jitter
        self.buffer_limit = buffer_limit

    def delay(self, attempt: int) -> float:
        """Seconds to wait after try number ``attempt`` (1 for the first) failed."""
        full = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return full * (1 - self.jitter * random.random())

    def wrap(self, backend: Backend) -> Backend:
        """Return ``backend`` behind this layer."""
        return _RetryBackend(backend, self)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, StorageBackendError) and exc.retryable


class _RetryBackend(LayeredBackend):
    def __init__(self, inner: Backend, layer: RetryLayer) -> None:
        super().__init__(inner, layer)
        self._layer = layer

    async def _pause(self, operation: str, attempt: int, exc: BaseException) -> None:
        wait = self._layer.delay(attempt)
        kind = _telemetry.error_type(exc)
        # The error's class, not its message: messages name keys, which are confidential.
        log.warning(
            "artifactstore: %s on %s failed (%s); try %d in %.3f s",
            operation,
            self.info.name,
            kind,
            attempt + 1,
            wait,
            extra={
                "artifactstore_operation": operation,
                "artifactstore_backend": self.info.name,
                "artifactstore_attempt": attempt + 1,
                "artifactstore_error": kind,
            },
        )
        _telemetry.retried(operation, self.info.name, kind, attempt + 1, wait)
        await sleep(wait)

    async def around(
        self, operation: Operation, key: str | None, call: Callable[[], Awaitable[T]]
    ) -> T:
        attempt = 1
        while True:
            try:
                return await call()
            except StorageBackendError as exc:
                if not exc.retryable or attempt >= self._layer.attempts:
                    raise
                await self._pause(operation, attempt, exc)
            attempt += 1

    async def put(self, key: str, source: Source, options: PutOptions) -> ArtifactMetadata:
        replay = await Replay.of(source, self._layer.buffer_limit)
        attempt = 1
        while True:
            try:
                return await self.inner.put(key, replay.source, options)
            except ArtifactExistsError:
                if attempt > 1 and options.if_not_exists:
                    mine = await self._written_by_us(key, replay, options)
                    if mine is not None:
                        return mine
                raise
            except StorageBackendError as exc:
                if not exc.retryable or attempt >= self._layer.attempts:
                    raise
                if not await replay.rewind():
                    raise  # a one-shot source: its bytes are gone
                await self._pause("put", attempt, exc)
            attempt += 1

    async def _written_by_us(
        self, key: str, replay: Replay, options: PutOptions
    ) -> ArtifactMetadata | None:
        """The artifact at ``key`` if it is what this put sends (an earlier try wrote it)."""
        sha256 = await replay.sha256()
        try:
            meta = await self.inner.head(key)
        except ArtifactNotFoundError:
            return None
        same = (
            sha256 is not None
            and meta.sha256 == sha256
            and meta.mime_type == options.mime_type
            and dict(meta.metadata) == dict(options.metadata)
        )
        return meta if same else None

    async def copy(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        return await self._relocate("copy", src, dst, if_not_exists)

    async def move(self, src: str, dst: str, *, if_not_exists: bool) -> ArtifactMetadata:
        return await self._relocate("move", src, dst, if_not_exists)

    async def _relocate(
        self, operation: Operation, src: str, dst: str, if_not_exists: bool
    ) -> ArtifactMetadata:
        # A try may be done before its answer is lost: a retried conditional write then
        # finds the destination taken, a retried move its source gone. What the source
        # was is read first, to recognize it at the destination.
        moving = operation == "move"
        before = await self.inner.head(src) if if_not_exists or moving else None
        method = self.inner.move if moving else self.inner.copy
        attempt = 1
        while True:
            try:
                return await method(src, dst, if_not_exists=if_not_exists)
            except (ArtifactExistsError, ArtifactNotFoundError) as exc:
                lost = isinstance(exc, ArtifactExistsError) or (moving and exc.key == src)
                if attempt > 1 and before is not None and lost:
                    mine = await self._relocated_by_us(operation, src, dst, before)
                    if mine is not None:
                        return mine
                raise
            except StorageBackendError as exc:
                if not exc.retryable or attempt >= self._layer.attempts:
                    raise
                await self._pause(operation, attempt, exc)
            attempt += 1

    async def _relocated_by_us(
        self, operation: str, src: str, dst: str, before: ArtifactMetadata
    ) -> ArtifactMetadata | None:
        try:
            meta = await self.inner.head(dst)
        except ArtifactNotFoundError:
            return None
        if (meta.sha256, meta.mime_type, meta.metadata) != (
            before.sha256,
            before.mime_type,
            before.metadata,
        ):
            return None
        if operation == "move":  # the copy happened; finish by removing the source
            try:
                left = await self.inner.head(src)
            except ArtifactNotFoundError:
                return meta
            if left.sha256 == before.sha256:
                await self.inner.delete(src)
        return meta

    async def list_dir(self, prefix: str, *, recursive: bool) -> AsyncIterator[Listing]:
        attempt = 1
        while True:
            pages = self.inner.list_dir(prefix, recursive=recursive)
            started = False
            try:
                async for page in pages:
                    started = True
                    yield page
                return
            except StorageBackendError as exc:
                if started or not _retryable(exc) or attempt >= self._layer.attempts:
                    raise
                failure = exc
            finally:
                await pages.aclose()  # type: ignore[attr-defined]
            await self._pause("list", attempt, failure)
            attempt += 1
