"""How a store's backend is put together: backend < the user's layers < audit < telemetry.

``ArtifactStore`` keeps three backends: ``inner`` (the backend, the user's layers
and the audit layer), ``backend`` (what a call uses while nobody listens) and
``traced`` (``inner`` under the OpenTelemetry layer, used while an SDK or the
DEBUG operation log listens; ``None`` without telemetry). A telemetry layer given
providers of its own is always used: then ``backend`` is it and ``traced`` is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import _telemetry
from .backend import Backend

if TYPE_CHECKING:
    from .audit import AuditLayer
    from .layers import Layer, OpenTelemetryLayer

__all__ = ["assemble", "audit_layer", "telemetry_layer", "wrapped"]


def wrapped(backend: Backend, layers: Sequence[Layer]) -> Backend:
    """``backend`` in ``layers``, the first innermost."""
    from .layers import Layer

    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"layers are Layer objects, not {type(layer).__name__}")
        backend = layer.wrap(backend)
    return backend


def assemble(
    base: Backend, audit: AuditLayer | None, telemetry: OpenTelemetryLayer | None
) -> tuple[Backend, Backend, Backend | None]:
    """``(inner, backend, traced)`` over ``base`` (the backend in the user's layers)."""
    inner = base if audit is None else audit.wrap(base)
    if telemetry is None:
        return inner, inner, None
    traced = telemetry.wrap(inner)
    if telemetry.always:  # given providers of its own: always instrumented
        return inner, traced, None
    return inner, inner, traced


def audit_layer(audit: bool | AuditLayer) -> AuditLayer | None:
    """The audit layer a store's ``audit=`` asks for."""
    if audit is False:  # the common case: the audit package is not even imported
        return None
    from .audit import AuditLayer

    if isinstance(audit, AuditLayer):
        return audit
    if audit is not True:
        raise TypeError(f"audit is a bool or an AuditLayer, not {audit!r}")
    return AuditLayer()


def telemetry_layer(telemetry: bool | OpenTelemetryLayer | None) -> OpenTelemetryLayer | None:
    """The telemetry layer a store's ``telemetry=`` asks for (on by default where the API is)."""
    from .layers import OpenTelemetryLayer

    if isinstance(telemetry, OpenTelemetryLayer):
        return telemetry
    if telemetry is not None and not isinstance(telemetry, bool):
        raise TypeError(f"telemetry is a bool or an OpenTelemetryLayer, not {telemetry!r}")
    if telemetry is None:  # on where the API is, unless the environment says off
        if not _telemetry.AVAILABLE or _telemetry.disabled_by_env():
            return None
    elif not telemetry:
        return None
    return OpenTelemetryLayer()  # telemetry=True without the API: a clear RuntimeError
