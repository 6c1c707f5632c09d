"""The evidence search exported: the console's CSV download, `GET /admin/evidence` and `flask evidence`, as the page searches."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge
from bridge.services.console.exports import EVIDENCE_COLUMNS
from bridge.services.ledger import LedgerRow
from harness.classmarker import quiz_of, result_payload, signed
from tests.support import problem

pytestmark = pytest.mark.e2e

MARTIN, EVA, SOLDERING, SAFETY = 5, 6, 6, 1


@pytest.fixture
def passes(client: FlaskClient, bridge: Bridge) -> None:
    """Martin passes Pájení and Bezpečnost, Eva passes Pájení."""
    for result_id, (member_id, course_id) in enumerate(((MARTIN, SOLDERING), (MARTIN, SAFETY), (EVA, SOLDERING)), start=7001):
        body, headers = signed(
            result_payload(bridge.codec.encode(member_id, course_id), result_id=result_id, quiz=quiz_of(course_id))
        )
        assert client.post("/add_classmarker_training", data=body, headers=headers).json["status"] == "accepted"
    assert len(bridge.store.console.find_ledger()[0]) == 3


def test_admin_evidence_filters_like_the_page(client: FlaskClient, api_headers: dict[str, str], passes: None) -> None:
    everything = client.get("/admin/evidence", headers=api_headers).json
    martin = client.get(f"/admin/evidence?member_id={MARTIN}", headers=api_headers).json
    laser = client.get(f"/admin/evidence?member_id={MARTIN}&course_id={SOLDERING}", headers=api_headers).json
    paged = client.get("/admin/evidence?limit=1&offset=1", headers=api_headers).json

    assert [row["result_id"] for row in everything] == ["7003", "7002", "7001"]
    assert list(everything[0]) == list(EVIDENCE_COLUMNS)
    assert [row["result_id"] for row in martin] == ["7002", "7001"]
    assert [(row["member_id"], row["course_id"], row["percentage"]) for row in laser] == [(MARTIN, SOLDERING, 90.0)]
    assert [row["result_id"] for row in paged] == ["7002"]
    assert client.get("/admin/evidence?to=2000-01-01", headers=api_headers).json == []
    assert client.get("/admin/evidence?from=2026-05-02&to=2026-05-01", headers=api_headers).json == []
    assert len(client.get("/admin/evidence?from=0001-01-01&to=9999-12-31", headers=api_headers).json) == 3


def test_admin_evidence_needs_the_api_key_and_valid_filters(client: FlaskClient, api_headers: dict[str, str]) -> None:
    problem(client.get("/admin/evidence"), 401)
    assert problem(client.get("/admin/evidence?member_id=x", headers=api_headers), 422)["field"] == "member_id"
    assert problem(client.get("/admin/evidence?from=yesterday", headers=api_headers), 422)["field"] == "from"
    problem(client.get("/admin/evidence?limit=0", headers=api_headers), 422)


def test_flask_evidence_prints_json_or_csv(runner: FlaskCliRunner, passes: None) -> None:
    as_json = runner.invoke(args=["evidence", "--member", str(MARTIN), "--course", str(SOLDERING)])
    as_csv = runner.invoke(args=["evidence", "--member", str(MARTIN), "--csv"])
    nothing = runner.invoke(args=["evidence", "--member", str(MARTIN), "--to", "2000-01-01"])

    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.output)
    assert [(row["result_id"], row["course_title"], row["percentage"]) for row in rows] == [("7001", "Pájení", 90.0)]
    table = list(csv.reader(io.StringIO(as_csv.output)))
    assert table[0] == list(EVIDENCE_COLUMNS) and [row[1] for row in table[1:]] == ["7002", "7001"]
    assert json.loads(nothing.output) == []
    assert runner.invoke(args=["evidence"]).exit_code == 2  # --member is required


def test_evidence_downloads_as_utf8_csv_with_every_ledger_column(staff: FlaskClient, bridge: Bridge) -> None:
    answer = staff.get(f"/staff/evidence.csv?member={MARTIN}")

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="evidence-')
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8"))))
    assert rows[0] == list(EVIDENCE_COLUMNS)
    assert len(rows) == 2
    record = dict(zip(rows[0], rows[1], strict=True))
    entry = bridge.store.console.find_ledger(member_id=MARTIN)[0][0]
    assert record["course_title"] == "Pájení" and record["percentage"] == "90.0" and record["result_id"] == "5002"
    assert record["fabman_record_id"] == str(entry.fabman_record_id)
    assert '"test_name": "Soldering"' in record["evidence"]


def test_a_csv_row_has_a_value_for_every_ledger_column() -> None:
    """The CSV writes each row as the ledger's answer does: that answer has every column, in table order."""
    assert tuple(item.name for item in dataclasses.fields(LedgerRow)) == EVIDENCE_COLUMNS
