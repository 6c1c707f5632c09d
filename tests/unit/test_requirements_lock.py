"""requirements.lock holds every production dependency, transitive ones too, pinned with hashes (issue 18).

`requirements.txt` stays the readable list of what the bridge uses; the lock
is what gets installed (`make venv`, Dockerfile.dev, nixpacks), with
`--require-hashes`, so a package replaced on the index, or a dependency of a
dependency that moved, cannot slip into a build.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    """Package names compare as PEP 503 normalises them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text("utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def locked_entries() -> dict[str, list[str]]:
    """Each locked package with the lines of its entry (its pin, hashes and `# via`)."""
    entries: dict[str, list[str]] = {}
    current = None
    for line in (ROOT / "requirements.lock").read_text("utf-8").splitlines():
        match = PIN.match(line)
        if match:
            current = canonical(match.group(1))
            entries[current] = [line]
        elif current is not None and line.startswith(" "):
            entries[current].append(line)
    return entries


def test_every_pin_of_requirements_txt_is_in_the_lock_at_the_same_version() -> None:
    wanted, locked = pins(ROOT / "requirements.txt"), pins(ROOT / "requirements.lock")

    assert wanted, "requirements.txt lists no pins"
    assert {name: (version, locked.get(name)) for name, version in wanted.items() if locked.get(name) != version} == {}


def test_every_locked_package_is_pinned_with_a_hash() -> None:
    entries = locked_entries()

    assert len(entries) > len(pins(ROOT / "requirements.txt"))  # the transitive dependencies are there too
    assert [name for name, lines in entries.items() if not any("--hash=sha256:" in line for line in lines)] == []


def test_the_lock_names_no_local_index() -> None:
    text = (ROOT / "requirements.lock").read_text("utf-8")

    assert "--index-url" not in text and "--extra-index-url" not in text and "--find-links" not in text


def test_every_install_step_installs_the_lock_checking_hashes() -> None:
    for name in ("Makefile", "Dockerfile.dev", "nixpacks.toml"):
        assert "--require-hashes -r requirements.lock" in (ROOT / name).read_text("utf-8"), name


def test_pip_tools_that_makes_the_lock_is_pinned_for_development() -> None:
    assert "pip-tools" in pins(ROOT / "requirements-dev.txt")
