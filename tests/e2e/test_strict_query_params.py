"""A query parameter the bridge cannot read is refused before anything happens.

`POST /cron/expire_trainings?dry_run=` once ran a real sweep (the empty value
read as "no") and deleted expired trainings. Now it is a 400 naming the
parameter, and the Fabman simulator's records, the mailbox and the outbox
show that nothing was done.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.domain.calendar import today_in
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.support import problem

CRON = "/cron/expire_trainings"


def _records(simulator: FabmanSimulator) -> dict[int, list[dict[str, object]]]:
    return {member["id"]: simulator.state.trainings_of(member["id"]) for member in simulator.state.members()}


def _expired(records: dict[int, list[dict[str, object]]]) -> list[object]:
    today = today_in(ZoneInfo("Europe/Prague"))
    return [
        r["id"]
        for held in records.values()
        for r in held
        if r["untilDate"] and dt.date.fromisoformat(str(r["untilDate"])) <= today
    ]


@pytest.mark.parametrize("query", ["dry_run=", "dry_run", "dry_run=%20", "dry_run=maybe", "dry_run=true&dry_run=false"])
def test_an_unreadable_dry_run_is_400_and_the_sweep_never_starts(
    client: FlaskClient,
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    bridge: Bridge,
    cron_headers: dict[str, str],
    query: str,
) -> None:
    before = _records(simulator)
    assert _expired(before), "the seed must hold expired trainings, or this test proves nothing"
    simulator.clear_requests()

    body = problem(client.post(f"{CRON}?{query}", headers=cron_headers), 400)

    assert body["field"] == "dry_run"
    assert "dry_run" in body["detail"]
    assert _records(simulator) == before
    assert simulator.requests == []
    assert smtp.messages == []
    assert bridge.store.outbox.messages() == []


def test_an_empty_include_offline_is_400_naming_it(
    client: FlaskClient, simulator: FabmanSimulator, api_headers: dict[str, str]
) -> None:
    simulator.clear_requests()

    body = problem(client.get("/absolved_trainings/6?include_offline=", headers=api_headers), 400)

    assert body["field"] == "include_offline"
    assert body["detail"].startswith("query parameter 'include_offline' is empty")
    assert simulator.requests == []
