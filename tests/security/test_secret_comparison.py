"""Every secret is compared in constant time: the comparisons behave, and the code has no other path.

Timing itself is not measured (that would be a flaky test); instead the tests
pin the behaviour of the two comparison functions for the inputs a timing
attack would use, and read the source to prove that every credential check
goes through them and that nothing compares a secret setting with `==`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bridge.domain.results import sign, signature_valid
from bridge.web.auth import secrets_match

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
SECRET_SETTINGS = {
    "fabman_api_key",
    "fabman_authorization",
    "fernet_keys",
    "classmarker_webhook_secret",
    "cronjob_token",
    "secret_key",
    "mail_password",
    "courses_web_private_key",
    "discord_webhook_url",
}
EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)


# -- the comparison functions ----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [
        ("cron-token-123", "cron-token-123", True),
        ("cron-token-124", "cron-token-123", False),  # same length, last character wrong
        ("Cron-token-123", "cron-token-123", False),  # same length, first character wrong
        ("cron-token-12", "cron-token-123", False),  # a prefix
        ("cron-token-1234", "cron-token-123", False),  # longer
        ("", "cron-token-123", False),
        (None, "cron-token-123", False),
        ("anything", None, False),  # no secret configured: nothing matches
        ("", "", False),
        ("klíč-🔑-ž", "klíč-🔑-ž", True),  # unicode on both sides
        ("klíč-🔑-z", "klíč-🔑-ž", False),  # same character count, different bytes
        ("kli\u0301č", "klíč", False),  # a different normal form is a different secret
    ],
)
def test_secrets_match(given: str | None, expected: str | None, match: bool) -> None:
    assert secrets_match(given, expected) is match


SECRET = "webhook-secret"
BODY = b'{"payload_type": "single_user_test_results_link"}'


def _flip_last_character(signature: str) -> str:
    return signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]


@pytest.mark.parametrize(
    ("header", "valid"),
    [
        (sign(SECRET, BODY), True),
        (f"  {sign(SECRET, BODY)}  ", True),
        (f"{sign('other', BODY)}, {sign(SECRET, BODY)}", True),  # one of several values matches
        (_flip_last_character(sign(SECRET, BODY)), False),  # same length, wrong
        (sign(SECRET, BODY)[:-4], False),  # shorter
        (sign(SECRET, BODY) + "AAAA", False),  # longer
        (sign(SECRET, BODY + b" "), False),  # the signature of a different body
        (sign("webhook-secreT", BODY), False),  # a secret differing in one character
        (sign(SECRET, BODY).lower(), False),
        ("ž" * 44, False),  # unicode of the right length
        (",,,", False),
        ("", False),
        (None, False),
    ],
)
def test_webhook_signature(header: str | None, valid: bool) -> None:
    assert signature_valid(SECRET, BODY, header) is valid


def test_without_a_secret_no_signature_is_valid() -> None:
    assert not signature_valid("", BODY, sign("", BODY))


# -- the source: one constant-time path, no `==` on a secret ------------------------------


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(BRIDGE.rglob("*.py"))}


def _names_in(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            found.add(child.value)
    return found


def secret_equality_comparisons(tree: ast.AST) -> list[int]:
    """Lines where a secret setting (as an attribute, a name or getattr's string) meets ==, !=, in or not in."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(isinstance(op, EQUALITY) for op in node.ops):
            if _names_in(node) & SECRET_SETTINGS:
                lines.append(node.lineno)
    return lines


def _function(tree: ast.Module, name: str) -> ast.FunctionDef:
    return next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)


def _calls(node: ast.AST) -> set[str]:
    called = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            called.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return called


def test_no_secret_setting_is_compared_with_equality_anywhere_in_the_bridge() -> None:
    offenders = {
        str(path.relative_to(BRIDGE)): lines for path, tree in _trees().items() if (lines := secret_equality_comparisons(tree))
    }
    assert offenders == {}


@pytest.mark.parametrize(
    "source",
    [
        "if request.headers.get('CronjobToken') == settings.cronjob_token: pass",
        "ok = settings.fabman_api_key != given",
        "ok = given in (settings.classmarker_webhook_secret, None)",
        "ok = getattr(settings, 'secret_key') == value",
    ],
)
def test_the_source_check_catches_an_equality_on_a_secret(source: str) -> None:
    assert secret_equality_comparisons(ast.parse(source)) == [1]


def test_credential_checks_go_through_compare_digest() -> None:
    trees = {path.relative_to(BRIDGE).as_posix(): tree for path, tree in _trees().items()}
    auth, results = trees["web/auth.py"], trees["domain/results.py"]
    assert "compare_digest" in _calls(_function(auth, "secrets_match"))
    assert "compare_digest" in _calls(_function(results, "signature_valid"))
    assert "secrets_match" in _calls(_function(auth, "require_api_key"))
    assert "secrets_match" in _calls(_function(auth, "require_cron_token"))
    assert "signature_valid" in _calls(_function(trees["web/webhook.py"], "add_classmarker_training"))
    # No other module of the bridge compares credentials its own way (the simulator is the fake Fabman's).
    users = {name for name, tree in trees.items() if "compare_digest" in _calls(tree) and not name.startswith("simulator/")}
    assert users == {"web/auth.py", "domain/results.py"}
