"""Configuration is parsed once and fails fast with one line naming the variable, never its value."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography.fernet import Fernet

from bridge.config import VARIABLES, ConfigError, Settings, load_settings

KEY_A = Fernet.generate_key().decode("ascii")
KEY_B = Fernet.generate_key().decode("ascii")
API_KEY = "fabman-api-key-7f3a9c"
SIGNING_KEY = "c2lnbmluZy1rZXktb2YtdGhlLXRlc3RzLTMyLWJ5dGU="  # base64 of 32 bytes
BOOLEANS = ("VERIFY_CLASSMARKER_REQUESTS", "TRACK_TIME", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_SUPPRESS_SEND")


def minimal(**changes: str) -> dict[str, str]:
    """The least a development bridge needs, plus changes."""
    return {"FABMAN_API_KEY": API_KEY, "FERNET_KEY": KEY_A, **changes}


def production(**changes: str) -> dict[str, str]:
    """Everything a production bridge needs, plus changes."""
    production_only = {"SECRET_KEY": "flask-secret-91b2", "CLASSMARKER_WEBHOOK_SECRET": "cm-secret-5d2e"}
    return {**minimal(BE_ENV="prod", EVIDENCE_SIGNING_KEY=SIGNING_KEY, **production_only), **changes}


def config_error(env: dict[str, str]) -> str:
    """The message of the ConfigError the environment raises (checked to be one line)."""
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert "\n" not in message
    return message


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(minimal())

    assert settings.fabman_api_url == "https://fabman.io/api/v1"
    assert settings.verify_classmarker_requests is True
    assert settings.track_time is False
    assert settings.max_course_attempts == 3
    assert settings.timezone == "Europe/Prague"
    assert settings.courses_cache_seconds == 60
    assert settings.reminder_days == 14
    assert settings.port == 5000
    assert settings.be_env == "dev"
    assert settings.is_prod is False
    assert settings.cronjob_token is None
    assert settings.database_url is None


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(spelling, True) for spelling in ("1", "true", "TRUE", "True", "tRuE", "yes", "YES", "Yes", "on", "ON", "On")],
        *[(spelling, False) for spelling in ("0", "false", "FALSE", "False", "no", "NO", "No", "off", "OFF", "Off")],
        (" yes ", True),
        ("\tOff\n", False),
    ],
)
def test_booleans_accept_every_allowed_spelling(name: str, raw: str, expected: bool) -> None:
    settings = load_settings(minimal(**{name: raw}))

    assert getattr(settings, name.lower()) is expected


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("raw", ["maybe", "2", "yess", "nope", "enabled", "-1", "si", "ano"])
def test_an_invalid_boolean_names_the_variable_not_the_value(name: str, raw: str) -> None:
    message = config_error(minimal(**{name: raw}))

    assert name in message
    assert raw not in message


@pytest.mark.parametrize("raw", ["three", "3.5", "1e3", "0x10", "-1", "3 attempts"])
def test_max_course_attempts_must_be_a_whole_number(raw: str) -> None:
    message = config_error(minimal(MAX_COURSE_ATTEMPTS=raw))

    assert "MAX_COURSE_ATTEMPTS" in message
    assert raw not in message


def test_integers_are_parsed() -> None:
    settings = load_settings(minimal(MAX_COURSE_ATTEMPTS=" 5 ", COURSES_CACHE_SECONDS="0", REMINDER_DAYS="0", PORT="8080"))

    assert (settings.max_course_attempts, settings.courses_cache_seconds, settings.reminder_days, settings.port) == (
        5,
        0,
        0,
        8080,
    )


@pytest.mark.parametrize(
    "raw",
    [
        "not-a-fernet-key-but-a-secret-value",
        "c2hvcnQ=",  # valid base64, 5 bytes
        KEY_A[:-2],  # truncated
        "A" * 44,  # 33 bytes
    ],
    ids=["prose", "five-bytes", "truncated", "33-bytes"],
)
def test_an_invalid_fernet_key_is_refused_without_printing_it(raw: str) -> None:
    message = config_error(minimal(FERNET_KEY=raw))

    assert "FERNET_KEY" in message
    assert raw not in message


def test_a_list_of_fernet_keys_rotates_the_first_encrypts() -> None:
    settings = load_settings(minimal(FERNET_KEY=f" {KEY_B} , {KEY_A} ,"))

    assert settings.fernet_keys == (KEY_B, KEY_A)


def test_one_bad_key_in_the_list_stops_the_start_naming_no_key() -> None:
    message = config_error(minimal(FERNET_KEY=f"{KEY_A},broken-secret-key"))

    assert "FERNET_KEY" in message
    assert "broken-secret-key" not in message
    assert KEY_A not in message


@pytest.mark.parametrize("raw", ["Mars/Olympus_Mons", "Europe", "../../etc/passwd", "/etc/localtime", "x" * 300, "CET\x00"])
def test_an_unknown_timezone_is_refused(raw: str) -> None:
    message = config_error(minimal(TIMEZONE=raw))

    assert "TIMEZONE" in message
    assert raw not in message


def test_timezone_is_used_as_given() -> None:
    assert load_settings(minimal(TIMEZONE="America/New_York")).tz.key == "America/New_York"


@pytest.mark.parametrize("name", ["FABMAN_API_KEY", "FERNET_KEY"])
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_required_values_are_required_everywhere(name: str, blank: str | None) -> None:
    env = minimal()
    if blank is None:
        del env[name]
    else:
        env[name] = blank

    assert name in config_error(env)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("SECRET_KEY", "SECRET_KEY"),
        ("CLASSMARKER_WEBHOOK_SECRET", "CLASSMARKER_WEBHOOK_SECRET"),
        ("FABMAN_API_KEY", "FABMAN_API_KEY"),
        ("FERNET_KEY", "FERNET_KEY"),
        ("EVIDENCE_SIGNING_KEY", "EVIDENCE_SIGNING_KEY"),
    ],
)
def test_production_stops_on_a_missing_required_value(missing: str, named: str) -> None:
    env = production()
    del env[missing]

    message = config_error(env)

    assert named in message
    for secret in (API_KEY, KEY_A, "flask-secret-91b2", "cm-secret-5d2e", SIGNING_KEY):
        assert secret not in message


def test_development_runs_without_the_production_only_values() -> None:
    settings = load_settings(minimal())

    assert settings.secret_key is None
    assert settings.classmarker_webhook_secret is None


def test_development_needs_no_webhook_secret_when_verification_is_off() -> None:
    settings = load_settings(minimal(VERIFY_CLASSMARKER_REQUESTS="off"))

    assert not settings.is_prod and settings.verify_classmarker_requests is False
    assert settings.classmarker_webhook_secret is None


def test_production_does_not_start_with_verification_off() -> None:
    """Third wave: with BE_ENV=prod, VERIFY_CLASSMARKER_REQUESTS=false stops the start (tests/security has the attack)."""
    message = config_error(production(VERIFY_CLASSMARKER_REQUESTS="off"))

    assert "VERIFY_CLASSMARKER_REQUESTS" in message
    for secret in (API_KEY, KEY_A, "flask-secret-91b2", "cm-secret-5d2e"):
        assert secret not in message


def test_quiz_link_days_defaults_to_90_and_must_be_a_positive_integer() -> None:
    assert load_settings(minimal()).quiz_link_days == 90
    assert load_settings(minimal(QUIZ_LINK_DAYS="30")).quiz_link_days == 30
    for wrong in ("0", "-5", "ninety", "1.5"):
        assert "QUIZ_LINK_DAYS" in config_error(minimal(QUIZ_LINK_DAYS=wrong))


@pytest.mark.parametrize("name", ["SECRET_KEY", "FLASK_SECRET_KEY"])
def test_the_flask_secret_key_may_go_by_either_name(name: str) -> None:
    env = production()
    del env["SECRET_KEY"]
    env[name] = "either-name-secret"

    assert load_settings(env).secret_key == "either-name-secret"


def test_be_env_is_case_insensitive_and_anything_else_is_development() -> None:
    assert load_settings(production(BE_ENV="PROD")).is_prod
    assert not load_settings(minimal(BE_ENV="staging")).is_prod


@pytest.mark.parametrize(
    ("key", "header"),
    [
        ("abc123", "Bearer abc123"),
        ("Bearer abc123", "Bearer abc123"),
    ],
)
def test_the_fabman_key_is_sent_as_a_bearer_token_once(key: str, header: str) -> None:
    assert load_settings(minimal(FABMAN_API_KEY=key)).fabman_authorization == header


def test_the_api_url_loses_its_trailing_slash_and_must_be_http() -> None:
    assert load_settings(minimal(FABMAN_API_URL="http://fabman.test/api/v1/")).fabman_api_url == "http://fabman.test/api/v1"
    assert "FABMAN_API_URL" in config_error(minimal(FABMAN_API_URL="ftp://fabman.test"))


def test_mail_sender_defaults_to_the_username() -> None:
    settings = load_settings(minimal(MAIL_USERNAME="bridge@fablab.example"))

    assert settings.mail_default_sender == "bridge@fablab.example"


def test_secrets_stay_out_of_the_settings_repr() -> None:
    settings = load_settings(
        production(
            CRONJOB_TOKEN="cron-secret-4411",
            MAIL_PASSWORD="mail-secret-8812",
            COURSES_WEB_PRIVATE_KEY="web-secret-3390",
            DISCORD_WEBHOOK_URL="https://discord.example/api/webhooks/secret-6677",
        )
    )

    text = repr(settings)

    for secret in (API_KEY, KEY_A, "flask-secret-91b2", "cm-secret-5d2e", "cron-secret-4411", "mail-secret-8812"):
        assert secret not in text
    assert "web-secret-3390" not in text and "secret-6677" not in text
    assert isinstance(settings, Settings)


def test_evidence_and_privacy_settings_have_the_contract_defaults() -> None:
    settings = load_settings(minimal())

    assert settings.evidence_signing_key is None  # outside prod: generated and kept in the instance folder
    assert settings.checkpoint_at == dt.time(2, 45)
    assert settings.evidence_witness_emails == ()
    assert settings.evidence_tsa_url is None
    assert (settings.payload_retention_days, settings.mail_retention_days) == (100, 30)


def test_evidence_and_privacy_settings_are_read_and_off_turns_them_off() -> None:
    settings = load_settings(
        minimal(
            EVIDENCE_SIGNING_KEY=SIGNING_KEY,
            CHECKPOINT_AT="off",
            EVIDENCE_WITNESS_EMAILS="notary@example.org, board@fablab.example",
            EVIDENCE_TSA_URL="http://127.0.0.1:8318/tsr",
            PAYLOAD_RETENTION_DAYS="OFF",
            MAIL_RETENTION_DAYS="7",
        )
    )

    assert settings.evidence_signing_key == SIGNING_KEY and settings.checkpoint_at is None
    assert settings.evidence_witness_emails == ("notary@example.org", "board@fablab.example")
    assert settings.evidence_tsa_url == "http://127.0.0.1:8318/tsr"
    assert (settings.payload_retention_days, settings.mail_retention_days) == (None, 7)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVIDENCE_SIGNING_KEY", "bm90LTMyLWJ5dGVz"),
        ("EVIDENCE_SIGNING_KEY", "not base64 at all!"),
        ("CHECKPOINT_AT", "25:00"),
        ("EVIDENCE_WITNESS_EMAILS", "notary"),
        ("EVIDENCE_TSA_URL", "ftp://tsa.example"),
        ("PAYLOAD_RETENTION_DAYS", "0"),
        ("MAIL_RETENTION_DAYS", "soon"),
    ],
)
def test_a_bad_evidence_or_privacy_value_stops_the_start_naming_the_variable(name: str, value: str) -> None:
    message = config_error(minimal(**{name: value}))

    assert message.startswith(name) and value not in message


# -- one rule for every URL -------------------------------------------------------------------------

URLS = {
    "FABMAN_API_URL": ("fabman_api_url", "https://fabman.io/api/v1", True),
    "CLASSMARKER_API_URL": ("classmarker_api_url", "https://api.classmarker.com", True),
    "PUBLIC_URL": ("public_url", "https://bridge.fablab.example", True),
    "EVIDENCE_TSA_URL": ("evidence_tsa_url", "https://tsa.example/tsr", False),
}


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "url",
    [
        "https://h.example",
        "http://127.0.0.1:8080/api/v1",
        "https://user@h.example/path/",
        "https://h.example/?",
        "http://[::1]:8318/tsr",
        " https://h.example/padded ",
    ],
)
def test_every_url_variable_accepts_the_same_urls(name: str, url: str) -> None:
    attribute, _, base = URLS[name]

    value = getattr(load_settings(minimal(**{name: url})), attribute)

    assert value == (url.strip().rstrip("/") if base else url.strip())


@pytest.mark.parametrize("name", URLS)
@pytest.mark.parametrize(
    "url",
    [
        "h.example",
        "ftp://h.example",
        "HTTPS://h.example",
        "https://",
        "http://:80/",
        "https://h.example/?key=1",
        "https://h.example/#top",
        "https://h.example:99999",
        "https://h.example:port",
        "http://[::1",
        "https://h .example",
        "https://h.ex\tample",
        "https://h.example/\x00",
    ],
)
def test_every_url_variable_refuses_the_same_urls_in_one_line(name: str, url: str) -> None:
    _, example, _ = URLS[name]

    assert config_error(minimal(**{name: url})) == f"{name} must be an http(s) URL such as {example}"


def test_only_a_base_url_loses_its_trailing_slash() -> None:
    settings = load_settings(minimal(PUBLIC_URL="https://bridge.example/", EVIDENCE_TSA_URL="https://tsa.example/tsr/"))

    assert (settings.public_url, settings.evidence_tsa_url) == ("https://bridge.example", "https://tsa.example/tsr/")


# -- the table -------------------------------------------------------------------------------------


def test_each_field_is_declared_once_and_each_default_is_what_an_unset_variable_gives() -> None:
    """The dataclass defaults and load_settings cannot disagree: both are the table's default, parsed."""
    loaded = load_settings(minimal())
    declared = {v.field: v for v in VARIABLES if v.field is not None}

    assert set(declared) == {f.name for f in dataclasses.fields(Settings)}
    for f in dataclasses.fields(Settings):
        if f.default is not dataclasses.MISSING:
            assert getattr(loaded, f.name) == f.default, f.name


def test_secrets_are_exactly_the_fields_kept_out_of_repr() -> None:
    hidden = {f.name for f in dataclasses.fields(Settings) if not f.repr}

    assert hidden == {v.field for v in VARIABLES if v.secret and v.field is not None}
    assert {"fabman_api_key", "fernet_keys", "secret_key", "mail_password", "database_url"} <= hidden


def test_production_requires_what_the_table_marks_and_names_each() -> None:
    marked = sorted(v.label for v in VARIABLES if v.required_in_prod)

    assert marked == ["CLASSMARKER_WEBHOOK_SECRET", "EVIDENCE_SIGNING_KEY", "SECRET_KEY (or FLASK_SECRET_KEY)"]
    for label in marked:
        env = production()
        del env[label.split()[0]]
        assert config_error(env) == f"{label} is required when BE_ENV=prod"
