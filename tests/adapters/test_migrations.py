"""The schema's history reads in file order, and no revision depends on today's models.

A revision that imports a live column type changes meaning when that type
changes; a file order that differs from the chain makes the next revision's
`down_revision` a guess. Both are checked here, from the files themselves.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.adapters.store import MIGRATIONS

VERSIONS = MIGRATIONS / "versions"
ROOT = Path(__file__).resolve().parents[2]


def _assignments(path: Path) -> dict[str, object]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if isinstance(node.value, ast.Constant):
                found[node.targets[0].id] = node.value.value
    return found


def _files() -> list[Path]:
    return sorted(VERSIONS.glob("[0-9]*.py"))


def test_file_order_is_the_chain_order() -> None:
    files = _files()
    assert files, "no revision files found"
    previous: object = None
    for position, path in enumerate(files, start=1):
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.py", path.name), f"{path.name}: name it NNNN_slug.py"
        assert int(path.name[:4]) == position, f"{path.name} stands at place {position} of the chain"
        values = _assignments(path)
        assert values.get("down_revision") == previous, f"{path.name} revises {values.get('down_revision')!r}, not {previous!r}"
        previous = values["revision"]


def test_every_revision_id_is_unique() -> None:
    ids = [_assignments(path)["revision"] for path in _files()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_a_revision_imports_nothing_of_the_bridge(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    assert not [name for name in imported if name.split(".")[0] == "bridge"], f"{path.name} imports live code: {imported}"


@pytest.mark.e2e
def test_alembic_ini_finds_the_chain_and_its_single_head() -> None:
    answer = subprocess.run(
        [sys.executable, "-m", "alembic", "heads"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert answer.returncode == 0, answer.stderr
    heads = [line.split()[0] for line in answer.stdout.splitlines() if line.strip()]
    assert heads == [_assignments(_files()[-1])["revision"]]
