"""The boundary between botocore/aiohttp exceptions and the library's error tree.

Every call to the S3 client runs inside :func:`map_errors` (as httpx wraps its
transports in ``map_exceptions``), so no botocore or aiohttp exception escapes the
public API; the original is kept as ``__cause__``. Messages name the key or the
bucket, never credentials.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    PartialCredentialsError,
)

from ...errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ArtifactStoreError,
    StorageBackendError,
    StorageConfigError,
    StoragePermissionError,
)

__all__ = [
    "SourceChanged",
    "Unproven",
    "conditional_conflict",
    "error_code",
    "map_errors",
    "precondition_failed",
    "refused_feature",
]

_DENIED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
    "AccountProblem",
}

# Error codes S3 and its look-alikes answer for a moment's overload or a race.
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "ConditionalRequestConflict",
    "OperationAborted",
}


class SourceChanged(Exception):
    """A copy's source no longer had the ETag it was read with: look at it again.

    Raised by the copy helpers when ``CopySourceIfMatch`` fails, and for S3's 409
    ``ConditionalRequestConflict`` (a conditional write raced another one, which S3
    says to retry). Never escapes the public API: the backend re-reads the source
    and retries, or raises a ``StorageBackendError``.
    """


class Unproven(SourceChanged):
    """A copy's parts do not prove the source's version: it changed, or ETags are not MD5s."""


def precondition_failed(exc: BaseException) -> bool:
    """Whether ``exc`` (or the ``ClientError`` it wraps) is S3's 412 Precondition Failed."""
    cause = exc if isinstance(exc, ClientError) else exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    code, status = error_code(cause)
    return code == "PreconditionFailed" or status == 412


def conditional_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is S3's 409 ``ConditionalRequestConflict`` (retry the write)."""
    return isinstance(exc, ClientError) and error_code(exc)[0] == "ConditionalRequestConflict"


# What a service answers for a request it does not implement, or a policy refuses.
_REFUSED = {"NotImplemented", "XNotImplemented", "MethodNotAllowed", "NotSupported"}


def refused_feature(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the service or the policy refuses a feature.

    501/405 (not implemented by this S3-compatible service) or ``AccessDenied`` (not
    allowed by the bucket policy): the caller falls back to another way of doing
    the same. Other 403s (an expired token, a bad signature) are not refusals of
    the feature: they fail the next request too, and are raised.
    """
    cause = exc if isinstance(exc, ClientError) else exc.__cause__
    if not isinstance(cause, ClientError):
        return False
    code, status = error_code(cause)
    return code in _REFUSED or code == "AccessDenied" or status in (405, 501)


# Operations whose 412 means "If-None-Match: * failed": the key exists.
_CONDITIONAL_WRITES = {"storing", "completing the upload of"}


def error_code(exc: ClientError) -> tuple[str, int]:
    """The S3 error code and HTTP status of a ``ClientError``."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _translate(exc: BaseException, bucket: str, key: str | None, doing: str) -> ArtifactStoreError:
    what = f"{key!r} in bucket {bucket!r}" if key is not None else f"bucket {bucket!r}"
    if isinstance(exc, ClientError):
        code, status = error_code(exc)
        if code == "NoSuchBucket":
            return StorageConfigError(
                f"S3 bucket {bucket!r} does not exist; create it or fix AWS_S3_BUCKET",
                setting="AWS_S3_BUCKET",
            )
        if code in ("NoSuchKey", "NotFound") or (status == 404 and code in ("404", "")):
            if key is None:
                return StorageConfigError(
                    f"S3 bucket {bucket!r} was not found; create it or fix AWS_S3_BUCKET",
                    setting="AWS_S3_BUCKET",
                )
            return ArtifactNotFoundError(
                f"no artifact at {key!r} in bucket {bucket!r}; check the key, or list the "
                "folder to see what is there",
                key=key,
            )
        if (code == "PreconditionFailed" or status == 412) and doing in _CONDITIONAL_WRITES:
            return ArtifactExistsError(
                f"an artifact already exists at {key!r}; put without if_not_exists=True to "
                "replace it, or choose another key",
                key=key,
            )
        if code in _DENIED or status == 403:
            return StoragePermissionError(
                f"S3 refused {doing} {what} ({code or status}): check the credentials and "
                "the bucket policy",
                key=key,
            )
        message = exc.response.get("Error", {}).get("Message", "")
        return StorageBackendError(
            f"S3 error {doing} {what}: {code or status} {message}",
            key=key,
            retryable=status >= 500 or status == 429 or code in _TRANSIENT,
        )
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return StorageConfigError(
            "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "a profile, or a role",
            setting="AWS_ACCESS_KEY_ID",
        )
    return StorageBackendError(
        f"S3 unreachable or failing while {doing} {what}: {type(exc).__name__}; "
        "check AWS_S3_ENDPOINT_URL and the network",
        key=key,
        retryable=True,  # a connection, a timeout, a read cut short: worth another try
    )


@contextmanager
def map_errors(bucket: str, key: str | None, doing: str) -> Iterator[None]:
    """Translate what the S3 client raises inside the block into the library's errors."""
    try:
        yield
    except ArtifactStoreError:
        raise
    except (ClientError, BotoCoreError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise _translate(exc, bucket, key, doing) from exc
