"""The pytest plugin: artifact stores as fixtures, for the tests of services that use one.

Loaded automatically once artifactstore is installed (entry point ``pytest11``,
name ``artifactstore``; ``-p no:artifactstore`` turns it off). Defining fixtures
starts nothing: a store, or the moto server, exists only for tests that ask for it.

``memory_artifact_store``
    A fresh ``MemoryArtifactStore`` per test: nothing on disk.
``local_artifact_store``
    A fresh ``LocalFilesystemArtifactStore`` in the test's ``tmp_path``, with the
    defaults a service runs with (``durable=True``).
``s3_artifact_store``
    An ``S3ArtifactStore`` on a new, empty bucket of a moto server; skipped unless
    moto (``moto[server]``) and the ``s3`` extra are installed.
``artifactstore_moto_server``
    That server (session scope): one ``python -m moto.server`` process, started the
    first time a test needs it and stopped at the end of the session.
``sync_memory_artifact_store``, ``sync_local_artifact_store``, ``sync_s3_artifact_store``
    The same stores behind a ``SyncArtifactStore``, for synchronous code.

The async fixtures are pytest-asyncio fixtures when pytest-asyncio is installed
(so they work in its strict mode too), plain pytest fixtures otherwise.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from ..backends.local import LocalFilesystemArtifactStore
from ..store import ArtifactStore
from ..sync import SyncArtifactStore
from .moto_server import MotoServer, new_bucket

if TYPE_CHECKING:
    from ..backends.s3 import S3ArtifactStore

_F = TypeVar("_F", bound=Callable[..., Any])
_fixture: Callable[..., Any]
try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - e.g. anyio's pytest plugin runs them
    _fixture = pytest.fixture
else:
    _fixture = pytest_asyncio.fixture


def _async_fixture(function: _F) -> _F:
    return cast(_F, _fixture(function))


_MEMORY_MODULE = "artifactstore.backends.memory"


def _memory_store() -> ArtifactStore:
    try:
        module = importlib.import_module(_MEMORY_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != _MEMORY_MODULE:
            raise
        module = None
    store_class = getattr(module, "MemoryArtifactStore", None)
    if store_class is None:
        pytest.skip(
            "memory_artifact_store needs artifactstore.backends.memory.MemoryArtifactStore, "
            "which this version of artifactstore does not have"
        )
    store: ArtifactStore = store_class()
    return store


def _local_store(tmp_path: Path) -> LocalFilesystemArtifactStore:
    return LocalFilesystemArtifactStore(tmp_path / "artifactstore")


def _s3_store(server: MotoServer) -> S3ArtifactStore:
    if importlib.util.find_spec("aioboto3") is None:
        pytest.skip("s3_artifact_store needs the s3 extra: pip install 'artifactstore[s3]'")
    from ..backends.s3 import S3ArtifactStore

    return S3ArtifactStore(new_bucket(server), **server.store_options())


@pytest.fixture(scope="session")
def artifactstore_moto_server() -> Iterator[MotoServer]:
    """One moto S3 server process for the session (skipped without moto[server])."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        pytest.skip("s3_artifact_store needs moto's server: pip install 'moto[server]'")
    server = MotoServer.start()
    try:
        yield server
    finally:
        server.stop()


@_async_fixture
async def memory_artifact_store() -> AsyncIterator[ArtifactStore]:
    """A fresh, empty in-memory store; nothing touches the disk."""
    store = _memory_store()
    async with store:
        yield store


@_async_fixture
async def local_artifact_store(tmp_path: Path) -> AsyncIterator[LocalFilesystemArtifactStore]:
    """A fresh, empty local store in ``tmp_path / "artifactstore"``."""
    store = _local_store(tmp_path)
    async with store:
        yield store


@_async_fixture
async def s3_artifact_store(
    artifactstore_moto_server: MotoServer,
) -> AsyncIterator[S3ArtifactStore]:
    """An S3 store on a new, empty bucket of the session's moto server."""
    # Creating the bucket is blocking I/O: off the event loop.
    store = await asyncio.to_thread(_s3_store, artifactstore_moto_server)
    async with store:
        yield store


@pytest.fixture
def sync_memory_artifact_store() -> Iterator[SyncArtifactStore]:
    """``memory_artifact_store`` behind the sync facade."""
    with SyncArtifactStore(_memory_store()) as facade:
        yield facade


@pytest.fixture
def sync_local_artifact_store(tmp_path: Path) -> Iterator[SyncArtifactStore]:
    """``local_artifact_store`` behind the sync facade."""
    with SyncArtifactStore(_local_store(tmp_path)) as facade:
        yield facade


@pytest.fixture
def sync_s3_artifact_store(artifactstore_moto_server: MotoServer) -> Iterator[SyncArtifactStore]:
    """``s3_artifact_store`` behind the sync facade."""
    with SyncArtifactStore(_s3_store(artifactstore_moto_server)) as facade:
        yield facade
