"""``AuditLog``: read, export, checkpoint, verify and prove a store's audit trail."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import IO, Any

import anyio
import anyio.from_thread
import anyio.to_thread

from .._portal import call_on_loop
from ._checkpoint import (
    Checkpoint,
    load_private_key,
    load_public_key,
    parse_and_verify_checkpoint,
    sign_checkpoint,
)
from ._errors import AuditVerificationError
from ._events import AuditEvent, Outcome
from ._layer import AuditedBackend
from ._merkle import TreeBuilder, leaf_hash
from ._proof import make_proof
from ._verify import VerifyOutcome, verify_leaves

__all__ = ["AuditLog", "SyncAuditLog"]

KeyInput = "bytes | str | os.PathLike[str]"
#: Entries handed at once to the verifying thread.
_PAGE = 4096
_CSV_FIELDS = ["seq", "time", "actor", "operation", "key", "dst", "outcome", "sha256", "size"]


def _pem(key: bytes | str | os.PathLike[str]) -> bytes:
    """PEM text, or the file that holds it."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return key.encode()
    with open(key, "rb") as f:
        return f.read()


def _note(checkpoint: str | os.PathLike[str]) -> str:
    """A signed note's text, or the file that holds it."""
    if isinstance(checkpoint, str) and "\n" in checkpoint:
        return checkpoint
    with open(checkpoint, encoding="utf-8") as f:
        return f.read()


def _own_seq(stored: int, raw: bytes) -> int:
    """The seq an event's own bytes give, if its storage agrees; else 0 (a break).

    The tree commits to the bytes; this makes an event stored under another number
    (a copy, a move in the table) a break in the sequence, named where it is.
    """
    try:
        own = json.loads(raw).get("seq")
    except (ValueError, AttributeError):
        return 0
    return stored if own == stored else 0


def _within(key: str | None, prefix: str) -> bool:
    return key is not None and (key == prefix or key.startswith(prefix.rstrip("/") + "/"))


class AuditLog:
    """A store's audit trail (``store.audit_log()``); every method is safe to call any time."""

    def __init__(self, backend: AuditedBackend) -> None:
        self._backend = backend
        self.sink = backend.sink

    # ------------------------------------------------------------------- reading

    async def events(
        self,
        *,
        prefix: str | None = None,
        actor: str | None = None,
        operation: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> AsyncIterator[AuditEvent]:
        """The events in order, those matching every filter given.

        ``prefix`` matches whole key segments, on the key or a copy's or move's
        destination; ``since``/``until`` are inclusive and need time zones.
        """
        async for _, raw in self.sink.entries():
            event = AuditEvent.parse(raw)
            if prefix is not None and not (
                _within(event.key, prefix) or _within(event.dst, prefix)
            ):
                continue
            if actor is not None and event.actor != actor:
                continue
            if operation is not None and event.operation != operation:
                continue
            if since is not None and event.time < since:
                continue
            if until is not None and event.time > until:
                continue
            yield event

    async def record(
        self,
        operation: str,
        key: str | None,
        *,
        outcome: Outcome = "ok",
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record an event of the application's own (``download_app``'s link events); its seq."""
        record = self._backend.record(operation, key, outcome=outcome, details=dict(details or {}))
        (seq,) = await self._backend.append(record)
        return seq

    async def export(self, out: IO[str], *, format: str = "jsonl", **filters: Any) -> int:
        """Write the matching events to ``out`` as JSON Lines or CSV; return how many."""
        if format not in ("jsonl", "csv"):
            raise ValueError(f"format is 'jsonl' or 'csv', not {format!r}")
        writer = (
            csv.DictWriter(out, _CSV_FIELDS, extrasaction="ignore") if format == "csv" else None
        )
        if writer is not None:
            writer.writeheader()
        count = 0
        async for event in self.events(**filters):
            row = event.as_dict()
            if writer is None:
                out.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
            else:
                writer.writerow({**row, "dst": event.dst})
            count += 1
        return count

    # --------------------------------------------------------------- the tree

    async def _leaves(self) -> list[bytes]:
        return [leaf_hash(raw) async for _, raw in self.sink.entries()]

    async def checkpoint(
        self,
        private_key: bytes | str | os.PathLike[str],
        *,
        key_name: str | None = None,
        out: str | os.PathLike[str] | None = None,
    ) -> str:
        """Sign the record's current size and root; return the signed note (C2SP tlog-checkpoint).

        The note is also recorded as a ``checkpoint`` event, and written to ``out``
        when given. Keep notes somewhere the DataRoom's holders cannot rewrite: the
        evidence against tampering is a note kept elsewhere (see docs/audit.md).
        """
        key = load_private_key(_pem(private_key))
        tree = TreeBuilder()
        async for _, raw in self.sink.entries():
            tree.append(leaf_hash(raw))
        head = Checkpoint(await self.sink.origin(), tree.size, tree.root())
        note = sign_checkpoint(head, key, key_name)
        details = {
            "tree_size": head.size,
            "root": base64.b64encode(head.root).decode(),
            "note": note,
        }
        await self.record("checkpoint", None, details=details)
        if out is not None:
            await anyio.to_thread.run_sync(_write_note, os.fspath(out), note)
        return note

    async def checkpoints(self) -> list[str]:
        """The signed notes recorded by :meth:`checkpoint`, oldest first."""
        return [
            str(event.details["note"])
            async for event in self.events(operation="checkpoint")
            if isinstance(event.details.get("note"), str)
        ]

    async def verify(
        self,
        public_key: bytes | str | os.PathLike[str],
        *,
        checkpoint: str | os.PathLike[str] | None = None,
        key_name: str | None = None,
    ) -> VerifyOutcome:
        """Recompute the tree and check it against signed checkpoints.

        The outcome is ``ok``, or names the first event that does not match.

        ``checkpoint``: a note kept elsewhere (its text or its file): the check that
        counts. Without it, the notes recorded in the trail itself are used, which
        catch an edit made without the signing key but not a record rewritten
        whole, its notes included.
        """
        key = load_public_key(_pem(public_key))
        origin = await self.sink.origin()
        notes = [_note(checkpoint)] if checkpoint is not None else await self.checkpoints()
        try:
            heads = [parse_and_verify_checkpoint(n, key, key_name, origin=origin) for n in notes]
        except AuditVerificationError as exc:  # a forged note, or one of another log
            return VerifyOutcome(False, 0, b"", None, f"a checkpoint does not verify: {exc}")
        # A sink that keeps each event's leaf hash (the local one) lets verification
        # name an event edited without its hash exactly.
        stored = getattr(self.sink, "stored", None)
        pages: AsyncIterator[tuple[Any, ...]] = stored() if stored else self.sink.entries()

        async def page() -> list[tuple[Any, ...]]:
            found = []
            async for entry in pages:
                found.append(entry)
                if len(found) == _PAGE:
                    break
            return found

        def entries() -> Iterator[tuple[Any, ...]]:
            while batch := anyio.from_thread.run(page):
                for stored_seq, raw, *leaf in batch:
                    yield (_own_seq(stored_seq, raw), raw, *leaf)

        # In a thread: a million leaves hashed must not stall the event loop.
        return await anyio.to_thread.run_sync(verify_leaves, entries(), heads)

    async def proof(
        self, seq: int, *, checkpoint: str | os.PathLike[str] | None = None
    ) -> dict[str, Any]:
        """An inclusion proof of event ``seq`` (see docs/audit.md): checkable offline.

        Anchored to ``checkpoint`` (a note), or to the latest recorded one that covers
        ``seq``; ``ValueError`` if there is none (make one with :meth:`checkpoint`).
        """
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise ValueError(f"seq is an event's number (from 1), not {seq!r}")
        notes = [_note(checkpoint)] if checkpoint is not None else await self.checkpoints()
        from ._checkpoint import parse_checkpoint_unverified

        covering = [n for n in notes if parse_checkpoint_unverified(n).size >= seq]
        if not covering:
            raise ValueError(f"no checkpoint covers event {seq}: make one (checkpoint()) first")
        note = covering[-1]
        raws: dict[int, bytes] = {}
        leaves = []
        async for number, raw in self.sink.entries():
            leaves.append(leaf_hash(raw))
            if number == seq:
                raws[seq] = raw
        if seq not in raws:
            raise ValueError(f"the trail has no event {seq}")
        return make_proof(raws[seq], seq - 1, leaves, note)


def _write_note(path: str, note: str) -> None:
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(note)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class SyncAuditLog:
    """:class:`AuditLog` for synchronous code (``SyncArtifactStore.audit_log()``)."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    def events(self, **filters: Any) -> list[AuditEvent]:
        """The matching events (see :meth:`AuditLog.events`), as a list."""

        async def collect() -> list[AuditEvent]:
            return [event async for event in self._log.events(**filters)]

        return call_on_loop(collect)

    def export(self, out: IO[str], *, format: str = "jsonl", **filters: Any) -> int:
        """See :meth:`AuditLog.export`."""
        buffer = io.StringIO()
        count = call_on_loop(lambda: self._log.export(buffer, format=format, **filters))
        out.write(buffer.getvalue())
        return count

    def record(self, operation: str, key: str | None, **options: Any) -> int:
        """See :meth:`AuditLog.record`."""
        return call_on_loop(lambda: self._log.record(operation, key, **options))

    def checkpoint(self, private_key: Any, **options: Any) -> str:
        """See :meth:`AuditLog.checkpoint`."""
        return call_on_loop(lambda: self._log.checkpoint(private_key, **options))

    def checkpoints(self) -> list[str]:
        """See :meth:`AuditLog.checkpoints`."""
        return call_on_loop(self._log.checkpoints)

    def verify(self, public_key: Any, **options: Any) -> VerifyOutcome:
        """See :meth:`AuditLog.verify`."""
        return call_on_loop(lambda: self._log.verify(public_key, **options))

    def proof(self, seq: int, **options: Any) -> dict[str, Any]:
        """See :meth:`AuditLog.proof`."""
        return call_on_loop(lambda: self._log.proof(seq, **options))
