"""How a store's backend is put together: backend < user layers < audit < holds < telemetry.

``ArtifactStore`` keeps: ``held`` (the backend, the user's layers, the audit layer
and the hold layer), ``backend`` (what a call uses while nobody listens) and
``traced`` (``held`` under the OpenTelemetry layer, used while an SDK or the
DEBUG operation log listens; ``None`` without telemetry). A telemetry layer given
providers of its own is always used: then ``backend`` is it and ``traced`` is None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _telemetry
from .backend import Backend

if TYPE_CHECKING:
    from .audit import AuditedBackend, AuditLayer
    from .layers import HeldBackend, Layer, OpenTelemetryLayer

__all__ = ["Assembled", "assemble", "audit_layer", "telemetry_layer", "wrapped"]


def wrapped(backend: Backend, layers: Sequence[Layer]) -> Backend:
    """``backend`` in ``layers``, the first innermost."""
    from .layers import Layer

    for layer in layers:
        if not isinstance(layer, Layer):
            raise TypeError(f"layers are Layer objects, not {type(layer).__name__}")
        backend = layer.wrap(backend)
    return backend


@dataclass(frozen=True)
class Assembled:
    """A store's backends (see the module docstring)."""

    #: The audit trail's backend, when the store keeps one.
    audited: AuditedBackend | None
    #: The backend in the user's layers, the audit layer and the hold layer.
    held: HeldBackend
    #: What a call uses while nobody listens.
    backend: Backend
    #: ``held`` under the telemetry layer, used while someone listens (or ``None``).
    traced: Backend | None


def assemble(
    base: Backend, audit: AuditLayer | None, telemetry: OpenTelemetryLayer | None
) -> Assembled:
    """Stack the layers over ``base`` (the backend in the user's layers).

    backend < the user's layers < audit < holds < telemetry: a hold's refusal is
    recorded in the trail once (``on_refused``), never as a write recorded ahead.
    """
    from .layers import HeldBackend, HoldLayer

    audited = None if audit is None else audit.wrap(base)
    on_refused = None if audited is None else audited.refused
    held = HoldLayer(on_refused=on_refused).wrap(base if audited is None else audited)
    assert isinstance(held, HeldBackend)
    if telemetry is None:
        return Assembled(audited, held, held, None)
    traced = telemetry.wrap(held)
    if telemetry.always:  # given providers of its own: always instrumented
        return Assembled(audited, held, traced, None)
    return Assembled(audited, held, held, traced)


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
