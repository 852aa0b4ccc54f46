"""Signed checkpoints: C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519.

A checkpoint commits to the audit tree at one size::

    artifactstore/deal-42          <- origin: which log
    1234                           <- tree size: number of events
    Cs8...root...q2I=              <- base64 of the RFC 6962 root at that size

    — artifactstore-1a2b3c4d Az3g...signature...

The note text (the body, with its final newline) is signed with Ed25519 (RFC
8032). The signature line is an em dash (U+2014), a space, the key name, a space
and ``base64(key ID || signature)``, where the key ID is the first four bytes of
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`` (c2sp.org/signed-note,
signature type 0x01). Notes written here open with Go's ``golang.org/x/mod/sumdb/note``
and the other implementations of the spec, and the other way round.

Keys are PEM files the way ``cryptography`` and OpenSSL write them: a PKCS#8
private key (unencrypted) and a SubjectPublicKeyInfo public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from ._errors import AuditKeyError, AuditVerificationError

__all__ = [
    "Checkpoint",
    "PublicKeyLike",
    "generate_key_pair",
    "key_id",
    "key_name_for",
    "load_private_key",
    "load_public_key",
    "open_note",
    "parse_and_verify_checkpoint",
    "parse_checkpoint_unverified",
    "public_key_bytes",
    "sign_checkpoint",
    "sign_note",
    "verifier_key",
]

PublicKeyLike = Ed25519PublicKey | bytes | str
"""An Ed25519 public key: the key object, its PEM (SubjectPublicKeyInfo), or its
32 raw bytes."""

_ED25519 = 0x01  # the signed-note signature type of Ed25519
_DASH = "\u2014 "  # em dash and space: the start of every signature line
_MAX_SIGNATURES = 100
_MAX_NOTE_CHARS = 1 << 20
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # control characters other than newline
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)  # no leading zero; fits uint64


# -- keys ---------------------------------------------------------------------


def load_private_key(pem: bytes | str) -> Ed25519PrivateKey:
    """The Ed25519 private key of a PEM PKCS#8 file (unencrypted).

    Raises :class:`AuditKeyError` for anything else: not PEM, encrypted, or a key of
    another algorithm.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # encrypted, and no password given
        raise AuditKeyError(
            f"the private key is encrypted; give an unencrypted one ({exc})"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise AuditKeyError(f"not a PEM PKCS#8 private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"the private key is {type(key).__name__}, not Ed25519")
    return key


def load_public_key(pem: bytes | str) -> Ed25519PublicKey:
    """The Ed25519 public key of a PEM SubjectPublicKeyInfo file.

    Raises :class:`AuditKeyError` if it is not PEM or not an Ed25519 key.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise AuditKeyError(f"not a PEM SubjectPublicKeyInfo public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"the public key is {type(key).__name__}, not Ed25519")
    return key


def generate_key_pair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as PEM: (PKCS#8 private key, SubjectPublicKeyInfo).

    The same files ``openssl genpkey -algorithm ed25519`` and ``openssl pkey
    -pubout`` write. The private key is not encrypted: keep its file private.
    """
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _as_public_key(key: PublicKeyLike) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if not isinstance(key, (str, bytes)):
        raise AuditKeyError(f"a public key is expected, not {type(key).__name__}")
    if isinstance(key, str) or key.lstrip().startswith(b"-----BEGIN"):
        return load_public_key(key)
    if isinstance(key, bytes) and len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    raise AuditKeyError("a public key is an Ed25519PublicKey, its PEM or its 32 raw bytes")


def public_key_bytes(public_key: PublicKeyLike) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (RFC 8032 encoding)."""
    return _as_public_key(public_key).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def key_name_for(public_key: PublicKeyLike) -> str:
    """The default key name of a key: ``artifactstore-`` and 8 hex digits of its hash.

    The first four bytes of SHA-256 of the raw public key, so two DataRooms signed
    by different keys carry different names.
    """
    return "artifactstore-" + hashlib.sha256(public_key_bytes(public_key)).hexdigest()[:8]


def _check_key_name(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError("a key name is a non-empty string")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise ValueError(f"a key name has no spaces, '+' or control characters: {name!r}")


def key_id(key_name: str, public_key: PublicKeyLike) -> bytes:
    """The 4-byte signed-note key ID: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    _check_key_name(key_name)
    raw = public_key_bytes(public_key)
    return hashlib.sha256(key_name.encode() + b"\n" + bytes([_ED25519]) + raw).digest()[:4]


def verifier_key(public_key: PublicKeyLike, key_name: str) -> str:
    """The key as a signed-note verifier key: ``name+hexID+base64(0x01 || key)``.

    The one-line form Go's ``sumdb/note.NewVerifier`` and witnesses take.
    """
    raw = public_key_bytes(public_key)
    encoded = base64.b64encode(bytes([_ED25519]) + raw).decode()
    return f"{key_name}+{key_id(key_name, raw).hex()}+{encoded}"


# -- signed notes -------------------------------------------------------------


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64 (RFC 4648 section 4): canonical, padded, no spaces."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise AuditVerificationError(f"{what} is not base64") from exc
    if base64.b64encode(raw).decode() != text:
        raise AuditVerificationError(f"{what} is not canonical base64")
    return raw


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """The signed note of ``text``: the text, a blank line and one signature line.

    ``text`` must be non-empty, end with a newline and hold no control character
    other than newlines.
    """
    _check_key_name(key_name)
    if not text.endswith("\n") or _CONTROL.search(text):
        raise ValueError("a note's text ends with a newline and has no control characters")
    kid = key_id(key_name, private_key.public_key())
    signature = private_key.sign(text.encode("utf-8"))
    return f"{text}\n{_DASH}{key_name} {base64.b64encode(kid + signature).decode()}\n"


def _split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """The text and the (key name, decoded signature) lines of a note, unverified."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuditVerificationError("a signed note is UTF-8 text") from exc
    if not isinstance(note, str):
        raise AuditVerificationError("a signed note is text")
    if len(note) > _MAX_NOTE_CHARS:
        raise AuditVerificationError("the note is too large")
    if _CONTROL.search(note):
        raise AuditVerificationError("the note holds a control character other than newline")
    cut = note.rfind("\n\n")
    if cut < 0 or not note.endswith("\n"):
        raise AuditVerificationError("not a signed note: no blank line before signatures")
    text, lines = note[: cut + 1], note[cut + 2 : -1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise AuditVerificationError(f"more than {_MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        parts = line[len(_DASH) :].split(" ")
        if not line.startswith(_DASH) or len(parts) != 2:
            raise AuditVerificationError(f"a malformed signature line: {line[:80]!r}")
        name, encoded = parts
        try:
            _check_key_name(name)
        except ValueError as exc:
            raise AuditVerificationError(str(exc)) from exc
        raw = _b64decode(encoded, "a signature")
        if len(raw) < 5:
            raise AuditVerificationError("a signature shorter than its key ID")
        signatures.append((name, raw))
    return text, signatures


def open_note(note: str | bytes, public_key: PublicKeyLike, key_name: str | None = None) -> str:
    """The text of a signed note, once a signature of ``public_key`` verifies on it.

    Follows c2sp.org/signed-note: signatures of other keys are ignored; a
    signature whose key name and key ID are those of ``public_key`` must verify,
    else the whole note is refused; at least one must. With ``key_name`` None, a
    signature of this key under any name counts (its ID must still be the one of
    that name and this key). Raises :class:`AuditVerificationError`.
    """
    key = _as_public_key(public_key)
    if key_name is not None:
        _check_key_name(key_name)
    text, signatures = _split_note(note)
    verified = False
    for name, raw in signatures:
        if key_name is not None and name != key_name:
            continue
        if raw[:4] != key_id(name, key):
            continue  # another key's signature: ignored, as the spec says
        try:
            key.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise AuditVerificationError(
                f"the signature of key {name!r} does not verify: the note was altered "
                "or signed by another key"
            ) from None
        verified = True
    if not verified:
        wanted = f"key {key_name!r}" if key_name is not None else "the given public key"
        raise AuditVerificationError(f"the note carries no signature of {wanted}")
    return text


# -- checkpoints --------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: the log's origin, its size and the root at that size.

    ``extensions`` are the optional extra lines of c2sp.org/tlog-checkpoint (not
    written by artifactstore, kept when read).
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise ValueError("a checkpoint's origin is a non-empty string")
        if "\n" in self.origin or _CONTROL.search(self.origin):
            raise ValueError("a checkpoint's origin is one line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"a checkpoint's size is an int >= 0, not {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != 32:
            raise ValueError("a checkpoint's root is 32 bytes (SHA-256)")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise ValueError(f"an extension line is one non-empty line: {line!r}")

    def body(self) -> str:
        """The checkpoint's note text: origin, size and base64 root, one per line."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "".join(f"{line}\n" for line in [*lines, *self.extensions])


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or "" in lines[:-1]:
        raise AuditVerificationError("a checkpoint is at least three non-empty lines")
    origin, size, root, *extensions = lines[:-1]
    if not _SIZE.fullmatch(size):
        raise AuditVerificationError(f"a checkpoint's size is a decimal number: {size[:40]!r}")
    raw = _b64decode(root, "the checkpoint's root")
    if len(raw) != 32:
        raise AuditVerificationError("the checkpoint's root is not 32 bytes")
    return Checkpoint(origin, int(size), raw, tuple(extensions))


def sign_checkpoint(
    checkpoint: Checkpoint, private_key: Ed25519PrivateKey, key_name: str | None = None
) -> str:
    """The checkpoint as a signed note (C2SP tlog-checkpoint), signed with Ed25519.

    ``key_name`` defaults to :func:`key_name_for` of the key's public half.
    """
    name = key_name if key_name is not None else key_name_for(private_key.public_key())
    return sign_note(checkpoint.body(), private_key, name)


def parse_and_verify_checkpoint(
    note: str | bytes,
    public_key: PublicKeyLike,
    key_name: str | None = None,
    *,
    origin: str | None = None,
) -> Checkpoint:
    """The checkpoint of a signed note, once its signature by ``public_key`` verifies.

    ``key_name`` None accepts a signature of this key under any name (see
    :func:`open_note`); ``origin``, when given, must be the checkpoint's.
    Raises :class:`AuditVerificationError` for a bad format or signature.
    """
    checkpoint = _parse_body(open_note(note, public_key, key_name))
    if origin is not None and checkpoint.origin != origin:
        raise AuditVerificationError(
            f"the checkpoint is of log {checkpoint.origin!r}, not {origin!r}"
        )
    return checkpoint


def parse_checkpoint_unverified(note: str | bytes) -> Checkpoint:
    """The checkpoint of a signed note WITHOUT checking any signature.

    For a writer that just signed the note itself (building a proof document, say);
    anything read from elsewhere goes through :func:`parse_and_verify_checkpoint`.
    """
    text, _ = _split_note(note)
    return _parse_body(text)
