"""The store's hold API (``ArtifactStore`` inherits it): hold, release, holds, retain.

What a hold forbids is enforced by ``HoldLayer`` (``artifactstore.layers``); this
part places and lists holds through the backend's registry, and records each
change in the audit trail when the store keeps one.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import keys as _keys
from .errors import StorageConfigError
from .holds import Hold, HoldRegistry, Retention, check_extension

if TYPE_CHECKING:
    from .audit import AuditedBackend
    from .layers import HeldBackend

__all__ = ["Holding"]

#: The longest hold name.
MAX_NAME = 200


def _actor() -> str | None:
    # Only an audit_context can name one, and it lives in the audit package: if that
    # was never imported, nobody set an actor (and a store need not load it).
    audit = sys.modules.get("artifactstore.audit")
    return None if audit is None else audit.current_actor().name


def _target(key_or_prefix: str) -> str:
    target = _keys.normalize_prefix(key_or_prefix)
    if not target:
        raise ValueError("a hold or retention needs a key or a prefix; '' would be every key")
    return target


def _name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"a hold's name is 1 to {MAX_NAME} characters, not {name!r}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in name):
        raise ValueError(f"a hold's name has control characters: {name!r}")
    return name


class Holding:
    """Legal holds and retention on a store (see ``artifactstore.holds``)."""

    if TYPE_CHECKING:  # set by ArtifactStore (absent at run time: get_type_hints)
        _held: HeldBackend
        _audited: AuditedBackend | None

    def _registry(self) -> HoldRegistry:
        registry = self._held.registry
        if registry is None:
            raise StorageConfigError(
                f"the {self._held.info.name} backend keeps no holds (Backend.hold_registry)",
                setting="holds",
            )
        return registry

    async def _record(self, operation: str, target: str, details: dict[str, Any]) -> None:
        if self._audited is not None:
            record = self._audited.record(operation, target, details=details)
            await self._audited.append(record)

    async def hold(self, key_or_prefix: str, name: str, reason: str = "") -> Hold:
        """Place the hold ``name`` on a key or a prefix; return it (the existing one if placed).

        Until released, nothing it covers (artifacts put there later included) can
        be deleted, replaced or moved away, by any path. Holds are named: one
        artifact may be under several, and stays held until every one is released.
        """
        registry = self._registry()
        if not isinstance(reason, str):
            raise TypeError(f"a hold's reason is a str, not {type(reason).__name__}")
        hold = Hold(_target(key_or_prefix), _name(name), reason, created_by=_actor())
        await self._record("hold", hold.target, {"name": hold.name, "reason": reason})
        return await registry.add(hold)

    async def release(self, key_or_prefix: str, name: str) -> bool:
        """Release the hold ``name`` on a key or a prefix; return whether there was one."""
        registry = self._registry()
        target = _target(key_or_prefix)
        await self._record("release", target, {"name": _name(name)})
        return await registry.remove(target, name)

    async def holds(self, prefix: str = "") -> AsyncIterator[Hold]:
        """The holds on ``prefix`` and under it (every hold for ``""``), by target and name."""
        normalized = _keys.normalize_prefix(prefix)
        for hold in (await self._registry().current()).all_holds(normalized):
            yield hold

    async def retain(self, key_or_prefix: str, *, until: datetime) -> Retention:
        """Keep what a key or a prefix covers until ``until`` (a time-zone-aware datetime).

        A retention can be extended (a later ``until``), never shortened or removed
        (``ValueError``).
        """
        registry = self._registry()
        if not isinstance(until, datetime) or until.tzinfo is None:
            raise ValueError(f"until is a datetime with a time zone, not {until!r}")
        until = until.astimezone(timezone.utc)
        retention = Retention(_target(key_or_prefix), until, set_by=_actor())
        existing = (await registry.current()).retentions.get(retention.target)
        check_extension(existing, retention)  # refused before anything is recorded
        await self._record("retain", retention.target, {"until": until.isoformat()})
        return await registry.retain(retention)

    async def covering(self, key: str) -> tuple[list[Hold], datetime | None]:
        """What keeps ``key``: the holds covering it and the retention date in force (or None)."""
        normalized = _keys.normalize_key(key)
        return (await self._registry().current()).covering(normalized)

    async def retentions(self, prefix: str = "") -> AsyncIterator[Retention]:
        """The retentions on ``prefix`` and under it, by target (past ones included)."""
        normalized = _keys.normalize_prefix(prefix)
        for retention in (await self._registry().current()).all_retentions(normalized):
            yield retention
