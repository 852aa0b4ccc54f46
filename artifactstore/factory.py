"""Building stores from configuration: a registry of backends, and the process's store.

Each backend reads its own environment variables and URL options (the local
backend's in ``backends/local/config.py``, S3's in :class:`S3Settings`); the
factory only knows, for each backend, its name, its URL schemes and where those
readers are. Third-party backends join through the entry-point group
``artifactstore.backends`` (or :func:`register_backend`)::

    # pyproject.toml of the package "vendorstore"
    [project.entry-points."artifactstore.backends"]
    vendor = "vendorstore:BACKEND"     # a BackendEntry

after which ``store_from_url("vendor://...")`` and ``ARTIFACT_STORAGE_BACKEND=vendor``
build its stores.

``ARTIFACT_STORAGE_BACKEND`` (default ``local``) names the backend of
``get_artifact_store()``; ``ARTIFACT_STORAGE_BACKEND=memory`` gives one
process-wide :class:`~artifactstore.MemoryArtifactStore` (until
``reset_artifact_store()``), for a service's tests. Cloud storage is opt-in only:
``ARTIFACT_STORAGE_BACKEND=s3`` without ``ALLOW_CLOUD_DEFAULT=true`` is a
``StorageConfigError``, never a silent fallback to local; naming the backend in
code (``create_artifact_store("s3", ...)``) is itself the opt-in.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._config import SCHEME, env, flag, query_options, shown
from .backends.local import LocalFilesystemArtifactStore
from .backends.local.config import dataroom_root
from .backends.local.config import options_from_env as local_options_from_env
from .backends.local.config import options_from_url as local_options_from_url
from .backends.memory import MemoryArtifactStore
from .backends.memory import options_from_env as memory_options_from_env
from .backends.memory import options_from_url as memory_options_from_url
from .errors import InvalidKeyError, StorageConfigError
from .store import ArtifactStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "BackendEntry",
    "backend_entries",
    "create_artifact_store",
    "dataroom_root",
    "get_artifact_store",
    "register_backend",
    "reset_artifact_store",
    "store_from_url",
    "store_options_from_env",
]

#: The entry-point group third-party backends register under.
ENTRY_POINT_GROUP = "artifactstore.backends"


@dataclass(frozen=True)
class BackendEntry:
    """How the factory builds a backend's stores.

    ``create(**options)`` returns a store; ``options_from_env(environ)`` and
    ``options_from_url(url)`` read the backend's own configuration into options
    for ``create`` (raising ``StorageConfigError`` for a bad one).
    """

    #: The backend's name (``ARTIFACT_STORAGE_BACKEND``, ``create_artifact_store(name)``).
    name: str
    #: The URL schemes ``store_from_url`` sends to it.
    schemes: tuple[str, ...]
    create: Callable[..., ArtifactStore]
    options_from_env: Callable[[Mapping[str, str]], dict[str, Any]]
    options_from_url: Callable[[str], dict[str, Any]]


def _s3(attribute: str) -> Callable[..., Any]:
    """``artifactstore.backends.s3.<attribute>``, imported when called (the s3 extra is optional).

    ``attribute`` may be dotted (``S3Settings.options_from_env``).
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            target: Any = importlib.import_module("artifactstore.backends.s3")
        except ImportError as exc:
            raise StorageConfigError(
                "the s3 backend is not installed: pip install 'artifactstore[s3]'",
                setting="backend",
            ) from exc
        for name in attribute.split("."):
            target = getattr(target, name)
        return target(*args, **kwargs)

    return call


def _create_local(**options: Any) -> ArtifactStore:
    options.setdefault("root", dataroom_root())
    return LocalFilesystemArtifactStore(**options)


_BUILT_IN = (
    BackendEntry("local", ("file",), _create_local, local_options_from_env, local_options_from_url),
    BackendEntry(
        "memory", ("memory",), MemoryArtifactStore, memory_options_from_env, memory_options_from_url
    ),
    BackendEntry(
        "s3",
        ("s3",),
        _s3("S3ArtifactStore"),
        _s3("S3Settings.options_from_env"),
        _s3("S3Settings.options_from_url"),
    ),
)
_registry: dict[str, BackendEntry] = {entry.name: entry for entry in _BUILT_IN}
_registry_lock = threading.Lock()
_entry_points_loaded = False


def register_backend(entry: BackendEntry) -> None:
    """Add a backend (what the ``artifactstore.backends`` entry points do at first use).

    A name or scheme already taken is a ``ValueError``: a backend never replaces
    another one silently.
    """
    if not isinstance(entry, BackendEntry):
        raise TypeError(f"register_backend takes a BackendEntry, not {type(entry).__name__}")
    with _registry_lock:
        taken = {s for e in _registry.values() for s in e.schemes}
        if entry.name in _registry or taken & set(entry.schemes):
            raise ValueError(f"backend {entry.name!r} or one of its schemes is already registered")
        _registry[entry.name] = entry


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in _registry:
            continue  # installed twice, or shadowing a built-in: the first one stays
        try:
            entry = point.load()
        except Exception as exc:
            raise StorageConfigError(
                f"the backend {point.name!r} ({point.value}) could not be loaded: {exc}",
                setting="backend",
            ) from exc
        if not isinstance(entry, BackendEntry) or entry.name != point.name:
            raise StorageConfigError(
                f"entry point {point.name!r} of {ENTRY_POINT_GROUP} must be a BackendEntry "
                f"named {point.name!r}",
                setting="backend",
            )
        register_backend(entry)


def backend_entries() -> dict[str, BackendEntry]:
    """Every backend known: built in, registered, and from installed entry points."""
    _load_entry_points()
    with _registry_lock:
        return dict(_registry)


def _find(match: Callable[[BackendEntry], bool]) -> BackendEntry | None:
    """The first backend ``match`` accepts; installed entry points are read only on a miss."""
    with _registry_lock:
        found = next((e for e in _registry.values() if match(e)), None)
    if found is None and not _entry_points_loaded:
        found = next((e for e in backend_entries().values() if match(e)), None)
    return found


def _named(name: str, setting: str, unknown: str) -> BackendEntry:
    entry = _find(lambda e: e.name == name)
    if entry is None:
        raise StorageConfigError(
            f"{unknown}; use one of {', '.join(sorted(backend_entries()))}",
            setting=setting,
        )
    return entry


def store_options_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The backend named by ``ARTIFACT_STORAGE_BACKEND`` and its options, from the environment."""
    environ = os.environ if environ is None else environ
    name = (env(environ, "ARTIFACT_STORAGE_BACKEND") or "local").lower()
    entry = _named(
        name, "ARTIFACT_STORAGE_BACKEND", f"ARTIFACT_STORAGE_BACKEND={name!r} is not a backend"
    )
    options = entry.options_from_env(environ)
    if flag(environ, "ARTIFACT_AUDIT", False):
        options["audit"] = True
    return name, options


def create_artifact_store(backend: str | None = None, **options: Any) -> ArtifactStore:
    """Build a new store.

    With ``backend=None`` the backend and its options come from the environment;
    ``options`` override them. With a backend named, only ``options`` are used
    (for ``local``, ``root`` defaults to the DataRoom of the environment).
    """
    if backend is None:
        backend, env_options = store_options_from_env()
        options = {**env_options, **options}
    name = backend.lower()
    return _named(name, "backend", f"unknown backend {name!r}").create(**options)


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
      stores never share artifacts, so a memory store's URL builds an empty twin);
    - the scheme of a registered third-party backend.

    Every store's ``url`` (and ``str(store)``) is such a URL. Anything else (an
    unknown scheme, an empty bucket, an unknown or malformed option) is a
    ``StorageConfigError`` naming the problem.
    """
    if not isinstance(url, str) or not url.strip():
        raise StorageConfigError(
            f"a store URL must be a non-empty string, not {url!r}", setting="url"
        )
    url = url.strip()
    match = SCHEME.match(url)
    scheme = match.group(1).lower() if match else "file"
    entry = _find(lambda e: scheme in e.schemes)
    if entry is None:
        schemes = sorted(s for e in backend_entries().values() for s in e.schemes if s != "file")
        raise StorageConfigError(
            f"unknown store URL scheme {scheme!r} in {shown(url)!r}; use a path, "
            f"file:///path, or one of {', '.join(f'{s}://' for s in schemes)}",
            setting="url",
        )
    url, common = _common_options(url)
    merged = {**entry.options_from_url(url), **common, **options}
    try:
        return entry.create(**merged)
    except InvalidKeyError as exc:
        raise StorageConfigError(f"{shown(url)!r} is not valid: {exc}", setting="url") from None


#: Query options every store URL takes, whatever its backend, and their types.
_COMMON = {"audit": bool}


def _common_options(url: str) -> tuple[str, dict[str, Any]]:
    """Take the options every backend takes (``?audit=true``) out of ``url``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    common = [(name, value) for name, value in pairs if name in _COMMON]
    if not common:
        return url, {}
    found = query_options("?" + urlencode(common), _COMMON)
    rest = urlencode([(name, value) for name, value in pairs if name not in _COMMON])
    return urlunsplit(parts._replace(query=rest)), found


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

    The next ``get_artifact_store()`` builds a new one (and the next
    ``get_sync_artifact_store()`` a facade over it); the old one is not closed,
    since other code may still hold it.
    """
    global _singleton
    with _singleton_lock:
        _singleton = None
