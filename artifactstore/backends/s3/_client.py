"""The S3 backend's long-lived aioboto3 clients, one per event loop.

Creating a session or client costs more than a small upload, and aiobotocore reads
configuration and model files while doing it; so a store makes its client once, on
first use, after loading those files on a worker thread, and keeps it until
``aclose()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import weakref
from datetime import datetime
from typing import Any

import anyio
from botocore.exceptions import ClientError
from botocore.utils import parse_timestamp

from ...errors import StorageConfigError, StoreClosedError
from . import _signing
from ._errors import error_code, map_errors
from ._redact import REDACTOR
from ._settings import S3Settings

__all__ = ["S3Client"]

_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _timestamp(value: Any) -> datetime:
    """The timestamps of responses: botocore's parser, with a fast path for S3's XML.

    A listing has one ISO 8601 ``LastModified`` per object, which botocore parses with
    ``dateutil`` (about 30 us; ``fromisoformat``: 0.2 us): a third of the client's
    time in a rerun of a migration. Anything else (the RFC 1123 dates of headers,
    an epoch) goes to botocore's parser, as before.
    """
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            return datetime.fromisoformat(f"{value[:-1]}+00:00")
        except ValueError:
            pass
    parsed: datetime = parse_timestamp(value)
    return parsed


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
        _signing.install(client.meta.events)  # payload hashes given, not computed on the loop
        # What botocore resolved (a profile, a role, SSO, the environment) is
        # scrubbed from the logs before each request is signed, refreshed sets
        # too; and the loggers created with the client are filtered as well.
        credentials = await session.get_credentials()  # resolved above: no I/O
        if credentials is not None:
            REDACTOR.watch(client, credentials)
        REDACTOR.guard()
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
        core.get_component("response_parser_factory").set_parser_defaults(
            timestamp_parser=_timestamp
        )
        core.get_scoped_config()
        loader = core.get_component("data_loader")
        loader.load_service_model("s3", "service-2")
        loader.load_service_model("s3", "endpoint-rule-set-1")
        for name in ("partitions", "endpoints", "sdk-default-configuration"):
            loader.load_data(name)
        REDACTOR.guard(  # after the imports above, so that their loggers exist
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
            # total_max_attempts counts the first try; botocore's max_attempts would not.
            retries={"mode": s.retry_mode, "total_max_attempts": s.max_attempts},
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            s3={
                "addressing_style": addressing,
                **({} if s.signs_payloads else {"payload_signing_enabled": False}),
            },
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
