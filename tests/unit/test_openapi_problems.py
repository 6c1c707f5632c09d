"""Each view declares its problem answers once; the OpenAPI docstring gets the shared references."""

from __future__ import annotations

import pytest

from bridge.web.openapi import UPSTREAM, problems


def view() -> None:
    """Do a thing.
    ---
    tags: [x]
    responses:
      200:
        description: Done.
    """


def test_the_declared_codes_become_references_to_the_shared_problem_responses() -> None:
    documented = problems(401, 404, UPSTREAM)(view)

    assert documented.__doc__ is not None
    assert documented.__doc__.splitlines()[-5:] == [
        "      401: {$ref: '#/components/responses/Unauthorized'}",
        "      404: {$ref: '#/components/responses/NotFound'}",
        "      502: {$ref: '#/components/responses/Upstream'}",
        "      503: {$ref: '#/components/responses/Upstream'}",
        "      504: {$ref: '#/components/responses/Upstream'}",
    ]


def test_a_secret_that_is_not_configured_is_the_503() -> None:
    def cron() -> None:
        """Run.
        ---
        responses:
          200: {description: ok}
        """

    def indented() -> None:
        pass

    # A docstring indented less than its function (set by hand: a formatter would re-indent a literal one).
    indented.__doc__ = "Run.\n    ---\n    responses:\n      200: {description: ok}\n    "

    documented = problems(401, not_configured=True)(indented)
    assert documented.__doc__ is not None and documented.__doc__.rstrip().endswith(
        "      503: {$ref: '#/components/responses/NotConfigured'}"
    )
    with pytest.raises(ValueError, match="`responses:` must be the last key"):
        problems(401)(cron)


def test_an_unknown_code_or_a_docstring_ending_elsewhere_is_refused_at_import() -> None:
    def trailing() -> None:
        pass

    trailing.__doc__ = "Run.\n    ---\n    responses:\n      200: {description: ok}\n    security: []\n    "

    with pytest.raises(ValueError, match="no shared problem response for \\[418\\]"):
        problems(418)(view)
    with pytest.raises(ValueError, match="must be the last key"):
        problems(401)(trailing)
