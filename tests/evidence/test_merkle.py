"""The Merkle tree against the published Certificate Transparency test vectors (RFC 6962 reference tree)."""

from __future__ import annotations

import pytest

from bridge.domain import merkle

LEAVES = [
    bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
HASHES = [merkle.leaf_hash(leaf) for leaf in LEAVES]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (index from 0, tree size, path) from the CT reference tests (their leaf numbers count from 1).
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


@pytest.mark.parametrize("size", range(9))
def test_root_of_each_size_is_the_published_one(size: int) -> None:
    assert merkle.root_of(HASHES[:size]).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_are_the_published_ones_and_verify(index: int, size: int, path: list[str]) -> None:
    proof = merkle.inclusion_proof(HASHES[:size], index)
    assert [node.hex() for node in proof] == path
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(HASHES[index], index, size, proof, root)
    assert not merkle.verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))
    if proof:
        assert not merkle.verify_inclusion(HASHES[index], index, size, proof[:-1], root)
        other = (index + 1) % size
        assert not merkle.verify_inclusion(HASHES[other], index, size, proof, root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_are_the_published_ones_and_verify(first: int, second: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(HASHES[:second], first)
    assert [node.hex() for node in proof] == path
    old, new = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    assert merkle.verify_consistency(first, second, old, new, proof)
    if first != second:
        assert not merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[second]), new, proof)


def test_every_proof_of_every_small_tree_verifies() -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(33)]
    for size in range(1, 34):
        root = merkle.root_of(hashes[:size])
        for index in range(size):
            assert merkle.verify_inclusion(hashes[index], index, size, merkle.inclusion_proof(hashes[:size], index), root)
        for first in range(1, size + 1):
            proof = merkle.consistency_proof(hashes[:size], first)
            assert merkle.verify_consistency(first, size, merkle.root_of(hashes[:first]), root, proof)


def test_a_rewritten_history_is_not_consistent_with_an_old_root() -> None:
    old = merkle.root_of(HASHES[:4])
    rewritten = [*HASHES[:2], merkle.leaf_hash(b"forged"), *HASHES[3:]]
    proof = merkle.consistency_proof(rewritten, 4)
    assert not merkle.verify_consistency(4, 8, old, merkle.root_of(rewritten), proof)


def test_proofs_outside_the_tree_are_refused() -> None:
    with pytest.raises(merkle.ProofError):
        merkle.inclusion_proof(HASHES[:3], 3)
    with pytest.raises(merkle.ProofError):
        merkle.consistency_proof(HASHES[:3], 4)
    assert not merkle.verify_inclusion(HASHES[0], 3, 3, [], bytes(32))
