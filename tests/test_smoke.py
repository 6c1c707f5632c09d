"""The factory builds a working app from the test environment."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

pytestmark = pytest.mark.e2e


def test_health_and_problem_shape(client: FlaskClient) -> None:
    assert client.get("/health").json == {"status": "ok"}
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(missing.json)
