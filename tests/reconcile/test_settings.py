"""Reconciliation's settings: read once at start, a bad URL stops it naming the variable, the credentials never shown."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bridge.config import ConfigError, load_settings
from harness.launch import ROOT

BASE = {"FABMAN_API_KEY": "fabman-key", "FERNET_KEY": Fernet.generate_key().decode("ascii")}


def test_reconciliation_is_off_until_both_credentials_are_set() -> None:
    assert load_settings(BASE).classmarker_api_url == "https://api.classmarker.com"
    assert not load_settings(BASE).reconciliation_configured
    assert not load_settings({**BASE, "CLASSMARKER_API_KEY": "k"}).reconciliation_configured
    assert not load_settings({**BASE, "CLASSMARKER_API_SECRET": "s", "CLASSMARKER_API_KEY": " "}).reconciliation_configured
    assert load_settings({**BASE, "CLASSMARKER_API_KEY": "k", "CLASSMARKER_API_SECRET": "s"}).reconciliation_configured


def test_the_api_url_loses_its_trailing_slash() -> None:
    assert load_settings({**BASE, "CLASSMARKER_API_URL": "http://127.0.0.1:8080/"}).classmarker_api_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "url",
    ["api.classmarker.com", "ftp://api.classmarker.com", "https://", "https://api.classmarker.com/?key=1", "http://h:99999"],
)
def test_a_bad_api_url_stops_the_start_naming_the_variable(url: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**BASE, "CLASSMARKER_API_URL": url})

    assert str(raised.value) == "CLASSMARKER_API_URL must be an http(s) URL such as https://api.classmarker.com"


def test_the_credentials_are_not_in_the_settings_repr() -> None:
    settings = load_settings({**BASE, "CLASSMARKER_API_KEY": "key-4411", "CLASSMARKER_API_SECRET": "secret-9922"})

    assert "key-4411" not in repr(settings) and "secret-9922" not in repr(settings)


def test_env_example_documents_every_reconciliation_setting() -> None:
    listed = (ROOT / ".env.example").read_text(encoding="utf-8")

    for name in ("CLASSMARKER_API_URL", "CLASSMARKER_API_KEY", "CLASSMARKER_API_SECRET"):
        assert f"\n{name}=" in listed
