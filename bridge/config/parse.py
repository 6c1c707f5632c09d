"""How a configuration value is read: one parser per kind of value.

A parser takes the variable's name and its raw text (never blank, already
stripped) and returns the typed value, or raises :class:`ConfigError` whose
message is one line naming the variable and never the value, so a start-up
failure cannot leak a secret. Each parser also says in words what it accepts
(:attr:`Parser.accepts`); the configuration reference prints those words, so
the documented rule is the rule the code applies.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet

from bridge.domain.schedule import WEEKDAYS

T = TypeVar("T")

# The words a boolean may be, in any case: in the environment and in query parameters alike.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Parser(Generic[T]):
    """Reads one kind of value; `accepts` says which values, in the reference's words."""

    read: Callable[[str, str], T]
    accepts: str

    def __call__(self, name: str, raw: str) -> T:
        return self.read(name, raw)


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean the way the contract allows (1/0, true/false, yes/no, on/off)."""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off")


BOOLEAN = Parser(parse_bool, "a boolean")
TEXT = Parser(lambda _name, raw: raw, "text")
LOWER_CASE = Parser(lambda _name, raw: raw.lower(), "text, in any case")


def integer(*, minimum: int = 0, maximum: int | None = None) -> Parser[int]:
    """A whole number in a range."""

    def read(name: str, raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise ConfigError(f"{name} must be an integer") from None
        if value < minimum:
            raise ConfigError(f"{name} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be at most {maximum}")
        return value

    accepts = f"an integer, {minimum} or more" if maximum is None else f"an integer, {minimum}–{maximum}"
    return Parser(read, accepts)


def _positive_number(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


POSITIVE_NUMBER = Parser(_positive_number, "a number above 0")


def _clock_time(name: str, raw: str, *, or_off: str = "") -> dt.time:
    hours, _, minutes = raw.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60):
        raise ConfigError(f"{name} must be a time of day as HH:MM{or_off}")
    return dt.time(int(hours), int(minutes))


def _time_or_off(name: str, raw: str) -> dt.time | None:
    """`off` turns the job off."""
    return None if raw.strip().lower() == "off" else _clock_time(name, raw, or_off=" or off")


TIME_OF_DAY = Parser(_clock_time, "HH:MM (24-hour)")
TIME_OR_OFF = Parser(_time_or_off, "HH:MM (24-hour) or `off`")


def _weekday_or_off(name: str, raw: str) -> int | None:
    value = raw.strip().lower()
    if value == "off":
        return None
    if value not in WEEKDAYS:
        raise ConfigError(f"{name} must be one of {', '.join(WEEKDAYS)} or off")
    return WEEKDAYS.index(value)


WEEKDAY_OR_OFF = Parser(_weekday_or_off, "`mon`..`sun` or `off`")


def _hours_list(name: str, raw: str) -> tuple[float, ...]:
    message = f"{name} must be a comma-separated list of hours (numbers, 0 or more)"
    try:
        hours = tuple(float(item.strip()) for item in raw.split(","))
    except ValueError:
        raise ConfigError(message) from None
    if not all(math.isfinite(value) and value >= 0 for value in hours):
        raise ConfigError(message)
    return hours


HOURS_LIST = Parser(_hours_list, "hours (numbers, 0 or more), comma-separated")


def _days_or_off(name: str, raw: str) -> int | None:
    if raw.strip().lower() == "off":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of days (1 or more) or off") from None
    if value < 1:
        raise ConfigError(f"{name} must be a number of days (1 or more) or off")
    return value


DAYS_OR_OFF = Parser(_days_or_off, "an integer, 1 or more, or `off`")


def one_line(longest: int) -> Parser[str]:
    """A name shown in mail: one line of printable text (a line break could forge mail headers)."""

    def read(name: str, raw: str) -> str:
        if not raw.isprintable() or len(raw) > longest:
            raise ConfigError(f"{name} must be one line of printable text, at most {longest} characters")
        return raw

    return Parser(read, f"one line of printable text, at most {longest} characters")


def _time_zone(name: str, raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(f"{name} is not a known IANA time zone") from None
    return raw


TIME_ZONE = Parser(_time_zone, "an IANA time zone")


def _check_http_url(name: str, raw: str, example: str) -> None:
    """The one rule for every URL the bridge is given (see http_url)."""
    problem = f"{name} must be an http(s) URL such as {example}"
    if not raw.startswith(("http://", "https://")) or any(c.isspace() or not c.isprintable() for c in raw):
        raise ConfigError(problem)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise ConfigError(problem) from None
    if not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(problem)


def http_url(example: str, *, base: bool) -> Parser[str]:
    """An http(s) URL under the one rule; a base URL (paths are appended to it) loses its trailing slash.

    The rule: the scheme is `http://` or `https://` as written, there is a host,
    a port if given is a number in range, and there is no query, no fragment and
    no white space or control character. A URL kept as given (`base=False`) is
    used exactly as the operator wrote it.
    """

    def read(name: str, raw: str) -> str:
        _check_http_url(name, raw, example)
        return raw.rstrip("/") if base else raw

    return Parser(read, "an http(s) URL ([the rule](#urls))" + ("; a trailing `/` is dropped" if base else ""))


def _addresses(name: str, raw: str) -> list[str]:
    addresses = [a.strip() for a in raw.split(",") if a.strip()]
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (at and local and "." in domain) or any(c.isspace() for c in address):
            raise ConfigError(f"{name} must be a comma-separated list of e-mail addresses")
    return addresses


ADDRESS_SET = Parser(
    lambda name, raw: frozenset(_addresses(name, raw.lower())), "e-mail addresses, comma-separated (compared in lower case)"
)
ADDRESS_LIST = Parser(lambda name, raw: tuple(_addresses(name, raw)), "e-mail addresses, comma-separated")
TEXT_LIST = Parser(lambda _name, raw: tuple(o.strip() for o in raw.split(",") if o.strip()), "a comma-separated list")


def _signing_key(name: str, raw: str) -> str:
    try:
        seed = base64.b64decode(raw, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ConfigError(f"{name} must be base64 of a 32-byte Ed25519 seed")
    return raw


SIGNING_KEY = Parser(_signing_key, "base64 of a 32-byte Ed25519 seed")


def _fernet_keys(name: str, raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if not keys:
        raise ConfigError(f"{name} is required")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                f"{name} is not a valid Fernet key (32 url-safe base64 bytes); "
                "generate one with `python main_run.py --gen-fernet-key`"
            ) from None
    return keys


FERNET_KEYS = Parser(_fernet_keys, "Fernet keys (32 url-safe base64 bytes), comma-separated")
