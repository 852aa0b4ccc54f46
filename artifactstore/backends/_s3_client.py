"""The S3 backend's settings and its one long-lived aioboto3 client.

Creating a session or client costs more than a small upload, and aiobotocore reads
configuration and model files while doing it; so a store makes its client once, on
first use, after loading those files on a worker thread, and keeps it until
``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import anyio
from botocore.exceptions import ClientError

from .. import keys as _keys
from ..errors import StorageConfigError, StoreClosedError
from ._s3_errors import error_code, map_errors

__all__ = ["S3Client", "S3Settings"]

MiB = 1024 * 1024
_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_MIN_PART = 5 * MiB  # S3's smallest part (all but the last)


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
    #: Largest object stamped by one CopyObject (S3: 5 GiB); bigger ones part by part.
    single_copy_limit: int = 5 * 1024**3

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
        settings = cls(bucket=bucket, **options)
        settings._check()
        return settings

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
        if self.single_copy_limit < _MIN_PART:
            raise bad("single_copy_limit", f"must be at least {_MIN_PART} bytes")

    def encryption_args(self) -> dict[str, str]:
        """The SSE arguments of PutObject, CreateMultipartUpload and CopyObject."""
        if self.sse is None:
            return {}
        args = {"ServerSideEncryption": self.sse}
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args


class _Redactor(logging.Filter):
    """Scrubs credentials from the records of botocore's, aiobotocore's and aiohttp's loggers.

    Their DEBUG logs print request headers, and so the Authorization header with
    the access key id; a deployment that turns DEBUG on must not leak them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, "[redacted]")
                record.msg, record.args = message, ()
        return True

    def guard(self, *secrets: str | None) -> None:
        self.secrets.update(s for s in secrets if s and len(s) >= 8)
        for name in list(logging.root.manager.loggerDict):
            if name.split(".")[0] in ("botocore", "aiobotocore", "aiohttp", "urllib3"):
                logger = logging.getLogger(name)
                if self not in logger.filters:
                    logger.addFilter(self)


_REDACTOR = _Redactor()


class S3Client:
    """The store's aioboto3 clients: one per event loop, each created on first use there.

    A client's connection pool belongs to the event loop it was made on, so a store
    used from two loops (an async service and the sync facade's loop thread, say)
    keeps one client for each. ``aclose()`` closes them all.
    """

    def __init__(self, settings: S3Settings) -> None:
        self._settings = settings
        self._guard = threading.Lock()  # the dicts are shared by the loops' threads
        self._reset()

    def _reset(self) -> None:
        self._closed = False
        self._pid = os.getpid()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self) -> Any:
        """The client of the running event loop, created on its first call."""
        if self._closed:
            raise StoreClosedError()
        loop = asyncio.get_running_loop()
        with self._guard:
            if self._pid != os.getpid():  # a forked child: the parent's clients are not ours
                self._reset()
            entry = self._clients.get(loop)
            if entry is not None:
                return entry[1]
            lock = self._locks.setdefault(loop, asyncio.Lock())
        async with lock:
            entry = self._clients.get(loop)
            if entry is None:
                entry = await self._create()
                with self._guard:
                    self._clients[loop] = entry
        return entry[1]

    async def _create(self) -> tuple[Any, Any]:
        s = self._settings
        # Import and load configuration and the S3 model files off the event loop.
        session, config = await anyio.to_thread.run_sync(self._prepare)
        context = session.client(
            "s3", endpoint_url=s.endpoint_url, region_name=s.region, config=config
        )
        client = await context.__aenter__()
        if s.verify_bucket:
            try:
                with map_errors(s.bucket, None, "checking"):
                    await client.head_bucket(Bucket=s.bucket)
            except StorageConfigError:
                await context.__aexit__(None, None, None)
                raise
            except Exception as exc:  # 403 on HeadBucket: a narrow policy, carry on
                cause = exc.__cause__
                if not isinstance(cause, ClientError) or error_code(cause)[1] != 403:
                    await context.__aexit__(None, None, None)
                    raise
        return context, client

    def _prepare(self) -> tuple[Any, Any]:
        import aioboto3
        import aioboto3.s3.inject
        from botocore.config import Config

        s = self._settings
        session = aioboto3.Session(
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key,
            aws_session_token=s.aws_session_token,
            profile_name=s.profile_name,
            region_name=s.region,
        )
        core = session._session  # the botocore session: warm its caches here
        core.get_scoped_config()
        loader = core.get_component("data_loader")
        loader.load_service_model("s3", "service-2")
        loader.load_service_model("s3", "endpoint-rule-set-1")
        for name in ("partitions", "endpoints", "sdk-default-configuration"):
            loader.load_data(name)
        _REDACTOR.guard(  # after the imports above, so that their loggers exist
            s.aws_access_key_id,
            s.aws_secret_access_key,
            s.aws_session_token,
            *(os.environ.get(v) for v in _CREDENTIAL_VARIABLES),
        )
        time.strptime("2000", "%Y")  # imports _strptime, which response parsing needs
        addressing = s.addressing_style or ("path" if s.endpoint_url else "virtual")
        config = Config(
            region_name=s.region,
            max_pool_connections=s.max_pool_connections,
            retries={"mode": s.retry_mode, "max_attempts": s.max_attempts},
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            s3={"addressing_style": addressing},
            # botocore >= 1.36 adds CRC32 checksums by default, which several
            # S3-compatible servers reject: only when an operation requires one.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            signature_version="s3v4",
        )
        return session, config

    async def aclose(self) -> None:
        """Close every client and its connection pool; idempotent."""
        self._closed = True
        with self._guard:
            if self._pid != os.getpid():
                self._reset()
                return
            entries = list(self._clients.items())
            self._clients.clear()
        current = asyncio.get_running_loop()
        for loop, (context, _client) in entries:
            if loop is current:
                await context.__aexit__(None, None, None)
            elif loop.is_running():  # closed on its own loop, where its pool lives
                done = asyncio.run_coroutine_threadsafe(context.__aexit__(None, None, None), loop)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.wrap_future(done), timeout=10)
