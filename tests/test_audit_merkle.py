"""RFC 6962 Merkle hashing, the streaming tree and its proofs (artifactstore.audit._merkle).

Known answers are the RFC 6962 test vectors the Certificate Transparency
implementations share (transparency-dev/merkle's rfc6962_test.go and
proof/verify_test.go, the same as certificate-transparency-go and Trillian);
properties are checked against a naive recursive reading of RFC 6962 section 2.1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from artifactstore.audit._merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


def h(hexdigits: str) -> bytes:
    return bytes.fromhex(hexdigits)


# -- the CT test vectors ------------------------------------------------------

LEAVES = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]
ROOTS = [  # ROOTS[n - 1]: the root of the first n leaves
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
# (leaf number counted from 1, tree size, path)
INCLUSION = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_hashes_match_the_rfc6962_vectors() -> None:
    assert h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == EMPTY_ROOT
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )
    assert leaf_hash(b"Hello") != leaf_hash(b"World")
    # Second preimage resistance: a node is not the leaf of its children's bytes.
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(a, b) != leaf_hash(a + b)
    assert node_hash(a, b) != node_hash(b, a)


def test_roots_of_every_prefix_match_the_vectors() -> None:
    tree = TreeBuilder(snapshot_sizes=range(9))
    assert tree.root() == EMPTY_ROOT
    assert tree.size == 0
    for n, leaf in enumerate(LEAF_HASHES, 1):
        tree.append(leaf)
        assert tree.size == n
        assert tree.root() == ROOTS[n - 1]
        assert merkle_root(LEAF_HASHES[:n]) == ROOTS[n - 1]
    assert tree.root_at(0) == EMPTY_ROOT
    assert [tree.root_at(n) for n in range(1, 9)] == ROOTS
    assert tree.snapshots == {0: EMPTY_ROOT, **{n: ROOTS[n - 1] for n in range(1, 9)}}


def test_root_at_refuses_sizes_not_asked_for_or_not_reached() -> None:
    tree = TreeBuilder(snapshot_sizes=[3, 100])
    tree.extend(LEAF_HASHES)
    assert tree.root_at(3) == ROOTS[2]
    assert tree.root_at(8) == ROOTS[7]  # the current size is always known
    with pytest.raises(ValueError, match="not asked for"):
        tree.root_at(5)
    with pytest.raises(ValueError, match="not 100 yet"):
        tree.root_at(100)
    with pytest.raises(ValueError):
        TreeBuilder(snapshot_sizes=[-1])
    with pytest.raises(ValueError):
        tree.append(b"short")


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_the_vectors(leaf: int, size: int, path: list[bytes]) -> None:
    assert inclusion_proof(LEAF_HASHES, leaf - 1, size) == path
    assert verify_inclusion(LEAF_HASHES[leaf - 1], leaf - 1, size, path, ROOTS[size - 1])


@pytest.mark.parametrize(("leaf", "size", "path"), INCLUSION[1:])
def test_corrupted_inclusion_proofs_fail(leaf: int, size: int, path: list[bytes]) -> None:
    """The probes of transparency-dev's corruptInclusionProof."""
    index, root, hashed = leaf - 1, ROOTS[size - 1], LEAF_HASHES[leaf - 1]
    probes = [
        (index - 1, size, root, hashed, path),
        (index + 1, size, root, hashed, path),
        (index ^ 2, size, root, hashed, path),
        (index, size * 2, root, hashed, path),
        (index, size // 2, root, hashed, path),
        (index, size, root, leaf_hash(b"WrongLeaf"), path),
        (index, size, EMPTY_ROOT, hashed, path),
        (index, size, SOME_HASH, hashed, path),
        (index, size, root, hashed, [*path, b""]),
        (index, size, root, hashed, [*path, root]),
        (index, size, root, hashed, [b"", *path]),
        (index, size, root, hashed, [root, *path]),
        (index, size, root, hashed, path[:-1]),
        (index, size, root, hashed, [path[0], SOME_HASH, *path[1:]]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, root, hashed, flipped))
    for probe in probes:
        assert not verify_inclusion(probe[3], probe[0], probe[1], probe[4], probe[2]), probe


def test_verify_inclusion_edge_cases() -> None:
    one = leaf_hash(b"data")
    assert verify_inclusion(one, 0, 1, [], one)
    assert not verify_inclusion(one, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], one)
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(one, -1, 1, [], one)
    with pytest.raises(ValueError):
        inclusion_proof(LEAF_HASHES, 8, 8)
    with pytest.raises(ValueError, match="only 4 given"):
        inclusion_proof(LEAF_HASHES[:4], 1, 8)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_match_the_vectors(first: int, second: int, path: list[bytes]) -> None:
    assert consistency_proof(LEAF_HASHES, first, second) == path
    root1, root2 = ROOTS[first - 1], ROOTS[second - 1]
    assert verify_consistency(first, second, path, root1, root2)
    if not path:
        return
    probes = [
        (first - 1, second, root1, root2, path),
        (first + 1, second, root1, root2, path),
        (first ^ 2, second, root1, root2, path),
        (first, second * 2, root1, root2, path),
        (first, second // 2, root1, root2, path),
        (first, second, SOME_HASH, root2, path),
        (first, second, root1, SOME_HASH, path),
        (first, second, root2, root1, path),
        (first, second, root1, root2, []),
        (first, second, root1, root2, [*path, root1]),
        (first, second, root1, root2, [*path, root2]),
        (first, second, root1, root2, [root1, *path]),
        (first, second, root1, root2, [root2, *path]),
        (first, second, root1, root2, [path[0], *path]),
        (first, second, root1, root2, path[:-1]),
    ]
    for i in range(len(path)):
        flipped = list(path)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((first, second, root1, root2, flipped))
    for probe in probes:
        size1, size2, old, new, proof = probe
        assert not verify_consistency(size1, size2, proof, old, new), probe


def test_verify_consistency_edge_cases() -> None:
    r1, r2 = leaf_hash(b"1"), leaf_hash(b"2")
    assert verify_consistency(0, 0, [], r1, r1)
    assert verify_consistency(0, 1, [], r1, r2)
    assert verify_consistency(1, 1, [], r2, r2)
    assert not verify_consistency(0, 0, [], r1, r2)
    assert not verify_consistency(1, 1, [], r1, r2)
    assert not verify_consistency(1, 0, [], r1, r2)
    assert not verify_consistency(2, 1, [], r1, r2)
    assert not verify_consistency(1, 2, [], r1, r2)
    assert not verify_consistency(0, 0, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_consistency(0, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    assert not verify_consistency(1, 1, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT)
    assert consistency_proof(LEAF_HASHES, 0, 8) == []
    with pytest.raises(ValueError):
        consistency_proof(LEAF_HASHES, 5, 3)


# -- against a naive reading of RFC 6962 section 2.1 ----------------------------


def naive_root(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_root(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_root(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_root(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_root(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_root(leaves[:k])]


def leaves_of(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_the_streaming_root_is_the_recursive_mth(data: list[bytes]) -> None:
    leaves = [leaf_hash(d) for d in data]
    sizes = list(range(len(leaves) + 1))
    tree = TreeBuilder(snapshot_sizes=sizes)
    tree.extend(iter(leaves))
    for n in sizes:
        assert tree.root_at(n) == naive_root(leaves[:n])


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 140).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_are_rfc6962_paths_and_verify(case: tuple[int, int]) -> None:
    size, index = case
    leaves = leaves_of(size)
    path = inclusion_proof(iter(leaves), index, size)  # one pass over an iterator
    assert path == naive_path(index, leaves)
    root = naive_root(leaves)
    assert verify_inclusion(leaves[index], index, size, path, root)
    assert not verify_inclusion(leaves[index], index, size * 2, path, root)
    other = (index + 1) % size
    if other != index:
        assert not verify_inclusion(leaves[other], index, size, path, root)
        assert not verify_inclusion(leaves[index], other, size, path, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 140).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_consistency_proofs_are_rfc6962_proofs_and_verify(case: tuple[int, int]) -> None:
    first, second = case
    leaves = leaves_of(second)
    proof = consistency_proof(iter(leaves), first, second)
    expected = [] if first in (0, second) else naive_subproof(first, leaves, True)
    assert proof == expected
    root1, root2 = naive_root(leaves[:first]), naive_root(leaves)
    assert verify_consistency(first, second, proof, root1, root2)
    if 0 < first < second:
        forked = naive_root([*leaves[: first - 1], leaf_hash(b"fork")])
        assert not verify_consistency(first, second, proof, forked, root2)
        assert not verify_consistency(first, second, proof, root1, forked)


def test_a_proof_pass_keeps_no_leaf() -> None:
    """Proofs are built from a generator over many leaves in a single pass."""
    n = 5000
    consumed = 0

    def stream() -> Iterator[bytes]:
        nonlocal consumed
        for i in range(n + 10):
            consumed += 1
            yield leaf_hash(i.to_bytes(4, "big"))

    path = inclusion_proof(stream(), 1234, n)
    assert consumed == n
    root = merkle_root(leaves_of(n))
    assert verify_inclusion(leaf_hash((1234).to_bytes(4, "big")), 1234, n, path, root)
