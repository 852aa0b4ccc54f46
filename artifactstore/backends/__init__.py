"""Storage backends, one per module: ``local`` (the default) and ``s3`` (opt-in)."""

from .local import LocalFilesystemArtifactStore

__all__ = ["LocalFilesystemArtifactStore"]
