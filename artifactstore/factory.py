"""Building stores from configuration: ``create_artifact_store`` and the process singleton.

Environment (read when a store is built, never at import):

========================== ============ ==============================================
variable                   default      meaning
========================== ============ ==============================================
ARTIFACT_STORAGE_BACKEND   ``local``    ``local`` or ``s3``
DATAROOM_ROOT              ~/DataRoom   the local DataRoom folder
ARTIFACT_STORAGE_PATH                   the same, under its other name (not both)
ARTIFACT_STORAGE_DURABLE   ``true``     fsync local puts before they return
ARTIFACT_URL_BASE                       local: base URL of signed download links
ARTIFACT_URL_SECRET                     local: their HMAC secret (32+ characters)
ALLOW_CLOUD_DEFAULT        ``false``    must be ``true`` for ARTIFACT_STORAGE_BACKEND=s3
AWS_S3_BUCKET                           the S3 bucket
AWS_S3_ENDPOINT_URL                     an S3-compatible endpoint (MinIO, Ceph, R2)
AWS_REGION                 us-east-1    the S3 region
ARTIFACT_S3_PREFIX                      a key prefix inside the bucket
ARTIFACT_S3_SSE                         server-side encryption: AES256 or aws:kms
ARTIFACT_S3_SSE_KMS_KEY_ID              the KMS key id, with ARTIFACT_S3_SSE=aws:kms
ARTIFACT_S3_MAX_ATTEMPTS   5            attempts per S3 request (standard retry mode)
========================== ============ ==============================================

AWS credentials come from the standard chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance or task role).

Cloud storage is opt-in only: ``ARTIFACT_STORAGE_BACKEND=s3`` without
``ALLOW_CLOUD_DEFAULT=true`` is a ``StorageConfigError``, never a silent fallback to
local. Naming the backend in code (``create_artifact_store("s3", ...)``) is itself
the opt-in.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from typing import Any

from .errors import StorageConfigError
from .protocol import ArtifactStore

__all__ = [
    "create_artifact_store",
    "dataroom_root",
    "get_artifact_store",
    "reset_artifact_store",
    "store_options_from_env",
]

# One module per backend; imported only when chosen, so the S3 extra stays optional.
_BACKENDS = {
    "local": ("artifactstore.backends.local", "LocalFilesystemArtifactStore", None),
    "s3": ("artifactstore.backends.s3", "S3ArtifactStore", "artifactstore[s3]"),
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    value = _env(environ, name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise StorageConfigError(f"{name}={value!r} is not a boolean; use true or false", setting=name)


def dataroom_root(environ: Mapping[str, str] | None = None) -> str:
    """The local DataRoom folder: DATAROOM_ROOT or ARTIFACT_STORAGE_PATH, else ~/DataRoom."""
    environ = os.environ if environ is None else environ
    root = _env(environ, "DATAROOM_ROOT")
    alternative = _env(environ, "ARTIFACT_STORAGE_PATH")

    def canonical(path: str) -> str:
        return os.path.abspath(os.path.expanduser(path))

    if root and alternative and canonical(root) != canonical(alternative):
        raise StorageConfigError(
            f"DATAROOM_ROOT={root!r} and ARTIFACT_STORAGE_PATH={alternative!r} disagree; "
            "set only one of them",
            setting="ARTIFACT_STORAGE_PATH",
        )
    return canonical(root or alternative or "~/DataRoom")


def store_options_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Read the backend name and its constructor options from the environment."""
    environ = os.environ if environ is None else environ
    backend = (_env(environ, "ARTIFACT_STORAGE_BACKEND") or "local").lower()
    if backend not in _BACKENDS:
        raise StorageConfigError(
            f"ARTIFACT_STORAGE_BACKEND={backend!r} is not a backend; use one of "
            f"{', '.join(sorted(_BACKENDS))}",
            setting="ARTIFACT_STORAGE_BACKEND",
        )
    if backend == "local":
        return backend, {
            "root": dataroom_root(environ),
            "durable": _flag(environ, "ARTIFACT_STORAGE_DURABLE", True),
            "url_base": _env(environ, "ARTIFACT_URL_BASE"),
            "url_secret": _env(environ, "ARTIFACT_URL_SECRET"),
        }
    if not _flag(environ, "ALLOW_CLOUD_DEFAULT", False):
        raise StorageConfigError(
            f"ARTIFACT_STORAGE_BACKEND={backend} needs ALLOW_CLOUD_DEFAULT=true: cloud "
            "storage is opt-in only (nothing falls back to local)",
            setting="ALLOW_CLOUD_DEFAULT",
        )
    bucket = _env(environ, "AWS_S3_BUCKET")
    if bucket is None:
        raise StorageConfigError(
            "ARTIFACT_STORAGE_BACKEND=s3 needs AWS_S3_BUCKET", setting="AWS_S3_BUCKET"
        )
    options: dict[str, Any] = {
        "bucket": bucket,
        "endpoint_url": _env(environ, "AWS_S3_ENDPOINT_URL"),
        "region": _env(environ, "AWS_REGION") or "us-east-1",
        "prefix": _env(environ, "ARTIFACT_S3_PREFIX") or "",
    }
    sse = _env(environ, "ARTIFACT_S3_SSE")
    if sse is not None:
        if sse not in ("AES256", "aws:kms"):
            raise StorageConfigError(
                f"ARTIFACT_S3_SSE={sse!r} is not AES256 or aws:kms", setting="ARTIFACT_S3_SSE"
            )
        options["sse"] = sse
    kms_key = _env(environ, "ARTIFACT_S3_SSE_KMS_KEY_ID")
    if kms_key is not None:
        if sse != "aws:kms":
            raise StorageConfigError(
                "ARTIFACT_S3_SSE_KMS_KEY_ID needs ARTIFACT_S3_SSE=aws:kms",
                setting="ARTIFACT_S3_SSE_KMS_KEY_ID",
            )
        options["sse_kms_key_id"] = kms_key
    attempts = _env(environ, "ARTIFACT_S3_MAX_ATTEMPTS")
    if attempts is not None:
        if not attempts.isdigit() or not 1 <= int(attempts) <= 20:
            raise StorageConfigError(
                f"ARTIFACT_S3_MAX_ATTEMPTS={attempts!r} must be a whole number from 1 to 20",
                setting="ARTIFACT_S3_MAX_ATTEMPTS",
            )
        options["max_attempts"] = int(attempts)
    return backend, options


def create_artifact_store(backend: str | None = None, **options: Any) -> ArtifactStore:
    """Build a new store.

    With ``backend=None`` the backend and its options come from the environment;
    ``options`` override them. With a backend named, only ``options`` are used
    (for ``local``, ``root`` defaults to the DataRoom of the environment).
    """
    if backend is None:
        backend, env_options = store_options_from_env()
        options = {**env_options, **options}
    else:
        backend = backend.lower()
        if backend == "local" and "root" not in options:
            options["root"] = dataroom_root()
    try:
        module_name, class_name, extra = _BACKENDS[backend]
    except KeyError:
        raise StorageConfigError(
            f"unknown backend {backend!r}; use one of {', '.join(sorted(_BACKENDS))}",
            setting="backend",
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise StorageConfigError(
            f"the {backend} backend is not installed: pip install '{extra}'", setting="backend"
        ) from exc
    store: ArtifactStore = getattr(module, class_name)(**options)
    return store


_singleton: ArtifactStore | None = None
_singleton_lock = threading.Lock()


def get_artifact_store() -> ArtifactStore:
    """The process-wide store configured from the environment, built on first call."""
    global _singleton
    store = _singleton
    if store is None:
        with _singleton_lock:
            if _singleton is None:
                _singleton = create_artifact_store()
            store = _singleton
    return store


def reset_artifact_store() -> None:
    """Forget the singleton (tests, or after changing the environment).

    The next ``get_artifact_store()`` builds a new one; the old one is not closed,
    since other code may still hold it.
    """
    global _singleton
    with _singleton_lock:
        _singleton = None
    from .sync import reset_sync_artifact_store

    reset_sync_artifact_store()
