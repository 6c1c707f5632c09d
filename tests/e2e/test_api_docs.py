"""The served OpenAPI document is valid OpenAPI 3.0, covers every route, and matches what the endpoints answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

IGNORED_METHODS = {"HEAD", "OPTIONS"}
PROFILE_OPERATIONS = [
    ("get", "/absolved_trainings/{member_id}"),
    ("get", "/absolved_training/{member_id}"),
    ("get", "/available_trainings/{member_id}"),
    ("post", "/get_training_links"),
]


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.json  # type: ignore[no-any-return]


def documented_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, OpenAPI path) of every API route the app serves."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith(("flasgger.", "swagger_ui.", "staff.")):
            continue  # Swagger's own pages and the staff console (HTML for browsers) are not the API
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes += [(method.lower(), path) for method in sorted((rule.methods or set()) - IGNORED_METHODS)]
    return routes


def schema_validator(spec: dict[str, Any], schema: dict[str, Any]) -> OAS30Validator:
    """A validator for one schema of the document, resolving its `#/components/...` references."""
    return OAS30Validator({**schema, "components": spec["components"]})


def test_the_document_is_valid_openapi_3_0(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.0.")
    assert "swagger" not in spec and "definitions" not in spec
    try:
        validate(spec)
    except OpenAPIValidationError as error:  # pragma: no cover - shows what is wrong
        pytest.fail(f"invalid OpenAPI document: {error.message} at {list(error.absolute_path)}")


def test_every_route_is_documented_with_summary_security_and_responses(app: Flask, spec: dict[str, Any]) -> None:
    schemes = set(spec["components"]["securitySchemes"])
    routes = documented_routes(app)
    assert ("get", "/available_trainings/{member_id}") in routes

    for method, path in routes:
        operation = spec["paths"].get(path, {}).get(method)
        assert operation is not None, f"{method.upper()} {path} is not documented"
        assert operation.get("summary", "").strip(), f"{method.upper()} {path} has no summary"
        assert "security" in operation, f"{method.upper()} {path} does not say who may call it"
        assert operation["responses"], f"{method.upper()} {path} documents no responses"
        assert any(code.startswith("2") for code in operation["responses"]), f"{method.upper()} {path}: no success"
        for requirement in operation["security"]:
            assert set(requirement) <= schemes
        if operation["security"]:
            assert "401" in operation["responses"], f"{method.upper()} {path} is secured but documents no 401"
        for name in re.findall(r"{([^}]+)}", path):
            declared = [p for p in operation.get("parameters", []) if p["in"] == "path" and p["name"] == name]
            assert declared and declared[0]["required"], f"{method.upper()} {path}: path parameter {name}"


def test_nothing_is_documented_that_the_app_does_not_serve(app: Flask, spec: dict[str, Any]) -> None:
    served = set(documented_routes(app))

    documented = {(method, path) for path, operations in spec["paths"].items() for method in operations}

    assert documented <= served


@pytest.mark.parametrize(("method", "path"), PROFILE_OPERATIONS)
def test_profile_operations_document_auth_errors_and_examples(spec: dict[str, Any], method: str, path: str) -> None:
    operation = spec["paths"][path][method]

    assert operation["security"] == [{"FabmanApiKey": []}]
    assert {"200", "401", "404", "502", "503", "504"} <= set(operation["responses"])
    success = operation["responses"]["200"]["content"]["application/json"]["schema"]
    reference = success.get("items", success)["$ref"]  # the answer's type, declared once beside its use case
    component = spec["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert "example" in component
    schema_validator(spec, component).validate(component["example"])
    assert operation["tags"] == ["profile"]


def test_training_links_document_their_body_and_field_errors(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/get_training_links"]["post"]
    assert operation["requestBody"] == {"$ref": "#/components/requestBodies/MemberCourse"}
    request_body = spec["components"]["requestBodies"]["MemberCourse"]

    body = request_body["content"]["application/json"]
    assert request_body["required"] is True
    validator = schema_validator(spec, body["schema"])
    validator.validate(body["example"])
    validator.validate({"member_id": "12", "training_id": "3"})
    assert not validator.is_valid({"member_id": 1})
    assert {"400", "422"} <= set(operation["responses"])


def test_the_api_key_scheme_is_the_authorization_header(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["FabmanApiKey"]

    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")


def test_profile_answers_match_their_documented_schemas(
    client: FlaskClient, api_headers: dict[str, str], spec: dict[str, Any]
) -> None:
    answers = {
        ("get", "/absolved_trainings/{member_id}"): client.get("/absolved_trainings/5?include_offline=true", headers=api_headers),
        ("get", "/available_trainings/{member_id}"): client.get("/available_trainings/2", headers=api_headers),
        ("post", "/get_training_links"): client.post(
            "/get_training_links", json={"member_id": 2, "training_id": 2}, headers=api_headers
        ),
    }
    for (method, path), response in answers.items():
        assert response.status_code == 200
        schema = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        schema_validator(spec, schema).validate(response.json)
        assert response.json, path


def test_problem_answers_match_the_problem_schema(client: FlaskClient, spec: dict[str, Any]) -> None:
    validator = schema_validator(spec, {"$ref": "#/components/schemas/Problem"})

    for response in (client.get("/available_trainings/1"), client.get("/nowhere"), client.post("/available_trainings/1")):
        validator.validate(response.json)


def test_swagger_ui_is_served(client: FlaskClient) -> None:
    page = client.get("/apidocs/")

    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "swagger-ui" in html
    assert "/apispec.json" in html
    scripts = re.findall(r'src="([^"]*swagger-ui-bundle[^"]*\.js)"', html)
    assert scripts
    with client.get(scripts[0]) as script:
        assert script.status_code == 200
