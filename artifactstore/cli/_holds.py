"""The ``artifactstore`` commands of legal holds and retention: hold, release, holds, retain.

``hold KEY_OR_PREFIX NAME [--reason R]`` places a named hold, ``release KEY_OR_PREFIX
NAME`` lifts it, ``retain KEY_OR_PREFIX --until DATE`` keeps what a key or prefix
covers until a date, ``holds [PREFIX] [--json]`` lists holds and retentions (a table,
or JSON Lines, one object per line with a ``kind`` of ``hold`` or ``retention``).

``--until`` is ISO 8601: a date-time (no zone: UTC) or a date, which means the end
of that day in UTC (``2031-12-31`` keeps through the whole of that day).

Exit status (see :mod:`artifactstore.cli`): 1 for ``release`` of a hold that is
not there and for a retention that would end earlier than the one in force (a
retention can be extended, never shortened); 2 for a ``--until`` that is not a
date or already past, a bad hold name, an empty target. A delete, overwrite or move
refused by a hold or retention (``rm``, ``put``) is an ``ArtifactHeldError``, one
line naming the holds and the retention date, exit 1, like every failed operation.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Coroutine
from datetime import datetime, timezone
from typing import Any

from ..holds import Hold, Retention, covers
from ..keys import normalize_prefix
from ._audit import _shown, _until
from ._commands import Context, _open_store, _out

__all__ = ["HOLD_COMMANDS", "add_hold_commands"]

_Handler = Callable[[Context, argparse.Namespace], Coroutine[Any, Any, int]]


def add_hold_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """The hold commands, each made by ``command(name, help)`` (the CLI's subparser maker)."""
    p = command(
        "hold",
        "place a named legal hold on a key or a prefix (until released, "
        "nothing it covers can be deleted, replaced or moved away)",
    )
    p.add_argument("target", metavar="KEY_OR_PREFIX")
    p.add_argument("name", metavar="NAME", help="the hold's name (a matter, a request)")
    p.add_argument("--reason", default="", metavar="R", help="why, kept with the hold")

    p = command("release", "release the named hold on a key or a prefix")
    p.add_argument("target", metavar="KEY_OR_PREFIX")
    p.add_argument("name", metavar="NAME")

    p = command("holds", "list the holds and retentions on, above and under PREFIX")
    p.add_argument("prefix", nargs="?", default="", metavar="PREFIX")
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = command("retain", "keep what a key or a prefix covers until a date (extend only)")
    p.add_argument("target", metavar="KEY_OR_PREFIX")
    p.add_argument(
        "--until",
        required=True,
        type=_until,
        metavar="DATE",
        help="ISO 8601 date or date-time (no zone: UTC); a date: to the end of that day",
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _when(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: str | None) -> str:
    """A free-form field for the table: ``-`` when empty, control characters escaped."""
    return _shown(value or None)


async def _hold(ctx: Context, args: argparse.Namespace) -> int:
    target = normalize_prefix(args.target)
    async with _open_store(args) as store:
        before = [h async for h in store.holds(target) if (h.target, h.name) == (target, args.name)]
        hold = await store.hold(args.target, args.name, reason=args.reason)
        where = f"{hold.name!r} on {hold.target!r} in {store}"
        if not before:
            ctx.summary(f"placed hold {where}")
        elif hold.reason == args.reason:
            ctx.summary(f"hold {where} was already placed, on {_when(hold.created_at)}")
        else:  # a hold is not edited: release it and place it again to change its reason
            ctx.summary(
                f"hold {where} was already placed, on {_when(hold.created_at)}; its reason "
                f"{hold.reason!r} is kept"
            )
    return 0


async def _release(ctx: Context, args: argparse.Namespace) -> int:
    target = normalize_prefix(args.target)
    async with _open_store(args) as store:
        if not await store.release(args.target, args.name):
            ctx.error(f"no hold {args.name!r} on {target!r} in {store}")
            return 1
        ctx.summary(f"released hold {args.name!r} on {target!r} in {store}")
    return 0


async def _retain(ctx: Context, args: argparse.Namespace) -> int:
    until: datetime = args.until
    if until <= datetime.now(timezone.utc):
        ctx.error(f"--until {until.isoformat()} is in the past: a retention must end later")
        return 2
    target = normalize_prefix(args.target)
    async with _open_store(args) as store:
        try:
            kept = await store.retain(args.target, until=until)
        except ValueError:  # shortening, or a bad target (exit 2, as any bad argument)
            current = [r async for r in store.retentions(target) if r.target == target]
            if not current or until >= current[0].until:
                raise
            ctx.error(
                f"{target!r} is retained until {_utc(current[0].until).isoformat()} in "
                f"{store}: a retention can be extended, never shortened"
            )
            return 1
        ctx.summary(f"{kept.target!r} retained until {kept.until.isoformat()} in {store}")
    return 0


def _hold_row(hold: Hold) -> dict[str, Any]:
    return {
        "kind": "hold",
        "target": hold.target,
        "name": hold.name,
        "reason": hold.reason,
        "created_at": _utc(hold.created_at).isoformat(),
        "created_by": hold.created_by,
        "in_force": True,
    }


def _retention_row(retention: Retention, now: datetime) -> dict[str, Any]:
    return {
        "kind": "retention",
        "target": retention.target,
        "until": _utc(retention.until).isoformat(),
        "set_at": _utc(retention.set_at).isoformat(),
        "set_by": retention.set_by,
        "in_force": _utc(retention.until) > now,
    }


def _table_row(item: Hold | Retention, now: datetime) -> list[str]:
    if isinstance(item, Hold):
        by, reason = item.created_by, item.reason
        return [
            "hold",
            _text(item.target),
            _text(item.name),
            "-",
            _when(item.created_at),
            _text(by),
            _text(reason),
        ]
    until = _when(item.until) + ("" if _utc(item.until) > now else " (ended)")
    by = _text(item.set_by)
    return ["retention", _text(item.target), "-", until, _when(item.set_at), by, "-"]


async def _holds(ctx: Context, args: argparse.Namespace) -> int:
    prefix = normalize_prefix(args.prefix)

    def related(target: str) -> bool:  # on or under the prefix, or above it (covering it)
        return not prefix or covers(prefix, target) or covers(target, prefix)

    async with _open_store(args) as store:
        found: list[Hold | Retention] = [h async for h in store.holds() if related(h.target)]
        found += [r async for r in store.retentions() if related(r.target)]
    found.sort(key=lambda i: (i.target, isinstance(i, Retention), getattr(i, "name", "")))
    now = datetime.now(timezone.utc)
    if args.json:
        for item in found:
            fields = _hold_row(item) if isinstance(item, Hold) else _retention_row(item, now)
            _out(json.dumps(fields))
        return 0
    rows = [["KIND", "TARGET", "NAME", "UNTIL", "SINCE", "BY", "REASON"]]
    rows += [_table_row(item, now) for item in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        _out("  ".join([*cells, row[-1]]).rstrip())
    return 0


#: The commands by name, for the CLI's table of commands.
HOLD_COMMANDS: dict[str, _Handler] = {
    "hold": _hold,
    "release": _release,
    "holds": _holds,
    "retain": _retain,
}
