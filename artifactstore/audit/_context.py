"""``audit_context``: who is acting, for every operation inside it."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Actor", "audit_context", "current_actor"]


@dataclass(frozen=True)
class Actor:
    """Who acts (``name``) and what else the events should say (``attributes``)."""

    name: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


_NOBODY = Actor()
_CURRENT: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "artifactstore_audit_actor", default=None
)


def current_actor() -> Actor:
    """The actor of the innermost ``audit_context`` (an anonymous one outside any)."""
    return _CURRENT.get() or _NOBODY


@contextmanager
def audit_context(actor: str | None = None, **attributes: object) -> Iterator[Actor]:
    """Record ``actor`` and ``attributes`` on every audited operation inside this block.

    ``with audit_context(actor="jane@bank.example", request_id=rid, client_ip=ip):``.
    A context variable: it follows the code into tasks it starts, into calls through
    ``SyncArtifactStore`` and the legacy helpers (which run on another thread), and
    nests (an inner block keeps the outer attributes and may replace the actor).
    Attribute values are recorded as strings; ``None`` values are left out.
    """
    outer = current_actor()
    merged = dict(outer.attributes)
    merged.update({name: str(value) for name, value in attributes.items() if value is not None})
    token = _CURRENT.set(Actor(actor if actor is not None else outer.name, merged))
    try:
        yield current_actor()
    finally:
        _CURRENT.reset(token)
