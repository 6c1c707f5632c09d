"""Failed quiz attempts, kept in the member's `metadata.courses_cm.failed_courses`.

Every function returns a new metadata object and leaves every key it does not
own exactly as it was. The ids of results already counted are remembered in
`courses_cm.counted_results` (the newest few), so a result applied to Fabman
whose confirmation was lost is not counted twice when it is retried.
"""

from __future__ import annotations

import copy
from typing import Any

REMEMBERED_RESULTS = 50


def _courses_cm(metadata: dict[str, Any] | None) -> dict[str, Any]:
    section = (metadata or {}).get("courses_cm")
    return section if isinstance(section, dict) else {}


def failed_entries(metadata: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The `failed_courses` list, tolerating a missing or malformed one."""
    entries = _courses_cm(metadata).get("failed_courses")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def _same_course(entry: dict[str, Any], course_id: int) -> bool:
    try:
        return int(entry.get("id")) == course_id  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def attempts_used(metadata: dict[str, Any] | None, course_id: int) -> int:
    """Failed attempts counted for the course."""
    total = 0
    for entry in failed_entries(metadata):
        if _same_course(entry, course_id):
            try:
                total = max(total, int(entry.get("attempts") or 0))
            except (TypeError, ValueError):
                continue
    return total


def attempts_left(metadata: dict[str, Any] | None, course_id: int, allowed: int) -> int:
    """Attempts the member still has for the course (never negative)."""
    return max(0, allowed - attempts_used(metadata, course_id))


def was_counted(metadata: dict[str, Any] | None, result_id: str) -> bool:
    """Whether this ClassMarker result already changed the member's metadata."""
    counted = _courses_cm(metadata).get("counted_results")
    return isinstance(counted, list) and result_id in [str(x) for x in counted]


def _with_section(metadata: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    updated = copy.deepcopy(metadata) if isinstance(metadata, dict) else {}
    section = updated.get("courses_cm")
    if not isinstance(section, dict):
        section = {}
        updated["courses_cm"] = section
    return updated, section


def _remember(section: dict[str, Any], result_id: str) -> None:
    counted = section.get("counted_results")
    counted = [str(x) for x in counted] if isinstance(counted, list) else []
    section["counted_results"] = [*counted, result_id][-REMEMBERED_RESULTS:]


def with_failed_attempt(metadata: dict[str, Any] | None, course_id: int, title: str, result_id: str) -> dict[str, Any]:
    """Metadata with one more failed attempt for the course (the entry created at 1).

    The course's entry keeps its place in the list and any keys staff added;
    duplicate entries of the course (hand edits) merge into the first one.
    """
    updated, section = _with_section(metadata)
    used = attempts_used(metadata, course_id)
    entries: list[dict[str, Any]] = []
    for entry in failed_entries(updated):
        if not _same_course(entry, course_id):
            entries.append(entry)
        elif not any(_same_course(e, course_id) for e in entries):
            entries.append({**entry, "title": entry.get("title") or title, "attempts": used + 1})
    if not any(_same_course(e, course_id) for e in entries):
        entries.append({"id": course_id, "title": title, "attempts": 1})
    section["failed_courses"] = entries
    _remember(section, result_id)
    return updated


def without_failed_course(metadata: dict[str, Any] | None, course_id: int, result_id: str | None = None) -> dict[str, Any]:
    """Metadata with the course's failed entry cleared (after a pass or a staff reset)."""
    updated, section = _with_section(metadata)
    section["failed_courses"] = [e for e in failed_entries(updated) if not _same_course(e, course_id)]
    if result_id is not None:
        _remember(section, result_id)
    return updated


def has_failed_entry(metadata: dict[str, Any] | None, course_id: int) -> bool:
    """Whether there is anything to clear for the course."""
    return any(_same_course(e, course_id) for e in failed_entries(metadata))


def cleared(metadata: dict[str, Any] | None, course_id: int) -> dict[str, Any] | None:
    """Metadata without the course's failed entry, or None when there is nothing to clear."""
    return without_failed_course(metadata, course_id) if has_failed_entry(metadata, course_id) else None
