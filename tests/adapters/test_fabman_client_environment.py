"""The Fabman client takes what the environment says about Fabman's host once, at start.

A proxy in `http_proxy` is still honoured; a `.netrc` entry for the host can
no longer replace the API key (requests would send its basic auth instead).
Both go through the simulator on a real socket.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.adapters.fabman import FabmanClient
from sandbox.simulator import FabmanSimulator

pytestmark = pytest.mark.e2e

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*PROXY_VARIABLES, "NETRC", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_a_proxy_from_the_environment_carries_every_call(
    simulator: FabmanSimulator, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("http_proxy", simulator.root_url)  # the simulator answers absolute-URI requests too
    client = FabmanClient("http://fabman.invalid/api/v1", f"Bearer {simulator.api_key}")
    try:
        assert client.get_member(1).first_name == "Petra"
        assert client.get_member(2).first_name == "Jan"
    finally:
        client.close()
    assert [(r.method, r.path, r.status) for r in simulator.requests] == [("GET", "/members/1", 200), ("GET", "/members/2", 200)]


def test_a_netrc_entry_for_the_host_does_not_replace_the_api_key(
    simulator: FabmanSimulator, clean_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-api-key\n")
    clean_environment.setenv("NETRC", str(netrc))
    client = FabmanClient(simulator.base_url, f"Bearer {simulator.api_key}")
    try:
        assert client.get_member(1).first_name == "Petra"
    finally:
        client.close()
    assert [r.status for r in simulator.requests] == [200]
