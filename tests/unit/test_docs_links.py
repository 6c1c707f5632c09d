"""The repository explains itself: the README and docs/ link only to files a clone has.

Every relative link in README.md and docs/*.md must name a file or folder
inside the repository, and a `#anchor` must name a heading of its target
(GitHub's heading ids).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.launch import ROOT

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _anchor(heading: str) -> str:
    """GitHub's id for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    return {_anchor(h) for h in HEADING.findall(FENCE.sub("", document.read_text(encoding="utf-8")))}


def _links(document: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", document.read_text(encoding="utf-8")))


def test_the_documents_exist() -> None:
    assert {p.name for p in DOCUMENTS} >= {"README.md", "contract.md"}
    assert (ROOT / "docs" / "README.md").is_file()


def test_the_heading_ids_follow_github() -> None:
    assert _anchor("5. The bridge's own store") == "5-the-bridges-own-store"
    assert _anchor("6. Scheduler, cron endpoints and CLI") == "6-scheduler-cron-endpoints-and-cli"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_stays_inside_the_repository_and_resolves(document: Path) -> None:
    assert "../shared" not in document.read_text(encoding="utf-8")
    broken = []
    for link in _links(document):
        if re.match(r"^[a-z]+:", link):  # https:, mailto: - outside by nature, not a file of the clone
            continue
        path, _, anchor = link.partition("#")
        target = (document.parent / path).resolve() if path else document
        if not target.is_relative_to(ROOT) or not target.exists():
            broken.append(link)
        elif anchor and (target.is_dir() or target.suffix != ".md" or anchor not in _anchors(target)):
            broken.append(link)
    assert broken == []
