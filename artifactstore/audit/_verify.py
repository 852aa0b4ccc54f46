"""Streaming verification of an audit record against signed checkpoints.

:func:`verify_leaves` reads the record once, in stored order, as ``(seq, event
bytes)`` pairs (optionally with the leaf hash stored next to each event), and
checks three things:

1. the sequence numbers run 1, 2, 3, ... with no gap, duplicate or reordering;
2. the Merkle tree of the events (RFC 6962, leaf ``i`` is the event of seq
   ``i + 1``) has, at each checkpoint's size, that checkpoint's root;
3. where a leaf hash was stored, it is the hash of the event's bytes.

Memory stays flat: the tree keeps one hash per set bit of its size, and no event
is held after it was hashed. The checkpoints' signatures are not checked here:
the caller hands in checkpoints it verified (``parse_and_verify_checkpoint``).

What it can say about a failure depends on the data. A sequence break, an event
whose stored leaf hash no longer matches it, and a record shorter than a
checkpoint are named exactly. An event edited together with its stored hash (or
with none stored) shows only as a checkpoint whose root does not match: the first
altered event is then at or before that checkpoint's size, and after the largest
checkpoint that did match, which is the range reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from hashlib import sha256

from ._checkpoint import Checkpoint
from ._merkle import EMPTY_ROOT, TreeBuilder

__all__ = ["Entry", "VerifyOutcome", "verify_leaves"]

Entry = tuple[int, bytes] | tuple[int, bytes, bytes | None]
"""A record's entry: (seq, canonical event bytes[, stored leaf hash or None])."""


@dataclass(frozen=True)
class VerifyOutcome:
    """The verdict of :func:`verify_leaves`.

    ``size`` and ``root`` are those of the events read (all of them when ``ok``;
    up to the failure otherwise). ``first_bad_seq`` is None when ``ok``; else the
    place (seq number) where the record is found not to match: exactly the
    altered event when the data allows it, otherwise the upper bound of
    ``suspect_range``, the first altered event being *at or before* it.
    ``suspect_range`` is the inclusive (first, last) range of places where the
    first mismatch lies: one place when named exactly; from just after the last
    checkpoint that matched up to a checkpoint whose root does not match; the two
    copies of a duplicated seq and what lies between; from after the last matching
    checkpoint to the first missing place of a truncated record. ``checkpoint`` is
    the checkpoint the record failed against, if any.
    """

    ok: bool
    size: int
    root: bytes
    first_bad_seq: int | None
    reason: str
    suspect_range: tuple[int, int] | None = None
    checkpoint: Checkpoint | None = None


def _verified_prefix(last_ok: int) -> str:
    if last_ok:
        return f"; seq 1..{last_ok} match the checkpoint of size {last_ok}"
    return ""


def _sequence_break(
    expected: int, found: object, following: Entry | None, tree: TreeBuilder, last_ok: int
) -> VerifyOutcome:
    previous = expected - 1
    suspect = (expected, expected)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        what = f"an entry with seq {found!r:.40} where seq {expected} was expected"
    elif found < expected:
        # One of the entries of seq `found`, from its first place to here, is not
        # where it belongs: the range is all that the sequence alone can tell.
        suspect = (found, expected)
        if found == previous:
            what = f"seq {found} appears twice (again where seq {expected} was expected)"
        else:
            what = f"seq {found} appears again after seq {previous} (reordered or duplicated)"
    elif following is not None and following[0] == expected:
        what = f"seq {found} is stored before seq {expected} (reordered)"
    else:
        after = f"after seq {previous}" if previous else "first"
        what = f"seq {expected} is missing: seq {found} comes {after} (deleted or moved)"
    return VerifyOutcome(
        ok=False,
        size=tree.size,
        root=tree.root(),
        first_bad_seq=expected,
        reason=what + _verified_prefix(last_ok),
        suspect_range=suspect,
    )


def verify_leaves(entries: Iterable[Entry], checkpoints: Sequence[Checkpoint]) -> VerifyOutcome:
    """Check a record, read once in stored order, against verified checkpoints.

    ``entries`` are ``(seq, event bytes)`` or ``(seq, event bytes, stored leaf
    hash or None)``. The record passes when its seqs run 1, 2, 3, ..., every stored
    leaf hash matches its event, it is at least as long as every checkpoint, and
    the tree of its first ``size`` events has each checkpoint's root. Events after
    the largest checkpoint are checked for sequence and stored hashes only: no
    signature covers them yet. With no checkpoint at all, only that much is
    checked, and the reason says so. Stops at the first failure.
    """
    pending = sorted(checkpoints, key=lambda c: c.size)
    tree = TreeBuilder()
    last_ok = 0
    i = 0
    while i < len(pending) and pending[i].size == 0:
        if pending[i].root != EMPTY_ROOT:
            return VerifyOutcome(
                ok=False,
                size=0,
                root=EMPTY_ROOT,
                first_bad_seq=None,
                reason="a checkpoint of size 0 whose root is not the empty tree's",
                checkpoint=pending[i],
            )
        i += 1
    next_size = pending[i].size if i < len(pending) else -1
    count = 0
    append = tree.append
    it = iter(entries)
    for entry in it:
        seq = entry[0]
        expected = count + 1
        if seq != expected or isinstance(seq, bool):
            return _sequence_break(expected, seq, next(it, None), tree, last_ok)
        leaf = sha256(b"\x00" + entry[1]).digest()
        if len(entry) > 2 and entry[2] is not None and entry[2] != leaf:
            return VerifyOutcome(
                ok=False,
                size=tree.size,
                root=tree.root(),
                first_bad_seq=seq,
                reason=f"event seq {seq} does not match its stored leaf hash: the event "
                "or its hash was altered" + _verified_prefix(last_ok),
                suspect_range=(seq, seq),
            )
        append(leaf)
        count = expected
        if count == next_size:
            root = tree.root()
            while i < len(pending) and pending[i].size == count:
                if pending[i].root != root:
                    first = last_ok + 1
                    where = (
                        f"event seq {count} does not match"
                        if first == count
                        else f"an event at or before seq {count} (and after seq {last_ok}) "
                        "was altered, inserted, deleted or reordered"
                    )
                    return VerifyOutcome(
                        ok=False,
                        size=count,
                        root=root,
                        first_bad_seq=count,
                        reason=f"{where}: the root at size {count} is not the signed "
                        f"checkpoint's" + _verified_prefix(last_ok),
                        suspect_range=(first, count),
                        checkpoint=pending[i],
                    )
                i += 1
            last_ok = count
            next_size = pending[i].size if i < len(pending) else -1
    if i < len(pending):
        largest = pending[-1]
        return VerifyOutcome(
            ok=False,
            size=count,
            root=tree.root(),
            first_bad_seq=count + 1,
            reason=f"the record ends at seq {count} but a signed checkpoint covers "
            f"{largest.size} events: truncated or replaced by an older copy"
            + _verified_prefix(last_ok),
            # The events after the last matching checkpoint may differ as well: no
            # signature covers what is left of them without the missing ones.
            suspect_range=(last_ok + 1, count + 1),
            checkpoint=pending[i],
        )
    if not pending:
        reason = f"{count} events in sequence; no checkpoint given, so nothing is signed"
    else:
        reason = f"{count} events verified against {len(pending)} checkpoint(s) up to seq {last_ok}"
        if count > last_ok:
            reason += f"; seq {last_ok + 1}..{count} are not covered by a checkpoint yet"
    return VerifyOutcome(True, count, tree.root(), None, reason)
