"""``run_conformance``: every check that applies, each on a fresh store, with one report."""

from __future__ import annotations

import asyncio
import inspect
import shutil
import tempfile
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..backend import BackendInfo
from ..store import ArtifactStore
from . import _conformance
from ._conformance import CHECKS, ConformanceCheck

MakeStore = Callable[[], "ArtifactStore | Awaitable[ArtifactStore]"]

# The folder of the checks' modules: a failure names the line of the check there.
_CHECKS_DIR = Path(_conformance.__file__).parent


@dataclass(frozen=True)
class ConformanceFailure:
    """One check that failed: its name and what it raised."""

    check: str
    error: BaseException

    def describe(self) -> str:
        """The check, the exception, and the line of the check that raised it."""
        what = type(self.error).__name__
        message = _shorten(str(self.error))
        lines = [f"{self.check}: {what}: {message}" if message else f"{self.check}: {what}"]
        frames = traceback.extract_tb(self.error.__traceback__)
        ours = [f for f in frames if Path(f.filename).parent == _CHECKS_DIR] or frames[-1:]
        if ours:
            frame = ours[-1]
            path = Path(frame.filename)
            # A check's module is named with its package: _conformance/_put.py.
            where = f"{path.parent.name}/{path.name}" if path.parent == _CHECKS_DIR else path.name
            lines.append(f"    at {where}:{frame.lineno}: {(frame.line or '').strip()}")
        return "\n".join(lines)


class ConformanceError(AssertionError):
    """A store failed conformance checks; ``failures`` lists them."""

    def __init__(self, backend: str, failures: list[ConformanceFailure], ran: int) -> None:
        self.backend = backend
        self.failures = failures
        header = f"{len(failures)} of {ran} conformance checks failed on backend {backend!r}:"
        super().__init__("\n".join([header, *(f.describe() for f in failures)]))


@dataclass(frozen=True)
class ConformanceReport:
    """What :func:`run_conformance` ran: the checks passed and those left out."""

    backend: str
    #: The record the checks were chosen by.
    info: BackendInfo
    #: Names of the checks that ran and passed.
    passed: tuple[str, ...]
    #: Names of the checks left out because they need other capabilities.
    skipped: tuple[str, ...]


async def run_conformance(
    make_store: MakeStore, *, info: BackendInfo | None = None
) -> ConformanceReport:
    """Run every check that applies, each on a fresh store from ``make_store()``.

    ``make_store`` returns a new, empty store (or an awaitable of one) each time it
    is called; each is closed (``aclose``) after its check. ``info`` (which
    picks the checks) defaults to the first store's ``info``. Each check gets an empty
    scratch folder of its own, removed afterwards.

    Returns a :class:`ConformanceReport` when every check passed; otherwise raises
    :class:`ConformanceError` naming each failed check, its exception and the line
    of the check that raised it (the first failure is its ``__cause__``).
    """
    pending: ArtifactStore | None = None
    if info is None:
        pending = await _make(make_store)
        info = pending.info
    checks = [c for c in CHECKS if c.applies_to(info)]
    skipped = tuple(c.name for c in CHECKS if not c.applies_to(info))
    backend = pending.backend_name if pending is not None else "?"
    passed: list[str] = []
    failures: list[ConformanceFailure] = []
    try:
        for check in checks:
            store, pending = pending or await _make(make_store), None
            backend = store.backend_name
            error = await _run_one(check, store)
            if error is None:
                passed.append(check.name)
            else:
                failures.append(ConformanceFailure(check.name, error))
    finally:
        if pending is not None:
            await pending.aclose()
    if failures:
        # Describing a failure reads the source of its line: off the event loop.
        error = await asyncio.to_thread(ConformanceError, backend, failures, len(checks))
        raise error from failures[0].error
    return ConformanceReport(backend, info, tuple(passed), skipped)


async def _make(make_store: MakeStore) -> ArtifactStore:
    made = make_store()
    store = await made if inspect.isawaitable(made) else made
    if not isinstance(store, ArtifactStore):
        raise TypeError(f"make_store() must return an ArtifactStore, not {store!r}")
    return store


async def _run_one(check: ConformanceCheck, store: ArtifactStore) -> Exception | None:
    scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="artifactstore-check-"))
    error: Exception | None = None
    try:
        await check(store, scratch)
    except Exception as exc:
        error = exc
    finally:
        try:
            await store.aclose()
        except Exception as exc:
            error = error or exc
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    return error


def _shorten(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
