"""Signed checkpoints (artifactstore.audit._checkpoint): C2SP signed-note and
tlog-checkpoint with Ed25519, and the PEM key files."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from artifactstore.audit._checkpoint import (
    Checkpoint,
    generate_key_pair,
    key_id,
    key_name_for,
    load_private_key,
    load_public_key,
    open_note,
    parse_and_verify_checkpoint,
    parse_checkpoint_unverified,
    public_key_bytes,
    sign_checkpoint,
    sign_note,
    verifier_key,
)
from artifactstore.audit._errors import AuditKeyError, AuditVerificationError
from artifactstore.audit._merkle import EMPTY_ROOT, leaf_hash

# The example of Go's golang.org/x/mod/sumdb/note (its package documentation and
# note_test.go): a key pair, a text and the note Go signs from them. Ed25519 is
# deterministic, so signing the same text must give the same note byte for byte.
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def go_keys() -> tuple[Ed25519PrivateKey, Ed25519PublicKey]:
    seed = base64.b64decode(GO_SIGNER.split("+", 4)[4])
    public = base64.b64decode(GO_VERIFIER.split("+", 2)[2])
    assert seed[0] == public[0] == 0x01  # the Ed25519 signature type
    return Ed25519PrivateKey.from_private_bytes(seed[1:]), Ed25519PublicKey.from_public_bytes(
        public[1:]
    )


CHECKPOINT = Checkpoint("artifactstore/deal-42", 8, leaf_hash(b"root"))


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def test_a_note_signed_here_is_the_one_go_signs() -> None:
    private, public = go_keys()
    assert sign_note(GO_TEXT, private, "PeterNeumann") == GO_NOTE
    assert open_note(GO_NOTE, public, "PeterNeumann") == GO_TEXT
    assert open_note(GO_NOTE.encode(), public) == GO_TEXT
    assert key_id("PeterNeumann", public).hex() == "c74f20a3"
    assert verifier_key(public, "PeterNeumann") == GO_VERIFIER
    with pytest.raises(AuditVerificationError):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), public)


def test_checkpoint_body_and_signed_note_layout(key: Ed25519PrivateKey) -> None:
    root64 = base64.b64encode(CHECKPOINT.root).decode()
    assert CHECKPOINT.body() == f"artifactstore/deal-42\n8\n{root64}\n"
    note = sign_checkpoint(CHECKPOINT, key, "example.com/audit")
    body, blank, signature = note.partition("\n\n")
    assert body + "\n" == CHECKPOINT.body()
    assert blank
    assert signature.startswith("\u2014 example.com/audit ")
    assert signature.endswith("\n")
    assert signature.count("\n") == 1
    raw = base64.b64decode(signature.split(" ")[2].rstrip("\n"), validate=True)
    assert len(raw) == 4 + 64


def test_round_trip(key: Ed25519PrivateKey) -> None:
    public = key.public_key()
    note = sign_checkpoint(CHECKPOINT, key)  # the default key name
    assert f"\u2014 {key_name_for(public)} " in note
    assert parse_and_verify_checkpoint(note, public) == CHECKPOINT
    assert parse_and_verify_checkpoint(note, public, key_name_for(public)) == CHECKPOINT
    assert parse_and_verify_checkpoint(note, public, origin="artifactstore/deal-42") == CHECKPOINT
    assert parse_checkpoint_unverified(note) == CHECKPOINT
    empty = Checkpoint("o", 0, EMPTY_ROOT, ("extension line",))
    assert parse_and_verify_checkpoint(sign_checkpoint(empty, key), public) == empty
    with pytest.raises(AuditVerificationError, match="not 'elsewhere'"):
        parse_and_verify_checkpoint(note, public, origin="elsewhere")
    with pytest.raises(AuditVerificationError, match="no signature"):
        parse_and_verify_checkpoint(note, public, "another-name")


def test_interop_the_signature_verifies_with_raw_cryptography_calls(
    key: Ed25519PrivateKey,
) -> None:
    """Independent of the module: split the note, rebuild the key ID, verify."""
    note = sign_checkpoint(CHECKPOINT, key, "example.com/audit")
    text, signature_line = note.rsplit("\n\n", 1)
    dash, name, encoded = signature_line.rstrip("\n").split(" ")
    assert dash == "\u2014"
    raw = base64.b64decode(encoded)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], (text + "\n").encode())
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], text.encode())


def test_a_note_signed_by_another_key_is_refused(key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    note = sign_checkpoint(CHECKPOINT, other, "example.com/audit")
    with pytest.raises(AuditVerificationError, match="no signature"):
        parse_and_verify_checkpoint(note, key.public_key())
    with pytest.raises(AuditVerificationError, match="no signature"):
        parse_and_verify_checkpoint(note, key.public_key(), "example.com/audit")
    # The other key's signature line, with this key's ID for the name: must verify,
    # and does not, so the note is refused.
    text, line = note.rsplit("\n\n", 1)
    raw = base64.b64decode(line.split(" ")[2])
    forged_id = key_id("example.com/audit", key.public_key())
    forged = (
        f"{text}\n\n\u2014 example.com/audit {base64.b64encode(forged_id + raw[4:]).decode()}\n"
    )
    with pytest.raises(AuditVerificationError, match="does not verify"):
        parse_and_verify_checkpoint(forged, key.public_key())


def test_unknown_signatures_are_ignored_but_a_bad_known_one_refuses(
    key: Ed25519PrivateKey,
) -> None:
    witness = Ed25519PrivateKey.generate()
    note = sign_checkpoint(CHECKPOINT, key, "log.example")
    cosigned = note + sign_note(CHECKPOINT.body(), witness, "witness.example").split("\n\n")[1]
    assert parse_and_verify_checkpoint(cosigned, key.public_key()) == CHECKPOINT
    assert parse_and_verify_checkpoint(cosigned, witness.public_key()) == CHECKPOINT
    # A second line of the same key that does not verify refuses the whole note.
    line = note.split("\n\n")[1]
    raw = bytearray(base64.b64decode(line.split(" ")[2]))
    raw[10] ^= 1
    bad = note + f"\u2014 log.example {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(AuditVerificationError, match="does not verify"):
        parse_and_verify_checkpoint(bad, key.public_key())


def test_every_altered_character_of_the_note_is_refused(key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint(CHECKPOINT, key, "log.example")
    public = key.public_key()
    for i, char in enumerate(note):
        for other in {"A", "0", "\n", " ", "+"} - {char}:
            altered = note[:i] + other + note[i + 1 :]
            with pytest.raises(AuditVerificationError):
                parse_and_verify_checkpoint(altered, public, "log.example")
    for i in range(len(note)):
        with pytest.raises(AuditVerificationError):
            parse_and_verify_checkpoint(note[:i] + note[i + 1 :], public, "log.example")


@pytest.mark.parametrize(
    "body",
    [
        "origin\n8\n",  # two lines
        "origin\n08\n{root}\n",  # leading zero
        "origin\n-8\n{root}\n",
        "origin\n+8\n{root}\n",
        "origin\n8 \n{root}\n",
        "origin\n\u0668\n{root}\n",  # an Arabic-Indic digit int() would take
        "origin\n8\nnot base64!\n",
        "origin\n8\n{short}\n",
        "origin\n8\n{root}\n\nblank line\n",
        "\n8\n{root}\n",
        "origin\n8\n{root}",  # no final newline
        "origin\n8\n{root}\textra\n",  # a control character
    ],
)
def test_malformed_checkpoints_are_refused(key: Ed25519PrivateKey, body: str) -> None:
    root, short = base64.b64encode(CHECKPOINT.root).decode(), base64.b64encode(b"x" * 31).decode()
    text = body.format(root=root, short=short)
    signature = base64.b64encode(
        key_id("log.example", key.public_key()) + key.sign(text.encode())
    ).decode()
    with pytest.raises(AuditVerificationError):
        parse_and_verify_checkpoint(f"{text}\n\u2014 log.example {signature}\n", key.public_key())


@pytest.mark.parametrize(
    "note",
    [
        "",
        "no signature\n",
        "a\n8\nroot\n\n",
        "a\n8\nroot\n\n- log.example AAAAAAAA\n",
        "a\n8\nroot\n\n\u2014 log.example  AAAAAAAA\n",
        "a\n8\nroot\n\n\u2014 log.example AAAA\n",  # shorter than a key ID
        "a\n8\nroot\n\n\u2014 log.example AAAAAAAAAAA=\n",  # not canonical base64
        "a\n8\nroot\n\n\u2014 log+example AAAAAAAA\n",
        b"\xff\xfe",
    ],
)
def test_malformed_notes_are_refused(key: Ed25519PrivateKey, note: str | bytes) -> None:
    with pytest.raises(AuditVerificationError):
        open_note(note, key.public_key())


def test_checkpoint_values_are_checked() -> None:
    for args in [("", 1, EMPTY_ROOT), ("a\nb", 1, EMPTY_ROOT), ("o", -1, EMPTY_ROOT)]:
        with pytest.raises(ValueError):
            Checkpoint(*args)
    with pytest.raises(ValueError):
        Checkpoint("o", 1, b"short")
    with pytest.raises(ValueError):
        Checkpoint("o", True, EMPTY_ROOT)
    with pytest.raises(ValueError):
        sign_note("no newline", Ed25519PrivateKey.generate(), "name")
    with pytest.raises(ValueError):
        sign_note("text\n", Ed25519PrivateKey.generate(), "two words")


# -- PEM keys -------------------------------------------------------------------


def test_generated_pem_pair_round_trips() -> None:
    private_pem, public_pem = generate_key_pair()
    assert private_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")
    assert public_pem.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    private, public = load_private_key(private_pem), load_public_key(public_pem.decode())
    assert public_key_bytes(private.public_key()) == public_key_bytes(public)
    assert public_key_bytes(public_pem) == public_key_bytes(public)
    again = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert again == private_pem
    note = sign_checkpoint(CHECKPOINT, private)
    # Any form of the public key: the object, its PEM, its 32 raw bytes.
    for form in (public, public_pem, public_pem.decode(), public_key_bytes(public)):
        assert parse_and_verify_checkpoint(note, form) == CHECKPOINT
    assert key_name_for(public).startswith("artifactstore-")
    assert len(key_name_for(public)) == 22
    assert key_name_for(public) != key_name_for(Ed25519PrivateKey.generate().public_key())


def test_keys_that_are_not_ed25519_pem_are_refused() -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_private = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ec_public = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    private_pem, public_pem = generate_key_pair()
    with pytest.raises(AuditKeyError, match="not Ed25519"):
        load_private_key(ec_private)
    with pytest.raises(AuditKeyError, match="not Ed25519"):
        load_public_key(ec_public)
    with pytest.raises(AuditKeyError, match="encrypted"):
        load_private_key(encrypted)
    with pytest.raises(AuditKeyError):
        load_private_key(public_pem)
    with pytest.raises(AuditKeyError):
        load_public_key(private_pem)
    with pytest.raises(AuditKeyError):
        load_public_key(b"not a key")
    with pytest.raises(AuditKeyError):
        public_key_bytes(b"31 bytes" * 3)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl command")
def test_keys_written_by_openssl_are_read_and_ours_are_read_by_it(tmp_path: Path) -> None:
    private_file, public_file = tmp_path / "key.pem", tmp_path / "pub.pem"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(private_file)], check=True
    )
    subprocess.run(
        ["openssl", "pkey", "-in", str(private_file), "-pubout", "-out", str(public_file)],
        check=True,
    )
    private = load_private_key(private_file.read_bytes())
    public = load_public_key(public_file.read_bytes())
    note = sign_checkpoint(CHECKPOINT, private)
    assert parse_and_verify_checkpoint(note, public) == CHECKPOINT
    # And OpenSSL verifies the note's signature over the checkpoint's body.
    text, line = note.rsplit("\n\n", 1)
    (tmp_path / "body").write_bytes((text + "\n").encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(line.split(" ")[2])[4:])
    ours_public = tmp_path / "ours.pem"
    ours_private, ours_public_pem = generate_key_pair()
    ours_public.write_bytes(ours_public_pem)
    checked = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(public_file),
            "-rawin",
            "-in",
            str(tmp_path / "body"),
            "-sigfile",
            str(tmp_path / "sig"),
        ],
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    parsed = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(ours_public), "-noout", "-text"],
        capture_output=True,
        check=True,
    )
    assert b"ED25519" in parsed.stdout
    assert load_private_key(ours_private)
