"""Shared fixtures, and a detector of blocking file I/O on the event loop.

The detector is an audit hook (``sys.addaudithook``): file-system events (``open``,
``os.rename``, ``os.mkdir``, ``os.scandir``, ``sqlite3.connect``, ...) raised by
artifactstore's own code on a thread that is running an event loop are recorded,
and every test fails if any were. Tests themselves may do blocking I/O freely
(preparing fixtures); only library frames count.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import artifactstore

from .faultproxy import FaultProxy
from .s3server import MotoServer

_PACKAGE_DIR = os.path.dirname(artifactstore.__file__) + os.sep
# A test helper shipped in the package, blocking by design (it starts and sets up a
# moto server for tests): its own I/O is the test's, not the library's.
_TEST_HELPERS = {os.path.join(_PACKAGE_DIR, "testing", "moto_server.py")}
_BLOCKING_EVENTS = {
    "open",
    "os.chmod",
    "os.link",
    "os.listdir",
    "os.mkdir",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.scandir",
    "os.truncate",
    "os.utime",
    "shutil.copyfile",
    "shutil.rmtree",
    "sqlite3.connect",
}
_violations: list[str] = []
_lock = threading.Lock()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event not in _BLOCKING_EVENTS or asyncio._get_running_loop() is None:
        return
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            if frame.f_code.co_filename in _TEST_HELPERS:
                return
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
            with _lock:
                _violations.append(f"{event}{args!r} at {where}")
            return
        frame = frame.f_back  # type: ignore[assignment]


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def no_blocking_io_on_the_loop() -> Iterator[list[str]]:
    """Fail the test if library code did blocking file I/O on an event loop thread."""
    with _lock:
        _violations.clear()
    yield _violations
    with _lock:
        found, _violations[:] = list(_violations), []
    assert not found, "blocking I/O on the event loop:\n" + "\n".join(found[:10])


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A folder outside any store, for source files."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


def open_fds() -> int:
    """How many file descriptors this process has open (Linux)."""
    return len(os.listdir("/proc/self/fd"))


def open_paths_under(root: Path) -> list[str]:
    """What this process's open descriptors under ``root`` lead to, sorted (Linux)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(f"{os.path.realpath(root)}/"):
            found.append(target)
    return sorted(found)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-soak", action="store_true", help="run the long soak tests")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long-running soak test (make soak)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with make soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def moto_server(artifactstore_moto_server: MotoServer) -> MotoServer:
    """One moto S3 server process for the whole session, stopped at the end.

    The pytest plugin's (``artifactstore.testing.plugin``): ``s3_artifact_store``
    and the tests share it.
    """
    return artifactstore_moto_server


@pytest.fixture
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    """A pass-through ``FaultProxy`` in front of the moto server (counts what reaches it)."""
    p = FaultProxy(moto_server.port)
    yield p
    p.stop()
