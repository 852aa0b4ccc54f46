"""``LocalFilesystemArtifactStore``: an ``ArtifactStore`` over the local backend."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...store import ArtifactStore
from .backend import LocalBackend

if TYPE_CHECKING:
    from ...audit import AuditLayer
    from ...layers import Layer, OpenTelemetryLayer

__all__ = ["LocalFilesystemArtifactStore"]


class LocalFilesystemArtifactStore(ArtifactStore):
    """Artifacts as files under ``root`` (the DataRoom).

    :param root: the DataRoom folder; created (with ``dir_mode``) if missing and
        ``create`` is true.
    :param durable: fsync files and folders before a put returns (default). Turn
        it off only for scratch data: a power cut may then lose recent puts.
    :param file_mode: permission bits of new files, whatever the umask.
    :param dir_mode: permission bits of new folders, whatever the umask.
    :param create: create ``root`` if it does not exist.
    :param url_base: with ``url_secret``, ``get_url`` returns signed, expiring http(s)
        links under this base (served by ``artifactstore.web.download_app``)
        instead of ``file://`` URIs.
    :param url_secret: the HMAC secret of those links (at least 32 characters).
    :param url_binding: what a link names: ``"sha256"`` (the default) the artifact's
        bytes when the link was made (``get_url`` raises ``ArtifactNotFoundError``
        for a missing key; once the bytes change the link answers 410 Gone), or
        ``"key"`` whatever is stored at the key when the link is followed.
    :param layers: layers to wrap the backend in (see :meth:`ArtifactStore.layer`).
    :param audit: keep an audit trail of every operation (see :meth:`audit_log`).
    :param telemetry: OpenTelemetry instrumentation (see :class:`ArtifactStore`):
        ``None`` on where the API is installed, ``False`` off.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durable: bool = True,
        file_mode: int = 0o640,
        dir_mode: int = 0o750,
        create: bool = True,
        url_base: str | None = None,
        url_secret: str | bytes | None = None,
        url_binding: str = "sha256",
        layers: Sequence[Layer] = (),
        audit: bool | AuditLayer = False,
        telemetry: bool | OpenTelemetryLayer | None = None,
    ) -> None:
        self._local = LocalBackend(
            root,
            durable=durable,
            file_mode=file_mode,
            dir_mode=dir_mode,
            create=create,
            url_base=url_base,
            url_secret=url_secret,
            url_binding=url_binding,
        )
        super().__init__(self._local, layers=layers, audit=audit, telemetry=telemetry)

    @property
    def root(self) -> str:
        """The DataRoom folder, symlinks resolved."""
        return self._local.root

    @property
    def durable(self) -> bool:
        """Whether puts are fsynced before they return."""
        return self._local.durable
