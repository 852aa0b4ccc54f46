"""Building stores from configuration: ``create_artifact_store`` and the process singleton.

Environment (read when a store is built, never at import):

========================== ============ ==============================================
variable                   default      meaning
========================== ============ ==============================================
ARTIFACT_STORAGE_BACKEND   ``local``    ``local``, ``s3``, or ``memory`` (for tests)
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

``ARTIFACT_STORAGE_BACKEND=memory`` makes ``get_artifact_store()`` a
:class:`~artifactstore.MemoryArtifactStore`: one process-wide store in memory
(until ``reset_artifact_store()``), for a service's tests.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from .errors import InvalidKeyError, StorageConfigError
from .protocol import ArtifactStore

__all__ = [
    "create_artifact_store",
    "dataroom_root",
    "get_artifact_store",
    "reset_artifact_store",
    "store_from_url",
    "store_options_from_env",
]

# One module per backend; imported only when chosen, so the S3 extra stays optional.
_BACKENDS = {
    "local": ("artifactstore.backends.local", "LocalFilesystemArtifactStore", None),
    "memory": ("artifactstore.backends.memory", "MemoryArtifactStore", None),
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
    if backend == "memory":
        return backend, {}
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


# S3 options a URL may carry, and how to read each from its text. Credentials are
# deliberately absent: they come from the standard AWS chain, never from a URL.
_S3_URL_INT = {"max_pool_connections", "max_attempts", "part_size", "parts_in_flight",
               "multipart_threshold", "single_copy_limit"}  # fmt: skip
_S3_URL_FLOAT = {"connect_timeout", "read_timeout"}
_S3_URL_BOOL = {"verify_bucket"}
_S3_URL_STR = {"endpoint_url", "region", "profile_name", "addressing_style", "retry_mode",
               "sse", "sse_kms_key_id", "sha256_record"}  # fmt: skip
_LOCAL_URL_BOOL = {"durable", "create"}
# A URL scheme: two characters at least, so that a Windows drive (C:) stays a path.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def store_from_url(url: str, **options: Any) -> ArtifactStore:
    """Build a store from a URL; ``options`` are passed to its constructor.

    - a path (``/srv/DataRoom``, ``./dr``, ``~/DataRoom``) or ``file:///abs/path``:
      a :class:`~artifactstore.LocalFilesystemArtifactStore` rooted there; query
      options ``durable`` and ``create`` (``true``/``false``) may follow a ``file:`` URL;
    - ``s3://bucket`` or ``s3://bucket/some/prefix``: an ``S3ArtifactStore`` (naming
      ``s3://`` is the opt-in), with S3 options as query parameters, e.g.
      ``s3://deals/prod?endpoint_url=http://127.0.0.1:9000&region=eu-west-1``.
      Credentials never come from the URL: they come from the standard AWS chain.
    - ``memory://`` or ``memory://name``: a new, empty
      :class:`~artifactstore.MemoryArtifactStore` (``name`` is only a label: two
      stores never share artifacts, so a memory store's URL builds an empty twin).

    Every store's ``url`` (and ``str(store)``) is such a URL. Anything else (an
    unknown scheme, an empty bucket, an unknown or malformed option) is a
    ``StorageConfigError`` naming the problem.
    """
    if not isinstance(url, str) or not url.strip():
        raise StorageConfigError(
            f"a store URL must be a non-empty string, not {url!r}", setting="url"
        )
    url = url.strip()
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else ""
    if scheme == "s3":
        if not url[3:].startswith("//"):
            raise StorageConfigError(f"{_shown(url)!r} is not s3://bucket/prefix", setting="url")
        return _s3_from_url(url, options)
    if scheme == "memory":
        return _memory_from_url(url, options)
    if scheme == "file":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise StorageConfigError(
                f"{_shown(url)!r} names another host; a file: URL must be file:///absolute/path",
                setting="url",
            )
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise StorageConfigError(f"{_shown(url)!r} has no absolute path", setting="url")
        query = _query(url, parts.query, _LOCAL_URL_BOOL)
        return create_artifact_store("local", root=path, **{**query, **options})
    if scheme:
        raise StorageConfigError(
            f"unknown store URL scheme {scheme!r} in {_shown(url)!r}; use a path, file:///path, "
            "s3://bucket/prefix or memory://",
            setting="url",
        )
    return create_artifact_store("local", root=os.path.abspath(os.path.expanduser(url)), **options)


def _s3_from_url(url: str, options: dict[str, Any]) -> ArtifactStore:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise StorageConfigError(
            "credentials do not belong in a store URL; use the AWS chain (AWS_PROFILE, "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a role)",
            setting="url",
        )
    bucket = parts.netloc
    if not bucket:
        raise StorageConfigError(
            f"{_shown(url)!r} names no bucket; use s3://bucket/prefix", setting="url"
        )
    if not _BUCKET.fullmatch(bucket):
        raise StorageConfigError(
            f"{bucket!r} in {_shown(url)!r} is not a bucket name", setting="url"
        )
    if parts.fragment:
        raise StorageConfigError(f"{_shown(url)!r} has a fragment ('#'); remove it", setting="url")
    query = _query(url, parts.query, _S3_URL_INT | _S3_URL_FLOAT | _S3_URL_BOOL | _S3_URL_STR)
    prefix = unquote(parts.path).strip("/")
    merged: dict[str, Any] = {"prefix": prefix, **query, **options}
    try:
        return create_artifact_store("s3", bucket=bucket, **merged)
    except InvalidKeyError as exc:
        raise StorageConfigError(
            f"the prefix of {_shown(url)!r} is not valid: {exc}", setting="url"
        ) from None


def _memory_from_url(url: str, options: dict[str, Any]) -> ArtifactStore:
    parts = urlsplit(url)
    if not url[len("memory:") :].startswith("//"):
        raise StorageConfigError(f"{_shown(url)!r} is not memory://name", setting="url")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise StorageConfigError(
            f"{_shown(url)!r} is not memory:// or memory://name: a memory store URL has "
            "no path, user, query options or fragment",
            setting="url",
        )
    return create_artifact_store("memory", **{"name": parts.netloc, **options})


def _query(url: str, query: str, allowed: set[str]) -> dict[str, Any]:
    """The options of a URL's query string, each converted to its type."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise StorageConfigError(
            f"{_shown(url)!r} has a malformed query string", setting="url"
        ) from None
    found: dict[str, Any] = {}
    for name, text in pairs:
        if name not in allowed:
            raise StorageConfigError(
                f"unknown option {name!r} in store URL {_shown(url)!r}; known: "
                f"{', '.join(sorted(allowed))}",
                setting=name,
            )
        if name in found:
            raise StorageConfigError(
                f"option {name!r} is given twice in {_shown(url)!r}", setting=name
            )
        found[name] = _convert(name, text)
    return found


def _convert(name: str, text: str) -> Any:
    if name in _S3_URL_INT:
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise StorageConfigError(f"option {name}={text!r} must be a whole number", setting=name)
        return int(text)
    if name in _S3_URL_FLOAT:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0 or value == float("inf"):
            raise StorageConfigError(
                f"option {name}={text!r} must be a positive number of seconds", setting=name
            )
        return value
    if name in _S3_URL_BOOL or name in _LOCAL_URL_BOOL:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise StorageConfigError(
            f"option {name}={text!r} is not a boolean; use true or false", setting=name
        )
    if not text:
        raise StorageConfigError(f"option {name} is empty", setting=name)
    return text


def _shown(url: str) -> str:
    """``url`` fit for an error message: no user info, no query values (they may be secrets)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    names = [pair.split("=", 1)[0] for pair in parts.query.split("&") if pair]
    query = "&".join(f"{name}=..." for name in names)
    return urlunsplit(parts._replace(netloc=netloc, query=query, fragment=""))


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
