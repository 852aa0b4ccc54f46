"""``S3ArtifactStore``: an ``ArtifactStore`` over the S3 backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ... import _publish
from ...store import ArtifactStore
from ._settings import S3Settings
from .backend import S3Backend

if TYPE_CHECKING:
    from ...audit import AuditLayer
    from ...layers import Layer, OpenTelemetryLayer

__all__ = ["S3ArtifactStore"]


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects in ``bucket``, under an optional key ``prefix``.

    Credentials come from the standard AWS chain (environment, profile, role) unless
    given; they never appear in a repr, a log line or an error message. See
    :class:`~artifactstore.backends.s3.S3Settings` for every option.

    :param layers: layers to wrap the backend in (see :meth:`ArtifactStore.layer`).
    :param audit: keep an audit trail of every operation (see :meth:`audit_log`).
    :param telemetry: OpenTelemetry instrumentation (see :class:`ArtifactStore`):
        ``None`` on where the API is installed, ``False`` off.
    """

    def __init__(
        self,
        bucket: str,
        *,
        layers: Sequence[Layer] = (),
        audit: bool | AuditLayer = False,
        telemetry: bool | OpenTelemetryLayer | None = None,
        **options: Any,
    ) -> None:
        self._s3 = S3Backend(S3Settings.build(bucket, **options))
        super().__init__(self._s3, layers=layers, audit=audit, telemetry=telemetry)

    @property
    def bucket(self) -> str:
        """The bucket name."""
        return self._s3.bucket

    @property
    def settings(self) -> S3Settings:
        """The store's options, validated."""
        return self._s3.settings


# Users import it as artifactstore.S3ArtifactStore (loaded on first use, so named here).
_publish("artifactstore", ["S3ArtifactStore"], globals())
