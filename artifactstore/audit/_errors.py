"""The errors of the audit trail's pure core (Merkle tree, checkpoints, proofs).

Both are ``ValueError`` s: what they reject is data handed in (a note, a proof
document, a key file), not a failure of storage. They are deliberately not part
of the :class:`artifactstore.errors.ArtifactStoreError` tree, so that this core
stays free of imports from the rest of the library; the audit package's public
module decides how to expose them.
"""

from __future__ import annotations

__all__ = ["AuditKeyError", "AuditVerificationError"]


class AuditVerificationError(ValueError):
    """A checkpoint, a signed note or an inclusion proof does not verify.

    Raised for a malformed text or document as well as for a bad signature or a
    proof that does not lead to the signed root: either way, nothing in it may be
    trusted. The message says which check failed.
    """


class AuditKeyError(ValueError):
    """A key is not usable: not PEM, encrypted, or not an Ed25519 key."""
