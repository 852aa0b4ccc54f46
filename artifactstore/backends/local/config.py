"""The local backend's configuration: its environment variables and its ``file:`` URLs.

========================== ============ ==============================================
variable                   default      meaning
========================== ============ ==============================================
DATAROOM_ROOT              ~/DataRoom   the DataRoom folder
ARTIFACT_STORAGE_PATH                   the same, under its other name (not both)
ARTIFACT_STORAGE_DURABLE   ``true``     fsync puts before they return
ARTIFACT_URL_BASE                       base URL of signed download links
ARTIFACT_URL_SECRET                     their HMAC secret (32+ characters)
ARTIFACT_URL_BINDING       ``sha256``   what a link names: ``sha256`` (its bytes) or ``key``
========================== ============ ==============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from ..._config import env, flag, query_options, shown
from ...errors import InvalidKeyError, StorageConfigError

__all__ = [
    "URL_OPTIONS",
    "dataroom_root",
    "key_from_path",
    "options_from_env",
    "options_from_url",
]

#: Options a ``file:`` URL may carry.
URL_OPTIONS: dict[str, type] = {"durable": bool, "create": bool}


def dataroom_root(environ: Mapping[str, str] | None = None) -> str:
    """The local DataRoom folder: DATAROOM_ROOT or ARTIFACT_STORAGE_PATH, else ~/DataRoom."""
    environ = os.environ if environ is None else environ
    root = env(environ, "DATAROOM_ROOT")
    alternative = env(environ, "ARTIFACT_STORAGE_PATH")

    def canonical(path: str) -> str:
        return os.path.abspath(os.path.expanduser(path))

    if root and alternative and canonical(root) != canonical(alternative):
        raise StorageConfigError(
            f"DATAROOM_ROOT={root!r} and ARTIFACT_STORAGE_PATH={alternative!r} disagree; "
            "set only one of them",
            setting="ARTIFACT_STORAGE_PATH",
        )
    return canonical(root or alternative or "~/DataRoom")


def options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``LocalFilesystemArtifactStore``'s options from the environment."""
    options: dict[str, Any] = {
        "root": dataroom_root(environ),
        "durable": flag(environ, "ARTIFACT_STORAGE_DURABLE", True),
        "url_base": env(environ, "ARTIFACT_URL_BASE"),
        "url_secret": env(environ, "ARTIFACT_URL_SECRET"),
    }
    binding = env(environ, "ARTIFACT_URL_BINDING")
    if binding is not None:
        if binding.lower() not in ("sha256", "key"):
            raise StorageConfigError(
                f"ARTIFACT_URL_BINDING must be sha256 or key, not {shown(binding)!r}",
                setting="ARTIFACT_URL_BINDING",
            )
        options["url_binding"] = binding.lower()
    return options


def options_from_url(url: str) -> dict[str, Any]:
    """The options of a path (``/srv/DataRoom``, ``./dr``, ``~/DataRoom``) or ``file:///path?...``."""
    if not url.lower().startswith("file:"):
        return {"root": os.path.abspath(os.path.expanduser(url))}
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise StorageConfigError(
            f"{shown(url)!r} names another host; a file: URL must be file:///absolute/path",
            setting="url",
        )
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise StorageConfigError(f"{shown(url)!r} has no absolute path", setting="url")
    return {"root": path, **query_options(url, URL_OPTIONS)}


def key_from_path(key: str, roots: tuple[str, ...]) -> str | None:
    """The key a ``file:`` URI or an absolute path inside one of ``roots`` names.

    ``None`` when ``key`` is neither; ``InvalidKeyError`` when it points outside the
    DataRoom (the first of ``roots``, symlinks resolved), another host, or has ``..``.
    """
    if key.startswith("file:"):
        parts = urlsplit(key)
        if parts.netloc not in ("", "localhost"):
            raise InvalidKeyError(f"{key!r} is a file URI of another host", key=key)
        path = unquote(parts.path)
    elif key.startswith("/"):
        path = key
    else:
        return None
    if "\x00" in path or "/../" in path + "/":
        raise InvalidKeyError(f"absolute path {key!r} must not contain '..'", key=key)
    for root in roots:
        if path.startswith(root + "/"):
            return path[len(root) + 1 :]
    raise InvalidKeyError(
        f"{key!r} is an absolute path outside the DataRoom ({roots[0]}); give a key relative to it",
        key=key,
    )
