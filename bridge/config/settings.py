"""The one table of configuration variables: each field of :class:`Settings` declares one.

A declaration names the variable, its parser (which also says what it
accepts), its default as text (parsed like a value that was set, so the
default shown is the default used), whether production requires it, whether
it is a secret (kept out of `repr`), and the sentence that explains it. From
these come the settings :func:`load_settings` returns, the one-line errors,
`.env.example` and the reference in docs/configuration.md
(:mod:`bridge.config.reference`); mypy checks each parser's type against its
field's. Two variables are read by `gunicorn.conf.py`, not by the bridge:
:data:`SERVER_VARIABLES` declares them for the same file and reference.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any, Generic, Required, TypedDict, TypeVar, Unpack, cast
from zoneinfo import ZoneInfo

from bridge.config.parse import (
    ADDRESS_LIST,
    ADDRESS_SET,
    BOOLEAN,
    DAYS_OR_OFF,
    FERNET_KEYS,
    HOURS_LIST,
    LOWER_CASE,
    POSITIVE_NUMBER,
    SIGNING_KEY,
    TEXT,
    TEXT_LIST,
    TIME_OF_DAY,
    TIME_OR_OFF,
    TIME_ZONE,
    WEEKDAY_OR_OFF,
    ConfigError,
    Parser,
    http_url,
    integer,
    one_line,
)

T = TypeVar("T")
KEY = "variable"


class Group(Enum):
    """Sections of `.env.example` and of the reference, in their order."""

    FABMAN = "Fabman"
    CLASSMARKER = "ClassMarker"
    SCHEDULER = "Scheduler"
    JOBS = "Jobs the bridge runs by itself"
    COURSES_WEB = "FabLab courses web"
    MAIL = "Mail (Flask-Mail, SMTP)"
    FABLAB = "Your FabLab and its staff"
    FABMAN_WEBHOOK = "Fabman's webhook"
    CONSOLE = "Staff console (/staff/ in the browser)"
    EVIDENCE = "Evidence log and personal data (docs/evidence.md, docs/privacy.md)"
    BRIDGE = "The bridge itself"
    SERVING = "Serving (python main_run.py, the demo, gunicorn.conf.py)"


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable: how it is read, its default, and what it is for."""

    name: str
    parser: Parser[T]
    group: Group
    doc: str
    default: str | None = None
    """The default as text, parsed like a set value; None: unset (the field is None)."""
    required: bool = False
    required_in_prod: bool = False
    default_from: str | None = None
    """Unset, it takes this other variable's value (MAIL_DEFAULT_SENDER is MAIL_USERNAME's)."""
    aliases: tuple[str, ...] = ()
    """Older names, read in order when the variable itself is unset."""
    secret: bool = False
    example: str | None = None
    """The value `.env.example` shows, when not the default."""
    commented: bool = False
    """`.env.example` shows it commented out: a knob most operators leave alone."""
    unset: str | None = None
    """What the bridge does while the variable is unset, for the reference."""
    field: str | None = None
    """The Settings attribute; None for a variable read outside the bridge (gunicorn.conf.py)."""

    @property
    def attribute(self) -> str:
        """The Settings attribute that holds the value."""
        if self.field is None:
            raise LookupError(f"{self.name} is read outside the bridge and has no Settings field")
        return self.field

    @property
    def label(self) -> str:
        """The name as an error names it: `SECRET_KEY (or FLASK_SECRET_KEY)`."""
        return self.name + "".join(f" (or {alias})" for alias in self.aliases)

    def raw(self, source: Mapping[str, str]) -> str | None:
        """The set value, stripped; blank counts as unset."""
        for name in (self.name, *self.aliases):
            value = source.get(name)
            if value is not None and value.strip() != "":
                return value.strip()
        return None

    def read(self, source: Mapping[str, str]) -> T | None:
        """The typed value, or the default's, or None; a missing required value raises."""
        raw = self.raw(source)
        if raw is None:
            if self.required:
                raise ConfigError(f"{self.name} is required")
            if self.default is None:
                return None
            raw = self.default
        return self.parser(self.name, raw)


class About(TypedDict, total=False):
    """What a declaration says besides its name, parser and default."""

    group: Required[Group]
    doc: Required[str]
    required_in_prod: bool
    default_from: str
    aliases: tuple[str, ...]
    secret: bool
    example: str
    commented: bool
    unset: str


def _declare(variable: Variable[Any], default: object = dataclasses.MISSING) -> Any:
    return field(default=default, repr=not variable.secret, metadata={KEY: variable})


def setting(name: str, parser: Parser[T], default: str, **about: Unpack[About]) -> T:
    """A variable with a default: the field holds the parsed default while it is unset."""
    return cast(T, _declare(Variable(name, parser, default=default, **about), parser(name, default)))


def optional(name: str, parser: Parser[T], **about: Unpack[About]) -> T | None:
    """A variable without a default: the field is None while it is unset."""
    return cast(T | None, _declare(Variable(name, parser, **about), None))


def required(name: str, parser: Parser[T], **about: Unpack[About]) -> T:
    """A variable the bridge cannot start without, in any environment."""
    return cast(T, _declare(Variable(name, parser, required=True, **about)))


G = Group


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The bridge's typed configuration, one field per variable, in the order of `.env.example`."""

    # -- Fabman
    fabman_api_key: str = required(
        "FABMAN_API_KEY",
        TEXT,
        group=G.FABMAN,
        secret=True,
        doc="Fabman API key of an admin or owner (Fabman > Configuration > Integrations). Sent to Fabman as "
        "`Authorization: Bearer <key>`; a value already starting with `Bearer ` is sent unchanged. The FabLab web "
        "and staff present the same key to the bridge.",
    )
    fabman_api_url: str = setting(
        "FABMAN_API_URL",
        http_url("https://fabman.io/api/v1", base=True),
        "https://fabman.io/api/v1",
        group=G.FABMAN,
        doc="Base URL of Fabman's API.",
    )
    fabman_timeout_seconds: float = setting(
        "FABMAN_TIMEOUT_SECONDS",
        POSITIVE_NUMBER,
        "5",
        group=G.FABMAN,
        commented=True,
        doc="Read timeout of a Fabman call, in seconds.",
    )
    courses_cache_seconds: int = setting(
        "COURSES_CACHE_SECONDS",
        integer(),
        "60",
        group=G.FABMAN,
        doc="How long each process keeps the list of training courses, in seconds; 0 asks Fabman every time.",
    )

    # -- ClassMarker
    classmarker_webhook_secret: str | None = optional(
        "CLASSMARKER_WEBHOOK_SECRET",
        TEXT,
        group=G.CLASSMARKER,
        secret=True,
        required_in_prod=True,
        doc="The secret phrase ClassMarker signs every result with (ClassMarker > Webhooks).",
    )
    verify_classmarker_requests: bool = setting(
        "VERIFY_CLASSMARKER_REQUESTS",
        BOOLEAN,
        "true",
        group=G.CLASSMARKER,
        doc="Verify the X-Classmarker-Hmac-Sha256 signature of every result. Leave it on: with `BE_ENV=prod` the "
        "bridge refuses to start with it off; elsewhere `GET /ready` (`classmarker_verification: false` and a "
        "`warnings` line) and the console's overview say that verification is off.",
    )
    fernet_keys: tuple[str, ...] = required(
        "FERNET_KEY",
        FERNET_KEYS,
        group=G.CLASSMARKER,
        secret=True,
        doc="The key sealing `cm_user_id` in quiz links. Several keys, comma-separated, rotate: the first seals new "
        "links, any of them opens old ones. Generate one: `python main_run.py --gen-fernet-key`.",
    )
    max_course_attempts: int = setting(
        "MAX_COURSE_ATTEMPTS",
        integer(),
        "3",
        group=G.CLASSMARKER,
        doc="Failed attempts a member has per course; a course's `metadata.courses_cm.max_attempts` overrides it.",
    )
    cooldown_hours: tuple[float, ...] = setting(
        "COOLDOWN_HOURS",
        HOURS_LIST,
        "0",
        group=G.CLASSMARKER,
        doc="Hours a member waits before the next attempt after the n-th failed one: the first value after the "
        "first failure, the last value repeats (e.g. `0,24,72`); 0 turns the waiting period off. A course may set "
        "its own list as `metadata.courses_cm.cooldown_hours`, e.g. `[24, 168]`.",
    )
    quiz_link_days: int = setting(
        "QUIZ_LINK_DAYS",
        integer(minimum=1),
        "90",
        group=G.CLASSMARKER,
        doc="Days a quiz link's token is accepted, counted from when the link was made to the result's "
        "`time_started` (rule 4.10). A result taken through an older link does not count; the member is mailed "
        "a fresh link.",
    )
    fabman_concurrency: int = setting(
        "FABMAN_CONCURRENCY",
        integer(minimum=1),
        "8",
        group=G.CLASSMARKER,
        commented=True,
        doc="Most Fabman calls each worker process makes at once for stored results: its appliers, which drain "
        "the inbox the moment a result is stored (results of one member one after another).",
    )
    classmarker_api_key: str | None = optional(
        "CLASSMARKER_API_KEY",
        TEXT,
        group=G.CLASSMARKER,
        secret=True,
        unset="reconciliation is off",
        doc="ClassMarker API key (ClassMarker's API settings): the bridge then asks ClassMarker's results API for "
        "results whose webhook was lost (reconciliation), once its secret is set too.",
    )
    classmarker_api_secret: str | None = optional(
        "CLASSMARKER_API_SECRET",
        TEXT,
        group=G.CLASSMARKER,
        secret=True,
        unset="reconciliation is off",
        doc="The secret ClassMarker gives with that API key; it signs every request and is never logged.",
    )
    classmarker_api_url: str = setting(
        "CLASSMARKER_API_URL",
        http_url("https://api.classmarker.com", base=True),
        "https://api.classmarker.com",
        group=G.CLASSMARKER,
        doc="Base URL of ClassMarker's API.",
    )

    # -- Scheduler
    cronjob_token: str | None = optional(
        "CRONJOB_TOKEN",
        TEXT,
        group=G.SCHEDULER,
        secret=True,
        unset="the cron endpoints answer 503 (never 200)",
        doc="Token the scheduler sends in the `CronjobToken` header.",
    )
    reminder_days: int = setting(
        "REMINDER_DAYS",
        integer(),
        "14",
        group=G.SCHEDULER,
        doc="Days before a training ends when its holder gets one reminder mail; 0 turns reminders off.",
    )
    retry_base_seconds: int = setting(
        "RETRY_BASE_SECONDS",
        integer(),
        "30",
        group=G.SCHEDULER,
        commented=True,
        doc="First delay, in seconds, before a queued result or unsent mail is tried again; it doubles each time, "
        "with jitter, up to an hour.",
    )
    retry_max_age_hours: int = setting(
        "RETRY_MAX_AGE_HOURS",
        integer(minimum=1),
        "48",
        group=G.SCHEDULER,
        commented=True,
        doc="Age in hours after which a result or mail that still fails is marked dead (staff are alerted).",
    )
    lease_seconds: int = setting(
        "LEASE_SECONDS",
        integer(minimum=1),
        "120",
        group=G.SCHEDULER,
        commented=True,
        doc="Seconds a worker holds a result or mail it is working on before another may take it over.",
    )

    # -- Jobs the bridge runs by itself (contract section 10)
    jobs: bool = setting(
        "JOBS",
        BOOLEAN,
        "on",
        group=G.JOBS,
        commented=True,
        doc="on: the bridge's worker processes run the jobs below themselves; off: only the cron endpoints and the CLI run them.",
    )
    retry_every_seconds: int = setting(
        "RETRY_EVERY_SECONDS",
        integer(minimum=1),
        "30",
        group=G.JOBS,
        commented=True,
        doc="Seconds between runs of the retry job (queued results and unsent mail).",
    )
    sweep_at: dt.time | None = setting(
        "SWEEP_AT",
        TIME_OR_OFF,
        "03:15",
        group=G.JOBS,
        commented=True,
        doc="Local time (`TIMEZONE`) of the daily expiry sweep, HH:MM; off turns the sweep off.",
    )
    reconcile_minutes: int = setting(
        "RECONCILE_MINUTES",
        integer(minimum=1),
        "15",
        group=G.JOBS,
        commented=True,
        doc="Minutes between reconciliations with ClassMarker's API (only when its key and secret are set).",
    )
    digest_weekday: int | None = setting(
        "DIGEST_WEEKDAY",
        WEEKDAY_OR_OFF,
        "mon",
        group=G.JOBS,
        commented=True,
        doc="Weekday of the staff digest to `FABLAB_SUPPORT_EMAIL`, mon..sun; off turns the digest off.",
    )
    digest_at: dt.time = setting(
        "DIGEST_AT",
        TIME_OF_DAY,
        "07:00",
        group=G.JOBS,
        commented=True,
        doc="Local time (`TIMEZONE`) of the staff digest, HH:MM.",
    )

    # -- FabLab courses web
    courses_web_url: str | None = optional(
        "COURSES_WEB_URL",
        TEXT,
        group=G.COURSES_WEB,
        unset="no personal link in mail",
        doc="Base URL of the FabLab courses web; expiry and out-of-attempts mail link to "
        "`{COURSES_WEB_URL}?id={member}&key=...`.",
    )
    courses_web_private_key: str | None = optional(
        "COURSES_WEB_PRIVATE_KEY",
        TEXT,
        group=G.COURSES_WEB,
        secret=True,
        unset="no personal link in mail",
        doc="Secret shared with the courses web: `key` is the sha512 hex of the member id followed by this value.",
    )

    # -- Mail (Flask-Mail's defaults)
    mail_server: str = setting(
        "MAIL_SERVER", TEXT, "localhost", group=G.MAIL, example="smtp.example.org", doc="SMTP server host."
    )
    mail_port: int = setting(
        "MAIL_PORT",
        integer(minimum=1),
        "25",
        group=G.MAIL,
        example="587",
        doc="SMTP server port (587 for STARTTLS, 465 for SSL, 25 plain).",
    )
    mail_username: str | None = optional("MAIL_USERNAME", TEXT, group=G.MAIL, doc="SMTP user name.")
    mail_password: str | None = optional("MAIL_PASSWORD", TEXT, group=G.MAIL, secret=True, doc="SMTP password.")
    mail_use_tls: bool = setting("MAIL_USE_TLS", BOOLEAN, "false", group=G.MAIL, example="true", doc="Use STARTTLS.")
    mail_use_ssl: bool = setting("MAIL_USE_SSL", BOOLEAN, "false", group=G.MAIL, doc="Use SSL from the start (port 465).")
    mail_default_sender: str | None = optional(
        "MAIL_DEFAULT_SENDER",
        TEXT,
        group=G.MAIL,
        default_from="MAIL_USERNAME",
        doc="From address of member mail and alerts.",
    )
    mail_timeout_seconds: float = setting(
        "MAIL_TIMEOUT",
        POSITIVE_NUMBER,
        "10",
        group=G.MAIL,
        commented=True,
        doc="Seconds to wait for the SMTP server before a mail is left queued for the retry job.",
    )
    mail_suppress_send: bool = setting(
        "MAIL_SUPPRESS_SEND",
        BOOLEAN,
        "false",
        group=G.MAIL,
        commented=True,
        doc="Log mail instead of sending it (development only).",
    )

    # -- Your FabLab and its staff
    fablab_name: str = setting(
        "FABLAB_NAME",
        one_line(100),
        "FabLab Brno",
        group=G.FABLAB,
        commented=True,
        doc="The makerspace's name, signed under every member mail and named in the console and the staff digest.",
    )
    fablab_support_email: str | None = optional(
        "FABLAB_SUPPORT_EMAIL",
        TEXT,
        group=G.FABLAB,
        unset="no mail alerts, no contact line in member mail",
        doc="Staff address: alerts go there, and member mail names it for questions.",
    )
    discord_webhook_url: str | None = optional(
        "DISCORD_WEBHOOK_URL",
        TEXT,
        group=G.FABLAB,
        secret=True,
        unset="no Discord alerts",
        doc="Discord incoming-webhook URL for staff alerts.",
    )

    # -- Fabman's webhook (contract section 13)
    fabman_webhook_token: str | None = optional(
        "FABMAN_WEBHOOK_TOKEN",
        TEXT,
        group=G.FABMAN_WEBHOOK,
        secret=True,
        unset="`/fabman_webhook` answers 503",
        doc="Secret token of Fabman's webhook URL: register `{bridge}/fabman_webhook?token=<this>` in Fabman "
        '(Configuration > Integrations > Webhooks, events "Activity log").',
    )

    # -- The staff console (contract section 9)
    public_url: str | None = optional(
        "PUBLIC_URL",
        http_url("https://bridge.fablab.example", base=True),
        group=G.CONSOLE,
        unset="links start with `http://localhost:$PORT`; under `BE_ENV=prod` /staff/ answers 503",
        doc="The bridge's own public base URL; sign-in links in mail start with it, never with the request's Host "
        "header. Under `BE_ENV=prod` the console is served only when it is set.",
    )
    staff_emails: frozenset[str] = setting(
        "STAFF_EMAILS",
        ADDRESS_SET,
        "",
        group=G.CONSOLE,
        doc="Extra addresses allowed into the console, besides Fabman admins and owners.",
    )
    staff_link_minutes: int = setting(
        "STAFF_LINK_MINUTES",
        integer(minimum=1),
        "15",
        group=G.CONSOLE,
        doc="How long a sign-in link is valid, in minutes.",
    )
    staff_session_hours: int = setting(
        "STAFF_SESSION_HOURS",
        integer(minimum=1),
        "12",
        group=G.CONSOLE,
        doc="How long a console session lasts, in hours, unless staff sign out first.",
    )

    # -- Evidence and personal data (contract sections 16 and 17)
    evidence_signing_key: str | None = optional(
        "EVIDENCE_SIGNING_KEY",
        SIGNING_KEY,
        group=G.EVIDENCE,
        secret=True,
        required_in_prod=True,
        unset="one is generated once and kept in the instance folder (evidence-signing.key)",
        doc="Ed25519 key that signs evidence checkpoints: base64 of a 32-byte seed, e.g. "
        '`python -c "import base64,os;print(base64.b64encode(os.urandom(32)).decode())"`. Keep it in the '
        "secret store, never in the database.",
    )
    checkpoint_at: dt.time | None = setting(
        "CHECKPOINT_AT",
        TIME_OR_OFF,
        "02:45",
        group=G.EVIDENCE,
        commented=True,
        doc="Daily time (`TIMEZONE`) of the signed evidence checkpoint, HH:MM; off turns the job off.",
    )
    evidence_witness_emails: tuple[str, ...] = setting(
        "EVIDENCE_WITNESS_EMAILS",
        ADDRESS_LIST,
        "",
        group=G.EVIDENCE,
        doc="Addresses that receive each signed checkpoint by mail, to keep it outside the bridge.",
    )
    evidence_tsa_url: str | None = optional(
        "EVIDENCE_TSA_URL",
        http_url("https://tsa.example/tsr", base=False),
        group=G.EVIDENCE,
        doc="RFC 3161 time-stamping authority that stamps each checkpoint, e.g. https://freetsa.org/tsr.",
    )
    payload_retention_days: int | None = setting(
        "PAYLOAD_RETENTION_DAYS",
        DAYS_OR_OFF,
        "100",
        group=G.EVIDENCE,
        commented=True,
        doc="Days a raw webhook body (names, e-mail, IP, answers) is kept after its result is final; off keeps them.",
    )
    mail_retention_days: int | None = setting(
        "MAIL_RETENTION_DAYS",
        DAYS_OR_OFF,
        "30",
        group=G.EVIDENCE,
        commented=True,
        doc="Days a sent mail's body is kept; off keeps them.",
    )

    # -- The bridge itself
    be_env: str = setting(
        "BE_ENV",
        LOWER_CASE,
        "dev",
        group=G.BRIDGE,
        doc='"prod" for production (strict checks; no debugger: `FLASK_DEBUG` is removed at start); any other value '
        "is development.",
    )
    secret_key: str | None = optional(
        "SECRET_KEY",
        TEXT,
        group=G.BRIDGE,
        secret=True,
        required_in_prod=True,
        aliases=("FLASK_SECRET_KEY",),
        doc="Flask's secret key (it signs the console's cookies); `SECRET_KEY` wins when both names are set.",
    )
    database_url: str | None = optional(
        "DATABASE_URL",
        TEXT,
        group=G.BRIDGE,
        secret=True,
        unset="SQLite in the instance folder",
        doc="The bridge's own store, an SQLAlchemy URL; in production `postgresql://user:password@host:5432/dbname` "
        "(`postgres://` works too).",
    )
    timezone: str = setting(
        "TIMEZONE",
        TIME_ZONE,
        "Europe/Prague",
        group=G.BRIDGE,
        doc='The FabLab\'s IANA time zone; every "today" (training dates, expiry) is a date there.',
    )
    track_time: bool = setting(
        "TRACK_TIME",
        BOOLEAN,
        "false",
        group=G.BRIDGE,
        doc="Add a Server-Timing header (total and each Fabman call) to every response.",
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS",
        TEXT_LIST,
        "",
        group=G.BRIDGE,
        commented=True,
        example="https://www.fablabbrno.cz",
        unset="no CORS headers at all",
        doc="Browser origins allowed to call the bridge, comma-separated (`*` for any).",
    )

    # -- Serving
    trusted_proxies: int = setting(
        "TRUSTED_PROXIES",
        integer(),
        "0",
        group=G.SERVING,
        doc="How many reverse proxies in front of the bridge set X-Forwarded-For/-Proto (the client address for the "
        "sign-in limit, https for links); 0 trusts none: the socket's address counts.",
    )
    port: int = setting(
        "PORT",
        integer(minimum=1, maximum=65535),
        "5000",
        group=G.SERVING,
        doc="Port the bridge listens on: `python main_run.py`, `python main_run.py --demo` and gunicorn.",
    )

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


# Read by gunicorn.conf.py, which runs before the bridge is imported; declared here for .env.example and the docs.
GUNICORN_INTEGER = Parser(lambda _name, raw: int(raw), "an integer, read by gunicorn.conf.py with `int()`")
SERVER_VARIABLES: tuple[Variable[int], ...] = (
    Variable(
        "WEB_CONCURRENCY",
        GUNICORN_INTEGER,
        G.SERVING,
        "gunicorn worker processes.",
        default="2",
        commented=True,
    ),
    Variable(
        "GUNICORN_THREADS",
        GUNICORN_INTEGER,
        G.SERVING,
        "Threads per gunicorn worker (each worker takes no more connections than this).",
        default="8",
        commented=True,
    ),
)

SETTINGS_VARIABLES: tuple[Variable[Any], ...] = tuple(
    dataclasses.replace(f.metadata[KEY], field=f.name) for f in fields(Settings)
)
VARIABLES: tuple[Variable[Any], ...] = tuple(
    sorted((*SETTINGS_VARIABLES, *SERVER_VARIABLES), key=lambda v: list(Group).index(v.group))
)
"""Every variable, in the order of `.env.example`."""


def variable(name: str) -> Variable[Any]:
    """The declaration of one variable."""
    for declared in VARIABLES:
        if declared.name == name:
            return declared
    raise KeyError(f"{name} is not declared in the configuration table")


def names_read_by_the_bridge() -> frozenset[str]:
    """Every name :func:`load_settings` reads, older names included."""
    return frozenset(name for v in SETTINGS_VARIABLES for name in (v.name, *v.aliases))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the environment; raise ConfigError naming the first bad variable."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {declared.attribute: declared.read(source) for declared in SETTINGS_VARIABLES}
    for declared in SETTINGS_VARIABLES:
        if declared.default_from is not None and values[declared.attribute] is None:
            values[declared.attribute] = values[variable(declared.default_from).attribute]
    settings = Settings(**values)
    if settings.is_prod:
        _check_production(settings)
    return settings


def _check_production(settings: Settings) -> None:
    """Production is safe or does not start."""
    if not settings.verify_classmarker_requests:
        raise ConfigError("VERIFY_CLASSMARKER_REQUESTS cannot be off when BE_ENV=prod (anyone could post a passed result)")
    for declared in SETTINGS_VARIABLES:
        if declared.required_in_prod and getattr(settings, declared.attribute) is None:
            raise ConfigError(f"{declared.label} is required when BE_ENV=prod")


def read_port(env: Mapping[str, str] | None = None) -> int:
    """PORT, for `python main_run.py` and the demo (which needs no other setting)."""
    port = variable("PORT").read(os.environ if env is None else env)
    assert isinstance(port, int)  # PORT has a default
    return port


def default_database_url(instance_path: str) -> str:
    """The embedded SQLite store in Flask's instance folder."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_path) / 'bridge.sqlite3'}"
