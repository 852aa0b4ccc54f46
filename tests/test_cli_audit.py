"""``artifactstore audit``, run as a subprocess against a local DataRoom that keeps a trail."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from artifactstore import LocalFilesystemArtifactStore
from artifactstore.audit import AuditEvent, audit_context

# An actor with a terminal escape and a newline: the table must not pass them through.
SNEAKY = "eve\x1b[2J\nroot"


def make_events(root: Path) -> list[AuditEvent]:
    """Puts, reads, a copy and a delete by three actors; the trail's events."""

    async def go() -> list[AuditEvent]:
        async with LocalFilesystemArtifactStore(root, audit=True) as store:
            with audit_context(actor="alice", request_id="r-1"):
                await store.put("DEAL-1/documents/cim.pdf", b"%PDF-1.7 cim")
                await store.put("DEAL-1/emails/a.eml", b"From: a")
                await store.put("DEAL-10/documents/other.txt", b"another deal")
            with audit_context(actor="bob"):
                await store.get("DEAL-1/documents/cim.pdf")
                await store.copy("DEAL-10/documents/other.txt", "DEAL-1/copied.txt")
            with audit_context(actor=SNEAKY):
                await store.get("DEAL-1/emails/a.eml")
                await store.delete("DEAL-1/emails/a.eml")
            return [event async for event in store.audit_log().events()]

    return asyncio.run(go())


@pytest.fixture
def room(tmp_path: Path) -> tuple[Path, list[AuditEvent]]:
    root = tmp_path / "dataroom"
    return root, make_events(root)


def url(root: Path) -> str:
    return f"file://{root}?audit=true"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ARTIFACT_", "AWS_", "DATAROOM_", "ALLOW_CLOUD"))
    }
    environ["DATAROOM_ROOT"] = str(tmp_path / "env-dataroom")
    return environ


Result = subprocess.CompletedProcess[bytes]
Run = Callable[..., Result]


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path) -> Run:
    cwd = tmp_path / "cwd"
    cwd.mkdir()

    def call(
        *args: str | Path, input: bytes | None = None, extra: dict[str, str] | None = None
    ) -> Result:
        return subprocess.run(
            [sys.executable, "-m", "artifactstore", *map(str, args)],
            input=input,
            capture_output=True,
            env={**env, **(extra or {})},
            cwd=cwd,
            timeout=60,
        )

    return call


def error_line(result: Result) -> str:
    """The one ``artifactstore: error:`` line on stderr, and nothing else, no traceback."""
    text = result.stderr.decode()
    assert "Traceback" not in text
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert lines[0].startswith("artifactstore: error: "), text
    return lines[0]


def jsonl(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.decode().splitlines()]


@pytest.fixture
def keys(run: Run, tmp_path: Path) -> tuple[Path, Path]:
    private, public = tmp_path / "audit.key", tmp_path / "audit.pub"
    result = run("audit", "keygen", "--out-private", private, "--out-public", public)
    assert result.returncode == 0, result.stderr
    return private, public


def checkpoint(run: Run, root: Path, private: Path, out: Path) -> Result:
    result = run("--store", url(root), "audit", "checkpoint", "--key", private, "--out", out)
    assert result.returncode == 0, result.stderr
    return result


# ------------------------------------------------------------------------ ls


def test_ls_table_json_and_csv(run: Run, room: tuple[Path, list[AuditEvent]]) -> None:
    root, events = room
    result = run("--store", url(root), "audit", "ls")
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    header, *rows = result.stdout.decode().splitlines()
    assert header.split() == ["SEQ", "TIME", "ACTOR", "OPERATION", "OUTCOME", "KEY"]
    assert len(rows) == len(events) == 7
    assert [int(row.split()[0]) for row in rows] == [1, 2, 3, 4, 5, 6, 7]
    first = rows[0].split()
    assert first[2:] == ["alice", "put", "ok", "DEAL-1/documents/cim.pdf"]
    assert first[1] == events[0].time.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "DEAL-10/documents/other.txt -> DEAL-1/copied.txt" in rows[4]
    # Escaped for the terminal: no escape character, no line break, in the table.
    assert b"\x1b" not in result.stdout
    assert rows[5].split()[2] == "eve\\x1b[2J\\nroot"

    result = run("--store", url(root), "audit", "ls", "--json")
    assert result.returncode == 0, result.stderr
    assert jsonl(result) == [event.as_dict() for event in events]
    assert jsonl(result)[5]["actor"] == SNEAKY  # data, exactly as recorded

    result = run("--store", url(root), "audit", "ls", "--csv")
    assert result.returncode == 0, result.stderr
    table = list(csv.DictReader(io.StringIO(result.stdout.decode())))
    assert [int(row["seq"]) for row in table] == [1, 2, 3, 4, 5, 6, 7]
    assert table[4]["dst"] == "DEAL-1/copied.txt"
    assert table[5]["actor"] == SNEAKY

    result = run("--store", url(root), "audit", "ls", "--json", "--csv")
    assert result.returncode == 2


def seqs(result: Result) -> list[int]:
    assert result.returncode == 0, result.stderr
    return [int(event["seq"]) for event in jsonl(result)]  # type: ignore[call-overload]


def test_ls_filters(run: Run, room: tuple[Path, list[AuditEvent]]) -> None:
    root, events = room

    def ls(*args: str) -> list[int]:
        return seqs(run("--store", url(root), "audit", "ls", "--json", *args))

    # Whole segments: DEAL-1 is not DEAL-10; a copy counts for its destination too.
    assert ls("--key", "DEAL-1") == [1, 2, 4, 5, 6, 7]
    assert ls("--key", "DEAL-1/") == [1, 2, 4, 5, 6, 7]
    assert ls("--key", "DEAL-10") == [3, 5]
    assert ls("--key", "DEAL-1/emails/a.eml") == [2, 6, 7]
    assert ls("--actor", "bob") == [4, 5]
    assert ls("--operation", "get") == [4, 6]
    assert ls("--actor", "alice", "--key", "DEAL-10") == [3]
    first, last = events[0].time, events[-1].time
    day = first.date().isoformat()
    if last.date() == first.date():  # not across midnight
        assert ls("--since", day, "--until", day) == list(range(1, 8))
    assert ls("--since", (last + timedelta(seconds=1)).isoformat()) == []
    naive = (first - timedelta(seconds=1)).replace(tzinfo=None).isoformat()  # naive is UTC
    assert ls("--until", naive) == []
    assert ls("--since", naive) == list(range(1, 8))
    zulu = events[3].time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ls("--since", zulu)[0] == 4
    assert ls("--until", "2000-01-01T00:00:00+02:00") == []
    table = run("--store", url(root), "audit", "ls", "--actor", "bob").stdout.decode()
    assert len(table.splitlines()) == 3

    for bad in (["--since", "yesterday"], ["--until", "2024-13-01"], ["--key", "/etc"]):
        result = run("--store", url(root), "audit", "ls", *bad)
        assert result.returncode == 2, bad
        assert "Traceback" not in result.stderr.decode()


def test_the_environment_is_the_default_store(
    run: Run, room: tuple[Path, list[AuditEvent]]
) -> None:
    root, _ = room
    on = {"DATAROOM_ROOT": str(root), "ARTIFACT_AUDIT": "true"}
    assert seqs(run("audit", "ls", "--json", extra=on)) == list(range(1, 8))


def test_a_store_without_a_trail_is_a_configuration_error(
    run: Run, room: tuple[Path, list[AuditEvent]], keys: tuple[Path, Path]
) -> None:
    root, _ = room
    private, public = keys
    cases: list[tuple[list[str | Path], dict[str, str]]] = [
        (["--store", root, "audit", "ls"], {}),
        (["--store", f"file://{root}", "audit", "verify", "--pubkey", public], {}),
        (["audit", "checkpoint", "--key", private], {"DATAROOM_ROOT": str(root)}),
        (["audit", "proof", "1"], {"DATAROOM_ROOT": str(root), "ARTIFACT_AUDIT": "false"}),
    ]
    for args, extra in cases:
        result = run(*args, extra=extra)
        assert result.returncode == 2, args
        assert result.stdout == b""
        line = error_line(result)
        assert "keeps no audit trail" in line
        assert "?audit=true" in line
        assert "ARTIFACT_AUDIT=true" in line


# -------------------------------------------------------------------- keygen


def test_keygen_writes_a_private_key_0600_and_refuses_to_overwrite(
    env: dict[str, str], tmp_path: Path
) -> None:
    def keygen(umask: int, *args: str) -> Result:
        return subprocess.run(
            [sys.executable, "-m", "artifactstore", "audit", "keygen", *args],
            capture_output=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
            preexec_fn=lambda: os.umask(umask),
        )

    for umask in (0o000, 0o022, 0o277):
        private, public = f"k{umask}.pem", f"k{umask}.pub"
        result = keygen(umask, "--out-private", private, "--out-public", public)
        assert result.returncode == 0, result.stderr
        assert result.stdout == b""
        assert stat.S_IMODE((tmp_path / private).stat().st_mode) == 0o600
        key = serialization.load_pem_private_key((tmp_path / private).read_bytes(), None)
        assert isinstance(key, ed25519.Ed25519PrivateKey)
        pub = serialization.load_pem_public_key((tmp_path / public).read_bytes())
        assert isinstance(pub, ed25519.Ed25519PublicKey)
        assert pub.public_bytes_raw() == key.public_key().public_bytes_raw()

    before = (tmp_path / "k0.pem").read_bytes(), (tmp_path / "k0.pub").read_bytes()
    for args in (["k0.pem", "new.pub"], ["new.pem", "k0.pub"]):
        result = keygen(0o022, "--out-private", args[0], "--out-public", args[1])
        assert result.returncode == 1
        assert "exists" in error_line(result)
        assert not (tmp_path / "new.pem").exists()
        assert not (tmp_path / "new.pub").exists()
    assert ((tmp_path / "k0.pem").read_bytes(), (tmp_path / "k0.pub").read_bytes()) == before

    (tmp_path / "k0.pem").chmod(0o644)
    result = keygen(0o000, "--out-private", "k0.pem", "--out-public", "k0.pub", "--force")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "k0.pem").read_bytes() != before[0]
    assert stat.S_IMODE((tmp_path / "k0.pem").stat().st_mode) == 0o600

    result = keygen(0o022, "--out-private", "same", "--out-public", "./same")
    assert result.returncode == 2
    error_line(result)


# ------------------------------------------------------- checkpoint and verify


def test_checkpoint_and_verify(
    run: Run, room: tuple[Path, list[AuditEvent]], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = room
    private, public = keys
    note_file = tmp_path / "elsewhere" / "checkpoint.txt"
    note_file.parent.mkdir()
    result = checkpoint(run, root, private, note_file)
    note = result.stdout.decode()
    assert note == note_file.read_text()
    origin, size, _root, blank, signature, *_ = note.split("\n")
    assert origin.startswith("artifactstore.local/")
    assert size == "7"
    assert blank == ""
    assert signature.startswith("\u2014 artifactstore-")

    verify = ["--store", url(root), "audit", "verify", "--pubkey", public]
    result = run(*verify, "--checkpoint", note_file)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    out = result.stdout.decode()
    assert "verdict:" in out
    assert "verified" in out
    assert "events:          8" in out
    result = run(*verify, "--checkpoint", note_file, "--json")
    assert result.returncode == 0
    verdict = json.loads(result.stdout)
    assert verdict["ok"] is True
    assert verdict["verdict"] == "verified"
    assert verdict["events"] == 8
    assert verdict["first_bad_seq"] is None
    assert verdict["checkpoints"] == "given"

    # Without --checkpoint: the notes recorded in the trail, and a warning that says so.
    result = run(*verify, "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["checkpoints"] == "trail"
    warning = result.stderr.decode()
    assert "recorded in the trail itself" in warning
    assert "weaker" in warning
    assert len(warning.splitlines()) == 1

    # A checkpoint signed by another key does not verify with this one.
    other = keys_in(run, tmp_path / "other")
    result = run(
        "--store", url(root), "audit", "verify", "--pubkey", other[1], "--checkpoint", note_file
    )
    assert result.returncode == 1
    assert "verdict:         not verified" in result.stdout.decode()
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("no note")
    result = run(*verify, "--checkpoint", garbage, "--json")
    assert result.returncode == 1
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == "not verified"
    assert "does not verify" in verdict["reason"]


def keys_in(run: Run, folder: Path) -> tuple[Path, Path]:
    folder.mkdir()
    private, public = folder / "k.pem", folder / "k.pub"
    assert run("audit", "keygen", "--out-private", private, "--out-public", public).returncode == 0
    return private, public


def tampered(root: Path, copy: Path, change: Callable[[sqlite3.Connection], None]) -> Path:
    shutil.copytree(root, copy)
    with sqlite3.connect(copy / ".artifactstore" / "index.sqlite3") as conn:
        change(conn)
    return copy


def edit(seq: int, *, leaf_too: bool = False) -> Callable[[sqlite3.Connection], None]:
    """Forge event ``seq``'s outcome; ``leaf_too``: recompute its stored leaf hash as well."""

    def change(conn: sqlite3.Connection) -> None:
        (raw,) = conn.execute("SELECT event FROM audit_events WHERE seq = ?", (seq,)).fetchone()
        forged = bytes(raw).replace(b'"outcome":"ok"', b'"outcome":"failed"')
        assert forged != bytes(raw)
        conn.execute("UPDATE audit_events SET event = ? WHERE seq = ?", (forged, seq))
        if leaf_too:
            leaf = hashlib.sha256(b"\x00" + forged).digest()
            conn.execute("UPDATE audit_events SET leaf = ? WHERE seq = ?", (leaf, seq))

    return change


def sql(statement: str) -> Callable[[sqlite3.Connection], None]:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute(statement)

    return change


def test_verify_names_the_tampered_event(
    run: Run, room: tuple[Path, list[AuditEvent]], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    root, _ = room
    private, public = keys
    note = tmp_path / "checkpoint.txt"
    checkpoint(run, root, private, note)  # covers seq 1..7

    def verify(dataroom: Path) -> dict[str, object]:
        args = ["--store", url(dataroom), "audit", "verify", "--pubkey", public]
        result = run(*args, "--checkpoint", note)
        assert result.returncode == 1, result.stdout
        assert result.stderr == b""
        human = result.stdout.decode()
        assert "verdict:         tampered" in human
        assert "reason:" in human
        as_json = run(*args, "--checkpoint", note, "--json")
        assert as_json.returncode == 1
        found: dict[str, object] = json.loads(as_json.stdout)
        assert found["ok"] is False
        assert found["verdict"] == "tampered"
        assert f"first bad event: seq {found['first_bad_seq']}" in human
        return found

    # An edited event whose stored leaf hash was left alone: named exactly.
    for seq in (7, 4, 1):
        found = verify(tampered(root, tmp_path / f"edit-{seq}", edit(seq)))
        assert found["first_bad_seq"] == seq
    # Its leaf hash recomputed too: the root at the checkpoint's size no longer
    # matches; the first bad event is named as at or before that size.
    for seq in (7, 4, 1):
        found = verify(tampered(root, tmp_path / f"forge-{seq}", edit(seq, leaf_too=True)))
        assert found["first_bad_seq"] == 7
        assert found["suspect_range"] == [1, 7]
        assert "at or before seq 7" in str(found["reason"])
    # A deleted event: named by the gap.
    found = verify(tampered(root, tmp_path / "c", sql("DELETE FROM audit_events WHERE seq = 5")))
    assert found["first_bad_seq"] == 5
    assert "missing" in str(found["reason"])
    # Truncated, as an older copy of the database would be.
    found = verify(tampered(root, tmp_path / "d", sql("DELETE FROM audit_events WHERE seq >= 6")))
    assert found["first_bad_seq"] == 6

    # Without --checkpoint the trail's own checkpoint event catches an edit too.
    dataroom = tampered(root, tmp_path / "e", edit(4))
    result = run("--store", url(dataroom), "audit", "verify", "--pubkey", public, "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["verdict"] == "tampered"


# ------------------------------------------------------------------ proofs


def test_proof_and_check_proof(
    run: Run, room: tuple[Path, list[AuditEvent]], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    root, events = room
    private, public = keys
    proof = ["--store", url(root), "audit", "proof"]
    result = run(*proof, "4")
    assert result.returncode == 1
    assert "checkpoint" in error_line(result)  # none made yet

    note = tmp_path / "checkpoint.txt"
    checkpoint(run, root, private, note)
    out = tmp_path / "proof-4.json"
    result = run(*proof, "4", "--checkpoint", note, "--out", out)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document == json.loads(out.read_text())
    assert document["format"] == "artifactstore-audit-proof"
    assert document["seq"] == 4
    assert base64.b64decode(document["event"]) == events[3].raw
    default = run(*proof, "4")  # anchored to the checkpoint recorded in the trail
    assert default.returncode == 0
    assert json.loads(default.stdout) == document

    result = run("audit", "check-proof", out, "--pubkey", public)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == events[3].as_dict()
    assert "seq 4" in result.stderr.decode()
    result = run("audit", "check-proof", "-", "--pubkey", public, "--json", input=out.read_bytes())
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["seq"] == 4
    assert shown["tree_size"] == 7
    assert shown["event"]["actor"] == "bob"

    def altered(name: str, change: Callable[[dict[str, object]], None]) -> Path:
        forged = json.loads(out.read_text())
        change(forged)
        path = tmp_path / name
        path.write_text(json.dumps(forged))
        return path

    def other_actor(doc: dict[str, object]) -> None:
        raw = base64.b64decode(str(doc["event"])).replace(b'"bob"', b'"ann"')
        doc["event"] = base64.b64encode(raw).decode()

    def flip_path(doc: dict[str, object]) -> None:
        path = list(doc["path"])  # type: ignore[call-overload]
        raw = bytearray(base64.b64decode(path[0]))
        raw[0] ^= 1
        doc["path"] = [base64.b64encode(bytes(raw)).decode(), *path[1:]]

    def other_seq(doc: dict[str, object]) -> None:
        doc["seq"], doc["index"] = 5, 4

    for name, change in [("event", other_actor), ("path", flip_path), ("seq", other_seq)]:
        result = run("audit", "check-proof", altered(name, change), "--pubkey", public)
        assert result.returncode == 1, name
        assert result.stdout == b""
        assert "does not verify" in error_line(result)
    other = keys_in(run, tmp_path / "other")
    result = run("audit", "check-proof", out, "--pubkey", other[1])
    assert result.returncode == 1
    assert "does not verify" in error_line(result)

    for seq, status in (("99", 1), ("0", 2), ("x", 2)):
        result = run(*proof, seq)
        assert result.returncode == status, seq
        assert result.stdout == b""


# --------------------------------------------------------------- key files


def test_bad_key_files_are_one_line_and_exit_2(
    run: Run, room: tuple[Path, list[AuditEvent]], keys: tuple[Path, Path], tmp_path: Path
) -> None:
    root, events = room
    private, public = keys
    not_pem = tmp_path / "not.pem"
    not_pem.write_bytes(b"\x00\x01 not a key")
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    store = ["--store", url(root), "audit"]
    checkpoint(run, root, private, tmp_path / "checkpoint.txt")
    proof = tmp_path / "proof.json"
    assert run(*store, "proof", "2", "--out", proof).returncode == 0
    cases = [
        ([*store, "checkpoint", "--key", not_pem], "not a PEM private key"),
        ([*store, "checkpoint", "--key", tmp_path / "missing.pem"], "cannot read"),
        ([*store, "checkpoint", "--key", public], "private key"),
        ([*store, "checkpoint", "--key", ec_key], "not Ed25519"),
        ([*store, "verify", "--pubkey", private, "--checkpoint", not_pem], "public key"),
        (["audit", "check-proof", proof, "--pubkey", ec_key], "public key"),
        (["audit", "check-proof", proof, "--pubkey", not_pem], "not a PEM public key"),
        (["audit", "check-proof", tmp_path / "missing.json", "--pubkey", public], "cannot read"),
    ]
    for args, said in cases:
        result = run(*args)
        assert result.returncode == 2, args
        assert result.stdout == b""
        assert said in error_line(result), args
    # Nothing was recorded by the refused checkpoints: the trail ends with the good one.
    assert seqs(run(*store, "ls", "--json")) == list(range(1, len(events) + 2))
