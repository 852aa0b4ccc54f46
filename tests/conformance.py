"""Compatibility shim: the conformance suite lives in ``artifactstore.testing``.

New tests use ``conformance_checks(Capabilities.of(StoreClass))`` from there. This
keeps the old names working: ``CHECKS`` are the check functions that apply to a
store with the default ``Capabilities`` (files and folders at one key, conditional
writes, cancellation), called as ``await check(store, scratch)``.
"""

from __future__ import annotations

from artifactstore.testing import conformance_checks
from artifactstore.testing._conformance import CheckFunction, chunks, keys_of, sha

Check = CheckFunction
CHECKS: list[Check] = [c.function for c in conformance_checks()]

__all__ = ["CHECKS", "Check", "chunks", "keys_of", "sha"]
