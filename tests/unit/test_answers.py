"""Answers declared once: the JSON written, the OpenAPI schema and its example all come from the type."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from flask import Flask
from openapi_schema_validator import OAS30Validator

from bridge.answers import answer, described, example_of, schema_of, to_json
from bridge.domain.statuses import EventStatus, FabmanOutcome, ReceiptStatus
from bridge.services.profile import AbsolvedTraining, AvailableTraining
from bridge.services.results.receipts import WebhookReceipt
from bridge.services.results.retrying import RetrySummary
from bridge.web import API
from bridge.web.openapi import components


def documented() -> dict[str, type[Any]]:
    """Every type an operation answers with or takes as its body (the views are only registered: no Bridge)."""
    app = Flask("documented")
    for module in API:
        app.register_blueprint(module.blueprint)
    schemas, bodies = components(app)
    assert set(bodies) <= set(schemas)
    return schemas


DOCUMENTED = documented()


@pytest.mark.parametrize("answer_type", DOCUMENTED.values(), ids=list(DOCUMENTED))
def test_every_example_is_valid_against_its_own_schema_and_names_every_field(answer_type: type) -> None:
    schema = schema_of(answer_type)

    OAS30Validator(schema).validate(schema["example"])
    written = [item.name for item in dataclasses.fields(answer_type) if not item.metadata["spread"]]
    left_out = {item.name for item in dataclasses.fields(answer_type) if item.metadata["omit_none"]}
    assert [name for name in schema["example"] if name not in left_out] == [name for name in written if name not in left_out]


def test_the_schema_follows_the_type_required_nullable_formats_and_descriptions() -> None:
    schema = schema_of(AbsolvedTraining)

    assert schema["required"] == ["id", "title", "cs_name", "en_name", "date", "until_date"]
    until = {"type": "string", "nullable": True, "description": "Null: never expires.", "format": "date"}
    assert schema["properties"]["until_date"] == until
    assert schema["properties"]["online"] == {"type": "boolean"}
    assert not OAS30Validator(schema).is_valid({**to_json(example_of(AbsolvedTraining)), "id": "two"})


def test_an_answer_is_written_in_the_declared_order_and_an_undeclared_or_missing_field_fails_loudly() -> None:
    example = example_of(AvailableTraining)
    values = {item.name: getattr(example, item.name) for item in reversed(dataclasses.fields(AvailableTraining))}

    assert list(to_json(AvailableTraining(**values))) == [item.name for item in dataclasses.fields(AvailableTraining)]
    with pytest.raises(TypeError, match="unexpected keyword argument 'secret'"):
        AvailableTraining(**values, secret="x")
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'title'"):
        AvailableTraining(**{k: v for k, v in values.items() if k != "title"})


def test_dates_moments_and_enums_are_written_as_iso_text_and_their_values() -> None:
    @answer
    class Written:
        day: dt.date = described(dt.date(2026, 3, 2))
        moment: dt.datetime | None = described(None)
        status: EventStatus = described(EventStatus.APPLIED)

    moment = dt.datetime(2026, 3, 2, 9, 14, 3, 412000, tzinfo=dt.UTC)
    assert to_json(Written(day=dt.date(2026, 3, 2), moment=moment, status=EventStatus.DEAD)) == {
        "day": "2026-03-02",
        "moment": "2026-03-02T09:14:03.412000+00:00",
        "status": "dead",
    }
    properties = schema_of(Written)["properties"]
    assert properties["moment"] == {"type": "string", "format": "date-time", "nullable": True}
    assert properties["status"] == {"type": "string", "enum": list(EventStatus)}


def test_a_field_left_out_while_none_is_neither_required_nor_nullable() -> None:
    receipt = WebhookReceipt(status=ReceiptStatus.IGNORED, detail="ClassMarker verification ping acknowledged")
    schema = schema_of(WebhookReceipt)

    assert to_json(receipt) == {"status": "ignored", "detail": "ClassMarker verification ping acknowledged"}
    assert schema["required"] == ["status"]
    assert "nullable" not in schema["properties"]["event_id"]
    assert not OAS30Validator(schema).is_valid({"status": "ignored", "event_id": None})


def test_a_spread_mapping_writes_its_entries_into_the_object_with_the_field_name_in_front() -> None:
    summary = dataclasses.replace(example_of(RetrySummary), fabman_events={FabmanOutcome.MAILED: 2, FabmanOutcome.FAILED: 1})
    written = to_json(summary)

    assert list(written)[-3:] == ["mails_dead", "fabman_events_mailed", "fabman_events_failed"]
    assert (written["fabman_events_mailed"], written["fabman_events_failed"]) == (2, 1)
    OAS30Validator(schema_of(RetrySummary)).validate(written)
    assert not OAS30Validator(schema_of(RetrySummary)).is_valid({**written, "fabman_events_mailed": "two"})


def test_a_value_without_a_json_form_is_refused() -> None:
    with pytest.raises(TypeError, match="no JSON form for object"):
        to_json(object())
