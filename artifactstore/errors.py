"""The errors artifactstore raises: one tree, rooted at :class:`ArtifactStoreError`.

::

    ArtifactStoreError
    ├── ArtifactNotFoundError      (also FileNotFoundError)  no artifact at the key
    ├── ArtifactExistsError        (also FileExistsError)    put(if_not_exists=True) lost
    ├── InvalidKeyError            (also ValueError)         a key the store refuses
    ├── ArtifactIntegrityError                               bytes do not match their SHA-256
    ├── StorageConfigError                                   bad or missing configuration
    ├── StoragePermissionError     (also PermissionError)    the backend said no
    │   ├── ReadOnlyStoreError                               a write to a read-only store
    │   └── ArtifactHeldError                                held or retained: kept
    ├── StorageBackendError                                  any other backend failure
    │   ├── StorageTimeoutError    (also TimeoutError)       past its deadline (TimeoutLayer)
    │   └── AuditError                                       its audit event was not recorded
    └── StoreClosedError           (also RuntimeError)       the store was closed (aclose)

Every error raised through the public API is one of these (or a ``TypeError`` /
``ValueError`` for a malformed argument that is not a key). Backend exceptions
(``OSError``, botocore, aiohttp, sqlite3) are translated at the backend boundary
and chained as ``__cause__``, so ``except ArtifactStoreError`` is enough for
callers, and the original is still there for debugging.

Messages name the key or the setting involved and say what to do about it;
they never contain credentials.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ArtifactExistsError",
    "ArtifactHeldError",
    "ArtifactIntegrityError",
    "ArtifactNotFoundError",
    "ArtifactStoreError",
    "AuditError",
    "InvalidKeyError",
    "ReadOnlyStoreError",
    "StorageBackendError",
    "StorageConfigError",
    "StoragePermissionError",
    "StorageTimeoutError",
    "StoreClosedError",
]


class ArtifactStoreError(Exception):
    """Base class of every error artifactstore raises.

    ``key`` is the artifact key the error is about, when there is one.
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields would be lost by the default pickling of exceptions
        # (it replays ``args`` only); multiprocessing sends errors across processes.
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(
    cls: type[ArtifactStoreError], message: str, state: dict[str, object]
) -> ArtifactStoreError:
    error = cls.__new__(cls, message)
    ArtifactStoreError.__init__(error, message)
    error.__dict__.update(state)
    return error


class ArtifactNotFoundError(ArtifactStoreError, FileNotFoundError):
    """No artifact is stored at the key."""


class ArtifactExistsError(ArtifactStoreError, FileExistsError):
    """An artifact already exists at the key (``put(..., if_not_exists=True)``)."""


class InvalidKeyError(ArtifactStoreError, ValueError):
    """The key breaks the key rules (see :mod:`artifactstore.keys`) or escapes the store."""


class ArtifactIntegrityError(ArtifactStoreError):
    """The stored bytes do not hash to the SHA-256 recorded for them."""

    def __init__(self, message: str, *, key: str, expected: str, actual: str) -> None:
        super().__init__(message, key=key)
        self.expected = expected
        self.actual = actual


class StorageConfigError(ArtifactStoreError):
    """The store is misconfigured: a bad environment variable, option or bucket."""

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class StoragePermissionError(ArtifactStoreError, PermissionError):
    """The backend refused access (filesystem permissions, S3 403)."""


class StorageBackendError(ArtifactStoreError):
    """Any other failure of the backend; the original exception is ``__cause__``.

    ``retryable`` is set by the backend when the failure is transient (a dropped
    connection, a 5xx or throttling answer, a timeout): the same call may succeed
    if tried again. :class:`~artifactstore.layers.RetryLayer` retries only those.
    """

    def __init__(self, message: str, *, key: str | None = None, retryable: bool = False) -> None:
        super().__init__(message, key=key)
        self.retryable = retryable


class StorageTimeoutError(StorageBackendError, TimeoutError):
    """An operation did not finish within its deadline (``TimeoutLayer``); retryable.

    Also a ``TimeoutError``. Nothing of a put that timed out is left behind.
    """

    def __init__(self, message: str, *, key: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, key=key, retryable=retryable)


class ReadOnlyStoreError(StoragePermissionError):
    """A write was refused because the store is read-only (``ReadOnlyLayer``).

    Raised before anything is touched. Also a ``PermissionError``.
    """


class ArtifactHeldError(StoragePermissionError):
    """A delete, replace or move refused because a hold or a retention covers the artifact.

    Also a ``PermissionError``. ``holds`` names the holds (``target: name``) and
    ``retained_until`` the retention date in force, if any; nothing was touched.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        holds: tuple[str, ...] = (),
        retained_until: datetime | None = None,
    ) -> None:
        super().__init__(message, key=key)
        self.holds = holds
        self.retained_until = retained_until


class AuditError(StorageBackendError):
    """An audited operation's event could not be recorded, so the operation failed.

    Fail closed: a read whose event cannot be written returns no byte; a write whose
    event cannot be written is not done. ``retryable`` as the cause was.
    """


class StoreClosedError(ArtifactStoreError, RuntimeError):
    """The store was closed (``aclose()``, leaving ``async with``) and cannot be used.

    Also a ``RuntimeError``, what earlier versions raised.
    """

    def __init__(
        self,
        message: str = "this artifact store is closed; open a new one",
        *,
        key: str | None = None,
    ) -> None:
        super().__init__(message, key=key)
