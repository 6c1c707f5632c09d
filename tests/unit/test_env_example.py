"""`.env.example` lists every setting the bridge reads, and nothing else, each explained.

What the bridge reads is derived from the code, never kept by hand here:
:func:`bridge.config.load_settings` is run on an environment that records each
name it is asked for (it must be exactly :data:`bridge.config.VARIABLES`), and
every other module is scanned for literal `os.environ` / `os.getenv` reads
(gunicorn.conf.py's WEB_CONCURRENCY and GUNICORN_THREADS). To add a setting:
read it in load_settings, add it to VARIABLES, and document it in .env.example.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from cryptography.fernet import Fernet

from bridge.config import VARIABLES, load_settings
from harness.launch import ROOT

EXAMPLE = ROOT / ".env.example"
# `NAME=value`, or `# NAME=value` for an optional setting shown with its default.
ASSIGNMENT = re.compile(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
READ_OUTSIDE_CONFIG = [ROOT / "gunicorn.conf.py", ROOT / "main_run.py", *sorted((ROOT / "bridge").rglob("*.py"))]
# Read from the environment but set by a server, not by an operator: no setting to document.
SET_BY_SERVERS = {"SERVER_SOFTWARE"}


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


def _names_read_in(path: Path) -> set[str]:
    """Literal names a module reads with os.environ.get(...), os.environ[...] or os.getenv(...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            if (node.func.attr == "get" and _is_os(node.func.value, "environ")) or _is_os(node.func, "getenv"):
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_os(node.value, "environ"):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.add(key.value)
    return found


def _names_the_bridge_reads() -> set[str]:
    return set(VARIABLES).union(*(_names_read_in(path) for path in READ_OUTSIDE_CONFIG)) - SET_BY_SERVERS


def _example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def _listed() -> list[str]:
    return [match.group(1) for line in _example_lines() if (match := ASSIGNMENT.match(line))]


def test_variables_is_exactly_what_load_settings_reads() -> None:
    assert _names_read_by_load_settings() == set(VARIABLES)
    assert len(VARIABLES) == len(set(VARIABLES))


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
