"""The local backend's holds and retentions: tables of the DataRoom's index database.

Every write of a store is checked against them (``HoldLayer``), so the check must
cost next to nothing while nothing changes, and must see a hold placed by another
process as soon as its ``hold()`` returned. Both come from a counter shared
through memory: ``.artifactstore/holds.version`` is mapped by every process;
whoever changes the holds commits, then raises the counter to the version its
transaction wrote (under an ``flock``, keeping the highest, so two writers
never leave it at the older one). A reader compares the counter with the version
of its cached set (a memory read, no system call) and reloads on a difference.

Governance-grade: the library enforces these; anyone with write access to the
folder can still remove files (the scrub reports a held artifact removed or
changed behind the library's back).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import sqlite3
import struct
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from ...errors import StorageBackendError
from ...holds import Hold, HoldSet, Retention, check_extension
from ._room import HOLDS_VERSION, Room

__all__ = ["LocalHoldRegistry"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS holds (target TEXT NOT NULL, name TEXT NOT NULL, "
    "reason TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT, "
    "PRIMARY KEY (target, name)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS retentions (target TEXT PRIMARY KEY, until TEXT NOT NULL, "
    "set_at TEXT NOT NULL, set_by TEXT) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS holds_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)
_COUNTER = struct.Struct("<Q")
_VERSION_FILE = HOLDS_VERSION

Run = Callable[..., Awaitable[Any]]


def _ensure(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _map(room: Room, create: bool = True) -> mmap.mmap | None:
    """Map ``.artifactstore/holds.version`` (8 bytes, made on first use).

    ``None`` without ``create`` in a folder that is no DataRoom yet (it has no
    holds, and a read must not make it one).
    """
    if not room.tree.bookkeeping(create=create):
        return None
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(_VERSION_FILE, flags, room.file_mode, dir_fd=room.tree.reserved_fd)
    try:
        if os.fstat(fd).st_size < _COUNTER.size:
            os.ftruncate(fd, _COUNTER.size)
        return mmap.mmap(fd, _COUNTER.size)
    finally:
        os.close(fd)  # the mapping stays


def _unreadable(exc: BaseException) -> StorageBackendError:
    return StorageBackendError(
        f"the DataRoom's holds could not be read ({exc}), so writes are refused: a "
        "write might break a hold. If the index (.artifactstore/index.sqlite3) is "
        "damaged, restore it from a backup: holds are kept nowhere else"
    )


def _load(room: Room) -> tuple[HoldSet, int]:
    """The holds, retentions and their version, read in one snapshot."""

    def read(conn: sqlite3.Connection) -> tuple[HoldSet, int]:
        conn.execute("BEGIN")
        try:
            _ensure(conn)
            holds = [
                Hold(t, n, r, _when(c), b)
                for t, n, r, c, b in conn.execute("SELECT * FROM holds").fetchall()
            ]
            retentions = [
                Retention(t, _when(u), _when(s), b)
                for t, u, s, b in conn.execute("SELECT * FROM retentions").fetchall()
            ]
            row = conn.execute("SELECT value FROM holds_meta WHERE name = 'version'").fetchone()
        finally:
            conn.execute("COMMIT")
        return HoldSet(holds, retentions), (row[0] if row else 0)

    try:
        result: tuple[HoldSet, int] = room.index.read(read)
    except sqlite3.Error as exc:
        raise _unreadable(exc) from exc
    return result


def _change(room: Room, counter: mmap.mmap, change: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run ``change`` in a transaction that raises the version; then publish the version."""

    def write(conn: sqlite3.Connection) -> tuple[Any, int]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure(conn)
            result = change(conn)
            conn.execute(
                "INSERT INTO holds_meta VALUES ('version', 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1"
            )
            (version,) = conn.execute(
                "SELECT value FROM holds_meta WHERE name = 'version'"
            ).fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return result, version

    try:
        result, version = room.index.read(write)
    except sqlite3.Error as exc:
        raise _unreadable(exc) from exc
    fd = os.open(_VERSION_FILE, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=room.tree.reserved_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the highest version wins, whatever the order
        (seen,) = _COUNTER.unpack_from(counter)
        if version > seen:
            _COUNTER.pack_into(counter, 0, version)
    finally:
        os.close(fd)  # releases the lock
    return result


class LocalHoldRegistry:
    """The holds of one DataRoom (a ``HoldRegistry``), cached per store."""

    def __init__(self, run: Run) -> None:
        self._run = run  # LocalBackend._run: a job on the small lane
        self._counter: mmap.mmap | None = None
        self._cached: HoldSet | None = None
        self._version = -1

    async def _mapped(self) -> mmap.mmap:
        if self._counter is None:
            self._counter = await self._run(_map)
        assert self._counter is not None  # created
        return self._counter

    async def current(self) -> HoldSet:
        """The cached set, unless the shared counter moved since it was read."""
        counter = self._counter
        if counter is None:
            counter = self._counter = await self._run(_map, False)
            if counter is None:
                return HoldSet([], [])  # no DataRoom yet: no holds, and nothing created
        (published,) = _COUNTER.unpack_from(counter)
        cached = self._cached
        if cached is not None and published == self._version:
            return cached
        loaded: tuple[HoldSet, int] = await self._run(_load)
        self._cached, self._version = loaded
        return loaded[0]

    async def _change(self, change: Callable[[sqlite3.Connection], Any]) -> Any:
        counter = await self._mapped()
        return await self._run(_change, counter, change)

    async def add(self, hold: Hold) -> Hold:
        """Place ``hold`` (the one already placed under its target and name stays)."""

        def insert(conn: sqlite3.Connection) -> Hold:
            conn.execute(
                "INSERT OR IGNORE INTO holds VALUES (?, ?, ?, ?, ?)",
                (hold.target, hold.name, hold.reason, hold.created_at.isoformat(),
                 hold.created_by),
            )  # fmt: skip
            t, n, r, c, b = conn.execute(
                "SELECT * FROM holds WHERE target = ? AND name = ?", (hold.target, hold.name)
            ).fetchone()
            return Hold(t, n, r, _when(c), b)

        placed: Hold = await self._change(insert)
        return placed

    async def remove(self, target: str, name: str) -> bool:
        """Release a hold."""

        def delete(conn: sqlite3.Connection) -> bool:
            found = conn.execute(
                "DELETE FROM holds WHERE target = ? AND name = ?", (target, name)
            ).rowcount
            return bool(found)

        removed: bool = await self._change(delete)
        return removed

    async def retain(self, retention: Retention) -> Retention:
        """Set or extend a retention (``ValueError`` if it would shorten one)."""

        def upsert(conn: sqlite3.Connection) -> Retention:
            row = conn.execute(
                "SELECT * FROM retentions WHERE target = ?", (retention.target,)
            ).fetchone()
            existing = (
                None if row is None else Retention(row[0], _when(row[1]), _when(row[2]), row[3])
            )
            kept = check_extension(existing, retention)
            conn.execute(
                "INSERT OR REPLACE INTO retentions VALUES (?, ?, ?, ?)",
                (kept.target, kept.until.isoformat(), kept.set_at.isoformat(), kept.set_by),
            )
            return kept

        kept: Retention = await self._change(upsert)
        return kept
