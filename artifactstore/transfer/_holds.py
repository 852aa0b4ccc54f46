"""Holds and retentions in :mod:`artifactstore.transfer`: carried, compared, watched.

A migration carries the source's holds and retentions to the destination before
any artifact (``plan_holds``, then ``place_holds``), so that nothing is ever
unprotected there; ``check_artifacts`` compares them (``hold_differences``); the
scrub names held artifacts changed or removed behind the library's back
(``HeldScrub``). Everything goes through the stores' public hold API, so the
destination's audit trail records each hold the migration places.

What matters to a ``prefix``: the holds and retentions on it, under it and above it
(a hold on ``DEAL-1`` covers ``DEAL-1/docs/...``), every one for ``""``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from .. import keys as _keys
from ..errors import StorageConfigError
from ..holds import Hold, HoldSet, Retention, ancestors, covers
from ..metadata import ArtifactMetadata
from ..store import ArtifactStore

__all__ = [
    "HeldScrub",
    "HoldPlan",
    "hold_differences",
    "place_holds",
    "plan_holds",
    "read_holds",
    "why_held",
]


def _relevant(target: str, prefix: str) -> bool:
    return not prefix or covers(prefix, target) or covers(target, prefix)


async def read_holds(store: ArtifactStore, prefix: str) -> HoldSet | None:
    """The holds and retentions of ``store`` that matter to ``prefix``; ``None``: it keeps none."""
    prefix = _keys.normalize_prefix(prefix)
    try:
        holds = [hold async for hold in store.holds()]
        retentions = [retention async for retention in store.retentions()]
    except StorageConfigError:  # its backend keeps no holds (Backend.hold_registry)
        return None
    return HoldSet(
        [h for h in holds if _relevant(h.target, prefix)],
        [r for r in retentions if _relevant(r.target, prefix)],
    )


def why_held(held: HoldSet, key: str, now: datetime | None = None) -> str | None:
    """``"held (T: name, ...) and retained until D"`` for ``key``; ``None`` if nothing covers it."""
    found, until = held.covering(key, now)
    why = []
    if found:
        why.append("held (" + ", ".join(f"{h.target}: {h.name}" for h in found) + ")")
    if until is not None:
        why.append(f"retained until {until.isoformat()}")
    return " and ".join(why) or None


# ------------------------------------------------------------------ migration


@dataclass
class HoldPlan:
    """What a migration places at the destination, and what the destination then keeps."""

    holds: list[Hold] = field(default_factory=list)
    """Source holds the destination lacks (by target and name)."""
    retentions: list[Retention] = field(default_factory=list)
    """Source retentions the destination lacks, or keeps until an earlier date."""
    after: HoldSet = field(default_factory=HoldSet)
    """The destination's holds and retentions once these are placed."""


async def plan_holds(src: ArtifactStore, dst: ArtifactStore, prefix: str) -> HoldPlan:
    """Compare both sides' holds; refuse a destination that cannot keep the source's.

    :raises StorageConfigError: the source has holds or retentions that matter to
        ``prefix`` and the destination's backend keeps none.
    """
    source = await read_holds(src, prefix)
    target = await read_holds(dst, prefix)
    if target is None:
        if source:
            raise StorageConfigError(
                f"{src} has holds or retentions under {prefix!r} and the destination {dst} "
                "keeps none (its backend has no hold registry): copying would leave held "
                "artifacts unprotected, so nothing was copied. Copy to a store that keeps "
                "holds, or pass copy_holds=False to copy the artifacts without them",
                setting="holds",
            )
        return HoldPlan()
    if not source:
        return HoldPlan(after=target)
    holds = [h for h in source.all_holds() if h.name not in target.holds.get(h.target, {})]
    retentions = []
    kept = dict(target.retentions)
    for retention in source.all_retentions():
        existing = kept.get(retention.target)
        if existing is None or existing.until < retention.until:
            retentions.append(retention)
            kept[retention.target] = retention
    return HoldPlan(holds, retentions, HoldSet([*target.all_holds(), *holds], kept.values()))


async def place_holds(dst: ArtifactStore, plan: HoldPlan) -> None:
    """Place the plan's holds and retentions at the destination, one by one."""
    for hold in plan.holds:
        await dst.hold(hold.target, hold.name, hold.reason)
    for retention in plan.retentions:
        try:
            await dst.retain(retention.target, until=retention.until)
        except ValueError:  # extended past it since the plan was made: kept as it is
            pass


# ---------------------------------------------------------------------- check


def hold_differences(
    src: HoldSet | None, dst: HoldSet | None
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(target, message)`` of the holds, then of the retentions, that differ."""
    src, dst = src or HoldSet(), dst or HoldSet()
    holds: list[tuple[str, str]] = []
    for here, there, side in ((src, dst, "source"), (dst, src, "destination")):
        for hold in here.all_holds():
            if hold.name not in there.holds.get(hold.target, {}):
                holds.append((hold.target, f"the hold {hold.name!r} is only in the {side}"))
    retentions: list[tuple[str, str]] = []
    for target in sorted(set(src.retentions) | set(dst.retentions)):
        a, b = src.retentions.get(target), dst.retentions.get(target)
        if a is None or b is None:
            only = a or b
            assert only is not None
            side = "source" if b is None else "destination"
            why = f"retained until {only.until.isoformat()} in the {side} only"
        elif a.until != b.until:
            why = (
                f"retained until {a.until.isoformat()} in the source, "
                f"until {b.until.isoformat()} in the destination"
            )
        else:
            continue
        retentions.append((target, why))
    return sorted(holds), sorted(retentions)


# ---------------------------------------------------------------------- scrub


class HeldScrub:
    """The scrub's watch over held artifacts: what it finds before and after reading.

    * Changed: where listings carry the SHA-256 recorded for the version of an
      artifact they list (``BackendInfo.sha256_in_listings``, the local backend),
      a held artifact listed without one has a file that is not the version its
      put recorded: changed (or written) behind the library's back. It is not
      read: the local backend records the SHA-256 of bytes it hashes, and that
      would replace the record the change is measured against.
    * Corrupt: a held artifact whose bytes do not match its recorded SHA-256.
    * Removed: a held or retained target (in force, on the prefix or under it) at
      and under which nothing is stored any more. Public listings show only what
      is there: an artifact removed under a held prefix that still holds others
      is not seen (the backend's index of what was stored would be needed).
    """

    def __init__(self, store: ArtifactStore, held: HoldSet | None, prefix: str) -> None:
        self.held = held or HoldSet()
        self.prefix = _keys.normalize_prefix(prefix)
        self.trusts_listings = store.info.sha256_in_listings
        self.damaged: list[tuple[str, str]] = []

    def changed(self, item: ArtifactMetadata) -> bool:
        """Whether ``item`` is held and changed behind the library's back (recorded if so)."""
        if not self.trusts_listings or item.sha256 is not None or not self.held:
            return False
        why = why_held(self.held, item.storage_key)
        if why is None:
            return False
        self.damaged.append(
            (
                item.storage_key,
                f"{why}, but its file is not the version the library stored (changed or "
                "written behind its back: no SHA-256 is recorded for it); not read, so "
                "that the SHA-256 recorded at its put stays as the evidence",
            )
        )
        return True

    def corrupt(self, key: str, message: str) -> None:
        """``key`` is corrupt: damage, if it is held."""
        why = why_held(self.held, key) if self.held else None
        if why is not None:
            self.damaged.append((key, f"{why}, but {message}"))

    def removed(
        self, listed: list[ArtifactMetadata], recorded: list[tuple[str, str]] | None = None
    ) -> None:
        """Name the held artifacts that are gone, and held targets with nothing under them.

        ``recorded``: the backend's record of what was stored (the local index).
        """
        if not self.held:
            return
        now = datetime.now(timezone.utc)
        there = {item.storage_key for item in listed}
        for key, sha256 in recorded or []:
            why = why_held(self.held, key, now)
            if key not in there and why is not None:
                self.damaged.append(
                    (key, f"{why}, but its file is gone (its put recorded SHA-256 {sha256}): "
                     "removed behind the library's back")
                )  # fmt: skip
        targets = set(self.held.holds) | {
            t for t, r in self.held.retentions.items() if r.until > now
        }
        present: set[str] = set()
        for item in listed:
            present.update(ancestors(item.storage_key))
        for target in sorted(targets - present):
            if self.prefix and not covers(self.prefix, target):
                continue  # above the prefix: it covers more than this scrub read
            why = why_held(self.held, target, now)
            if why is None:  # only a retention that ran out above it
                continue
            self.damaged.append(
                (
                    target,
                    f"{why}, but nothing is stored at or under it: the artifacts held "
                    "there were removed behind the library's back (or none was ever put)",
                )
            )
