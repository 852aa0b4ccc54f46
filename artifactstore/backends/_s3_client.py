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
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

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


_REDACTED = "[redacted]"
# What a signed request carries as credentials, whatever they are, in the forms
# botocore's and aiohttp's DEBUG lines print it: headers in a dict repr
# ('Authorization': b'...'), header lines (a canonical request's
# "x-amz-security-token:..."), a presigned URL's query parameters, the
# Credential=/Signature= parts of an Authorization value, and the signature
# botocore logs on a line of its own ("Signature:\n<hex>").
_SIGNED_PARTS = (
    (
        re.compile(
            r"""(?i)(['"](?:authorization|x-amz-security-token)['"]\s*:\s*b?)(['"])[^'"]*"""
        ),
        rf"\1\2{_REDACTED}",
    ),
    (
        re.compile(
            r"""(?i)(?<!['"\w-])(authorization|x-amz-security-token)(\s*:)"""
            r"""(?!\s*b?['"])[^\r\n]*"""
        ),
        rf"\1\2 {_REDACTED}",
    ),
    (
        re.compile(
            r"(?i)\b(x-amz-security-token|x-amz-credential|x-amz-signature|awsaccesskeyid)"
            r"=[^&\s'\"<>]*"
        ),
        rf"\1={_REDACTED}",
    ),
    (re.compile(r"""(?i)\b(credential|signature)=[^,\s&'"<>]*"""), rf"\1={_REDACTED}"),
    (re.compile(r"(?i)\b(signature:)\s*[0-9a-f]{64}\b"), rf"\1 {_REDACTED}"),
)
# The loggers that may print requests: the AWS SDK's and the HTTP clients'.
_LOGGER_ROOTS = (
    "botocore",
    "aiobotocore",
    "aioboto3",
    "boto3",
    "s3transfer",
    "aiohttp",
    "urllib3",
)


def scrub(message: str, literal: re.Pattern[str] | None = None) -> str:
    """``message`` without signed parts of requests, nor any string ``literal`` matches."""
    if literal is not None:
        message = literal.sub(_REDACTED, message)
    for pattern, replacement in _SIGNED_PARTS:
        message = pattern.sub(replacement, message)
    return message


class _Redactor(logging.Filter):
    """Scrubs credentials from the records of the AWS SDK's and the HTTP clients' loggers.

    Their DEBUG logs print requests: the Authorization header with the access key
    id, the session token, canonical requests, presigned URLs. Signed parts are
    scrubbed whatever the credentials; the credentials themselves, raw or
    percent-encoded, are scrubbed anywhere once known (:meth:`guard`): those
    given as options or in ``AWS_*`` variables, and those botocore resolved (a
    profile, a role, SSO), again each time it refreshes them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._literal: re.Pattern[str] | None = None  # replaced whole, never mutated
        self._loggers_seen = -1

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it as such
            return True
        cleaned = scrub(message, self._literal)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True

    def guard(self, *secrets: str | None) -> None:
        """Scrub these values (and their percent-encoded forms) from now on.

        Also filters every logger of the SDK and the HTTP clients that exists by
        now (a logger's filter does not apply to its children's records).
        """
        self._add(secrets, rescan=True)

    def _add(self, secrets: tuple[str | None, ...], *, rescan: bool) -> None:
        new = {
            form
            for secret in secrets
            if secret and len(secret) >= 8
            for form in (secret, quote(secret, safe=""), quote(secret, safe="/"))
        }
        loggers = logging.root.manager.loggerDict
        if not rescan and new <= self._secrets and len(loggers) == self._loggers_seen:
            return  # the common case, once per request: nothing new
        with self._lock:
            if not new <= self._secrets:
                self._secrets |= new
                ordered = sorted(self._secrets, key=len, reverse=True)  # longest first
                self._literal = re.compile("|".join(map(re.escape, ordered)))
            self._loggers_seen = len(loggers)
            for name in list(loggers):
                if name.split(".")[0] in _LOGGER_ROOTS:
                    logger = logging.getLogger(name)  # a placeholder becomes a logger
                    if self not in logger.filters:
                        logger.addFilter(self)

    def watch(self, client: Any, credentials: Any) -> None:
        """Guard what ``credentials`` hold before each request ``client`` signs.

        Refreshable credentials (a role, SSO) change over time; reading the frozen
        set refreshes them if due, which the signer does next anyway. Loggers
        created since the last look are filtered too.
        """

        async def before_sign(**_kwargs: Any) -> None:
            frozen = await credentials.get_frozen_credentials()
            self._add((frozen.access_key, frozen.secret_key, frozen.token), rescan=False)

        client.meta.events.register("before-sign.s3", before_sign)


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
        # The credential chain reads the AWS files (a profile's credentials, an SSO
        # or web identity token) with blocking calls: resolve it off the store's
        # loop, on a worker thread's loop of its own (given credentials return at
        # once). The session keeps the result for the client; refreshable ones (a
        # role, SSO) refresh later on the store's loop, as botocore does.
        await anyio.to_thread.run_sync(asyncio.run, session.get_credentials())
        context = session.client(
            "s3", endpoint_url=s.endpoint_url, region_name=s.region, config=config
        )
        client = await context.__aenter__()
        # What botocore resolved (a profile, a role, SSO, the environment) is
        # scrubbed from the logs before each request is signed, refreshed sets
        # too; and the loggers created with the client are filtered as well.
        credentials = await session.get_credentials()  # resolved above: no I/O
        if credentials is not None:
            _REDACTOR.watch(client, credentials)
        _REDACTOR.guard()
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
