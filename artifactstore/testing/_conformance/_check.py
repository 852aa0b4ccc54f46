"""What the checks are made of, and the helpers they share.

``ConformanceCheck`` and the ``check`` decorator that registers one; ``raises``,
which stands in for ``pytest.raises``; ``sha``, ``chunks``, ``keys_of`` and the
``assert_*`` helpers. Each topic module (``_put``, ``_read``, ...) registers its
checks here as it is imported; the package gathers them, in order, as ``CHECKS``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Generic, TypeVar

from ...backend import BackendInfo
from ...metadata import ArtifactMetadata
from ...store import ArtifactStore

CheckFunction = Callable[[ArtifactStore, Path], Awaitable[None]]
E = TypeVar("E", bound=BaseException)

MiB = 1024 * 1024


@dataclass(frozen=True, eq=False)
class ConformanceCheck:
    """One check of the contract: ``await check(store, scratch)``.

    ``store`` is a fresh, empty store; ``scratch`` an empty folder outside it. The
    check raises (``AssertionError`` or the exception the store raised) when the
    store breaks the contract. ``str(check)`` is its name, for test ids.
    """

    #: A stable identifier, such as ``"stream_ranges"``.
    name: str
    #: The ``async`` function that runs it.
    function: CheckFunction
    #: Capability flags and the value each must have for the check to apply.
    requires: Mapping[str, bool]
    #: What it checks (the first line of the function's docstring).
    description: str

    async def __call__(self, store: ArtifactStore, scratch: Path) -> None:
        """Run the check on ``store``."""
        await self.function(store, scratch)

    def applies_to(self, info: BackendInfo) -> bool:
        """Whether a backend described by ``info`` must pass this check."""
        return all(getattr(info, k) == v for k, v in self.requires.items())

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        needs = f", requires={dict(self.requires)!r}" if self.requires else ""
        return f"<ConformanceCheck {self.name}{needs}>"


_registry: list[ConformanceCheck] = []


def registered() -> tuple[ConformanceCheck, ...]:
    """Every check registered so far, in the order of registration."""
    return tuple(_registry)


def check(**requires: bool) -> Callable[[CheckFunction], CheckFunction]:
    """Register a check; ``requires`` names the capability flags it needs."""
    unknown = set(requires) - set(BackendInfo.capability_names())
    if unknown:
        raise ValueError(f"unknown capabilities: {sorted(unknown)}")

    def register(fn: CheckFunction) -> CheckFunction:
        doc = (fn.__doc__ or "").strip().splitlines()
        _registry.append(ConformanceCheck(fn.__name__, fn, dict(requires), doc[0] if doc else ""))
        return fn

    return register


class Raised(Generic[E]):
    """What :func:`raises` caught: ``value`` is the exception."""

    value: E


@contextmanager
def raises(expected: type[E], match: str | None = None) -> Iterator[Raised[E]]:
    """Assert that the block raises ``expected`` (like ``pytest.raises``, without pytest).

    ``match`` is a regular expression searched for in ``str(exception)``.
    """
    caught: Raised[E] = Raised()
    try:
        yield caught
    except expected as exc:
        if match is not None and not re.search(match, str(exc)):
            raise AssertionError(
                f"{type(exc).__name__}({str(exc)!r}) was raised, but does not match {match!r}"
            ) from exc
        caught.value = exc
        return
    raise AssertionError(f"DID NOT RAISE {expected.__name__}")


def sha(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


async def chunks(*parts: bytes, delay: float = 0) -> AsyncIterator[bytes]:
    """An async iterable of ``parts``, ``delay`` seconds apart."""
    for part in parts:
        if delay:
            await asyncio.sleep(delay)
        yield part


async def keys_of(store: ArtifactStore, prefix: str = "", recursive: bool = True) -> list[str]:
    """The keys ``store.list(prefix)`` yields, in its order."""
    return [m.storage_key async for m in store.list(prefix, recursive=recursive)]


def assert_meta(meta: ArtifactMetadata, store: ArtifactStore, key: str, data: bytes) -> None:
    """Assert that ``meta`` describes ``data`` stored at ``key`` just now."""
    assert meta.storage_backend == store.backend_name
    assert meta.storage_key == key
    assert meta.sha256 == sha(data)
    assert meta.size_bytes == len(data)
    assert meta.last_modified.tzinfo is not None
    now = datetime.now(timezone.utc)
    assert now - timedelta(minutes=5) < meta.last_modified < now + timedelta(minutes=5)
    assert store.normalize_key(meta.storage_uri) == key  # a store accepts its own URI
    row = meta.to_db_row()
    assert row["storage_key"] == key
    assert row["file_size"] == len(data)


def assert_same(a: ArtifactMetadata, b: ArtifactMetadata) -> None:
    """Equal but for last_modified, which a put may only estimate (S3 answers no time)."""
    assert dataclasses.replace(a, last_modified=b.last_modified) == b
    assert abs(a.last_modified - b.last_modified) < timedelta(seconds=5)


async def write_file(path: Path, data: bytes) -> None:
    """Write a source file off the event loop (the loop thread does no file I/O)."""
    await asyncio.to_thread(path.write_bytes, data)
