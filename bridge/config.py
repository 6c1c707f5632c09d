"""Settings parsed and validated once, at start.

Every variable of the contract (section 1) is read here and nowhere else. A bad
value raises :class:`ConfigError` whose message is one line naming the variable
and never the value, so a start-up failure cannot leak a secret.

:data:`VARIABLES` names everything :func:`load_settings` reads; `.env.example`
documents exactly those (plus gunicorn.conf.py's), and a test holds the three
together, so a new setting is added in all three places or the suite fails.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet

from bridge.domain.schedule import WEEKDAYS

DEFAULT_FABMAN_API_URL = "https://fabman.io/api/v1"
DEFAULT_FABLAB_NAME = "FabLab Brno"
DEFAULT_PORT = 5000
DEFAULT_CLASSMARKER_API_URL = "https://api.classmarker.com"

# Every environment variable load_settings reads, grouped as in .env.example.
VARIABLES: tuple[str, ...] = (
    "FABMAN_API_KEY",
    "FABMAN_API_URL",
    "FABMAN_TIMEOUT_SECONDS",
    "COURSES_CACHE_SECONDS",
    "CLASSMARKER_WEBHOOK_SECRET",
    "VERIFY_CLASSMARKER_REQUESTS",
    "CLASSMARKER_API_KEY",
    "CLASSMARKER_API_SECRET",
    "CLASSMARKER_API_URL",
    "FERNET_KEY",
    "MAX_COURSE_ATTEMPTS",
    "COOLDOWN_HOURS",
    "QUIZ_LINK_DAYS",
    "FABMAN_CONCURRENCY",
    "CRONJOB_TOKEN",
    "REMINDER_DAYS",
    "RETRY_BASE_SECONDS",
    "RETRY_MAX_AGE_HOURS",
    "LEASE_SECONDS",
    "JOBS",
    "RETRY_EVERY_SECONDS",
    "SWEEP_AT",
    "RECONCILE_MINUTES",
    "DIGEST_WEEKDAY",
    "DIGEST_AT",
    "COURSES_WEB_URL",
    "COURSES_WEB_PRIVATE_KEY",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_DEFAULT_SENDER",
    "MAIL_TIMEOUT",
    "MAIL_SUPPRESS_SEND",
    "FABLAB_NAME",
    "FABLAB_SUPPORT_EMAIL",
    "DISCORD_WEBHOOK_URL",
    "FABMAN_WEBHOOK_TOKEN",
    "PUBLIC_URL",
    "STAFF_EMAILS",
    "STAFF_LINK_MINUTES",
    "STAFF_SESSION_HOURS",
    "EVIDENCE_SIGNING_KEY",
    "CHECKPOINT_AT",
    "EVIDENCE_WITNESS_EMAILS",
    "EVIDENCE_TSA_URL",
    "PAYLOAD_RETENTION_DAYS",
    "MAIL_RETENTION_DAYS",
    "BE_ENV",
    "SECRET_KEY",
    "FLASK_SECRET_KEY",
    "DATABASE_URL",
    "TIMEZONE",
    "TRACK_TIME",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "PORT",
)

# The words a boolean may be, in any case: in the environment and in query parameters alike.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


@dataclass(frozen=True)
class Settings:
    """The bridge's typed configuration."""

    fabman_api_key: str = field(repr=False)
    fernet_keys: tuple[str, ...] = field(repr=False)
    fabman_api_url: str = DEFAULT_FABMAN_API_URL
    classmarker_webhook_secret: str | None = field(default=None, repr=False)
    verify_classmarker_requests: bool = True
    cronjob_token: str | None = field(default=None, repr=False)
    courses_web_private_key: str | None = field(default=None, repr=False)
    courses_web_url: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    mail_server: str = "localhost"
    mail_port: int = 25
    mail_username: str | None = None
    mail_password: str | None = field(default=None, repr=False)
    mail_use_tls: bool = False
    mail_use_ssl: bool = False
    mail_default_sender: str | None = None
    fablab_support_email: str | None = None
    fablab_name: str = DEFAULT_FABLAB_NAME
    discord_webhook_url: str | None = field(default=None, repr=False)
    max_course_attempts: int = 3
    track_time: bool = False
    be_env: str = "dev"
    database_url: str | None = field(default=None, repr=False)
    timezone: str = "Europe/Prague"
    courses_cache_seconds: int = 60
    reminder_days: int = 14
    port: int = DEFAULT_PORT
    cors_origins: tuple[str, ...] = ()
    # Operational knobs with sensible defaults (documented in .env.example).
    fabman_timeout_seconds: float = 5.0
    retry_max_age_hours: int = 48
    retry_base_seconds: int = 30
    lease_seconds: int = 120
    mail_suppress_send: bool = False
    mail_timeout_seconds: float = 10.0
    # In-process jobs (contract section 10) and the webhook's apply pool.
    jobs: bool = True
    retry_every_seconds: int = 30
    sweep_at: dt.time | None = dt.time(3, 15)
    reconcile_minutes: int = 15
    digest_weekday: int | None = 0
    digest_at: dt.time = dt.time(7, 0)
    fabman_concurrency: int = 8
    # Training rules (contract sections 12 and 13).
    cooldown_hours: tuple[float, ...] = (0.0,)
    quiz_link_days: int = 90
    """How long a quiz link's token is accepted, counted to the result's `time_started` (contract 4.10)."""
    fabman_webhook_token: str | None = field(default=None, repr=False)
    # Reconciliation with ClassMarker's results API (contract section 11): off without the key and the secret.
    classmarker_api_url: str = DEFAULT_CLASSMARKER_API_URL
    classmarker_api_key: str | None = field(default=None, repr=False)
    classmarker_api_secret: str | None = field(default=None, repr=False)
    # The staff console (contract section 9).
    public_url: str | None = None
    staff_emails: frozenset[str] = frozenset()
    staff_link_minutes: int = 15
    staff_session_hours: int = 12
    # How many reverse proxies in front of the bridge set X-Forwarded-For/-Proto (third wave); 0 trusts none.
    trusted_proxies: int = 0
    # Evidence and personal data (contract sections 16 and 17).
    evidence_signing_key: str | None = field(default=None, repr=False)
    checkpoint_at: dt.time | None = dt.time(2, 45)
    evidence_witness_emails: tuple[str, ...] = ()
    evidence_tsa_url: str | None = None
    payload_retention_days: int | None = 100
    mail_retention_days: int | None = 30

    @property
    def is_prod(self) -> bool:
        """Production turns on the strict checks."""
        return self.be_env == "prod"

    @property
    def console_enabled(self) -> bool:
        """Production serves the staff console only with PUBLIC_URL: a sign-in link is never built from a Host header."""
        return self.public_url is not None or not self.is_prod

    @property
    def link_base(self) -> str:
        """Where links in mail point (sign-in links): PUBLIC_URL, else in development this machine's PORT.

        Never the request's Host header: a link built from it would carry a
        sign-in token to whatever host the requester named.
        """
        return self.public_url or f"http://localhost:{self.port}"

    @property
    def tz(self) -> ZoneInfo:
        """The FabLab's time zone (validated at load)."""
        return ZoneInfo(self.timezone)

    @property
    def reconciliation_configured(self) -> bool:
        """Both ClassMarker API credentials are set, so results can be polled."""
        return bool(self.classmarker_api_key and self.classmarker_api_secret)

    @property
    def fabman_authorization(self) -> str:
        """The upstream `Authorization` header value."""
        key = self.fabman_api_key
        return key if key.startswith("Bearer ") else f"Bearer {key}"

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the demo use it)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


def parse_bool(name: str, raw: str) -> bool:
    """Parse a boolean the way the contract allows (1/0, true/false, yes/no, on/off)."""
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be one of 1/0, true/false, yes/no, on/off")


def _parse_int(name: str, raw: str, *, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _parse_float(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive")
    return value


def _parse_time(name: str, raw: str, *, allow_off: bool = False) -> dt.time | None:
    """A local time of day as HH:MM (24-hour); `off` turns the job off where allowed."""
    if allow_off and raw.strip().lower() == "off":
        return None
    hours, _, minutes = raw.strip().partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60):
        raise ConfigError(f"{name} must be a time of day as HH:MM" + (" or off" if allow_off else ""))
    return dt.time(int(hours), int(minutes))


def _parse_weekday(name: str, raw: str) -> int | None:
    """mon..sun (or off)."""
    value = raw.strip().lower()
    if value == "off":
        return None
    if value not in WEEKDAYS:
        raise ConfigError(f"{name} must be one of {', '.join(WEEKDAYS)} or off")
    return WEEKDAYS.index(value)


def _hours_list(name: str, raw: str) -> tuple[float, ...]:
    """A comma list of hours (numbers, 0 or more), e.g. `0,24,72`."""
    message = f"{name} must be a comma-separated list of hours (numbers, 0 or more)"
    try:
        hours = tuple(float(item.strip()) for item in raw.split(","))
    except ValueError:
        raise ConfigError(message) from None
    if not all(math.isfinite(value) and value >= 0 for value in hours):
        raise ConfigError(message)
    return hours


def _one_line(name: str, raw: str, *, longest: int = 100) -> str:
    """A name shown in mail: one line of printable text (a line break could forge mail headers)."""
    if not raw.isprintable() or len(raw) > longest:
        raise ConfigError(f"{name} must be one line of printable text, at most {longest} characters")
    return raw


def read_port(env: Mapping[str, str] | None = None) -> int:
    """PORT, for `python main_run.py` and the demo (which needs no other setting)."""
    raw = (os.environ if env is None else env).get("PORT")
    if raw is None or raw.strip() == "":
        return DEFAULT_PORT
    port = _parse_int("PORT", raw, minimum=1)
    if port > 65535:
        raise ConfigError("PORT must be at most 65535")
    return port


def _http_url(name: str, raw: str) -> str:
    """An http(s) base URL with a host and no query; without the trailing slash."""
    problem = f"{name} must be an http(s) URL such as https://api.classmarker.com"
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - reading it validates the port
    except ValueError:
        raise ConfigError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment or " " in raw:
        raise ConfigError(problem)
    return raw.rstrip("/")


def _public_url(raw: str | None) -> str | None:
    """The bridge's own base URL for links in mail: http(s), a host, no query."""
    if raw is None:
        return None
    parsed = urlsplit(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
        raise ConfigError("PUBLIC_URL must be an http(s) URL such as https://bridge.fablab.example")
    return raw.rstrip("/")


def _staff_emails(raw: str | None) -> frozenset[str]:
    """Comma-separated addresses, compared in lower case."""
    addresses = [a.strip().lower() for a in (raw or "").split(",") if a.strip()]
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (at and local and "." in domain) or any(c.isspace() for c in address):
            raise ConfigError("STAFF_EMAILS must be a comma-separated list of e-mail addresses")
    return frozenset(addresses)


def _emails(name: str, raw: str | None) -> tuple[str, ...]:
    """Comma-separated addresses, in the order given."""
    addresses = tuple(a.strip() for a in (raw or "").split(",") if a.strip())
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (at and local and "." in domain) or any(c.isspace() for c in address):
            raise ConfigError(f"{name} must be a comma-separated list of e-mail addresses")
    return addresses


def _days_or_off(name: str, raw: str) -> int | None:
    """A number of days (1 or more), or `off`."""
    if raw.strip().lower() == "off":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a number of days (1 or more) or off") from None
    if value < 1:
        raise ConfigError(f"{name} must be a number of days (1 or more) or off")
    return value


def _signing_key(raw: str | None, *, is_prod: bool) -> str | None:
    """EVIDENCE_SIGNING_KEY: base64 of a 32-byte Ed25519 seed; required in prod."""
    if raw is None:
        if is_prod:
            raise ConfigError("EVIDENCE_SIGNING_KEY is required when BE_ENV=prod")
        return None
    try:
        seed = base64.b64decode(raw, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ConfigError("EVIDENCE_SIGNING_KEY must be base64 of a 32-byte Ed25519 seed")
    return raw


def _fernet_keys(raw: str) -> tuple[str, ...]:
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    if not keys:
        raise ConfigError("FERNET_KEY is required")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "FERNET_KEY is not a valid Fernet key (32 url-safe base64 bytes); "
                "generate one with `python main_run.py --gen-fernet-key`"
            ) from None
    return keys


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; raise ConfigError naming the first bad variable."""
    source = os.environ if env is None else env

    def get(name: str) -> str | None:
        value = source.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def required(name: str) -> str:
        value = get(name)
        if value is None:
            raise ConfigError(f"{name} is required")
        return value

    be_env = (get("BE_ENV") or "dev").lower()
    is_prod = be_env == "prod"

    verify = parse_bool("VERIFY_CLASSMARKER_REQUESTS", get("VERIFY_CLASSMARKER_REQUESTS") or "true")
    if not verify and is_prod:
        raise ConfigError("VERIFY_CLASSMARKER_REQUESTS cannot be off when BE_ENV=prod (anyone could post a passed result)")
    secret = get("CLASSMARKER_WEBHOOK_SECRET")
    if verify and secret is None and is_prod:
        raise ConfigError("CLASSMARKER_WEBHOOK_SECRET is required when VERIFY_CLASSMARKER_REQUESTS is on")

    secret_key = get("SECRET_KEY") or get("FLASK_SECRET_KEY")
    if is_prod and secret_key is None:
        raise ConfigError("SECRET_KEY (or FLASK_SECRET_KEY) is required when BE_ENV=prod")

    timezone = get("TIMEZONE") or "Europe/Prague"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError("TIMEZONE is not a known IANA time zone") from None

    api_url = (get("FABMAN_API_URL") or DEFAULT_FABMAN_API_URL).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError("FABMAN_API_URL must be an http(s) URL")

    classmarker_api_url = _http_url("CLASSMARKER_API_URL", get("CLASSMARKER_API_URL") or DEFAULT_CLASSMARKER_API_URL)

    mail_username = get("MAIL_USERNAME")
    cors = tuple(o.strip() for o in (get("CORS_ORIGINS") or "").split(",") if o.strip())

    return Settings(
        fabman_api_key=required("FABMAN_API_KEY"),
        fernet_keys=_fernet_keys(required("FERNET_KEY")),
        fabman_api_url=api_url,
        classmarker_webhook_secret=secret,
        verify_classmarker_requests=verify,
        cronjob_token=get("CRONJOB_TOKEN"),
        courses_web_private_key=get("COURSES_WEB_PRIVATE_KEY"),
        courses_web_url=get("COURSES_WEB_URL"),
        secret_key=secret_key,
        mail_server=get("MAIL_SERVER") or "localhost",
        mail_port=_parse_int("MAIL_PORT", get("MAIL_PORT") or "25", minimum=1),
        mail_username=mail_username,
        mail_password=get("MAIL_PASSWORD"),
        mail_use_tls=parse_bool("MAIL_USE_TLS", get("MAIL_USE_TLS") or "false"),
        mail_use_ssl=parse_bool("MAIL_USE_SSL", get("MAIL_USE_SSL") or "false"),
        mail_default_sender=get("MAIL_DEFAULT_SENDER") or mail_username,
        fablab_support_email=get("FABLAB_SUPPORT_EMAIL"),
        fablab_name=_one_line("FABLAB_NAME", get("FABLAB_NAME") or DEFAULT_FABLAB_NAME),
        discord_webhook_url=get("DISCORD_WEBHOOK_URL"),
        max_course_attempts=_parse_int("MAX_COURSE_ATTEMPTS", get("MAX_COURSE_ATTEMPTS") or "3"),
        track_time=parse_bool("TRACK_TIME", get("TRACK_TIME") or "false"),
        be_env=be_env,
        database_url=get("DATABASE_URL"),
        timezone=timezone,
        courses_cache_seconds=_parse_int("COURSES_CACHE_SECONDS", get("COURSES_CACHE_SECONDS") or "60"),
        reminder_days=_parse_int("REMINDER_DAYS", get("REMINDER_DAYS") or "14"),
        port=read_port(source),
        cors_origins=cors,
        fabman_timeout_seconds=_parse_float("FABMAN_TIMEOUT_SECONDS", get("FABMAN_TIMEOUT_SECONDS") or "5"),
        retry_max_age_hours=_parse_int("RETRY_MAX_AGE_HOURS", get("RETRY_MAX_AGE_HOURS") or "48", minimum=1),
        retry_base_seconds=_parse_int("RETRY_BASE_SECONDS", get("RETRY_BASE_SECONDS") or "30"),
        lease_seconds=_parse_int("LEASE_SECONDS", get("LEASE_SECONDS") or "120", minimum=1),
        mail_timeout_seconds=_parse_float("MAIL_TIMEOUT", get("MAIL_TIMEOUT") or "10"),
        mail_suppress_send=parse_bool("MAIL_SUPPRESS_SEND", get("MAIL_SUPPRESS_SEND") or "false"),
        jobs=parse_bool("JOBS", get("JOBS") or "on"),
        retry_every_seconds=_parse_int("RETRY_EVERY_SECONDS", get("RETRY_EVERY_SECONDS") or "30", minimum=1),
        sweep_at=_parse_time("SWEEP_AT", get("SWEEP_AT") or "03:15", allow_off=True),
        reconcile_minutes=_parse_int("RECONCILE_MINUTES", get("RECONCILE_MINUTES") or "15", minimum=1),
        digest_weekday=_parse_weekday("DIGEST_WEEKDAY", get("DIGEST_WEEKDAY") or "mon"),
        digest_at=_parse_time("DIGEST_AT", get("DIGEST_AT") or "07:00") or dt.time(7, 0),
        fabman_concurrency=_parse_int("FABMAN_CONCURRENCY", get("FABMAN_CONCURRENCY") or "8", minimum=1),
        cooldown_hours=_hours_list("COOLDOWN_HOURS", get("COOLDOWN_HOURS") or "0"),
        quiz_link_days=_parse_int("QUIZ_LINK_DAYS", get("QUIZ_LINK_DAYS") or "90", minimum=1),
        fabman_webhook_token=get("FABMAN_WEBHOOK_TOKEN"),
        classmarker_api_url=classmarker_api_url,
        classmarker_api_key=get("CLASSMARKER_API_KEY"),
        classmarker_api_secret=get("CLASSMARKER_API_SECRET"),
        public_url=_public_url(get("PUBLIC_URL")),
        staff_emails=_staff_emails(get("STAFF_EMAILS")),
        staff_link_minutes=_parse_int("STAFF_LINK_MINUTES", get("STAFF_LINK_MINUTES") or "15", minimum=1),
        staff_session_hours=_parse_int("STAFF_SESSION_HOURS", get("STAFF_SESSION_HOURS") or "12", minimum=1),
        trusted_proxies=_parse_int("TRUSTED_PROXIES", get("TRUSTED_PROXIES") or "0"),
        evidence_signing_key=_signing_key(get("EVIDENCE_SIGNING_KEY"), is_prod=is_prod),
        checkpoint_at=_parse_time("CHECKPOINT_AT", get("CHECKPOINT_AT") or "02:45", allow_off=True),
        evidence_witness_emails=_emails("EVIDENCE_WITNESS_EMAILS", get("EVIDENCE_WITNESS_EMAILS")),
        evidence_tsa_url=None if (tsa := get("EVIDENCE_TSA_URL")) is None else _tsa_url(tsa),
        payload_retention_days=_days_or_off("PAYLOAD_RETENTION_DAYS", get("PAYLOAD_RETENTION_DAYS") or "100"),
        mail_retention_days=_days_or_off("MAIL_RETENTION_DAYS", get("MAIL_RETENTION_DAYS") or "30"),
    )


def _tsa_url(raw: str) -> str:
    """EVIDENCE_TSA_URL: an http(s) URL (a time-stamping authority's may have a path)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in raw:
        raise ConfigError("EVIDENCE_TSA_URL must be an http(s) URL such as https://tsa.example/tsr")
    return raw


def default_database_url(instance_path: str) -> str:
    """The embedded SQLite store in Flask's instance folder."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_path) / 'bridge.sqlite3'}"
