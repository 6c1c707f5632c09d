"""Schemathesis against the served OpenAPI document: every operation, with and without credentials.

The app is backed by the Fabman and ClassMarker simulators (well-behaved), so
any 5xx is the bridge's own fault; every response must match the documented status
codes, content type and body schema. Each operation is one subtest; examples
are bounded so the module stays well under a minute.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import negative_data_rejection

from bridge.application import bridge_of
from bridge.clock import SettableClock
from harness import CRON_TOKEN, FABMAN_WEBHOOK_TOKEN
from sandbox.simulator import FabmanSimulator

# FUZZ_EXAMPLES=500 explores deeper locally; CI keeps the bounded default.
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))
UNDOCUMENTED = ("/static/", "/flasgger_static/", "/apidocs/", "/apispec.json", "/oauth2-redirect.html", "/staff/")
"""Swagger's own pages and the staff console (HTML for browsers) are not the API."""


def _routes(app: Flask) -> set[str]:
    """Every API route the app serves, as `METHOD /path/{param}` labels."""
    labels = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(UNDOCUMENTED):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        labels |= {f"{method} {path}" for method in rule.methods or () if method not in {"HEAD", "OPTIONS"}}
    return labels


@pytest.fixture
def operations(reconciling: Callable[..., Flask], clock: SettableClock) -> list[Any]:
    """Every operation of the served document of a fully configured bridge on the simulators; it documents every route.

    The simulators answer in process (the bridge's Fabman and ClassMarker sessions have them mounted), and so
    does the bridge: schemathesis calls its WSGI app.
    """
    app = reconciling(clock)
    _settle_after_each_request(app)
    schema = schemathesis.openapi.from_wsgi("/apispec.json", app)
    loaded = list(schema.get_all_operations())
    assert all(not isinstance(result, Err) for result in loaded), [result.err() for result in loaded if isinstance(result, Err)]
    found = [result.ok() for result in loaded]
    assert {operation.label for operation in found} == _routes(app)
    return found


def _settle_after_each_request(app: Flask) -> None:
    """Answer each request only once the work it started in the background is done, as the suite's test client does.

    Otherwise an applier or the mail sender still runs while Hypothesis
    generates the next case, and what they do (MIME boundaries come from the
    global `random`) reads to Hypothesis as a strategy using `random`.
    """
    bridge = bridge_of(app)
    inner = app.wsgi_app

    def settled(environ: Any, start_response: Any) -> list[bytes]:
        body = inner(environ, start_response)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()  # runs what the view deferred until its answer was out
        if not (bridge.applier.wait_idle(60) and bridge.sender.wait_idle(60)):
            raise AssertionError("the bridge's background work did not finish within 60 s")
        return chunks

    app.wsgi_app = settled  # type: ignore[method-assign]


def _scheme(operation: Any) -> str | None:
    """The security scheme an operation documents (None for public operations)."""
    requirements = operation.definition.raw.get("security") or []
    return next(iter(requirements[0]), None) if requirements else None


def _has_inputs(operation: Any) -> bool:
    return bool(operation.definition.raw.get("parameters") or operation.definition.raw.get("requestBody"))


def _explore(operation: Any, mode: GenerationMode, check: Callable[[Any], None]) -> int:
    """Run `check` on bounded generated cases of one operation; how many cases ran."""
    ran = 0

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def explore(case: Any) -> None:
        nonlocal ran
        ran += 1
        check(case)

    explore()
    return ran


@pytest.mark.timeout(600)  # every operation in one test: minutes on a loaded machine
def test_with_credentials_no_5xx_and_responses_match_the_document(
    operations: list[Any], simulator: FabmanSimulator, subtests: pytest.Subtests
) -> None:
    """The FabLab web's key and the scheduler's token, as documented; the webhook stays unsigned (401).

    Positive and negative cases. The bridge is lenient on purpose (unknown body
    fields are ignored, digit strings may carry spaces), so a schema-violating
    request it accepts is not a failure; every other built-in check runs,
    including the probe that the same request without or with a wrong
    credential is refused.
    """
    credentials = {"FabmanApiKey": {"Authorization": simulator.api_key}, "CronjobToken": {"CronjobToken": CRON_TOKEN}}
    query_credentials = {"FabmanWebhookToken": {"token": FABMAN_WEBHOOK_TOKEN}}
    cases = 0
    for operation in operations:
        scheme = _scheme(operation)

        def check(case: Any, scheme: str | None = scheme) -> None:
            headers = credentials.get(scheme or "", {})
            params = query_credentials.get(scheme or "")
            response = case.call_and_validate(headers=headers, params=params, excluded_checks=[negative_data_rejection])
            assert response.status_code < 500, case.as_curl_command()
            if scheme == "ClassMarkerSignature":
                assert response.status_code == 401, case.as_curl_command()

        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if _has_inputs(operation) else [])
        for mode in modes:
            with subtests.test(operation=operation.label, mode=mode.value):
                cases += _explore(operation, mode, check)
    assert cases >= len(operations) * 10


@pytest.mark.timeout(600)
def test_without_credentials_every_protected_operation_is_401(
    operations: list[Any], simulator: FabmanSimulator, subtests: pytest.Subtests
) -> None:
    """No key, no token, no signature (or a generated wrong one): 401 in the problem shape, nothing asked of Fabman."""
    cases = 0
    for operation in operations:
        scheme = _scheme(operation)

        def check(case: Any, scheme: str | None = scheme) -> None:
            before = len(simulator.requests)
            response = case.call_and_validate()
            if scheme is None:
                assert response.status_code == 200, case.as_curl_command()
                return
            assert response.status_code == 401, case.as_curl_command()
            assert response.json()["status"] == 401
            assert len(simulator.requests) == before

        with subtests.test(operation=operation.label):
            cases += _explore(operation, GenerationMode.POSITIVE, check)
    assert cases >= len(operations)


@pytest.mark.parametrize("path", ["/get_training_links", "/admin/reset_attempts", "/training_expiration"])
def test_json_nested_too_deep_to_parse_is_400_not_500(path: str, client: Any, api_headers: dict[str, str]) -> None:
    headers = {**api_headers, "CronjobToken": CRON_TOKEN, "Content-Type": "application/json"}
    response = client.post(path, data=b"[" * 100_000 + b"]" * 100_000, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["detail"] == "the body must be a JSON object"
