"""Layers: behaviour put around every operation of a store, the same for every backend.

Wrap a store's backend in layers with :meth:`ArtifactStore.layer` (or the
``layers=`` argument of a store's constructor); the first layer listed sits
closest to the backend, and a call passes through the last one first::

    from artifactstore.layers import (
        ConcurrencyLimitLayer, LoggingLayer, RetryLayer, TimeoutLayer,
    )

    store = LocalFilesystemArtifactStore("~/DataRoom").layer(
        TimeoutLayer(10),           # each try at most 10 s
        RetryLayer(attempts=4),     # transient failures tried again
        ConcurrencyLimitLayer(64),  # at most 64 operations at once
        LoggingLayer(),             # one log record per call, as the caller saw it
    )

That order is the one this module recommends: a timeout inside the retry bounds
each try; the limit outside the retry holds a permit through the waits between
tries; the log outermost sees one record per call, with its whole duration.

Built in: :class:`RetryLayer`, :class:`TimeoutLayer`, :class:`ConcurrencyLimitLayer`
(with :class:`ConcurrencyLimit` to share a limit), :class:`ReadOnlyLayer`,
:class:`LoggingLayer`, and :class:`OpenTelemetryLayer`, which every store puts
outermost by itself when ``opentelemetry-api`` is installed.
``artifactstore.testing.FaultLayer`` injects failures for tests. Write your own
by subclassing :class:`Layer` and :class:`LayeredBackend` (see
docs/backends-and-layers.md).
"""

from __future__ import annotations

from .. import _publish
from ._base import WRITES, AroundEachRead, Layer, LayeredBackend, Operation
from ._holds import HeldBackend, HoldLayer
from ._limit import ConcurrencyLimit, ConcurrencyLimitLayer
from ._logging import LoggingLayer
from ._otel import OpenTelemetryLayer
from ._read_only import ReadOnlyLayer
from ._retry import RetryLayer
from ._timeout import TimeoutLayer

__all__ = [
    "WRITES",
    "AroundEachRead",
    "ConcurrencyLimit",
    "ConcurrencyLimitLayer",
    "HeldBackend",
    "HoldLayer",
    "Layer",
    "LayeredBackend",
    "LoggingLayer",
    "OpenTelemetryLayer",
    "Operation",
    "ReadOnlyLayer",
    "RetryLayer",
    "TimeoutLayer",
]

_publish(__name__, __all__, globals())
