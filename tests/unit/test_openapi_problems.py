"""Each view declares its operation with decorators; the problem answers become references to the shared ones."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.services.profile import TrainingLinks
from bridge.web.openapi import UPSTREAM, answers, operation, problems


def spec(view: Any) -> dict[str, Any]:
    return view.specs_dict  # type: ignore[no-any-return]


def view() -> None:
    """Do a thing.

    In two lines
    of prose.

    And a second paragraph.
    """


def test_the_declared_codes_become_references_to_the_shared_problem_responses() -> None:
    documented = operation("x")(answers(200, TrainingLinks, "Done.")(problems(401, 404, UPSTREAM)(view)))

    responses = spec(documented)["responses"]
    assert list(responses) == ["200", "401", "404", "502", "503", "504"]
    assert [responses[code] for code in ("401", "404", "502", "503", "504")] == [
        {"$ref": "#/components/responses/Unauthorized"},
        {"$ref": "#/components/responses/NotFound"},
        {"$ref": "#/components/responses/Upstream"},
        {"$ref": "#/components/responses/Upstream"},
        {"$ref": "#/components/responses/Upstream"},
    ]
    assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/TrainingLinks"}
    assert documented.openapi.schemas == {"TrainingLinks": TrainingLinks}  # type: ignore[attr-defined]


def test_the_docstring_is_the_summary_and_the_description_and_flasgger_reads_no_yaml_from_it() -> None:
    def described() -> None:
        """Run the thing.

        It runs
        once.
        """

    documented = operation("cron", security="CronjobToken")(described)

    assert spec(documented)["summary"] == "Run the thing."
    assert spec(documented)["description"] == "It runs once.\n"
    assert spec(documented)["security"] == [{"CronjobToken": []}]
    assert documented.swag_paths == {}  # type: ignore[attr-defined]
    assert spec(operation("x")(view))["description"] == "In two lines of prose.\n\nAnd a second paragraph.\n"


def test_a_secret_that_is_not_configured_is_the_503_and_a_job_elsewhere_the_409() -> None:
    def cron() -> None:
        """Run."""

    documented = problems(401, not_configured=True, job=True)(cron)

    assert spec(documented)["responses"]["503"] == {"$ref": "#/components/responses/NotConfigured"}
    assert spec(documented)["responses"]["409"] == {"$ref": "#/components/responses/JobRunning"}


def test_an_unknown_code_a_status_declared_twice_or_an_operation_without_a_summary_is_refused_at_import() -> None:
    def twice() -> None:
        """Run."""

    def bare() -> None:
        pass

    with pytest.raises(ValueError, match="no shared problem response for \\[418\\]"):
        problems(418)(view)
    with pytest.raises(ValueError, match="status 401 is declared twice"):
        problems(401)(problems(401)(twice))
    with pytest.raises(ValueError, match="needs a docstring"):
        operation("x")(bare)
