"""The reports of :mod:`artifactstore.transfer`: what a migration, a check or a scrub found.

Frozen dataclasses, so a report can be kept, compared and passed around; each has
``ok`` and a ``to_dict()`` for JSON (``json.dumps(report.to_dict())``), where every
``(key, message)`` pair becomes ``{"key": ..., "message": ...}``. ``Tally``
gathers a run's outcomes as they come.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..metadata import ArtifactMetadata
from ._concurrency import for_each

__all__ = ["CheckReport", "Progress", "Tally", "TransferReport", "VerifyReport"]

T = TypeVar("T")

#: ``progress(artifacts done, artifacts total or None, bytes done)``.
Progress = Callable[[int, "int | None", int], None]

#: ``(key, message)`` pairs: which artifact, and what went wrong with it.
KeyErrors = tuple[tuple[str, str], ...]


def _as_dict(report: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field in dataclasses.fields(report):
        value = getattr(report, field.name)
        if isinstance(value, tuple):
            value = [
                {"key": item[0], "message": item[1]} if isinstance(item, tuple) else item
                for item in value
            ]
        result[field.name] = value
    result["ok"] = report.ok
    return result


@dataclass(frozen=True)
class TransferReport:
    """What :func:`~artifactstore.transfer.copy_artifacts` did, artifact by artifact.

    Every source artifact listed ends in exactly one outcome: copied, skipped,
    conflict, failed or corrupt, so ``copied + skipped + conflicts + failed +
    corrupt == total``. Key lists are sorted. In a dry run, ``copied`` and
    ``bytes_copied`` count what would have been copied. A destination artifact
    that a hold or retention protects there is a conflict even with ``overwrite``.
    """

    total: int
    """Source artifacts listed under the prefix."""
    copied: int
    """Artifacts written to the destination (including replaced conflicts)."""
    skipped: int
    """Artifacts already at the destination with the same SHA-256 (resume)."""
    conflicts: int
    """Destination artifacts with another SHA-256, left untouched (no ``overwrite``)."""
    failed: int
    """Artifacts that could not be copied or whose copy did not verify."""
    corrupt: int
    """Source artifacts whose bytes do not match their own recorded SHA-256; not copied."""
    bytes_copied: int
    """Bytes written to the destination."""
    dry_run: bool
    """Whether nothing was written (``dry_run=True``)."""
    copied_keys: tuple[str, ...] = ()
    """Keys copied."""
    replaced_keys: tuple[str, ...] = ()
    """Keys among ``copied_keys`` that replaced a conflicting artifact (``overwrite``)."""
    skipped_keys: tuple[str, ...] = ()
    """Keys skipped because the destination already had them."""
    conflict_keys: KeyErrors = ()
    """``(key, message)`` of each conflict."""
    failures: KeyErrors = ()
    """``(key, message)`` of each failure."""
    corrupt_keys: KeyErrors = ()
    """``(key, message)`` of each corrupt source artifact."""
    holds_copied: int = 0
    """Holds placed at the destination, before any artifact was copied (in a dry
    run: that would be); those it already had are not counted."""
    retentions_copied: int = 0
    """Retentions set or extended at the destination, before any artifact was copied
    (in a dry run: that would be); those it already kept as long are not counted."""
    skipped_invalid: KeyErrors = ()
    """``(name, why)`` of each name in the source under the prefix that is not a key
    (an NFD "Café", a backslash): never read nor written anywhere, not in ``total``,
    and counted against ``ok`` (sorted)."""

    @property
    def ok(self) -> bool:
        """True when nothing failed, conflicted, was corrupt or was skipped as no key."""
        return not (self.conflicts or self.failed or self.corrupt or self.skipped_invalid)

    def to_dict(self) -> dict[str, Any]:
        """The report's fields and ``ok`` as JSON-ready values."""
        return _as_dict(self)


@dataclass(frozen=True)
class CheckReport:
    """What :func:`~artifactstore.transfer.check_artifacts` found; every list sorted."""

    same: tuple[str, ...] = ()
    """Keys on both sides with the same SHA-256."""
    missing_in_dst: tuple[str, ...] = ()
    """Keys only in the source."""
    missing_in_src: tuple[str, ...] = ()
    """Keys only in the destination."""
    different: tuple[str, ...] = ()
    """Keys on both sides whose size or SHA-256 differ."""
    failures: KeyErrors = ()
    """``(key, message)`` of keys that could not be compared (a metadata read failed)."""
    holds_different: KeyErrors = ()
    """``(target, message)`` of each hold placed on one side only (by target and
    name), on the prefix, under it or above it."""
    retentions_different: KeyErrors = ()
    """``(target, message)`` of each retention set on one side only, or until
    another date."""
    skipped_invalid: KeyErrors = ()
    """``(name, why)`` of each name under the prefix, on either side (the message
    says which), that is not a key (an NFD "Café", a backslash): never read nor
    compared, and counted against ``ok`` (sorted)."""

    @property
    def ok(self) -> bool:
        """True when nothing is missing, different or uncompared, holds and retentions alike."""
        return not (
            self.missing_in_dst
            or self.missing_in_src
            or self.different
            or self.failures
            or self.holds_different
            or self.retentions_different
            or self.skipped_invalid
        )

    def to_dict(self) -> dict[str, Any]:
        """The report's fields and ``ok`` as JSON-ready values."""
        return _as_dict(self)


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`~artifactstore.transfer.verify_artifacts` (the scrub) found."""

    checked: int
    """Artifacts whose bytes were read and re-hashed."""
    bytes_checked: int
    """Bytes read and re-hashed."""
    corrupt: tuple[str, ...] = ()
    """Keys whose bytes do not hash to their recorded SHA-256 (sorted)."""
    failures: KeyErrors = ()
    """``(key, message)`` of artifacts that could not be read (sorted)."""
    held_damaged: KeyErrors = ()
    """``(key or target, message)`` of each held or retained artifact changed or
    removed behind the library's back, naming its holds (sorted). See
    :func:`~artifactstore.transfer.verify_artifacts` for what is detected."""
    skipped_invalid: KeyErrors = ()
    """``(name, why)`` of each name under the prefix that is not a key (an NFD
    "Café", a backslash): never read nor verified, and counted against ``ok`` (sorted)."""

    @property
    def ok(self) -> bool:
        """True when nothing is corrupt, unreadable or no key, and no held artifact was damaged."""
        return not (self.corrupt or self.failures or self.held_damaged or self.skipped_invalid)

    def to_dict(self) -> dict[str, Any]:
        """The report's fields and ``ok`` as JSON-ready values."""
        return _as_dict(self)


class ProgressFailed(BaseException):
    """What ``progress`` raised, carried past the handlers of per-artifact errors."""

    def __init__(self, error: Exception) -> None:
        super().__init__(error)
        self.error = error


class Tally:
    """The outcomes of a run so far, key by key; reports progress after each one."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.progress = progress
        self.done = 0
        self.bytes = 0
        self.copied: list[str] = []
        self.replaced: list[str] = []
        self.skipped: list[str] = []
        self.conflicts: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str]] = []
        self.corrupt: list[tuple[str, str]] = []

    def add(self, outcomes: list[T], outcome: T, size: int = 0) -> None:
        outcomes.append(outcome)
        self.bytes += size
        self.done += 1
        if self.progress is not None:
            try:
                self.progress(self.done, self.total, self.bytes)
            except Exception as exc:  # the caller's bug: stop the run, not this artifact
                raise ProgressFailed(exc) from exc

    async def run(
        self,
        items: list[ArtifactMetadata],
        concurrency: int,
        fn: Callable[[ArtifactMetadata], Awaitable[None]],
    ) -> None:
        """``for_each``, raising what ``progress`` raised as it was."""
        try:
            await for_each(items, concurrency, fn)
        except ProgressFailed as failed:
            raise failed.error from None

    def copied_one(self, key: str, size: int, replaced: bool) -> None:
        if replaced:
            self.replaced.append(key)
        self.add(self.copied, key, size)
