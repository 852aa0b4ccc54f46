"""Audit events: what one operation did to one artifact, and its canonical bytes.

An event is a leaf of the audit log's Merkle tree; its leaf is the SHA-256 of
``0x00 || canonical bytes`` (RFC 6962). The canonical bytes are JSON with sorted
keys and no spaces, UTF-8, so the same event always hashes the same way, in any
language: a third party re-derives them from the event itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ..errors import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    InvalidKeyError,
    StoragePermissionError,
)

__all__ = ["FORMAT", "AuditEvent", "AuditRecord", "Outcome", "outcome_of"]

#: The version of the canonical form (the ``v`` field).
FORMAT = 1

Outcome = Literal["ok", "not_found", "refused", "failed"]


def outcome_of(error: BaseException | None) -> Outcome:
    """The outcome an operation that raised ``error`` (or not) records."""
    if error is None:
        return "ok"
    if isinstance(error, ArtifactNotFoundError):
        return "not_found"
    if isinstance(error, (ArtifactExistsError, StoragePermissionError, InvalidKeyError)):
        return "refused"  # a conflict, a read-only store, a hold: nothing was done
    return "failed"


def _time(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class AuditRecord:
    """An event before the log gave it its sequence number (what a layer hands a sink).

    ``details`` holds what only some operations have: ``dst`` (copy, move),
    ``range`` (``[start, end]`` of a ranged read), ``expires_at`` and ``link`` (a
    signed link), ``client`` (an address), ``change`` (``created``/``replaced``),
    ``error`` (the class of a failure), ``supersedes`` (the seq of an event written
    ahead of a write that then failed).
    """

    operation: str
    key: str | None
    outcome: Outcome = "ok"
    sha256: str | None = None
    size: int | None = None
    actor: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def seal(self, seq: int) -> bytes:
        """The canonical bytes of this record as event number ``seq`` (from 1)."""
        body = {
            "v": FORMAT,
            "seq": seq,
            "time": _time(self.time),
            "actor": self.actor,
            "attributes": dict(self.attributes),
            "operation": self.operation,
            "key": self.key,
            "sha256": self.sha256,
            "size": self.size,
            "outcome": self.outcome,
            "details": self.details,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class AuditEvent:
    """One recorded event, as read back from the log (see docs/audit.md)."""

    seq: int
    time: datetime
    actor: str | None
    attributes: Mapping[str, str]
    operation: str
    key: str | None
    sha256: str | None
    size: int | None
    outcome: str
    details: Mapping[str, Any]
    #: The canonical bytes the event was recorded as (its Merkle leaf's data).
    raw: bytes = field(repr=False, compare=False)

    @classmethod
    def parse(cls, raw: bytes) -> AuditEvent:
        """Read an event from its canonical bytes (``ValueError`` if they are not one)."""
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("v") != FORMAT:
                raise ValueError("not an audit event of this format")
            text = str(body["time"])
            if not text.endswith("Z"):
                raise ValueError("the time is not UTC")
            # fromisoformat, not strptime: that one imports a module on first use.
            when = datetime.fromisoformat(text[:-1] + "+00:00")
            return cls(
                seq=int(body["seq"]),
                time=when,
                actor=body["actor"],
                attributes=dict(body["attributes"]),
                operation=str(body["operation"]),
                key=body["key"],
                sha256=body["sha256"],
                size=body["size"],
                outcome=str(body["outcome"]),
                details=dict(body["details"]),
                raw=bytes(raw),
            )
        except (KeyError, TypeError, ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"not a canonical audit event: {exc}") from exc

    @property
    def dst(self) -> str | None:
        """The destination key of a copy or move."""
        value = self.details.get("dst")
        return value if isinstance(value, str) else None

    def as_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values (what ``audit ls --json`` prints)."""
        parsed: dict[str, Any] = json.loads(self.raw)
        return parsed
