"""The local backend's audit trail: a table of the DataRoom's index database.

Appends are small-lane jobs that stage their rows for the batch's transaction
(``LocalIndex.stage_statements``): the events of a batch are numbered under the
database's write lock (``BEGIN IMMEDIATE``), so several processes and event loops
writing one DataRoom number them without gaps or repeats, and they are committed
(durably, ``synchronous=FULL`` on a durable store) before any ``append`` of the
batch returns. ``.artifactstore/`` is never reachable as a key.

An ``artifactstore.audit.AuditSink`` (a protocol: this module does not import the
audit package, which a store that keeps no trail never loads).
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import StorageBackendError
from ._room import Room

if TYPE_CHECKING:
    from ...audit import AuditRecord

__all__ = ["LocalAuditSink"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_events (
    seq INTEGER PRIMARY KEY,
    event BLOB NOT NULL,
    leaf BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

#: Events read per small-lane job when the trail is read back.
PAGE = 2000

Run = Callable[..., Awaitable[Any]]


class _Pending:
    """One append's records; numbered when their batch's transaction runs."""

    __slots__ = ("records", "seqs")

    def __init__(self, records: Sequence[AuditRecord]) -> None:
        self.records = records
        self.seqs: list[int] = []


class _Batch:
    """The appends staged for one transaction of the index, numbered together.

    One schema check, one look at the last number and one ``executemany`` per
    transaction rather than per append: an audited small put's event costs its
    row, not four statements.
    """

    def __init__(self, sink: LocalAuditSink) -> None:
        self._sink = sink
        self.pending: list[_Pending] = []

    def insert(self, conn: sqlite3.Connection) -> None:
        if self._sink._batch is self:
            self._sink._batch = None  # appends staged from now on go to the next one
        _ensure(conn)
        # The trail's name is made with its first event (a copy of the database
        # taken later carries it, and a checkpoint names the same log).
        origin = f"artifactstore.local/{uuid.uuid4().hex}"
        conn.execute("INSERT OR IGNORE INTO audit_meta VALUES ('origin', ?)", (origin,))
        (last,) = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_events").fetchone()
        rows = []
        for pending in self.pending:
            seqs = []
            for record in pending.records:
                last += 1
                raw = record.seal(last)
                rows.append((last, raw, hashlib.sha256(b"\x00" + raw).digest()))
                seqs.append(last)
            pending.seqs = seqs
        conn.executemany("INSERT INTO audit_events VALUES (?, ?, ?)", rows)


def _ensure(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _stage(room: Room, sink: LocalAuditSink, pending: _Pending) -> None:
    # Small-lane jobs run one at a time: the open batch needs no lock.
    batch = sink._batch
    if batch is None:
        batch = sink._batch = _Batch(sink)
        room.index.stage_statements(batch.insert)
    batch.pending.append(pending)
    room.on_staged()  # delivered only once the batch committed


def _page(room: Room, start: int) -> list[tuple[int, bytes, bytes]]:
    def read(conn: sqlite3.Connection) -> list[tuple[int, bytes, bytes]]:
        try:
            found = conn.execute(
                "SELECT seq, event, leaf FROM audit_events WHERE seq >= ? ORDER BY seq LIMIT ?",
                (start, PAGE),
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
        return [(int(seq), bytes(event), bytes(leaf)) for seq, event, leaf in found]

    result: list[tuple[int, bytes, bytes]] = room.index.read(read)
    return result


def _origin(room: Room, proposed: str) -> str:
    def named(conn: sqlite3.Connection) -> str:
        conn.execute("BEGIN IMMEDIATE")
        try:
            _ensure(conn)
            conn.execute("INSERT OR IGNORE INTO audit_meta VALUES ('origin', ?)", (proposed,))
            (value,) = conn.execute("SELECT value FROM audit_meta WHERE name = 'origin'").fetchone()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return str(value)

    result: str = room.index.read(named)
    return result


class LocalAuditSink:
    """The audit trail of one DataRoom, in ``.artifactstore/index.sqlite3``."""

    def __init__(self, run: Run) -> None:
        self._run = run  # LocalBackend._run: a job on the small lane
        self._origin: str | None = None
        self._batch: _Batch | None = None  # the appends of the next transaction

    async def append(self, records: Sequence[AuditRecord]) -> list[int]:
        """Number and commit ``records`` with the small lane's next batch."""
        pending = _Pending(records)
        await self._run(_stage, self, pending)
        if len(pending.seqs) != len(records):  # never a silent loss
            raise StorageBackendError("audit events were not recorded in the DataRoom's index")
        return pending.seqs

    async def entries(self, start: int = 1) -> AsyncIterator[tuple[int, bytes]]:
        """The events from ``start`` on, a page per small-lane job."""
        async for seq, event, _ in self.stored(start):
            yield seq, event

    async def stored(self, start: int = 1) -> AsyncIterator[tuple[int, bytes, bytes]]:
        """The events with the leaf hash stored beside each.

        Verification then names an event edited without its leaf hash exactly.
        """
        while True:
            page: list[tuple[int, bytes, bytes]] = await self._run(_page, start)
            for entry in page:
                yield entry
            if len(page) < PAGE:
                return
            start = page[-1][0] + 1

    async def origin(self) -> str:
        """``artifactstore.local/<id>``: an id made with the trail, kept in the database."""
        if self._origin is None:
            proposed = f"artifactstore.local/{uuid.uuid4().hex}"
            self._origin = str(await self._run(_origin, proposed))
        return self._origin
