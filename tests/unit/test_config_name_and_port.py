"""FABLAB_NAME (the name signed under member mail) and PORT (which the demo reads without other settings)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from bridge.config import ConfigError, load_settings, read_port

MINIMAL = {"FABMAN_API_KEY": "fabman-api-key-7f3a9c", "FERNET_KEY": Fernet.generate_key().decode("ascii")}


def test_the_name_defaults_to_fablab_brno_and_can_be_set() -> None:
    assert load_settings(MINIMAL).fablab_name == "FabLab Brno"
    assert load_settings({**MINIMAL, "FABLAB_NAME": "  "}).fablab_name == "FabLab Brno"
    assert load_settings({**MINIMAL, "FABLAB_NAME": " Dílna Ostrava "}).fablab_name == "Dílna Ostrava"


@pytest.mark.parametrize("name", ["FabLab\nBcc: everyone@example.org", "Fab\rLab", "Fab\tLab", "x" * 101])
def test_a_name_that_is_not_one_short_line_stops_the_start(name: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**MINIMAL, "FABLAB_NAME": name})

    assert str(raised.value) == "FABLAB_NAME must be one line of printable text, at most 100 characters"


@pytest.mark.parametrize(
    ("environment", "port"), [({}, 5000), ({"PORT": ""}, 5000), ({"PORT": " 8123 "}, 8123), ({"PORT": "65535"}, 65535)]
)
def test_port_is_read_alone_and_by_the_settings(environment: dict[str, str], port: int) -> None:
    assert read_port(environment) == port
    assert load_settings({**MINIMAL, **environment}).port == port


@pytest.mark.parametrize(
    ("raw", "message"),
    [("http", "PORT must be an integer"), ("0", "PORT must be at least 1"), ("70000", "PORT must be at most 65535")],
)
def test_a_bad_port_is_one_line_naming_it(raw: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_port({"PORT": raw})

    assert str(raised.value) == message
