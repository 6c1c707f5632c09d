"""Reading ClassMarker webhooks: the signature rule and ClassMarker's loose types."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

import pytest

from bridge.adapters.classmarker import InvalidResult, parse_delivery
from bridge.domain.results import notes_name_result, sign, signature_valid, training_notes
from harness.classmarker import result_payload

SECRET = "phrase"
BODY = b'{"payload_status":"live","test":{"test_name":"Laser \\/ \\u00e1"}}'


def expected(body: bytes = BODY, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_sign_is_base64_hmac_sha256_of_the_raw_bytes() -> None:
    assert sign(SECRET, BODY) == expected()


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (expected(), True),
        (f" {expected()} ", True),
        (f"{expected(secret='old')},{expected()}", True),
        (f"{expected()}, garbage", True),
        (expected(secret="other"), False),
        (expected(body=BODY + b" "), False),
        ("", False),
        (None, False),
        (",,,", False),
        ("žluťoučký kůň", False),
    ],
)
def test_signature_header_may_hold_several_values(header: str | None, valid: bool) -> None:
    assert signature_valid(SECRET, BODY, header) is valid


def test_no_secret_never_verifies() -> None:
    assert signature_valid("", BODY, expected(secret="")) is False


def test_verify_ping_and_group_results_are_recognised() -> None:
    assert parse_delivery({"payload_status": "verify"}).kind == "verify"
    assert parse_delivery({"payload_type": "single_user_test_results_group", "result": {}}).kind == "group"
    link_shaped_group = {"payload_type": "single_user_test_results_link", "result": {"user_id": "7", "passed": True}}
    assert parse_delivery(link_shaped_group).kind == "group"


@pytest.mark.parametrize("cm_user_id", [None, "", "   "])
def test_a_result_without_cm_user_id_is_a_group_result(cm_user_id: str | None) -> None:
    payload = result_payload(cm_user_id)

    assert parse_delivery(payload).kind == "group"


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "text",
        None,
        {},
        {"payload_type": "single_user_test_results_link"},
        {"payload_type": "single_user_test_results_link", "result": []},
        {"payload_type": "single_user_test_results_link", "result": {"passed": True}},
        {"payload_type": "single_user_test_results_link", "result": {"link_result_id": True, "passed": True}},
        {"payload_type": "single_user_test_results_link", "result": {"link_result_id": "x" * 41, "passed": True}},
        {"payload_type": "single_user_test_results_link", "result": {"link_result_id": 1, "passed": "perhaps"}},
        {"payload_type": "single_user_test_results_link", "result": {"link_result_id": 1}},
    ],
)
def test_anything_else_is_not_a_result(payload: Any) -> None:
    with pytest.raises(InvalidResult):
        parse_delivery(payload)


def test_link_result_is_typed() -> None:
    result = parse_delivery(result_payload("tok", passed=False, percentage=45)).result

    assert result is not None
    assert (result.result_id, result.cm_user_id, result.passed, result.requires_grading) == ("88123401", "tok", False, False)
    assert (result.percentage, result.percentage_passmark, result.points_scored, result.points_available) == (45, 80, 4, 10)
    assert result.time_started == dt.datetime(2025, 11, 21, 8, 0, tzinfo=dt.UTC)
    assert result.time_finished == dt.datetime(2025, 11, 21, 8, 7, tzinfo=dt.UTC)
    assert (result.test_id, result.test_name, result.link_id) == ("2044187", "Laser cutter - safety", "1288001")


@pytest.mark.parametrize(
    ("field", "raw", "attribute", "value"),
    [
        ("link_result_id", "88123401", "result_id", "88123401"),
        ("link_result_id", 88123401.0, "result_id", "88123401"),
        ("link_result_id", " 42 ", "result_id", "42"),
        ("percentage", 80.0, "percentage", 80.0),
        ("percentage", "80", "percentage", 80.0),
        ("percentage", "80.5%", "percentage", 80.5),
        ("percentage", "", "percentage", None),
        ("percentage", "NaN", "percentage", None),
        ("percentage", True, "percentage", None),
        ("percentage_passmark", "75", "percentage_passmark", 75.0),
        ("points_scored", "9", "points_scored", 9.0),
        ("passed", "true", "passed", True),
        ("passed", 0, "passed", False),
        ("requires_grading", "Yes", "requires_grading", True),
        ("requires_grading", " yes ", "requires_grading", True),
        ("requires_grading", "No", "requires_grading", False),
        ("time_started", "1763712000", "time_started", dt.datetime(2025, 11, 21, 8, 0, tzinfo=dt.UTC)),
        ("time_started", "yesterday", "time_started", None),
        ("time_started", -5, "time_started", None),
        ("cm_user_id", " tok ", "cm_user_id", "tok"),
        ("cm_user_id", 12345, "cm_user_id", "12345"),
        ("email", "", "email", None),
    ],
)
def test_loose_types_are_coerced(field: str, raw: Any, attribute: str, value: Any) -> None:
    payload = result_payload("tok")
    payload["result"][field] = raw

    result = parse_delivery(payload).result

    assert getattr(result, attribute) == value


def test_test_and_link_objects_may_be_missing() -> None:
    payload = result_payload("tok")
    payload["test"] = None
    del payload["link"]

    result = parse_delivery(payload).result

    assert result is not None and (result.test_id, result.test_name, result.link_id) == (None, None, None)


def test_long_quiz_names_are_cut() -> None:
    result = parse_delivery(result_payload("tok", test_name="x" * 1000)).result

    assert result is not None and result.test_name == "x" * 255


def test_evidence_has_no_cm_user_id_or_ip() -> None:
    result = parse_delivery(result_payload("secret-token")).result

    assert result is not None
    evidence = result.evidence()
    assert "secret-token" not in str(evidence) and "203.0.113.7" not in str(evidence)
    assert evidence["result_id"] == "88123401" and evidence["time_finished"] == "2025-11-21T08:07:00+00:00"


def test_training_notes_name_quiz_score_and_result() -> None:
    result = parse_delivery(result_payload("tok", percentage="92.5")).result
    assert result is not None

    notes = training_notes(result)

    assert notes == "Online quiz “Laser cutter - safety” passed with 92.5 % (pass mark 80 %). ClassMarker result #88123401."
    assert notes_name_result(notes, "88123401")
    assert not notes_name_result(notes, "8812340")
    assert not notes_name_result(notes, "123401")
    assert not notes_name_result(None, "88123401")
