"""The audit trail: who stored, read, linked, copied, moved and deleted what.

Switch it on with ``audit=True`` on a store (``ARTIFACT_AUDIT=true``,
``?audit=true``); say who acts with :func:`audit_context`; read, checkpoint,
verify and prove the record through ``store.audit_log()`` (:class:`AuditLog`).
See docs/audit.md for the events, the guarantees and their limits.
"""

from __future__ import annotations

from .. import _publish
from ._checkpoint import generate_key_pair
from ._context import Actor, audit_context, current_actor
from ._errors import AuditKeyError, AuditVerificationError
from ._events import AuditEvent, AuditRecord, Outcome, outcome_of
from ._layer import AuditedBackend, AuditLayer, link_id
from ._log import AuditLog, SyncAuditLog
from ._proof import verify_proof
from ._sink import AuditSink, MemoryAuditSink
from ._verify import VerifyOutcome

__all__ = [
    "Actor",
    "AuditEvent",
    "AuditKeyError",
    "AuditLayer",
    "AuditLog",
    "AuditRecord",
    "AuditSink",
    "AuditVerificationError",
    "AuditedBackend",
    "MemoryAuditSink",
    "Outcome",
    "SyncAuditLog",
    "VerifyOutcome",
    "audit_context",
    "current_actor",
    "generate_key_pair",
    "link_id",
    "outcome_of",
    "verify_proof",
]

_publish(__name__, __all__, globals())
