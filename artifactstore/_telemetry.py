"""OpenTelemetry for the library: tracers, instruments, and whether anyone listens.

Only ``opentelemetry-api`` is used (the ``otel`` extra); the library never
imports the SDK. Without the API every function here is a no-op and stores are
not instrumented. With the API but no SDK, a store skips its instrumentation
layer entirely (:func:`listening`), so that the common case costs one check.

The instruments are made once per meter provider (the global one, whose proxy
becomes real when the application installs an SDK, or one a store was given),
never per store: two stores, or a store closed and made again, never register an
instrument twice.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._config import env

__all__ = [
    "AVAILABLE",
    "DISABLE_ENV",
    "Instruments",
    "disabled_by_env",
    "error_type",
    "instruments",
    "listening",
    "metrics_listening",
    "tracer",
    "watch_queue",
]

VERSION = "0.1.0"
#: ``ARTIFACT_OTEL=false`` turns the instrumentation off for stores that do not say.
DISABLE_ENV = "ARTIFACT_OTEL"
#: Where the instrumentation writes its DEBUG record per operation (the LoggingLayer,
#: when used, writes to ``artifactstore.operations``: two layers, two loggers).
OPERATIONS_LOG = logging.getLogger("artifactstore.telemetry")

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.metrics import _internal as _metric_globals
except ImportError:  # pragma: no cover - the extra is not installed
    AVAILABLE = False
else:
    AVAILABLE = True


class _Set:
    """A stand-in for the API's globals when they cannot be read: always "set"."""

    _TRACER_PROVIDER: object = True
    _METER_PROVIDER: object = True


def _globals() -> tuple[Any, Any]:
    # Whether an application installed an SDK is a pair of module globals of the API
    # (``_TRACER_PROVIDER``, ``_METER_PROVIDER``, set once and never unset). Reading
    # them costs ~10 ns; ``get_tracer_provider()`` ~300 ns, a third of a memory get.
    # If a future API renames them, or providers come from the environment, the
    # stand-in says "set" and every call goes through the (correct) slow path.
    if not AVAILABLE:
        return _Set, _Set
    from_env = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
    from_env = from_env or "OTEL_PYTHON_METER_PROVIDER" in os.environ
    if from_env or not hasattr(_trace, "_TRACER_PROVIDER"):
        return _Set, _Set
    if not hasattr(_metric_globals, "_METER_PROVIDER"):
        return _Set, _Set
    return _trace, _metric_globals


#: Read by the store on every call: ``TRACES._TRACER_PROVIDER is None and
#: METERS._METER_PROVIDER is None`` means no SDK is installed.
TRACES, METERS = _globals()


#: The logger's own cache of ``isEnabledFor`` answers, which ``logging`` clears (the
#: same dict) whenever a level changes: a lookup there costs a third of the call.
LEVELS: dict[int, bool] = getattr(OPERATIONS_LOG, "_cache", {})


def debug_log() -> bool:
    """Whether ``artifactstore.telemetry`` writes DEBUG records."""
    enabled = LEVELS.get(logging.DEBUG)
    return OPERATIONS_LOG.isEnabledFor(logging.DEBUG) if enabled is None else enabled


def listening() -> bool:
    """Whether an SDK is installed, or operation logs are enabled: instrument the call."""
    return TRACES._TRACER_PROVIDER is not None or METERS._METER_PROVIDER is not None or debug_log()


def metrics_listening() -> bool:
    """Whether a meter provider is installed (for the backends' own metrics)."""
    return AVAILABLE and METERS._METER_PROVIDER is not None


def disabled_by_env() -> bool:
    """Whether the environment turns the instrumentation off.

    ``ARTIFACT_OTEL=false``, or ``artifactstore`` listed in
    ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` (OpenTelemetry's own switch).
    """
    value = env(os.environ, DISABLE_ENV)
    if value is not None and value.strip().lower() in {"0", "false", "no", "off"}:
        return True
    names = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
    return "artifactstore" in {name.strip() for name in names.split(",")}


def error_type(exc: BaseException) -> str:
    """``error.type`` of an exception: its class's public path (``artifactstore.X``)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# ------------------------------------------------------------------ tracers


_tracers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_global_tracer: Any = None


def tracer(provider: Any = None) -> Any:
    """The library's tracer from ``provider``, or from the global one (a proxy until set)."""
    global _global_tracer
    if provider is None:
        if _global_tracer is None:
            _global_tracer = _trace.get_tracer("artifactstore", VERSION)
        return _global_tracer
    found = _tracers.get(provider)
    if found is None:
        found = _tracers[provider] = _trace.get_tracer(
            "artifactstore", VERSION, tracer_provider=provider
        )
    return found


# -------------------------------------------------------------- instruments

#: ``db.client.operation.duration``'s advised buckets, in seconds.
_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


Attributes = tuple[tuple[str, str], ...]


class Tally:
    """Sums kept in this process, reported when the SDK collects.

    An observable instrument's callback reads them: adding costs a dictionary
    update under a lock, not an SDK measurement (microseconds each, two a call).
    """

    def __init__(self) -> None:
        self._sums: dict[Attributes, int] = {}
        self._lock = threading.Lock()

    def add(self, amount: int, attributes: Attributes) -> None:
        """Add ``amount`` to the sum of ``attributes``."""
        with self._lock:
            self._sums[attributes] = self._sums.get(attributes, 0) + amount

    def observe(self, options: Any) -> Iterable[Any]:
        """The sums as observations (the instrument's callback)."""
        from opentelemetry.metrics import Observation

        with self._lock:
            found = list(self._sums.items())
        return [Observation(total, dict(attributes)) for attributes, total in found]


@dataclass(frozen=True)
class Instruments:
    """Every instrument of the ``artifactstore`` meter (see docs/observability.md)."""

    duration: Any
    io: Tally
    active: Tally
    first_byte: Any
    retries: Any
    limit_wait: Any
    batch_size: Any
    fsync: Any
    parts: Any
    aborts: Any


_instruments: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()
_global_instruments: Instruments | None = None
_lock = threading.Lock()


def _histogram(meter: Any, name: str, unit: str, text: str, buckets: Iterable[float]) -> Any:
    try:
        return meter.create_histogram(
            name, unit=unit, description=text, explicit_bucket_boundaries_advisory=list(buckets)
        )
    except TypeError:  # an API older than 1.23: no advice
        return meter.create_histogram(name, unit=unit, description=text)


def _make(meter: Any) -> Instruments:
    meter.create_observable_gauge(
        "artifactstore.local.queue.depth",
        callbacks=[_queue_depths],
        unit="{job}",
        description="Jobs waiting on a local backend's lane",
    )
    io, active = Tally(), Tally()
    meter.create_observable_counter(
        "artifactstore.io",
        callbacks=[io.observe],
        unit="By",
        description="Bytes written (put) and read (get, stream)",
    )
    meter.create_observable_up_down_counter(
        "artifactstore.operations.active",
        callbacks=[active.observe],
        unit="{operation}",
        description="Operations in flight",
    )
    return Instruments(
        duration=_histogram(
            meter,
            "artifactstore.operation.duration",
            "s",
            "Duration of artifactstore operations",
            _DURATION_BUCKETS,
        ),
        io=io,
        active=active,
        first_byte=_histogram(
            meter,
            "artifactstore.stream.time_to_first_byte",
            "s",
            "Time from opening a stream to its first byte",
            _DURATION_BUCKETS,
        ),
        retries=meter.create_counter(
            "artifactstore.retries", unit="{retry}", description="Tries repeated by RetryLayer"
        ),
        limit_wait=_histogram(
            meter,
            "artifactstore.limit.wait",
            "s",
            "Time an operation waited for a ConcurrencyLimitLayer permit",
            _DURATION_BUCKETS,
        ),
        batch_size=_histogram(
            meter,
            "artifactstore.local.batch.size",
            "{job}",
            "Jobs run in one batch of a local backend's lane",
            _SIZE_BUCKETS,
        ),
        fsync=_histogram(
            meter,
            "artifactstore.local.fsync.duration",
            "s",
            "Time a local batch spent in fsync",
            _DURATION_BUCKETS,
        ),
        parts=meter.create_counter(
            "artifactstore.s3.multipart.parts", unit="{part}", description="S3 parts uploaded"
        ),
        aborts=meter.create_counter(
            "artifactstore.s3.multipart.aborts",
            unit="{upload}",
            description="S3 multipart uploads aborted",
        ),
    )


def instruments(provider: Any = None) -> Instruments:
    """The instruments on ``provider``'s meter (the global provider's by default), made once."""
    global _global_instruments
    if provider is None:
        found = _global_instruments
        if found is None:
            with _lock:
                if _global_instruments is None:
                    _global_instruments = _make(_metrics.get_meter("artifactstore", VERSION))
                found = _global_instruments
        return found
    with _lock:
        found = _instruments.get(provider)
        if found is None:
            found = _instruments[provider] = _make(provider.get_meter("artifactstore", VERSION))
        return found


# ------------------------------------------------------- backends' own metrics

_queues: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def watch_queue(owner: Any, lane: str) -> None:
    """Report ``owner.queue_depth()`` as ``artifactstore.local.queue.depth`` while it lives."""
    if AVAILABLE:
        with _lock:
            _queues[owner] = lane


def _queue_depths(options: Any) -> Iterable[Any]:
    from opentelemetry.metrics import Observation

    with _lock:
        watched = list(_queues.items())
    totals: dict[str, int] = {}
    for owner, lane in watched:
        totals[lane] = totals.get(lane, 0) + owner.queue_depth()
    return [Observation(n, {"artifactstore.lane": lane}) for lane, n in sorted(totals.items())]


def retried(operation: str, backend: str, kind: str, attempt: int, wait: float) -> None:
    """A RetryLayer tries again: count it, and note it on the current span."""
    if not AVAILABLE:
        return
    span = _trace.get_current_span()
    if span.is_recording():
        span.add_event(
            "artifactstore.retry",
            {"artifactstore.attempt": attempt, "error.type": kind, "artifactstore.delay": wait},
        )
    if metrics_listening():
        attributes = {
            "artifactstore.operation": operation,
            "artifactstore.backend": backend,
            "error.type": kind,
        }
        instruments().retries.add(1, attributes)


def waited(operation: str, backend: str, seconds: float) -> None:
    """An operation waited ``seconds`` for a ConcurrencyLimitLayer permit."""
    if metrics_listening():
        attributes = {"artifactstore.operation": operation, "artifactstore.backend": backend}
        instruments().limit_wait.record(seconds, attributes)


def batch_done(lane: str, size: int) -> None:
    """A local lane ran a batch of ``size`` jobs."""
    if metrics_listening():
        instruments().batch_size.record(size, {"artifactstore.lane": lane})


def fsynced(seconds: float) -> None:
    """A local batch's fsyncs (the folders it changed) took ``seconds``."""
    if metrics_listening():
        instruments().fsync.record(seconds)


def part_uploaded() -> None:
    """An S3 multipart upload sent one part."""
    if metrics_listening():
        instruments().parts.add(1, {"artifactstore.backend": "s3"})


def upload_aborted(reason: str) -> None:
    """An S3 multipart upload was aborted (``failed``: a put failed; ``cleanup``)."""
    if metrics_listening():
        instruments().aborts.add(1, {"artifactstore.backend": "s3", "artifactstore.reason": reason})
