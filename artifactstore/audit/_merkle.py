"""RFC 6962 Merkle tree hashing: leaf and node hashes, a streaming tree, proofs.

The tree is the one of RFC 6962 section 2.1 (restated by RFC 9162 section 2.1),
with SHA-256:

* a leaf hashes as ``SHA-256(0x00 || entry)``, an inner node as
  ``SHA-256(0x01 || left || right)``;
* the hash of ``n > 1`` leaves splits them at ``k``, the largest power of two
  below ``n``: ``node_hash(MTH(D[0:k]), MTH(D[k:n]))``;
* the empty tree's root is ``SHA-256()`` of nothing.

:class:`TreeBuilder` takes leaf hashes one at a time and keeps only the roots of
the perfect subtrees that make up the tree so far (one per set bit of the size),
so a pass over a million leaves holds about twenty hashes. Inclusion and
consistency proofs are built in one pass over the leaf hashes as well (each
proof node is the root of a range of leaves, and the ranges do not overlap), and
verified with the algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2.

Indexes are 0-based leaf positions; sizes are numbers of leaves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from hashlib import sha256

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "TreeBuilder",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "merkle_root",
    "node_hash",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
"""Bytes in every hash of the tree (SHA-256)."""

EMPTY_ROOT = sha256(b"").digest()
"""The root of the empty tree: SHA-256 of the empty string."""

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The RFC 6962 hash of one leaf: ``SHA-256(0x00 || data)``."""
    return sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return sha256(_NODE + left + right).digest()


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes, not {value!r:.80}")


class TreeBuilder:
    """A Merkle tree grown one leaf hash at a time, in O(log n) memory.

    ``snapshot_sizes`` asks in advance for the root at some sizes: when the tree
    reaches one of them its root is kept, and :meth:`root_at` returns it later. One
    pass over the leaves can so check several checkpoints::

        tree = TreeBuilder(snapshot_sizes=[10, 1000])
        for data in events:
            tree.append(leaf_hash(data))
        tree.root_at(10), tree.root_at(1000), tree.root()
    """

    __slots__ = ("_pending", "_size", "_snapshots", "_stack")

    def __init__(self, snapshot_sizes: Iterable[int] = ()) -> None:
        self._size = 0
        # Roots of the perfect subtrees of the tree, largest (leftmost) first: one
        # per set bit of the size, the subtree of 2**b leaves for bit b.
        self._stack: list[bytes] = []
        self._snapshots: dict[int, bytes] = {}
        self._pending: set[int] = set()
        for size in snapshot_sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"snapshot sizes are counts of leaves, not {size!r}")
            self._pending.add(size)
        if 0 in self._pending:
            self._pending.discard(0)
            self._snapshots[0] = EMPTY_ROOT

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    @property
    def snapshots(self) -> dict[int, bytes]:
        """The roots kept so far at the requested sizes (a copy)."""
        return dict(self._snapshots)

    def append(self, leaf: bytes) -> None:
        """Add the next leaf, given by its leaf hash (see :func:`leaf_hash`)."""
        _check_hash(leaf, "a leaf hash")
        stack = self._stack
        size = self._size + 1
        self._size = size
        # Each trailing zero bit of the new size closes a perfect subtree: merge
        # the new node with the subtree of the same height to its left.
        node = leaf
        bits = size
        while not bits & 1:
            node = sha256(_NODE + stack.pop() + node).digest()
            bits >>= 1
        stack.append(node)
        if self._pending and size in self._pending:
            self._pending.discard(size)
            self._snapshots[size] = self.root()

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append each leaf hash of ``leaves`` in turn."""
        for leaf in leaves:
            self.append(leaf)

    def root(self) -> bytes:
        """The root of the tree of every leaf appended so far (RFC 6962 MTH)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        node = stack[-1]
        for left in reversed(stack[:-1]):
            node = sha256(_NODE + left + node).digest()
        return node

    def root_at(self, size: int) -> bytes:
        """The root at ``size`` leaves: the current size or a requested snapshot.

        Raises ``ValueError`` for a size that was neither requested in
        ``snapshot_sizes`` nor the current size, and for one not reached yet.
        """
        if size == self._size:
            return self.root()
        if size in self._snapshots:
            return self._snapshots[size]
        if size in self._pending:
            raise ValueError(f"the tree has {self._size} leaves, not {size} yet")
        raise ValueError(f"the root at size {size} was not asked for in snapshot_sizes")


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The root of the tree of ``leaves`` (leaf hashes), in one pass."""
    tree = TreeBuilder()
    tree.extend(leaves)
    return tree.root()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_ranges(index: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PATH(index, D[lo:hi]), leaf to root."""
    ranges: list[tuple[int, int]] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def _consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """The leaf ranges whose roots form PROOF(first, D[0:second]) (RFC 6962 2.1.2)."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, second, first, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _range_roots(
    leaves: Iterable[bytes], size: int, ranges: Sequence[tuple[int, int]]
) -> list[bytes]:
    """The roots of ``ranges`` (disjoint, within ``[0, size)``), in one pass.

    Reads exactly ``size`` leaves and keeps none of them: the leaves no range
    covers are only checked and skipped.
    """
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    roots = [b""] * len(ranges)
    it = iter(leaves)
    position = 0

    def take() -> bytes:
        leaf = next(it, None)
        if leaf is None:
            raise ValueError(f"{size} leaf hashes were needed, only {position} given")
        _check_hash(leaf, "a leaf hash")
        return leaf

    for i in [*order, None]:
        start, stop = ranges[i] if i is not None else (size, size)
        while position < start:  # leaves no range covers
            take()
            position += 1
        if i is None:
            break
        tree = TreeBuilder()
        while position < stop:
            tree.append(take())
            position += 1
        roots[i] = tree.root()
    return roots


def _check_size(index: int, size: int, *, name: str = "index") -> None:
    for value, what in ((index, name), (size, "size")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{what} must be an int >= 0, not {value!r}")


def inclusion_proof(leaves: Iterable[bytes], index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves.

    ``leaves`` are leaf hashes in order, a list or any iterable (only the first
    ``size`` are read, in one pass, with memory for the proof alone). The path is
    RFC 6962's PATH(index, D[0:size]) (RFC 9162 section 2.1.3.1), from the leaf's
    sibling up to the root's child.
    """
    _check_size(index, size)
    if index >= size:
        raise ValueError(f"leaf index {index} is not in a tree of {size} leaves")
    roots = _range_roots(leaves, size, _inclusion_ranges(index, 0, size))
    return roots


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree ``root``.

    The algorithm of RFC 9162 section 2.1.3.2. False for any malformed input (a
    hash of the wrong length, an index outside the tree, a proof too long or too
    short) as well as for a proof that does not lead to ``root``.
    """
    if isinstance(index, bool) or not isinstance(index, int) or not isinstance(size, int):
        return False
    if not 0 <= index < size:
        return False
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in (leaf, root, *proof)):
        return False
    fn, sn = index, size - 1
    node = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            node = sha256(_NODE + sibling + node).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = sha256(_NODE + node + sibling).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and node == root


def consistency_proof(leaves: Iterable[bytes], first: int, second: int) -> list[bytes]:
    """The proof that the tree of ``first`` leaves is a prefix of that of ``second``.

    RFC 6962's PROOF(first, D[0:second]) (RFC 9162 section 2.1.4.1), built in one
    pass over the first ``second`` leaf hashes of ``leaves``. Empty when ``first``
    is 0 or equals ``second``.
    """
    _check_size(first, second, name="first")
    if first > second:
        raise ValueError(f"first size {first} is larger than second size {second}")
    if first in (0, second):
        return []
    roots = _range_roots(leaves, second, _consistency_ranges(first, second))
    return roots


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> bool:
    """Whether ``proof`` shows the tree ``first_root`` is a prefix of ``second_root``.

    The algorithm of RFC 9162 section 2.1.4.2, with its edge cases: equal sizes
    need an empty proof and equal roots; a first size of 0 needs an empty proof.
    False for any malformed input.
    """
    for value in (first, second):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return False
    hashes = (first_root, second_root, *proof)
    if not all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in hashes):
        return False
    if first > second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = sha256(_NODE + c + fr).digest()
            sr = sha256(_NODE + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(_NODE + sr + c).digest()
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
