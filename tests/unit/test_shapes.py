"""Response shapes declared once: the OpenAPI schema and the answer both come from the type."""

from __future__ import annotations

import dataclasses

import pytest
from openapi_schema_validator import OAS30Validator

from bridge.web.shapes import SHAPES, AbsolvedTraining, AvailableTraining, components, schema_of, shape


@pytest.mark.parametrize("shape_type", SHAPES, ids=lambda shape_type: shape_type.__name__)
def test_every_example_is_valid_against_its_own_schema_and_names_every_field(shape_type: type) -> None:
    schema = schema_of(shape_type)

    OAS30Validator(schema).validate(schema["example"])
    assert list(schema["example"]) == [item.name for item in dataclasses.fields(shape_type)]


def test_the_schema_follows_the_type_required_nullable_formats_and_descriptions() -> None:
    schema = components()["AbsolvedTraining"]

    assert schema["required"] == ["id", "title", "cs_name", "en_name", "date", "until_date"]
    until = {"type": "string", "nullable": True, "description": "Null: never expires.", "format": "date"}
    assert schema["properties"]["until_date"] == until
    assert schema["properties"]["online"] == {"type": "boolean"}
    assert not OAS30Validator(schema).is_valid({**AbsolvedTraining.EXAMPLE, "id": "two"})


def test_an_answer_is_shaped_in_the_declared_order_and_an_undeclared_key_fails_loudly() -> None:
    offer = dict(reversed(list(AvailableTraining.EXAMPLE.items())))

    assert list(shape(AvailableTraining, offer)) == [item.name for item in dataclasses.fields(AvailableTraining)]
    with pytest.raises(TypeError, match="unexpected keyword argument 'secret'"):
        shape(AvailableTraining, {**offer, "secret": "x"})
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'title'"):
        shape(AvailableTraining, {k: v for k, v in offer.items() if k != "title"})
