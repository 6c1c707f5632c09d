"""The `cm_user_id` codec: who took which quiz, sealed with Fernet.

ClassMarker hands the `cm_user_id` of a quiz link back in its result webhook, so
the token must identify the member and the course and must not be forgeable.
ClassMarker keeps at most 100 characters, so the plaintext is packed into nine
bytes (a version byte and two unsigned 32-bit ids): a Fernet token of under 16
plaintext bytes is 100 characters, and without its `==` padding 98, none of
which need URL escaping. Tokens of the older bridge, which encrypted the text
``"<member_id>-<course_id>"``, still decode so links already sent keep working.

Every Fernet token carries the moment it was made. Decoding returns it, so a
result can be held to the age its link had when the quiz was started
(`QUIZ_LINK_DAYS`, contract 4.10); tokens are made by the app's clock, so a
test that travels in time makes links of that time.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

MAX_TOKEN_LENGTH = 100
_VERSION = 1
_PACKED = struct.Struct(">BII")
_LEGACY = re.compile(rb"(\d{1,10})-(\d{1,10})")
_MAX_ID = 2**32 - 1


class InvalidCmUserId(ValueError):
    """The token was not made by this bridge (or with a key it no longer has)."""


@dataclass(frozen=True)
class QuizIdentity:
    """The member and course a quiz link was made for."""

    member_id: int
    course_id: int
    issued_at: dt.datetime | None = field(default=None, compare=False)
    """When the token was made (Fernet's timestamp, UTC)."""


class CmUserIdCodec:
    """Encrypts and decrypts `cm_user_id` tokens; built once, shared by all requests."""

    def __init__(self, keys: tuple[str, ...] | list[str], *, now: Callable[[], dt.datetime] | None = None) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is needed")
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def encode(self, member_id: int, course_id: int) -> str:
        """Seal a member and course into a token of at most 100 URL-safe characters."""
        for name, value in (("member_id", member_id), ("course_id", course_id)):
            if not 0 <= value <= _MAX_ID:
                raise ValueError(f"{name} must be between 0 and 2**32-1")
        made_at = int(self._now().timestamp())
        token = self._fernet.encrypt_at_time(_PACKED.pack(_VERSION, member_id, course_id), made_at).decode("ascii")
        return token.rstrip("=")

    def decode(self, token: str) -> QuizIdentity:
        """Open a token (new or legacy format); raise InvalidCmUserId for anything else."""
        if not isinstance(token, str) or not token or len(token) > 4 * MAX_TOKEN_LENGTH:
            raise InvalidCmUserId("cm_user_id is missing or too long")
        padded = token.strip() + "=" * (-len(token.strip()) % 4)
        try:
            plaintext = self._fernet.decrypt(padded.encode("ascii"))
            made_at = dt.datetime.fromtimestamp(self._fernet.extract_timestamp(padded.encode("ascii")), dt.UTC)
        except (InvalidToken, UnicodeEncodeError, ValueError, TypeError, OverflowError, OSError):
            raise InvalidCmUserId("cm_user_id does not decrypt with any configured key") from None
        if len(plaintext) == _PACKED.size and plaintext[0] == _VERSION:
            _, member_id, course_id = _PACKED.unpack(plaintext)
            return QuizIdentity(member_id, course_id, made_at)
        legacy = _LEGACY.fullmatch(plaintext)
        if legacy:
            return QuizIdentity(int(legacy.group(1)), int(legacy.group(2)), made_at)
        raise InvalidCmUserId("cm_user_id decrypts to an unknown format")


def redact(token: str | None) -> str:
    """A loggable stand-in for a token: enough to correlate, never the whole value."""
    if not token:
        return "<none>"
    return f"{token[:6]}…({len(token)})"
