"""`.env.example` and docs/configuration.md are the table's, and the table declares every name the code reads.

Both files are written from :data:`bridge.config.VARIABLES`
(`python -m bridge.config --write`), and the committed ones must equal what it
writes. What the bridge reads is derived from the code, never kept by hand here:
:func:`bridge.config.load_settings` is run on an environment that records each
name it is asked for (it must be exactly the table's names), and every other
module is scanned for literal `os.environ` / `os.getenv` reads (gunicorn.conf.py's
WEB_CONCURRENCY and GUNICORN_THREADS), which the table must declare too. To add
a setting: declare it as a field of Settings in bridge/config/settings.py and
run `python -m bridge.config --write`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from cryptography.fernet import Fernet

from bridge.config import VARIABLES, load_settings, names_read_by_the_bridge, variable
from bridge.config.reference import REFERENCE, env_example, with_reference
from harness.launch import ROOT

EXAMPLE = ROOT / ".env.example"
# `NAME=value`, or `# NAME=value` for an optional setting shown with its default.
ASSIGNMENT = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
READ_OUTSIDE_CONFIG = [ROOT / "gunicorn.conf.py", ROOT / "main_run.py", *sorted((ROOT / "bridge").rglob("*.py"))]
# Read from the environment but set by a server, not by an operator: no setting to document.
SET_BY_SERVERS = {"SERVER_SOFTWARE"}
DECLARED = {name for v in VARIABLES for name in (v.name, *v.aliases)}


class RecordingEnvironment(dict[str, str]):
    """An environment that remembers every name asked of it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        self.asked.add(name)
        return super().get(name, default)


def _names_read_by_load_settings() -> set[str]:
    environment = RecordingEnvironment({"FABMAN_API_KEY": "key", "FERNET_KEY": Fernet.generate_key().decode("ascii")})
    load_settings(environment)
    return environment.asked


def _is_os(node: ast.expr, attribute: str) -> bool:
    """`os.<attribute>` (a WSGI `environ` dict is not the process environment)."""
    if not (isinstance(node, ast.Attribute) and node.attr == attribute):
        return False
    return isinstance(node.value, ast.Name) and node.value.id == "os"


def _reads_in(path: Path) -> dict[str, str | None]:
    """Literal names a module reads with os.environ.get(...), os.environ[...] or os.getenv(...), each with its fallback."""
    found: dict[str, str | None] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key: ast.expr | None = None
        fallback: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr == "get" and _is_os(node.func.value, "environ")) or _is_os(node.func, "getenv"):
                key = node.args[0]
                fallback = node.args[1] if len(node.args) > 1 else None
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os(node.value, "environ"):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found[key.value] = fallback.value if isinstance(fallback, ast.Constant) else None
    return found


def _names_read_in(path: Path) -> set[str]:
    return set(_reads_in(path))


def _names_read_outside_config() -> set[str]:
    return set().union(*(_names_read_in(path) for path in READ_OUTSIDE_CONFIG)) - SET_BY_SERVERS


def _names_the_bridge_reads() -> set[str]:
    return names_read_by_the_bridge() | _names_read_outside_config()


def _example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def _listed() -> list[str]:
    return [match.group(1) for line in _example_lines() if (match := ASSIGNMENT.match(line))]


def test_the_table_is_exactly_what_load_settings_reads() -> None:
    assert _names_read_by_load_settings() == names_read_by_the_bridge()
    names = [name for v in VARIABLES for name in (v.name, *v.aliases)]
    assert len(names) == len(set(names))


def test_every_name_the_code_reads_is_declared_in_the_table() -> None:
    assert sorted(_names_read_outside_config() - DECLARED) == []


def test_gunicorn_conf_falls_back_to_the_tables_defaults() -> None:
    """gunicorn.conf.py runs before the bridge is imported, so it repeats three defaults: they must be the table's."""
    fallbacks = _reads_in(ROOT / "gunicorn.conf.py")

    assert fallbacks == {name: variable(name).default for name in ("PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS")}


def test_the_committed_example_is_the_generated_one() -> None:
    """A change to the table without `python -m bridge.config --write` fails here."""
    assert EXAMPLE.read_text(encoding="utf-8") == env_example()


def test_the_reference_in_the_docs_is_the_generated_one() -> None:
    document = REFERENCE.read_text(encoding="utf-8")

    assert document == with_reference(document)
    for v in VARIABLES:
        assert f"| `{v.name}`" in document


def test_the_scan_finds_gunicorns_settings() -> None:
    """The control: the scan sees the reads gunicorn.conf.py makes, so an empty scan cannot pass silently."""
    assert {"PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS"} <= _names_read_in(ROOT / "gunicorn.conf.py")


def test_the_example_lists_every_setting_the_bridge_reads_and_nothing_else() -> None:
    listed = _listed()

    assert sorted(set(listed) - _names_the_bridge_reads()) == [], "listed in .env.example but never read"
    assert sorted(_names_the_bridge_reads() - set(listed)) == [], "read by the bridge but missing from .env.example"
    assert len(listed) == len(set(listed)), "listed twice"


def _explains(line: str) -> bool:
    """A comment saying what a setting does (not blank, not a section rule, not another setting)."""
    return line.startswith("# ") and "---" not in line and not ASSIGNMENT.match(line)


def test_each_setting_has_its_own_comment_right_above_it() -> None:
    lines = _example_lines()
    unexplained = [
        match.group(1)
        for number, line in enumerate(lines)
        if (match := ASSIGNMENT.match(line)) and (number == 0 or not _explains(lines[number - 1]))
    ]
    assert unexplained == []


def test_the_example_filled_with_the_two_keys_loads() -> None:
    """Every value shown, defaults in comments included, is one the bridge accepts."""
    values = {match.group(1): match.group(2) for line in _example_lines() if (match := ASSIGNMENT.match(line))}
    values |= {"FABMAN_API_KEY": "key", "FERNET_KEY": Fernet.generate_key().decode("ascii")}

    settings = load_settings(values)

    assert (settings.fablab_name, settings.port, settings.jobs, settings.fabman_concurrency) == ("FabLab Brno", 5000, True, 8)
