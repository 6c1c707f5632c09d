"""Who may import whom: the bridge never needs the harness, and only tests import tests."""

from __future__ import annotations

import ast

import pytest

from harness.launch import ROOT


def imported_packages(folder: str) -> dict[str, set[str]]:
    """The top-level packages each module under `folder` imports, by module path."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        found[str(path.relative_to(ROOT))] = {name.split(".")[0] for name in names}
    return found


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("bridge", {"harness", "tests", "bench", "reliability"}),
        ("harness", {"tests", "bench", "reliability"}),
        ("bench", {"tests"}),
        ("reliability", {"tests"}),
    ],
)
def test_a_folder_imports_none_of_the_packages_it_must_not_need(folder: str, forbidden: set[str]) -> None:
    offending = {module: sorted(packages & forbidden) for module, packages in imported_packages(folder).items()}
    assert {module: packages for module, packages in offending.items() if packages} == {}
