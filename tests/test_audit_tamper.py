"""Tampering with an audit record is detected (artifactstore.audit._verify), and an
inclusion proof verifies with the public key alone and fails for any altered byte
(artifactstore.audit._proof).

The randomised cases follow issue 21: edit a byte or a field of an event, delete
an event, insert one, swap two, truncate the tail, replace the record with an
older copy (possibly grown again with other events), on logs of 1 to 64 events,
against checkpoints signed before the tampering. Each case also checks that the
place reported brackets the first entry that really differs.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from artifactstore.audit._checkpoint import (
    Checkpoint,
    generate_key_pair,
    load_private_key,
    load_public_key,
    parse_and_verify_checkpoint,
    sign_checkpoint,
)
from artifactstore.audit._errors import AuditVerificationError
from artifactstore.audit._merkle import TreeBuilder, leaf_hash
from artifactstore.audit._proof import make_proof, verify_proof, verify_proof_details
from artifactstore.audit._verify import verify_leaves

Record = list[tuple[int, bytes, bytes | None]]
ORIGIN = "artifactstore/deal-42"
PRIVATE_PEM, PUBLIC_PEM = generate_key_pair()
PRIVATE = load_private_key(PRIVATE_PEM)
PUBLIC = load_public_key(PUBLIC_PEM)
ACTORS = ["alice@bank.example", "bob@counsel.example", "carol@bidder.example", "link:9f2c"]
OPERATIONS = ["put", "get", "stream", "copy", "move", "delete", "link", "redeem"]


def make_event(seq: int, rng: random.Random) -> dict[str, Any]:
    return {
        "seq": seq,
        "time": f"2025-03-{1 + seq % 28:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z",
        "actor": rng.choice(ACTORS),
        "operation": rng.choice(OPERATIONS),
        "key": f"deals/DEAL-{rng.randrange(50)}/cim/v{rng.randrange(9)}.pdf",
        "sha256": rng.randbytes(32).hex(),
        "size": rng.randrange(1 << 30),
        "outcome": rng.choice(["ok", "not_found", "refused", "failed"]),
    }


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Log:
    events: list[dict[str, Any]]
    record: Record
    checkpoints: list[Checkpoint]


def make_log(n: int, rng: random.Random) -> Log:
    events = [make_event(seq, rng) for seq in range(1, n + 1)]
    record: Record = [(e["seq"], encode(e), leaf_hash(encode(e))) for e in events]
    older = rng.randint(1, n)
    tree = TreeBuilder(snapshot_sizes=[older, n])
    tree.extend(h for _, _, h in record if h is not None)
    checkpoints = []
    for size in sorted({older, n}):
        note = sign_checkpoint(Checkpoint(ORIGIN, size, tree.root_at(size)), PRIVATE)
        checkpoints.append(parse_and_verify_checkpoint(note, PUBLIC, origin=ORIGIN))
    return Log(events, record, checkpoints)


def renumbered(entries: list[bytes], start: int) -> Record:
    """Events rewritten with the seqs of their new places, hashes redone: what a
    careful forger with the database (but not the signing key) writes."""
    out: Record = []
    for seq, data in enumerate(entries, start):
        event = json.loads(data)
        event["seq"] = seq
        out.append((seq, encode(event), leaf_hash(encode(event))))
    return out


def rehash(entry: tuple[int, bytes, bytes | None], mode: str) -> tuple[int, bytes, bytes | None]:
    seq, data, stored = entry
    return (seq, data, {"keep": stored, "update": leaf_hash(data), "drop": None}[mode])


def tamper(log: Log, rng: random.Random) -> tuple[str, Record, bool]:
    """A tampered copy of the record, its description, and whether the place of the
    tampering must be named exactly."""
    record = list(log.record)
    n = len(record)
    kind = rng.choice(
        ["byte", "field", "hash", "delete", "insert", "swap", "truncate", "older", "fork"]
    )
    if kind == "swap" and n < 2:
        kind = "delete"
    i = rng.randrange(n)
    if kind in ("byte", "field"):
        seq, data, stored = record[i]
        if kind == "byte":
            raw = bytearray(data)
            raw[rng.randrange(len(raw))] ^= rng.randrange(1, 256)
            new = bytes(raw)
        else:
            event = json.loads(data)
            field = rng.choice(["time", "actor", "operation", "key", "size", "outcome"])
            event[field] = f"{event[field]}x" if isinstance(event[field], str) else -1
            new = encode(event)
        mode = rng.choice(["keep", "update", "drop"])
        record[i] = rehash((seq, new, stored), mode)
        return f"{kind} of seq {i + 1}, stored hash {mode}", record, mode == "keep"
    if kind == "hash":
        seq, data, stored = record[i]
        assert stored is not None
        record[i] = (seq, data, bytes([stored[0] ^ 1]) + stored[1:])
        return f"stored hash of seq {i + 1}", record, True
    if kind == "delete":
        if rng.random() < 0.5:
            del record[i]
            return f"delete seq {i + 1}", record, i < n - 1
        tail = [data for _, data, _ in record[i + 1 :]]
        return f"delete seq {i + 1}, renumbered", record[:i] + renumbered(tail, i + 1), False
    if kind == "insert":
        forged = encode(make_event(i + 1, rng))
        style = rng.choice(["renumber", "same seq before", "same seq after"])
        if style == "renumber":
            tail = [forged] + [data for _, data, _ in record[i:]]
            return f"insert at {i + 1}, renumbered", record[:i] + renumbered(tail, i + 1), False
        if style == "same seq before" or i == 0:
            record.insert(i, (i + 1, forged, leaf_hash(forged)))
        else:
            record.insert(i, (i, forged, leaf_hash(forged)))
        return f"insert at {i + 1}, {style}", record, False
    if kind == "swap":
        i, j = sorted(rng.sample(range(n), 2))
        if rng.random() < 0.5:
            record[i], record[j] = record[j], record[i]
            return f"swap seq {i + 1} and {j + 1}", record, True
        swapped = [data for _, data, _ in record]
        swapped[i], swapped[j] = swapped[j], swapped[i]
        return f"swap seq {i + 1} and {j + 1}, renumbered", renumbered(swapped, 1), False
    if kind == "truncate":
        k = rng.randint(1, n)
        return f"truncate the last {k}", record[: n - k], False
    m = rng.randrange(n)  # an older copy of the record: its first m events
    if kind == "older":
        return f"replaced by the older copy of {m} events", record[:m], False
    grown = [encode(make_event(seq, rng)) for seq in range(m + 1, n + rng.randint(1, 3))]
    return f"older copy of {m} grown again", record[:m] + renumbered(grown, m + 1), False


def first_difference(original: Record, tampered: Record) -> int:
    """The place (seq, from 1) of the first entry that differs."""
    for place, (a, b) in enumerate(zip(original, tampered, strict=False), 1):
        if a != b:
            return place
    return min(len(original), len(tampered)) + 1


@pytest.fixture(scope="module")
def logs() -> dict[int, Log]:
    rng = random.Random(21)
    return {n: make_log(n, rng) for n in range(1, 65)}


def test_untouched_records_verify(logs: dict[int, Log]) -> None:
    rng = random.Random(7)
    for n, log in logs.items():
        outcome = verify_leaves(log.record, log.checkpoints)
        assert outcome.ok, (n, outcome)
        assert outcome.size == n
        assert outcome.first_bad_seq is None
        assert outcome.root == log.checkpoints[-1].root
        # Without stored hashes too, and grown by new events after the checkpoint.
        bare = [(seq, data) for seq, data, _ in log.record]
        grown = [(seq, encode(make_event(seq, rng))) for seq in range(n + 1, n + 4)]
        outcome = verify_leaves(iter(bare + grown), log.checkpoints)
        assert outcome.ok, outcome
        assert outcome.size == n + 3
        assert "not covered by a checkpoint" in outcome.reason


def test_randomised_tampering_is_always_detected(logs: dict[int, Log]) -> None:
    rng = random.Random(2021)
    kinds: dict[str, int] = {}
    for case in range(12_000):
        log = logs[rng.randint(1, 64)]
        what, record, exact = tamper(log, rng)
        kinds[what.split(" ")[0]] = kinds.get(what.split(" ")[0], 0) + 1
        assert record != log.record, what
        original = log.record
        if rng.random() < 0.3 and not what.startswith("stored hash"):
            # A record that keeps no leaf hashes at all.
            original = [(seq, data, None) for seq, data, _ in original]
            record = [(seq, data, None) for seq, data, _ in record]
            exact = exact and "stored hash keep" not in what
        outcome = verify_leaves(record, log.checkpoints)
        context = f"case {case}: {what} in a log of {len(original)}: {outcome}"
        assert not outcome.ok, context
        assert outcome.suspect_range is not None, context
        lo, hi = outcome.suspect_range
        assert outcome.first_bad_seq == hi, context
        assert lo <= first_difference(original, record) <= hi, context
        if exact:
            assert lo == hi, context
    assert len(kinds) == 9, kinds
    assert min(kinds.values()) > 800, kinds


def test_sequence_breaks_are_named() -> None:
    data = [encode({"seq": s}) for s in range(1, 8)]
    checkpoints: list[Checkpoint] = []

    def check(seqs: list[int]) -> str:
        outcome = verify_leaves([(s, data[0]) for s in seqs], checkpoints)
        assert not outcome.ok
        return f"{outcome.first_bad_seq} {outcome.suspect_range} {outcome.reason}"

    assert check([1, 2, 4, 5]).startswith("3 (3, 3) seq 3 is missing: seq 4 comes after seq 2")
    assert check([2, 3]).startswith("1 (1, 1) seq 1 is missing: seq 2 comes first")
    assert check([1, 3, 2, 4]).startswith("2 (2, 2) seq 3 is stored before seq 2 (reordered)")
    assert check([1, 2, 2, 3]).startswith("3 (2, 3) seq 2 appears twice")
    assert check([1, 2, 3, 1]).startswith("4 (1, 4) seq 1 appears again after seq 3")
    assert check([1, 0]).startswith("2 (2, 2) an entry with seq 0")
    assert verify_leaves([], []).ok


def test_checkpoint_mismatch_names_the_range_after_the_last_match() -> None:
    rng = random.Random(5)
    events = [encode(make_event(s, rng)) for s in range(1, 21)]
    tree = TreeBuilder(snapshot_sizes=[5, 12, 20])
    tree.extend(leaf_hash(e) for e in events)
    checkpoints = [Checkpoint(ORIGIN, s, tree.root_at(s)) for s in (20, 5, 12)]
    record = [(s, e) for s, e in enumerate(events, 1)]
    record[8] = (9, events[8] + b" ")
    outcome = verify_leaves(record, checkpoints)
    assert (outcome.first_bad_seq, outcome.suspect_range) == (12, (6, 12))
    assert "at or before seq 12 (and after seq 5)" in outcome.reason
    assert outcome.checkpoint is not None
    assert outcome.checkpoint.size == 12
    # With the stored leaf hash left as it was, the event is named exactly.
    stored = [(s, e, leaf_hash(events[s - 1])) for s, e in record]
    outcome = verify_leaves(stored, checkpoints)
    assert (outcome.first_bad_seq, outcome.suspect_range) == (9, (9, 9))
    assert outcome.reason.startswith("event seq 9 does not match its stored leaf hash")
    truncated = verify_leaves(record[:10], checkpoints[1:2])
    assert truncated.ok
    truncated = verify_leaves(iter(record[:10]), checkpoints)
    assert (truncated.first_bad_seq, truncated.suspect_range) == (11, (6, 11))
    assert "truncated" in truncated.reason


# -- inclusion proofs -----------------------------------------------------------


@pytest.fixture(scope="module")
def small_log() -> tuple[list[bytes], str]:
    rng = random.Random(11)
    events = [encode(make_event(s, rng)) for s in range(1, 8)]
    tree = TreeBuilder()
    tree.extend(leaf_hash(e) for e in events)
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, tree.root()), PRIVATE, "audit.example")
    return events, note


def test_a_proof_verifies_with_the_public_key_alone(small_log: tuple[list[bytes], str]) -> None:
    events, note = small_log
    leaves = [leaf_hash(e) for e in events]
    for index, event in enumerate(events):
        document = make_proof(event, index, iter(leaves), note)
        assert document["seq"] == index + 1
        assert document["index"] == index
        text = json.dumps(document)
        for key in (PUBLIC_PEM, PUBLIC_PEM.decode(), PUBLIC):
            assert verify_proof(text, key) == event
        assert verify_proof(document, PUBLIC_PEM, key_name="audit.example", origin=ORIGIN) == event
        details = verify_proof_details(text.encode(), PUBLIC_PEM)
        assert (details.seq, details.checkpoint.size) == (index + 1, 7)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(AuditVerificationError):
        verify_proof(make_proof(events[0], 0, leaves, note), other)
    with pytest.raises(AuditVerificationError):
        make_proof(events[0] + b" ", 0, leaves, note)
    with pytest.raises(AuditVerificationError):
        make_proof(events[1], 0, leaves, note)
    with pytest.raises(AuditVerificationError, match="not covered"):
        make_proof(events[0], 7, leaves, note)


def test_a_proof_fails_for_any_altered_byte(small_log: tuple[list[bytes], str]) -> None:
    events, note = small_log
    leaves = [leaf_hash(e) for e in events]
    document = make_proof(events[4], 4, leaves, note)
    assert verify_proof(document, PUBLIC_PEM) == events[4]

    def refused(altered: dict[str, Any]) -> bool:
        try:
            verify_proof(altered, PUBLIC_PEM)
        except AuditVerificationError:
            return True
        return False

    event = base64.b64decode(document["event"])
    for i in range(len(event)):
        for bit in (0x01, 0x80):
            raw = bytearray(event)
            raw[i] ^= bit
            assert refused({**document, "event": base64.b64encode(bytes(raw)).decode()}), i
    assert refused({**document, "event": base64.b64encode(event + b"\n").decode()})
    assert refused({**document, "event": base64.b64encode(event[:-1]).decode()})
    for p, encoded in enumerate(document["path"]):
        hashed = base64.b64decode(encoded)
        for i in range(len(hashed)):
            for bit in (0x01, 0x80):
                raw = bytearray(hashed)
                raw[i] ^= bit
                path = list(document["path"])
                path[p] = base64.b64encode(bytes(raw)).decode()
                assert refused({**document, "path": path}), (p, i)
    path = document["path"]
    for altered_path in (path[:-1], [*path, path[-1]], path[::-1], []):
        assert refused({**document, "path": altered_path})
    for i in range(len(note)):
        for char in {"A", "1", " "} - {note[i]}:
            assert refused({**document, "checkpoint": note[:i] + char + note[i + 1 :]}), i
    for field in ("index", "seq", "tree_size", "version"):
        for delta in (-1, 1, 100):
            assert refused({**document, field: document[field] + delta}), (field, delta)
    for index in range(7):  # index and seq moved together to another leaf
        if index != 4:
            assert refused({**document, "index": index, "seq": index + 1}), index
    assert refused({**document, "origin": "artifactstore/deal-43"})
    assert refused({**document, "format": "something-else"})
    assert refused({**document, "extra": "unverified"})
    assert refused({k: v for k, v in document.items() if k != "origin"})
    assert refused({**document, "index": True, "seq": 2})


def test_every_altered_character_of_the_proof_text_is_refused(
    small_log: tuple[list[bytes], str],
) -> None:
    """Change each character of the JSON text: it fails, or means the same document."""
    events, note = small_log
    document = make_proof(events[2], 2, [leaf_hash(e) for e in events], note)
    text = json.dumps(document, separators=(",", ":"))
    for i in range(len(text)):
        for char in {"B", "3", "/"} - {text[i]}:
            altered = text[:i] + char + text[i + 1 :]
            try:
                verify_proof(altered, PUBLIC_PEM)
            except AuditVerificationError:
                continue
            assert json.loads(altered) == document, (i, char)
