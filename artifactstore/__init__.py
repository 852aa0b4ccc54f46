"""artifactstore: async artifact storage for deal teams.

The local filesystem is the default backend; S3 is opt-in. Start with
``get_artifact_store()`` (configured from the environment) or build one::

    store = LocalFilesystemArtifactStore("~/DataRoom")
    meta = await store.put(build_key("DEAL-1", CATEGORY_EMAILS, "msg-1.eml"), raw_email)
"""

from ._sources import PutData
from .backends.local import LocalFilesystemArtifactStore
from .backends.memory import MemoryArtifactStore
from .errors import (
    ArtifactExistsError,
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ArtifactStoreError,
    InvalidKeyError,
    StorageBackendError,
    StorageConfigError,
    StoragePermissionError,
    StoreClosedError,
)
from .factory import (
    create_artifact_store,
    get_artifact_store,
    reset_artifact_store,
    store_from_url,
)
from .keys import (
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
    normalize_key,
)
from .metadata import ArtifactMetadata
from .protocol import ArtifactStore, ArtifactStream
from .sync import SyncArtifactStore, get_sync_artifact_store
from .transfer import (
    CheckReport,
    TransferReport,
    VerifyReport,
    check_artifacts,
    copy_artifacts,
    verify_artifacts,
)

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
    "ArtifactIntegrityError",
    "ArtifactMetadata",
    "ArtifactNotFoundError",
    "ArtifactStore",
    "ArtifactStoreError",
    "ArtifactStream",
    "CATEGORY_DOCUMENTS",
    "CATEGORY_EMAILS",
    "CATEGORY_EXTRACTED",
    "CATEGORY_GENERATED",
    "CheckReport",
    "InvalidKeyError",
    "LocalFilesystemArtifactStore",
    "MemoryArtifactStore",
    "PutData",
    "S3ArtifactStore",
    "SUBCATEGORY_CIM",
    "SUBCATEGORY_FINANCIALS",
    "SUBCATEGORY_LOI",
    "SUBCATEGORY_RESPONSES",
    "SUBCATEGORY_TEASERS",
    "StorageBackendError",
    "StorageConfigError",
    "StoragePermissionError",
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
]
