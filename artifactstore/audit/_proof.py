r"""Offline inclusion proofs: one audit event, checkable with the public key alone.

A proof document is a JSON object (version 1)::

    {
      "format": "artifactstore-audit-proof",
      "version": 1,
      "origin": "artifactstore/deal-42",
      "seq": 7,
      "index": 6,
      "tree_size": 10,
      "event": "eyJhY3RvciI6ImFsaWNlIiwi...",
      "path": ["lK8k...=", "5f08...=", "bc1a...="],
      "checkpoint": "artifactstore/deal-42\\n10\\nXYZ...=\\n\\n\\u2014 artifactstore-1a2b... ...\\n"
    }

* ``event``: standard base64 (RFC 4648 section 4) of the event's canonical bytes,
  exactly the bytes that were hashed into the tree (leaf hash
  ``SHA-256(0x00 || event)``).
* ``seq``: the event's sequence number in the log, counted from 1; ``index`` is its
  leaf position in the Merkle tree, counted from 0: always ``seq - 1``.
* ``tree_size``: the size of the tree the proof is against; ``origin``: the log.
  Both repeat the checkpoint's own lines and must agree with them.
* ``path``: the RFC 6962 audit path (RFC 9162 section 2.1.3), base64 of 32-byte
  hashes, from the leaf's sibling up to the root's child.
* ``checkpoint``: the signed note (c2sp.org/tlog-checkpoint, Ed25519,
  c2sp.org/signed-note) whose root and size the path leads to.

To verify (:func:`verify_proof`): check the checkpoint's signature with the public
key; recompute the leaf hash from ``event``; run the RFC 9162 section 2.1.3.2
algorithm with ``index``, ``tree_size`` and ``path``; the result must be the
checkpoint's root. Any altered byte of the event, of a path hash, of the
checkpoint note or of the numbers makes one of these checks fail. Unknown fields
are refused, so a document carries nothing that was not verified.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._checkpoint import (
    Checkpoint,
    PublicKeyLike,
    parse_and_verify_checkpoint,
    parse_checkpoint_unverified,
)
from ._errors import AuditVerificationError
from ._merkle import HASH_SIZE, inclusion_proof, leaf_hash, verify_inclusion

__all__ = [
    "PROOF_FORMAT",
    "PROOF_VERSION",
    "VerifiedEvent",
    "make_proof",
    "verify_proof",
    "verify_proof_details",
]

PROOF_FORMAT = "artifactstore-audit-proof"
PROOF_VERSION = 1
_MAX_PATH = 64  # the depth of a tree of 2**64 leaves
_FIELDS = frozenset(
    {"format", "version", "origin", "seq", "index", "tree_size", "event", "path", "checkpoint"}
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_proof(
    event: bytes, index: int, leaf_hashes: Iterable[bytes], checkpoint_note: str | bytes
) -> dict[str, Any]:
    """The proof document of the event at leaf ``index`` (its seq is ``index + 1``).

    ``leaf_hashes`` are the log's leaf hashes in order (a list, or an iterable read
    once: only the first ``tree size`` are read); ``checkpoint_note`` is the signed
    checkpoint to anchor the proof to (its signature is not checked here: the
    writer signed it). Raises :class:`AuditVerificationError` if the event, the
    leaf hashes and the checkpoint do not agree, so no document that fails to
    verify is ever handed out.
    """
    if not isinstance(event, bytes):
        raise TypeError("the event is its canonical bytes")
    checkpoint = parse_checkpoint_unverified(checkpoint_note)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"a leaf index is an int >= 0, not {index!r}")
    if index >= checkpoint.size:
        raise AuditVerificationError(
            f"seq {index + 1} is not covered by the checkpoint of size {checkpoint.size}"
        )
    path = inclusion_proof(leaf_hashes, index, checkpoint.size)
    if not verify_inclusion(leaf_hash(event), index, checkpoint.size, path, checkpoint.root):
        raise AuditVerificationError(
            f"seq {index + 1}: the event, the leaf hashes and the checkpoint do not agree"
        )
    note = checkpoint_note if isinstance(checkpoint_note, str) else checkpoint_note.decode()
    return {
        "format": PROOF_FORMAT,
        "version": PROOF_VERSION,
        "origin": checkpoint.origin,
        "seq": index + 1,
        "index": index,
        "tree_size": checkpoint.size,
        "event": _b64(event),
        "path": [_b64(h) for h in path],
        "checkpoint": note,
    }


@dataclass(frozen=True)
class VerifiedEvent:
    """What a verified proof establishes.

    These ``event`` bytes are at ``seq`` in the log whose signed ``checkpoint`` the
    proof is anchored to.
    """

    event: bytes
    seq: int
    checkpoint: Checkpoint


def _decode(text: str | bytes) -> dict[str, Any]:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            raise AuditVerificationError("the proof document repeats a field")
        return found

    def no_constants(name: str) -> Any:
        raise AuditVerificationError(f"the proof document holds {name}")

    try:
        found = json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        if isinstance(exc, AuditVerificationError):
            raise
        raise AuditVerificationError(f"the proof document is not JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise AuditVerificationError("the proof document is a JSON object")
    return found


def _int(document: dict[str, Any], name: str) -> int:
    value = document[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise AuditVerificationError(f"the proof's {name} is an integer, not {value!r:.40}")
    return value


def _bytes(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise AuditVerificationError(f"{what} is a base64 string")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise AuditVerificationError(f"{what} is not base64") from exc
    if _b64(raw) != value:
        raise AuditVerificationError(f"{what} is not canonical base64")
    return raw


def verify_proof_details(
    document: dict[str, Any] | str | bytes,
    public_key: PublicKeyLike,
    *,
    key_name: str | None = None,
    origin: str | None = None,
) -> VerifiedEvent:
    """Verify a proof document as :func:`verify_proof` does; return what it proves."""
    found = _decode(document) if isinstance(document, (str, bytes)) else document
    if not isinstance(found, dict):
        raise AuditVerificationError("the proof document is a JSON object")
    if set(found) != _FIELDS:
        missing, extra = sorted(_FIELDS - set(found)), sorted(set(found) - _FIELDS)
        raise AuditVerificationError(f"proof fields: missing {missing}, unknown {extra}")
    if found["format"] != PROOF_FORMAT or _int(found, "version") != PROOF_VERSION:
        raise AuditVerificationError(f"not a {PROOF_FORMAT} document of version {PROOF_VERSION}")
    note = found["checkpoint"]
    if not isinstance(note, str):
        raise AuditVerificationError("the proof's checkpoint is the signed note's text")
    checkpoint = parse_and_verify_checkpoint(note, public_key, key_name, origin=origin)
    if found["origin"] != checkpoint.origin or _int(found, "tree_size") != checkpoint.size:
        raise AuditVerificationError("the proof's origin or tree size is not its checkpoint's")
    index, seq = _int(found, "index"), _int(found, "seq")
    if seq != index + 1 or not 0 <= index < checkpoint.size:
        raise AuditVerificationError(
            f"seq {seq} and index {index} do not name one event of a tree of {checkpoint.size}"
        )
    event = _bytes(found["event"], "the proof's event")
    path = found["path"]
    if not isinstance(path, list) or len(path) > _MAX_PATH:
        raise AuditVerificationError("the proof's path is a list of base64 hashes")
    hashes = [_bytes(h, f"path hash {i}") for i, h in enumerate(path)]
    if any(len(h) != HASH_SIZE for h in hashes):
        raise AuditVerificationError(f"the path's hashes are {HASH_SIZE} bytes each")
    if not verify_inclusion(leaf_hash(event), index, checkpoint.size, hashes, checkpoint.root):
        raise AuditVerificationError(
            f"the event of seq {seq} is not in the signed tree of size {checkpoint.size}: "
            "the event, its path or its index was altered"
        )
    try:  # an artifactstore event names its own seq: it must be the one proved
        own = json.loads(event).get("seq", seq) if event.startswith(b"{") else seq
    except (ValueError, AttributeError):
        own = seq
    if own != seq:
        raise AuditVerificationError(f"the event says it is seq {own}, the proof says {seq}")
    return VerifiedEvent(event, seq, checkpoint)


def verify_proof(
    document: dict[str, Any] | str | bytes,
    public_key: PublicKeyLike,
    *,
    key_name: str | None = None,
    origin: str | None = None,
) -> bytes:
    """The event bytes of a proof document, once every check passes.

    ``document`` is the JSON object or its text. Checks the checkpoint's signature
    with ``public_key`` alone (under ``key_name``, or under any name when None;
    ``origin``, when given, must be the checkpoint's), then that the event's leaf
    hash, its index and the audit path lead to the checkpoint's root at its size.
    Raises :class:`AuditVerificationError` on any failure.
    """
    return verify_proof_details(document, public_key, key_name=key_name, origin=origin).event
