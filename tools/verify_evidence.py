#!/usr/bin/env python3
"""Check a FabLab Bridge evidence bundle offline: python tools/verify_evidence.py BUNDLE.json [--key BASE64].

A bundle (GET /admin/evidence/proof) holds one leaf of the evidence log, its
RFC 6962 inclusion proof and the Ed25519-signed checkpoint it leads to. This
script needs only the Python standard library and `cryptography`, and none of
the bridge's code: it recomputes the root from the leaf and the proof,
checks the signature over the checkpoint's canonical JSON, and prints what
the leaf says. Pass --key with the public key you got from the FabLab
(GET /evidence/key, or a witness's mail) rather than trusting the bundle's
own `public_key`. Exit 0 when the bundle holds, 1 (with the reason) when not.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class BundleError(ValueError):
    """The bundle does not hold."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root an inclusion proof leads to (BundleError when it cannot lead anywhere)."""
    if not 0 <= index < size:
        raise BundleError(f"index {index} is outside a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for sibling in proof:
        if sn == 0:
            raise BundleError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise BundleError("the inclusion proof is too short")
    return r


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def verify(bundle: dict[str, Any], key_text: str | None = None) -> dict[str, Any]:
    """The leaf's content when the bundle holds; BundleError saying why not."""
    try:
        leaf = base64.b64decode(bundle["leaf"], validate=True)
        index = int(bundle["index"])
        proof = [bytes.fromhex(node) for node in bundle["inclusion"]]
        checkpoint = bundle["checkpoint"]
        document = {name: checkpoint[name] for name in ("origin", "size", "root", "time")}
        signature = base64.b64decode(bundle["signature"], validate=True)
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text or bundle["public_key"], validate=True))
    except (KeyError, TypeError, ValueError, binascii.Error) as error:
        raise BundleError(f"the bundle is not well formed: {error}") from None
    if set(checkpoint) != {"origin", "size", "root", "time"}:
        raise BundleError("the checkpoint must have exactly origin, size, root and time")
    try:
        key.verify(signature, canonical(document))
    except InvalidSignature:
        raise BundleError("the checkpoint's signature does not verify with this key") from None
    root = root_from_inclusion(leaf, index, int(document["size"]), proof)
    if root.hex() != document["root"]:
        raise BundleError("the leaf and its inclusion proof do not lead to the signed root")
    try:
        return dict(json.loads(leaf.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        raise BundleError("the leaf is not UTF-8 JSON") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a FabLab Bridge evidence bundle offline.")
    parser.add_argument("bundle", help="the bundle's JSON file (GET /admin/evidence/proof)")
    parser.add_argument("--key", help="base64 Ed25519 public key to check with (GET /evidence/key); default: the bundle's own")
    arguments = parser.parse_args(argv)
    try:
        with open(arguments.bundle, encoding="utf-8") as handle:
            bundle = json.load(handle)
        said = verify(bundle, arguments.key)
    except (OSError, ValueError) as error:
        print(f"NOT VALID: {error}", file=sys.stderr)
        return 1
    checkpoint = bundle["checkpoint"]
    where = f"the log '{checkpoint['origin']}' of {checkpoint['size']} events signed at {checkpoint['time']}"
    print(f"VALID: leaf {bundle['index']} is in {where}")
    if not arguments.key:
        print("(checked with the key inside the bundle; pass --key with the FabLab's published key to trust it)")
    print(json.dumps(said, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
