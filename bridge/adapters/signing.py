"""The Ed25519 key that signs evidence checkpoints, and the RFC 3161 time-stamping client.

The signing key lives outside the database (EVIDENCE_SIGNING_KEY, or outside
production a file in the instance folder), so whoever can edit the store
still cannot sign a rewritten history.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_FILE = "evidence-signing.key"
TSA_TIMEOUT_SECONDS = 10.0
_SHA256_ALGORITHM = bytes.fromhex("300d06096086480165030402010500")


def signing_key(configured: str | None, instance_path: str) -> Ed25519PrivateKey:
    """The configured key, else the instance folder's (made once, readable by its owner only)."""
    if configured is not None:
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(configured))
    path = Path(instance_path) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    seed = base64.b64encode(os.urandom(32))
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        seed = path.read_bytes().strip()
    else:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(seed + b"\n")
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed))


def public_key_text(key: Ed25519PublicKey) -> str:
    """base64 of the 32 raw bytes of a public key."""
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode("ascii")


class TimeStampError(RuntimeError):
    """The authority did not grant a time-stamp."""


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


def _read(data: bytes, at: int) -> tuple[int, int, int]:
    """One DER element at `at`: its tag, where its content starts and where it ends."""
    if at + 2 > len(data):
        raise TimeStampError("the authority's answer is cut short")
    tag, length, start = data[at], data[at + 1], at + 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[start : start + count], "big"), start + count
    if start + length > len(data):
        raise TimeStampError("the authority's answer is cut short")
    return tag, start, start + length


def timestamp_request(message: bytes) -> bytes:
    """A DER TimeStampReq (RFC 3161 2.4.1) for SHA-256 of `message`, with a nonce, asking for the TSA's certificate."""
    imprint = _der(0x30, _SHA256_ALGORITHM + _der(0x04, hashlib.sha256(message).digest()))
    nonce = secrets.token_bytes(8)
    if nonce[0] & 0x80:
        nonce = b"\x00" + nonce
    return _der(0x30, _der(0x02, b"\x01") + imprint + _der(0x02, nonce) + _der(0x01, b"\xff"))


def token_of(response: bytes) -> bytes:
    """The TimeStampToken of a DER TimeStampResp (RFC 3161 2.4.2); TimeStampError unless it was granted."""
    tag, start, end = _read(response, 0)
    if tag != 0x30:
        raise TimeStampError("the authority's answer is not a TimeStampResp")
    status_tag, status_start, status_end = _read(response, start)
    int_tag, int_start, int_end = _read(response, status_start)
    if status_tag != 0x30 or int_tag != 0x02:
        raise TimeStampError("the authority's answer has no status")
    status = int.from_bytes(response[int_start:int_end], "big")
    if status not in (0, 1) or status_end >= end:
        raise TimeStampError(f"the authority refused the time-stamp (status {status})")
    return response[status_end:end]


def request_timestamp(url: str, message: bytes, *, session: requests.Session | None = None) -> bytes:
    """Ask an RFC 3161 authority over HTTP to stamp `message`; the token (DER)."""
    http = session or requests
    answer = http.post(
        url,
        data=timestamp_request(message),
        headers={"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"},
        timeout=TSA_TIMEOUT_SECONDS,
    )
    if answer.status_code != 200:
        raise TimeStampError(f"the authority answered HTTP {answer.status_code}")
    return token_of(answer.content)
