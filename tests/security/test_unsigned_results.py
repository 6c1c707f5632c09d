"""The unsigned result: with verification off, anyone who finds the webhook can post a passed result.

One wrong variable must not open that door in production: `BE_ENV=prod` with
`VERIFY_CLASSMARKER_REQUESTS=false` stops the start with one line naming the
variable. Outside production the bridge starts (local testing needs it), and
says so where staff look: `GET /ready` and the console's overview.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from bridge.application import bridge_of
from harness.classmarker import result_payload
from harness.launch import ROOT, SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import OWNER, sign_in
from tests.e2e.test_startup import start
from tests.unit.test_config import API_KEY, production


@pytest.mark.parametrize("off", ["false", "0", "OFF", "no"])
@pytest.mark.e2e
def test_production_with_verification_off_does_not_start(tmp_path: Path, off: str) -> None:
    env = {**production(VERIFY_CLASSMARKER_REQUESTS=off), "DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.sqlite3'}"}

    finished = start([str(ROOT / "main_run.py")], env, tmp_path)

    assert finished.returncode != 0
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1 and "VERIFY_CLASSMARKER_REQUESTS" in lines[0], finished.stderr
    assert "Traceback" not in finished.stderr
    for secret in (API_KEY, "flask-secret-91b2", "cm-secret-5d2e"):
        assert secret not in finished.stdout + finished.stderr


def test_outside_production_verification_off_is_said_on_ready_and_the_overview(
    make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink
) -> None:
    app = make_app(VERIFY_CLASSMARKER_REQUESTS="false", STAFF_EMAILS="lead@fablab.example")
    client = app.test_client()
    token = bridge_of(app).codec.encode(1, 2)

    unsigned = client.post("/add_classmarker_training", json=result_payload(token, result_id=993001))
    ready = client.get("/ready")

    assert unsigned.status_code == 200  # development takes it: that is what the warnings are for
    assert ready.status_code == 200
    assert ready.json["classmarker_verification"] is False
    assert any("VERIFY_CLASSMARKER_REQUESTS" in warning for warning in ready.json["warnings"])
    sign_in(client, smtp, OWNER)
    overview = client.get("/staff/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "signature verification is off" in overview and "VERIFY_CLASSMARKER_REQUESTS=false" in overview


def test_with_verification_on_ready_has_no_warning(make_app: Callable[..., Flask], simulator: FabmanSimulator) -> None:
    """The control: the default bridge verifies, and says nothing of it."""
    ready = make_app().test_client().get("/ready")

    assert ready.json["classmarker_verification"] is True and ready.json["warnings"] == []
