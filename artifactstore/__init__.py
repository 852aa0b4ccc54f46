"""artifactstore: async artifact storage for deal teams.

The local filesystem is the default backend; S3 is opt-in. Start with
``get_artifact_store()`` (configured from the environment) or build one::

    store = LocalFilesystemArtifactStore("~/DataRoom")
    meta = await store.put(build_key("DEAL-1", CATEGORY_EMAILS, "msg-1.eml"), raw_email)

Every class and function of ``__all__`` says it lives here (``__module__`` is
``"artifactstore"``, wherever it is defined), so tracebacks, reprs and the API
reference name ``artifactstore.X``, the path users import it from.
"""

from __future__ import annotations

import inspect
import logging
import sys
import types
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ._sources import PutData
from .backend import Backend, BackendInfo
from .backends.local import LocalFilesystemArtifactStore
from .backends.memory import MemoryArtifactStore
from .errors import (
    ArtifactExistsError,
    ArtifactHeldError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStoreError,
    AuditError,
    InvalidKeyError,
    ReadOnlyStoreError,
    StorageBackendError,
    StorageConfigError,
    StoragePermissionError,
    StorageTimeoutError,
    StoreClosedError,
)
from .factory import (
    create_artifact_store,
    get_artifact_store,
    reset_artifact_store,
    store_from_url,
)
from .keys import normalize_key
from .layout import (
    CATEGORY_DOCUMENTS,
    CATEGORY_EMAILS,
    CATEGORY_EXTRACTED,
    CATEGORY_GENERATED,
    SUBCATEGORY_CIM,
    SUBCATEGORY_FINANCIALS,
    SUBCATEGORY_LOI,
    SUBCATEGORY_RESPONSES,
    SUBCATEGORY_TEASERS,
    build_key,
)
from .metadata import ArtifactMetadata
from .options import PutOptions, ReadOptions
from .store import ArtifactStore, ArtifactStream
from .sync import SyncArtifactStore, get_sync_artifact_store
from .transfer import (
    CheckReport,
    TransferReport,
    VerifyReport,
    check_artifacts,
    copy_artifacts,
    verify_artifacts,
    write_manifest,
)

# A library logs; the application decides where to: nothing is printed unless it does.
logging.getLogger("artifactstore").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .backends.s3 import S3ArtifactStore

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # S3ArtifactStore needs the optional 's3' extra: imported only when asked for.
    if name == "S3ArtifactStore":
        try:
            from .backends.s3 import S3ArtifactStore
        except ImportError as exc:
            raise ImportError(
                "S3ArtifactStore needs the s3 extra: pip install 'artifactstore[s3]'"
            ) from exc
        return S3ArtifactStore
    raise AttributeError(f"module 'artifactstore' has no attribute {name!r}")


__all__ = [
    "ArtifactExistsError",
    "ArtifactHeldError",
    "ArtifactIntegrityError",
    "ArtifactMetadata",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "ArtifactStoreError",
    "ArtifactStream",
    "AuditError",
    "Backend",
    "BackendInfo",
    "CATEGORY_DOCUMENTS",
    "CATEGORY_EMAILS",
    "CATEGORY_EXTRACTED",
    "CATEGORY_GENERATED",
    "CheckReport",
    "InvalidKeyError",
    "LocalFilesystemArtifactStore",
    "MemoryArtifactStore",
    "PutData",
    "PutOptions",
    "ReadOnlyStoreError",
    "ReadOptions",
    "S3ArtifactStore",
    "SUBCATEGORY_CIM",
    "SUBCATEGORY_FINANCIALS",
    "SUBCATEGORY_LOI",
    "SUBCATEGORY_RESPONSES",
    "SUBCATEGORY_TEASERS",
    "StorageBackendError",
    "StorageConfigError",
    "StoragePermissionError",
    "StorageTimeoutError",
    "StoreClosedError",
    "SyncArtifactStore",
    "TransferReport",
    "VerifyReport",
    "build_key",
    "check_artifacts",
    "copy_artifacts",
    "create_artifact_store",
    "get_artifact_store",
    "get_sync_artifact_store",
    "normalize_key",
    "reset_artifact_store",
    "store_from_url",
    "verify_artifacts",
    "write_manifest",
]


def _publish(module: str, names: Iterable[str], namespace: Mapping[str, object]) -> None:
    """Set ``__module__`` of the classes and functions ``names`` to ``module``.

    Constants, type aliases (``PutData``) and names imported on first use
    (``S3ArtifactStore``) are left alone. ``typing.get_type_hints`` evaluates a
    class's string annotations in the namespace of ``sys.modules[cls.__module__]``,
    where the names its own module imported are missing: they are evaluated first,
    in the module that wrote them, so that pydantic, FastAPI and ``get_type_hints``
    still read ``ArtifactMetadata`` and the reports.
    """
    for name in names:
        value = namespace.get(name)
        if isinstance(value, type):
            _evaluate_annotations(value)
            value.__module__ = module
        elif isinstance(value, types.FunctionType):
            value.__module__ = module


def _evaluate_annotations(cls: type) -> None:
    annotations = inspect.get_annotations(cls)
    if not any(isinstance(value, str) for value in annotations.values()):
        return
    defined_in = vars(sys.modules[cls.__module__])
    class_namespace = dict(vars(cls))
    evaluated: dict[str, object] = {}
    for name, value in annotations.items():
        if isinstance(value, str):
            try:
                value = eval(value, defined_in, class_namespace)
            except Exception:  # e.g. a name imported only under TYPE_CHECKING: as written
                pass
        evaluated[name] = value
    cls.__annotations__ = evaluated
    for name, field in getattr(cls, "__dataclass_fields__", {}).items():
        if name in evaluated:
            field.type = evaluated[name]


_publish(__name__, __all__, globals())
