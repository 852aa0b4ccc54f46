"""The S3 backend's settings: every option of ``S3ArtifactStore``, validated once.

Also read from the environment (:meth:`S3Settings.from_env`) and from a store URL
(:meth:`S3Settings.from_url`):

============================ ========== ======================================================
variable                     default    meaning
============================ ========== ======================================================
ALLOW_CLOUD_DEFAULT          ``false``  must be ``true`` for ARTIFACT_STORAGE_BACKEND=s3
AWS_S3_BUCKET                           the S3 bucket
AWS_S3_ENDPOINT_URL                     an S3-compatible endpoint (MinIO, Ceph, R2)
AWS_REGION                   us-east-1  the S3 region
ARTIFACT_S3_PREFIX                      a key prefix inside the bucket
ARTIFACT_S3_SSE                         server-side encryption: AES256 or aws:kms
ARTIFACT_S3_SSE_KMS_KEY_ID              the KMS key id, with ARTIFACT_S3_SSE=aws:kms
ARTIFACT_S3_MAX_ATTEMPTS     5          attempts per S3 request (standard retry mode)
ARTIFACT_S3_OBJECT_LOCK_MODE GOVERNANCE retentions' Object Lock mode: GOVERNANCE or COMPLIANCE
ARTIFACT_S3_SHA256_KEY                  the secret that makes SHA-256 tags trusted (16+ chars;
                                        also read for store URLs, which never carry it)
============================ ========== ======================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ... import keys as _keys
from ..._config import env, flag, query_options, shown
from ...errors import InvalidKeyError, StorageConfigError

__all__ = ["LOCK_MODES", "URL_OPTIONS", "S3Settings"]

# S3 options a URL may carry, and the type of each. Credentials are deliberately
# absent: they come from the standard AWS chain, never from a URL.
URL_OPTIONS: dict[str, type] = {
    **dict.fromkeys(
        ("max_pool_connections", "max_attempts", "part_size", "parts_in_flight",
         "multipart_threshold", "single_copy_limit"),
        int,
    ),
    **dict.fromkeys(("connect_timeout", "read_timeout"), float),
    "verify_bucket": bool,
    "legacy_uris": bool,
    **dict.fromkeys(
        ("endpoint_url", "region", "profile_name", "addressing_style", "retry_mode", "sse",
         "sse_kms_key_id", "sha256_record", "object_lock_mode"),
        str,
    ),
}  # fmt: skip
#: The Object Lock retention modes, the weaker first.
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

MiB = 1024 * 1024
_MIN_PART = 5 * MiB  # S3's smallest part (all but the last)


def _secret_from(environ: Mapping[str, str]) -> dict[str, str]:
    """``sha256_key`` from ``ARTIFACT_S3_SHA256_KEY``, if set (checked, never shown)."""
    sha256_key = env(environ, "ARTIFACT_S3_SHA256_KEY")
    if sha256_key is None:
        return {}
    if len(sha256_key) < 16:  # the value is a secret: never in the message
        raise StorageConfigError(
            "ARTIFACT_S3_SHA256_KEY must be a secret of 16 characters or more",
            setting="ARTIFACT_S3_SHA256_KEY",
        )
    return {"sha256_key": sha256_key}


@dataclass(frozen=True)
class S3Settings:
    """Everything an ``S3ArtifactStore`` is configured with.

    Credentials are kept out of ``repr`` (``field(repr=False)``); leave them
    ``None`` to use the standard AWS chain (environment, profile, role).
    """

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    aws_access_key_id: str | None = field(default=None, repr=False)
    aws_secret_access_key: str | None = field(default=None, repr=False)
    aws_session_token: str | None = field(default=None, repr=False)
    profile_name: str | None = None
    #: "path" or "virtual"; default: path-style for a custom endpoint, else virtual.
    addressing_style: str | None = None
    max_pool_connections: int = 64
    retry_mode: str = "standard"
    max_attempts: int = 5
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: Server-side encryption: None, "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
    sse: str | None = None
    sse_kms_key_id: str | None = None
    part_size: int = 8 * MiB
    parts_in_flight: int = 4
    multipart_threshold: int = 8 * MiB
    #: Check once, on first use, that the bucket exists (clear error if not).
    verify_bucket: bool = True
    #: Largest object copied by one CopyObject (S3: 5 GiB); bigger ones part by part.
    single_copy_limit: int = 5 * 1024**3
    #: How the SHA-256 of a streamed multipart upload is recorded once known: "tag"
    #: (PutObjectTagging; falls back to "copy" where refused) or "copy" (the object
    #: copied onto itself with it in its metadata: one HEAD reads it, but every byte
    #: is written twice). See docs/s3-backend.md.
    sha256_record: str = "tag"
    #: On a bucket with Object Lock, the mode of the object retention a ``retain()``
    #: sets: "GOVERNANCE" (lifted by whoever holds s3:BypassGovernanceRetention) or
    #: "COMPLIANCE" (by nobody until it ends). See docs/s3-backend.md.
    object_lock_mode: str = "GOVERNANCE"
    #: The secret (16 characters or more) of the HMAC that makes a SHA-256 recorded
    #: in an object's tags trusted; without it tags are hints, never believed
    #: without reading the bytes. Never part of the store URL. See docs/s3-backend.md.
    sha256_key: str | None = field(default=None, repr=False)
    #: Accept ``s3://bucket/key`` URIs without the prefix, as ``storage_uri`` was
    #: before it carried it; ``False`` refuses every URI outside the prefix.
    legacy_uris: bool = True

    @classmethod
    def build(cls, bucket: str, **options: Any) -> S3Settings:
        """Validate and normalize the options (``StorageConfigError`` names the bad one)."""
        unknown = set(options) - set(cls.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unknown S3ArtifactStore options: {', '.join(sorted(unknown))}")
        if not isinstance(bucket, str) or not bucket or "/" in bucket:
            raise StorageConfigError(
                f"S3 bucket name {bucket!r} is not valid; set AWS_S3_BUCKET to a bucket name",
                setting="AWS_S3_BUCKET",
            )
        prefix = options.get("prefix") or ""
        options["prefix"] = _keys.normalize_prefix(prefix)
        if isinstance(options.get("object_lock_mode"), str):
            options["object_lock_mode"] = options["object_lock_mode"].upper()
        settings = cls(bucket=bucket, **options)
        settings._check()
        return settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> S3Settings:
        """The settings the environment describes (see the module docstring)."""
        options = {**cls.options_from_env(environ), **overrides}
        return cls.build(options.pop("bucket"), **options)

    @classmethod
    def from_url(cls, url: str, **overrides: Any) -> S3Settings:
        """The settings of ``s3://bucket/prefix?option=value&...``."""
        options = {**cls.options_from_url(url), **overrides}
        return cls.build(options.pop("bucket"), **options)

    @staticmethod
    def options_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
        """``S3ArtifactStore``'s options (``bucket`` included) from the environment.

        Cloud storage is opt-in only: without ``ALLOW_CLOUD_DEFAULT=true`` this is a
        ``StorageConfigError``, never a silent fallback to local.
        """
        if not flag(environ, "ALLOW_CLOUD_DEFAULT", False):
            raise StorageConfigError(
                "ARTIFACT_STORAGE_BACKEND=s3 needs ALLOW_CLOUD_DEFAULT=true: cloud "
                "storage is opt-in only (nothing falls back to local)",
                setting="ALLOW_CLOUD_DEFAULT",
            )
        bucket = env(environ, "AWS_S3_BUCKET")
        if bucket is None:
            raise StorageConfigError(
                "ARTIFACT_STORAGE_BACKEND=s3 needs AWS_S3_BUCKET", setting="AWS_S3_BUCKET"
            )
        options: dict[str, Any] = {
            "bucket": bucket,
            "endpoint_url": env(environ, "AWS_S3_ENDPOINT_URL"),
            "region": env(environ, "AWS_REGION") or "us-east-1",
            "prefix": env(environ, "ARTIFACT_S3_PREFIX") or "",
        }
        sse = env(environ, "ARTIFACT_S3_SSE")
        if sse is not None:
            if sse not in ("AES256", "aws:kms"):
                raise StorageConfigError(
                    f"ARTIFACT_S3_SSE={sse!r} is not AES256 or aws:kms", setting="ARTIFACT_S3_SSE"
                )
            options["sse"] = sse
        kms_key = env(environ, "ARTIFACT_S3_SSE_KMS_KEY_ID")
        if kms_key is not None:
            if sse != "aws:kms":
                raise StorageConfigError(
                    "ARTIFACT_S3_SSE_KMS_KEY_ID needs ARTIFACT_S3_SSE=aws:kms",
                    setting="ARTIFACT_S3_SSE_KMS_KEY_ID",
                )
            options["sse_kms_key_id"] = kms_key
        attempts = env(environ, "ARTIFACT_S3_MAX_ATTEMPTS")
        if attempts is not None:
            if not attempts.isdigit() or not 1 <= int(attempts) <= 20:
                raise StorageConfigError(
                    f"ARTIFACT_S3_MAX_ATTEMPTS={attempts!r} must be a whole number from 1 to 20",
                    setting="ARTIFACT_S3_MAX_ATTEMPTS",
                )
            options["max_attempts"] = int(attempts)
        lock_mode = env(environ, "ARTIFACT_S3_OBJECT_LOCK_MODE")
        if lock_mode is not None:
            if lock_mode.upper() not in LOCK_MODES:
                raise StorageConfigError(
                    f"ARTIFACT_S3_OBJECT_LOCK_MODE={lock_mode!r} is not GOVERNANCE or COMPLIANCE",
                    setting="ARTIFACT_S3_OBJECT_LOCK_MODE",
                )
            options["object_lock_mode"] = lock_mode.upper()
        options.update(_secret_from(environ))
        return options

    @staticmethod
    def options_from_url(url: str) -> dict[str, Any]:
        """The options (``bucket`` included) of ``s3://bucket/prefix?option=value&...``."""
        if not url[3:].startswith("//"):
            raise StorageConfigError(f"{shown(url)!r} is not s3://bucket/prefix", setting="url")
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
                f"{shown(url)!r} names no bucket; use s3://bucket/prefix", setting="url"
            )
        if not _BUCKET.fullmatch(bucket):
            raise StorageConfigError(
                f"{bucket!r} in {shown(url)!r} is not a bucket name", setting="url"
            )
        if parts.fragment:
            raise StorageConfigError(
                f"{shown(url)!r} has a fragment ('#'); remove it", setting="url"
            )
        query = query_options(url, URL_OPTIONS)
        try:
            prefix = _keys.normalize_prefix(unquote(parts.path).strip("/"))
        except InvalidKeyError as exc:
            raise StorageConfigError(
                f"the prefix of {shown(url)!r} is not valid: {exc}", setting="url"
            ) from None
        # Like credentials, the tags' secret never comes from a URL: from the environment.
        return {"bucket": bucket, "prefix": prefix, **query, **_secret_from(os.environ)}

    def _check(self) -> None:
        def bad(setting: str, why: str) -> StorageConfigError:
            return StorageConfigError(f"S3 option {setting}: {why}", setting=setting)

        if self.retry_mode not in ("standard", "adaptive", "legacy"):
            raise bad("retry_mode", f"{self.retry_mode!r} is not standard, adaptive or legacy")
        if not 1 <= self.max_attempts <= 20:
            raise bad("max_attempts", "must be 1 to 20")
        if self.addressing_style not in (None, "path", "virtual", "auto"):
            raise bad("addressing_style", "must be path, virtual or auto")
        if self.sse not in (None, "AES256", "aws:kms"):
            raise bad("sse", f"{self.sse!r} is not AES256 or aws:kms")
        if self.sse_kms_key_id and self.sse != "aws:kms":
            raise bad("sse_kms_key_id", "needs sse='aws:kms'")
        if self.part_size < _MIN_PART:
            raise bad("part_size", f"must be at least {_MIN_PART} bytes (the S3 minimum)")
        if not 1 <= self.parts_in_flight <= self.max_pool_connections:
            raise bad("parts_in_flight", "must be 1 to max_pool_connections")
        if self.multipart_threshold < 1:
            raise bad("multipart_threshold", "must be positive")
        if self.sha256_record not in ("tag", "copy"):
            raise bad("sha256_record", f"{self.sha256_record!r} is not tag or copy")
        if self.sha256_key is not None and (
            not isinstance(self.sha256_key, str) or len(self.sha256_key) < 16
        ):
            raise bad("sha256_key", "must be a secret of 16 characters or more")
        if self.single_copy_limit < _MIN_PART:
            raise bad("single_copy_limit", f"must be at least {_MIN_PART} bytes")
        if self.object_lock_mode not in LOCK_MODES:
            raise bad(
                "object_lock_mode", f"{self.object_lock_mode!r} is not GOVERNANCE or COMPLIANCE"
            )

    @property
    def signs_payloads(self) -> bool:
        """Whether request bodies are signed (SigV4 ``x-amz-content-sha256``): over HTTP.

        Over TLS they go as ``UNSIGNED-PAYLOAD``, as the AWS SDKs send them: TLS
        protects them in transit, and the SHA-256 recorded with each artifact checks
        them end to end, so a second SHA-256 pass over every byte would buy nothing.
        (The SDKs add a CRC32 trailer, which several S3-compatible servers reject.)
        Over plain HTTP nothing else protects a body, so it is signed.
        """
        return not (self.endpoint_url or "https://").lower().startswith("https://")

    def encryption_args(self) -> dict[str, str]:
        """The SSE arguments of PutObject, CreateMultipartUpload and CopyObject."""
        if self.sse is None:
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args
