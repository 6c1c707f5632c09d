"""Who may import whom (the bridge never needs the harness, and only tests import tests), and one name per class."""

from __future__ import annotations

import ast

import pytest

from harness.launch import ROOT


def class_names(*folders: str) -> dict[str, list[str]]:
    """Every class defined under `folders` (nested ones too), by name, with where each is defined."""
    found: dict[str, list[str]] = {}
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    found.setdefault(node.name, []).append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


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


def test_no_two_classes_of_the_bridge_and_the_sandbox_share_a_name() -> None:
    """A name read in a traceback, a log or an import says which class it is: the product's or the simulated world's."""
    names = class_names("bridge", "sandbox")
    assert len(names) > 100  # the walk found the packages' classes
    assert {name: places for name, places in names.items() if len(places) > 1} == {}
