"""The local backend's index: SHA-256, mime type and user metadata of each artifact.

One SQLite database, ``{root}/.artifactstore/index.sqlite3``, the only bookkeeping
the store keeps: deal folders hold nothing but artifacts.

The file is the truth, the index a record *about one version* of it: each row
carries the fingerprint (inode, size, mtime in ns) of the file it describes. A row
whose fingerprint does not match the file on disk is stale, whatever the cause
(legacy code rewrote the file, two writers raced, a crash fell between the rename
and the commit), and the file is re-hashed instead of trusted. Metadata and content
therefore never disagree.

Used only from the store's worker thread. Writes are staged and committed once
per batch of jobs (``flush``), so a burst of small puts costs one commit.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from ...errors import StoreClosedError

__all__ = ["Fingerprint", "IndexRow", "LocalIndex", "RawRow", "fingerprint"]

log = logging.getLogger("artifactstore")

Fingerprint = tuple[int, int, int]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    key TEXT PRIMARY KEY,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    metadata TEXT NOT NULL
) WITHOUT ROWID
"""


def fingerprint(st: os.stat_result) -> Fingerprint:
    """What identifies one version of a file: a rename keeps it, a rewrite changes it."""
    return (st.st_ino, st.st_size, st.st_mtime_ns)


#: A row as SQLite gives it (listings read hundreds of thousands: no object each):
#: key, inode, size, mtime_ns, sha256, mime type, user metadata as JSON.
RawRow = tuple[str, int, int, int, str, str, str]


class IndexRow(NamedTuple):
    """What the index knows about one version of one artifact."""

    fingerprint: Fingerprint
    sha256: str
    mime_type: str
    metadata: dict[str, str]


class LocalIndex:
    """The SQLite index of one local store (see the module docstring)."""

    def __init__(
        self,
        path: Callable[[bool], str | None],
        fingerprints: Callable[[list[str]], dict[str, Fingerprint]],
        *,
        durable: bool,
        file_mode: int,
    ) -> None:
        self._path = path
        self._fingerprints = fingerprints
        self._durable = durable
        self._file_mode = file_mode
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        # key -> row to write, or None to delete; read before the database.
        self._staged: dict[str, IndexRow | None] = {}
        # Statements of others (the audit trail's) for the same transaction, first.
        self._also: list[Callable[[sqlite3.Connection], None]] = []
        self._closed = False

    def exists(self) -> bool:
        """Whether the index file is there (reads of a folder without one create nothing)."""
        if self._conn is not None and self._pid == os.getpid():
            return True
        path = self._path(False)
        return path is not None and os.path.isfile(path)

    def _existing(self) -> sqlite3.Connection | None:
        """The connection if the index exists, ``None`` if not: nothing is created."""
        if self._conn is not None and self._pid == os.getpid() and not self._closed:
            return self._conn
        if self._closed:
            raise StoreClosedError()
        return self._connection() if self.exists() else None

    def _connection(self) -> sqlite3.Connection:
        if self._closed:  # never reopened behind a closing store's back
            raise StoreClosedError()
        if self._conn is None or self._pid != os.getpid():
            # A connection must not cross fork(): a child opens its own.
            path = self._path(True)
            assert path is not None  # created if missing
            try:  # created by us, so its mode is ours; SQLite gives its WAL the same
                flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                fd = os.open(path, flags, self._file_mode)
                os.fchmod(fd, self._file_mode)
                os.close(fd)
            except FileExistsError:
                pass
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
            try:
                _initialize(conn, self._durable)
            except BaseException:
                # Closed now: left to the garbage collector (the traceback keeps it), a
                # damaged index's files would stay open until some later collection.
                conn.close()
                raise
            self._conn = conn
            self._pid = os.getpid()
        return self._conn

    def forget_connection(self) -> None:
        """Drop the connection without closing it (after fork, it is the parent's)."""
        self._conn = None
        self._staged.clear()
        self._also.clear()

    def close(self) -> None:
        """Commit what is staged (best effort, as at a batch's end), then close for good."""
        try:
            self.flush()
        except (sqlite3.Error, OSError):
            self._staged.clear()
            self._also.clear()
            log.warning("artifactstore: the DataRoom index could not be committed", exc_info=True)
        finally:
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def get(self, key: str) -> IndexRow | None:
        """The row for ``key``, staged or committed; ``None`` if the index cannot tell."""
        if key in self._staged:
            return self._staged[key]
        try:
            found = self._select_one(key)
        except (sqlite3.Error, OSError):
            # The file is the truth and the index a record about it: an unreadable
            # index means "unknown", so the file gets hashed, not the read failed.
            log.warning("artifactstore: the DataRoom index could not be read", exc_info=True)
            return None
        return None if found is None else _row(found)

    def _select_one(self, key: str) -> Any:
        conn = self._existing()
        if conn is None:
            return None  # no index yet: every file is hashed
        return conn.execute(
            "SELECT inode, size, mtime_ns, sha256, mime_type, metadata "
            "FROM artifacts WHERE key = ?",
            (key,),
        ).fetchone()

    def get_many(self, keys: list[str], leaf: str | None = None) -> dict[str, RawRow]:
        """Rows for the keys of one folder, as ``RawRow``s; ``{}`` if the index is unreadable.

        ``leaf``: the folder's key ("" the root) when it has no sub-folders, so that
        all rows under it are its own: one range scan instead of a lookup per key.
        """
        try:
            return self._select_many(keys, leaf)
        except (sqlite3.Error, OSError):
            log.warning("artifactstore: the DataRoom index could not be read", exc_info=True)
            return {}

    def _select_many(self, keys: list[str], leaf: str | None) -> dict[str, RawRow]:
        conn = self._existing()
        columns = "SELECT key, inode, size, mtime_ns, sha256, mime_type, metadata FROM artifacts"
        if conn is None:
            found = []  # no index yet: only what this batch staged
        elif leaf is not None:
            # Keys under "p/" are exactly those in ["p/", "p0"): "0" follows "/".
            found = (
                conn.execute(
                    f"{columns} WHERE key >= ? AND key < ?", (leaf + "/", leaf + "0")
                ).fetchall()
                if leaf
                else conn.execute(columns).fetchall()
            )
        else:
            found = []
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                found += conn.execute(f"{columns} WHERE key IN ({marks})", part).fetchall()
        result = {row[0]: row for row in found}
        staged = self._staged
        if staged:
            for key in keys:
                if key in staged:
                    row = staged[key]
                    if row is None:
                        result.pop(key, None)
                    else:
                        meta = json.dumps(row.metadata) if row.metadata else "{}"
                        result[key] = (key, *row.fingerprint, row.sha256, row.mime_type, meta)
        return result

    def recorded_under(self, prefix: str) -> list[tuple[str, str]]:
        """Committed ``(key, sha256)`` rows at or under ``prefix`` (every row for ``""``)."""
        if prefix:
            query = "SELECT key, sha256 FROM artifacts WHERE key = ? OR (key >= ? AND key < ?)"
            args: tuple[str, ...] = (prefix, prefix + "/", prefix + "0")
        else:
            query, args = "SELECT key, sha256 FROM artifacts", ()
        conn = self._existing()
        rows = [] if conn is None else conn.execute(query, args).fetchall()
        return sorted((str(key), str(sha)) for key, sha in rows)

    def keys_under(self, prefix: str) -> list[str]:
        """Committed keys under the folder ``prefix`` with nothing staged; ``[]`` if unreadable."""
        # Keys under "p/" are exactly those in ["p/", "p0"): "0" follows "/" in code points.
        try:
            conn = self._existing()
            found = (
                []
                if conn is None
                else conn.execute(
                    "SELECT key FROM artifacts WHERE key >= ? AND key < ?",
                    (prefix + "/", prefix + "0"),
                ).fetchall()
            )
        except (sqlite3.Error, OSError):
            log.warning("artifactstore: the DataRoom index could not be read", exc_info=True)
            return []
        return [key for (key,) in found if key not in self._staged]

    def stage(self, key: str, row: IndexRow) -> None:
        """Record ``row`` for ``key`` at the next flush."""
        self._staged[key] = row

    def stage_delete(self, key: str) -> None:
        """Forget ``key`` at the next flush."""
        self._staged[key] = None

    def stage_statements(self, run: Callable[[sqlite3.Connection], None]) -> None:
        """Call ``run(connection)`` inside the next flush's transaction, before its rows."""
        self._also.append(run)

    def read(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        """``run(connection)`` outside any transaction (reads of the audit trail)."""
        return run(self._connection())

    def flush(self) -> None:
        """Commit the staged rows in one transaction.

        Inside the write lock each row is checked against the file as it is now: a
        row for a version another writer has already replaced is dropped, and a
        deletion spares a row that describes a file put back since. Writers commit
        one after another and each commits after its rename, so the last row
        written always describes the last file renamed into place.
        """
        if not self._staged and not self._also:
            return
        conn = self._connection()
        staged, self._staged = self._staged, {}
        conn.execute("BEGIN IMMEDIATE")
        # Taken once the transaction is ours: statements never run (BEGIN failed)
        # stay for the next flush, those that ran and were rolled back go.
        also, self._also = self._also, []
        try:
            for run in also:
                run(conn)
            writes, deletes = [], []
            now = self._fingerprints(list(staged))
            for key, row in staged.items():
                current = now.get(key)
                if row is not None:
                    if current == row.fingerprint:
                        writes.append(
                            (
                                key,
                                *row.fingerprint,
                                row.sha256,
                                row.mime_type,
                                json.dumps(row.metadata) if row.metadata else "{}",
                            )
                        )
                elif current is None:
                    deletes.append((key,))
            conn.executemany(
                # A row already describing this very version (same fingerprint) is
                # kept: it may carry the user metadata of the put that wrote it.
                "INSERT INTO artifacts VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE "
                "SET inode = excluded.inode, size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, "
                "mime_type = excluded.mime_type, metadata = excluded.metadata "
                "WHERE NOT (inode = excluded.inode AND size = excluded.size "
                "AND mtime_ns = excluded.mtime_ns)",
                writes,
            )
            conn.executemany("DELETE FROM artifacts WHERE key = ?", deletes)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _initialize(conn: sqlite3.Connection, durable: bool) -> None:
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
    # Switching to WAL needs a moment alone with the file, and busy_timeout does not
    # cover it: another store opening the same DataRoom at once gets "locked".
    for attempt in range(200):
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 199:
                raise
            time.sleep(0.01)


def _row(found: tuple[Any, ...]) -> IndexRow:
    inode, size, mtime_ns, sha256, mime_type, metadata = found[:6]
    meta = {} if metadata == "{}" else json.loads(metadata)
    return IndexRow((inode, size, mtime_ns), sha256, mime_type, meta)
