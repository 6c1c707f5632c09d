"""Hypothesis against the result parser, the signed webhook and the cm_user_id codec.

Whatever a correctly signed body holds (any JSON, any bytes, huge or negative
numbers, unicode, nesting, wrong types in any field), the bridge answers 200
with a recorded rejection or an ignore, or a 4xx; never a 5xx, and Fabman is
never written to unless the body carries a token this bridge issued.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.adapters.classmarker import InvalidResult, parse_delivery
from bridge.adapters.codec import CmUserIdCodec, InvalidCmUserId
from bridge.application import Bridge, bridge_of
from bridge.domain.results import ResultDelivery
from harness.classmarker import result_payload, signed
from sandbox.simulator import FabmanSimulator

WRITES = {"PUT", "POST", "PATCH", "DELETE"}
DELETE = object()
# Every field of a ClassMarker link result the bridge may read, as a path into the payload.
FIELDS: list[tuple[str, ...]] = [
    ("payload_type",),
    ("payload_status",),
    ("test",),
    ("link",),
    ("result",),
    ("test", "test_id"),
    ("test", "test_name"),
    ("link", "link_id"),
    *[
        ("result", name)
        for name in (
            "link_result_id",
            "cm_user_id",
            "user_id",
            "email",
            "percentage",
            "points_scored",
            "points_available",
            "requires_grading",
            "time_started",
            "time_finished",
            "percentage_passmark",
            "passed",
        )
    ],
]
WRONG_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -(2**63),
    10**40,
    -1.5e308,
    1e-320,
    "",
    " ",
    "Žluťoučký kůň 🐎\u202e\u0000",
    "x" * 5000,
    [],
    [1, "a", None],
    {},
    {"nested": {"deeper": [{"deepest": None}]}},
]
UNTRUSTED_OUTCOMES = {"verified", "ignored", "duplicate", "rejected"}

numbers = (
    st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 1e308, -1e308, 5e-324])
)
json_scalars = st.none() | st.booleans() | numbers | st.text(max_size=60)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
mutations = st.lists(st.tuples(st.sampled_from(FIELDS), st.just(DELETE) | json_values), min_size=1, max_size=6)


def mutated(payload: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> dict[str, Any]:
    """The payload with fields replaced or removed (a change under a field no longer an object is skipped)."""
    for path, value in changes:
        parent: Any = payload
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if not isinstance(parent, dict):
            continue
        if value is DELETE:
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return payload


def post_signed(client: FlaskClient, body: dict[str, Any] | bytes) -> Any:
    payload, headers = signed(body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
    return client.post("/add_classmarker_training", data=payload, headers=headers)


def fabman_writes(simulator: FabmanSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in simulator.requests if r.method in WRITES]


def assert_untrusted_outcome(response: Any, bridge: Bridge) -> None:
    """A body without a token of ours: a 4xx problem, or 200 with the rejection recorded in the store."""
    assert response.status_code in {200, 400, 413}, response.get_data(as_text=True)
    receipt = response.get_json()
    if response.status_code != 200:
        assert receipt["status"] == response.status_code
        return
    assert receipt["status"] in UNTRUSTED_OUTCOMES, receipt
    if receipt["status"] == "rejected":
        assert bridge.store.inbox.get(receipt["event_id"]).status == "rejected"


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def quiet_app(make_app: Callable[..., Flask]) -> Flask:
    """A bridge that records mail in its outbox without talking SMTP (the fuzzing is about input, not delivery)."""
    return make_app(MAIL_SUPPRESS_SEND="true")


@pytest.fixture
def quiet_client(quiet_app: Flask) -> FlaskClient:
    return quiet_app.test_client()


# -- the parser -----------------------------------------------------------------


@given(payload=json_values)
@settings(max_examples=500)
def test_parser_accepts_or_raises_invalid_result_for_any_json(payload: Any) -> None:
    try:
        delivery = parse_delivery(payload)
    except InvalidResult:
        return
    assert isinstance(delivery, ResultDelivery)
    assert delivery.kind in {"verify", "group", "link"}


@given(changes=mutations)
@settings(max_examples=500)
def test_parser_types_every_field_of_a_mutated_result(changes: list[tuple[tuple[str, ...], Any]]) -> None:
    try:
        delivery = parse_delivery(mutated(result_payload("token"), changes))
    except InvalidResult:
        return
    if delivery.kind == "link":
        result = delivery.result
        assert result is not None
        assert isinstance(result.passed, bool)
        assert result.result_id and len(result.result_id) <= 40 and result.result_id.isprintable()
        for text in (result.test_name, result.email):
            assert text is None or (0 < len(text) <= 255 and text.isprintable())
        for number in (result.percentage, result.points_scored, result.points_available, result.percentage_passmark):
            assert number is None or isinstance(number, float)


# -- the signed webhook ---------------------------------------------------------------


@pytest.mark.e2e
@given(payload=json_values)
@HYPOTHESIS
def test_signed_arbitrary_json_is_answered_without_5xx_or_fabman_writes(
    payload: Any, quiet_client: FlaskClient, quiet_app: Flask, simulator: FabmanSimulator
) -> None:
    assert_untrusted_outcome(post_signed(quiet_client, json.dumps(payload).encode("utf-8")), bridge_of(quiet_app))
    assert fabman_writes(simulator) == []


@pytest.mark.e2e
@given(body=st.binary(max_size=300) | st.text(alphabet=string.printable + '{}[]":,ž🐎\x00', max_size=300).map(str.encode))
@HYPOTHESIS
def test_signed_arbitrary_bytes_are_answered_without_5xx_or_fabman_writes(
    body: bytes, quiet_client: FlaskClient, quiet_app: Flask, simulator: FabmanSimulator
) -> None:
    assert_untrusted_outcome(post_signed(quiet_client, body), bridge_of(quiet_app))
    assert fabman_writes(simulator) == []


@pytest.mark.e2e
@given(changes=mutations, token=st.none() | st.text(max_size=120) | st.from_regex(r"gAAAAA[A-Za-z0-9_-]{60,100}", fullmatch=True))
@HYPOTHESIS
def test_signed_results_with_junk_fields_and_foreign_tokens_never_reach_fabman(
    changes: list[tuple[tuple[str, ...], Any]],
    token: str | None,
    quiet_client: FlaskClient,
    quiet_app: Flask,
    simulator: FabmanSimulator,
) -> None:
    payload = mutated(result_payload(token), changes)
    assert_untrusted_outcome(post_signed(quiet_client, payload), bridge_of(quiet_app))
    assert fabman_writes(simulator) == []


@pytest.mark.e2e
@given(changes=mutations)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_signed_results_with_our_token_and_junk_fields_never_fail_with_5xx(
    changes: list[tuple[tuple[str, ...], Any]], quiet_client: FlaskClient, quiet_app: Flask, simulator: FabmanSimulator
) -> None:
    """With a genuine token the result may apply; junk elsewhere is a 400 or typed away, never an error."""
    token = bridge_of(quiet_app).codec.encode(1, 2)
    changes = [(path, value) for path, value in changes if path not in {("result", "cm_user_id"), ("result",)}]
    writes_before = len(fabman_writes(simulator))
    response = post_signed(quiet_client, mutated(result_payload(token), changes))
    assert response.status_code in {200, 400}, response.get_data(as_text=True)
    receipt = response.get_json()
    if response.status_code == 400 or receipt["status"] in {"verified", "ignored", "duplicate"}:
        assert len(fabman_writes(simulator)) == writes_before
    else:
        assert receipt["status"] == "accepted", receipt
        event = bridge_of(quiet_app).store.inbox.get(receipt["event_id"])
        assert event is not None
        if event.status == "rejected":  # junk in the link's quiz or the start time: rule 4.10 refuses, Fabman untouched
            assert event.outcome in {"wrong_quiz", "link_too_old"}, (event.outcome, event.last_error)
            assert len(fabman_writes(simulator)) == writes_before
        else:
            assert event.status == "applied", (event.status, event.last_error)


@pytest.mark.e2e
def test_every_field_missing_or_with_a_wrong_type_is_a_4xx_or_a_recorded_outcome(
    quiet_client: FlaskClient, quiet_app: Flask, simulator: FabmanSimulator, subtests: pytest.Subtests
) -> None:
    for path in FIELDS:
        with subtests.test(field=".".join(path)):
            for number, value in enumerate([DELETE, *WRONG_VALUES]):
                result_id = f"wrong-{'.'.join(path)}-{number}"
                payload = mutated(result_payload("not-a-token-of-ours", result_id=result_id), [(path, value)])
                assert_untrusted_outcome(post_signed(quiet_client, payload), bridge_of(quiet_app))
    assert fabman_writes(simulator) == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"result":' * 50_000 + b"1" + b"}" * 50_000,
        b"1" * 5_000,
        b'{"payload_type": "single_user_test_results_link", "result": {"link_result_id": NaN, "passed": Infinity}}',
        "\ufeff{}".encode(),
        b"\xff\xfe{}",
    ],
    ids=["deep-array", "deep-object", "huge-integer", "nan-infinity", "utf8-bom", "invalid-utf8"],
)
def test_pathological_signed_bodies_are_4xx(body: bytes, quiet_client: FlaskClient, simulator: FabmanSimulator) -> None:
    response = post_signed(quiet_client, body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["status"] == 400
    assert fabman_writes(simulator) == []


@pytest.mark.e2e
def test_a_result_in_another_unicode_encoding_is_400_and_not_stored(
    quiet_client: FlaskClient, quiet_app: Flask, simulator: FabmanSimulator
) -> None:
    """json.loads would guess UTF-16; the bridge stores and re-reads bodies as UTF-8, so it must refuse them up front."""
    bridge = bridge_of(quiet_app)
    body = json.dumps(result_payload(bridge.codec.encode(1, 2))).encode("utf-16")
    response = post_signed(quiet_client, body)
    assert response.status_code == 400
    assert bridge.store.inbox.events(status=None, limit=10) == []
    assert fabman_writes(simulator) == []


# -- the codec ---------------------------------------------------------------------

CODEC = CmUserIdCodec((Fernet.generate_key().decode("ascii"),))
OTHER_CODEC = CmUserIdCodec((Fernet.generate_key().decode("ascii"),))


@given(token=st.text(max_size=500) | st.from_regex(r"gAAAAA[A-Za-z0-9_=-]{0,200}", fullmatch=True))
@settings(max_examples=500)
def test_codec_rejects_any_string_with_invalid_cm_user_id_only(token: str) -> None:
    with pytest.raises(InvalidCmUserId):
        CODEC.decode(token)


@given(member_id=st.integers(0, 2**32 - 1), course_id=st.integers(0, 2**32 - 1))
@settings(max_examples=200)
def test_codec_round_trips_and_another_key_rejects(member_id: int, course_id: int) -> None:
    token = CODEC.encode(member_id, course_id)
    assert len(token) <= 100 and token.isascii()
    identity = CODEC.decode(token)
    assert (identity.member_id, identity.course_id) == (member_id, course_id)
    with pytest.raises(InvalidCmUserId):
        OTHER_CODEC.decode(token)


@given(token=st.builds(lambda m, c: CODEC.encode(m, c), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), data=st.data())
@settings(max_examples=200)
def test_codec_rejects_any_tampered_token(token: str, data: st.DataObject) -> None:
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(string.ascii_letters + string.digits + "-_").filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    try:
        identity = CODEC.decode(tampered)
    except InvalidCmUserId:
        return
    # A changed last character can leave the decoded bytes equal (base64 padding bits).
    assert identity == CODEC.decode(token)
