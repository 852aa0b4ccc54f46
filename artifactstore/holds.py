"""Legal holds and retention: what must be kept can't be deleted or replaced.

A **hold** (``store.hold(target, name, reason)``) is named: one artifact can be
under several matters at once, and stays protected until every hold covering it
is released. A **retention** (``store.retain(target, until=...)``) protects until
a date; it can be extended, never shortened or removed. A target is a key or a
prefix (whole segments): a hold on ``DEAL-1`` covers ``DEAL-1/...`` and every
artifact put there later. New artifacts can still be put under a held prefix;
what is covered cannot be deleted, replaced, moved away, or overwritten by a
copy, and a ``delete_prefix`` that would touch one refuses as a whole.

Each backend keeps its holds (:class:`HoldRegistry`, ``Backend.hold_registry``):
memory in memory, local in the DataRoom's index database, S3 under the reserved
``.artifactstore/holds/`` area (and, on a bucket with Object Lock, as the
objects' legal hold and retention). :class:`HoldLayer`, which every store puts
above the user's layers and the audit trail, refuses what a hold forbids with
:class:`~artifactstore.errors.ArtifactHeldError` before the backend is asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

__all__ = [
    "Hold",
    "HoldRegistry",
    "HoldSet",
    "MemoryHoldRegistry",
    "Retention",
    "ancestors",
    "check_extension",
    "covers",
    "iterate",
]


def ancestors(key: str) -> list[str]:
    """The targets that cover ``key``: itself and its folders (``a``, ``a/b``, ``a/b/c``)."""
    parts = key.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def covers(target: str, key: str) -> bool:
    """Whether a hold or retention on ``target`` covers ``key`` (whole segments)."""
    return key == target or key.startswith(target + "/")


@dataclass(frozen=True)
class Hold:
    """A named hold on a key or a prefix."""

    target: str
    name: str
    reason: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    #: The audit actor that placed it, when one was set (``audit_context``).
    created_by: str | None = None


@dataclass(frozen=True)
class Retention:
    """Keep everything under ``target`` until ``until`` (UTC)."""

    target: str
    until: datetime
    set_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    set_by: str | None = None


class HoldSet:
    """Every hold and retention of a store at one moment, indexed by target."""

    def __init__(self, holds: Iterable[Hold] = (), retentions: Iterable[Retention] = ()) -> None:
        self.holds: dict[str, dict[str, Hold]] = {}
        for hold in holds:
            self.holds.setdefault(hold.target, {})[hold.name] = hold
        self.retentions: dict[str, Retention] = {r.target: r for r in retentions}
        # Every target and each folder above one: a key's walk stops at its first
        # segment that none of them starts with (on most keys, the first).
        stems: set[str] = set()
        for target in (*self.holds, *self.retentions):
            end = target.find("/")
            while end >= 0:
                stems.add(target[:end])
                end = target.find("/", end + 1)
            stems.add(target)
        self._stems = frozenset(stems)

    def __bool__(self) -> bool:
        return bool(self.holds or self.retentions)

    def covering(self, key: str, now: datetime | None = None) -> tuple[list[Hold], datetime | None]:
        """The holds covering ``key``, and the latest retention date still in force."""
        # On every guarded write: a lookup per segment, nothing else (the clock only
        # when a retention is there to compare it with).
        holds, retentions, stems = self.holds, self.retentions, self._stems
        found: list[Hold] = []
        until: datetime | None = None
        end = -1
        while end < len(key):
            end = key.find("/", end + 1)
            if end < 0:
                end = len(key)
            target = key[:end]
            if target not in stems:
                break  # no target is this folder or under it
            if holds:
                named = holds.get(target)
                if named:
                    found.extend(named.values())
            if retentions:
                retention = retentions.get(target)
                if retention is not None:
                    now = now or datetime.now(timezone.utc)
                    if retention.until > now:
                        until = retention.until if until is None else max(until, retention.until)
        return found, until

    def touches(self, prefix: str) -> bool:
        """Whether any target is ``prefix``, above it or below it (``delete_prefix``'s check)."""
        targets = set(self.holds) | set(self.retentions)
        return any(covers(t, prefix) or covers(prefix, t) for t in targets)

    def all_holds(self, prefix: str = "") -> list[Hold]:
        """The holds on ``prefix`` and under it (all for ``""``), by target then name."""
        return [
            hold
            for target in sorted(self.holds)
            if not prefix or covers(prefix, target)
            for _, hold in sorted(self.holds[target].items())
        ]

    def all_retentions(self, prefix: str = "") -> list[Retention]:
        """The retentions on ``prefix`` and under it, by target."""
        return [r for t, r in sorted(self.retentions.items()) if not prefix or covers(prefix, t)]


class HoldRegistry(Protocol):
    """Where a backend keeps holds and retentions (``Backend.hold_registry()``).

    ``current()`` is on every guarded write's path: it returns a cached
    :class:`HoldSet` after a check that costs next to nothing when nothing changed
    (the local backend reads a counter in shared memory), and reloads otherwise.
    Changes are durable, and seen by every store and process over the same
    storage, once they return.
    """

    async def current(self) -> HoldSet:
        """The holds and retentions as they are now."""
        ...

    async def add(self, hold: Hold) -> Hold:
        """Place ``hold`` (the one already there under the same target and name stays)."""
        ...

    async def remove(self, target: str, name: str) -> bool:
        """Release a hold; whether there was one."""
        ...

    async def retain(self, retention: Retention) -> Retention:
        """Set or extend a retention; ``ValueError`` for an earlier date than the one set."""
        ...


def check_extension(existing: Retention | None, retention: Retention) -> Retention:
    """The retention to keep: ``retention``, unless it would shorten ``existing``."""
    if existing is not None and retention.until < existing.until:
        raise ValueError(
            f"a retention can be extended, never shortened: {existing.target!r} is kept "
            f"until {existing.until.isoformat()}"
        )
    return retention


class MemoryHoldRegistry:
    """The memory backend's holds (a :class:`HoldRegistry`): a ``HoldSet`` replaced on change."""

    def __init__(self) -> None:
        self._set = HoldSet()

    async def current(self) -> HoldSet:
        """The set (replaced, never changed in place, so a caller's copy stays as it was)."""
        return self._set

    async def add(self, hold: Hold) -> Hold:
        """Place ``hold``."""
        existing = self._set.holds.get(hold.target, {}).get(hold.name)
        if existing is not None:
            return existing
        self._replace(holds=[*self._set.all_holds(), hold])
        return hold

    async def remove(self, target: str, name: str) -> bool:
        """Release a hold."""
        kept = [h for h in self._set.all_holds() if (h.target, h.name) != (target, name)]
        found = len(kept) != len(self._set.all_holds())
        self._replace(holds=kept)
        return found

    async def retain(self, retention: Retention) -> Retention:
        """Set or extend a retention."""
        kept = check_extension(self._set.retentions.get(retention.target), retention)
        others = [r for r in self._set.all_retentions() if r.target != retention.target]
        self._replace(retentions=[*others, kept])
        return kept

    def _replace(
        self, holds: Sequence[Hold] | None = None, retentions: Sequence[Retention] | None = None
    ) -> None:
        self._set = HoldSet(
            self._set.all_holds() if holds is None else holds,
            self._set.all_retentions() if retentions is None else retentions,
        )


async def iterate(items: Sequence[Hold]) -> AsyncIterator[Hold]:
    """``items`` as an async iterator (what ``store.holds()`` yields)."""
    for item in items:
        yield item
