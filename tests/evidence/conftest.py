"""Fixtures of the evidence tests: results sent as ClassMarker sends them, and raw SQL on the test store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from bridge.application import Bridge
from harness.classmarker import quiz_of, result_payload, signed

MARTIN, EVA = 5, 6
SOLDERING, SAFETY = 6, 1


@pytest.fixture
def send(client: FlaskClient, bridge: Bridge) -> Callable[..., dict[str, Any]]:
    """Send one signed result for a member and course, taken through that course's quiz; the webhook's answer."""

    def send_result(member_id: int, course_id: int, result_id: int, **fields: Any) -> dict[str, Any]:
        fields.setdefault("quiz", quiz_of(course_id))
        body, headers = signed(result_payload(bridge.codec.encode(member_id, course_id), result_id=result_id, **fields))
        answer = client.post("/add_classmarker_training", data=body, headers=headers)
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    return send_result


@pytest.fixture
def sql(bridge: Bridge) -> Callable[..., Any]:
    """Run raw SQL on the store as an attacker with write access would (a connection of their own)."""
    engine = create_engine(bridge.store.database.url)

    def run(statement: str, **parameters: Any) -> Any:
        with engine.begin() as connection:
            result = connection.execute(text(statement), parameters)
            return result.all() if result.returns_rows else result.rowcount

    yield run
    engine.dispose()
