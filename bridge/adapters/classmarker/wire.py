"""ClassMarker's results API answers, read into typed results once.

The API's types are looser than the webhook's: ids, percentages and times may
be numbers or strings, older results carry neither `passed` nor
`percentage_passmark`, and `status` says whether a result is finished (`f`)
or still in progress (`ip`). Each field the bridge decides on is coerced
here; the result's fields are kept as ClassMarker sent them, so the result
can be stored in the webhook's layout with nothing lost.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from bridge.adapters.classmarker.errors import ClassMarkerBadAnswer
from bridge.domain.results import awaiting_grading, link_quiz

Json = dict[str, Any]
IN_PROGRESS = "ip"
_MAX_ID = 40


@dataclass(frozen=True)
class LinkResult:
    """One link result as the API lists it: what reconciliation decides on, and everything ClassMarker sent."""

    result_id: str
    in_progress: bool
    time_finished: dt.datetime | None
    passed: bool | None
    percentage: float | None
    percentage_passmark: float | None
    requires_grading: bool
    cm_user_id: str | None
    test: Json
    link: Json
    fields: Json

    @property
    def quiz(self) -> str | None:
        """The `link_url_id` of the link the result names, from the answer's `links` (None when not listed)."""
        return link_quiz(self.link)


@dataclass(frozen=True)
class ResultsPage:
    """One page of recent results; `results` leaves out those an earlier page of the same listing had."""

    results: tuple[LinkResult, ...]
    returned: int
    unreadable: int
    more: bool
    next_after: int | None
    after_used: int | None

    @property
    def newest_finished(self) -> dt.datetime | None:
        """The latest `time_finished` of a finished result on this page (the watermark moves up to it)."""
        times = [r.time_finished for r in self.results if r.time_finished is not None and not r.in_progress]
        return max(times, default=None)


def read_page(answer: Json, seen: set[str]) -> ResultsPage:
    """Type one `ok`/`no_results` answer; ids in `seen` are repeats from an earlier page (`seen` grows)."""
    tests = _named(answer.get("tests"), "test", "test_id")
    links = _named(answer.get("links"), "link", "link_id")
    items = answer.get("results") or []
    if not isinstance(items, list):
        raise ClassMarkerBadAnswer("ClassMarker's answer has no list of results")
    fresh: list[LinkResult] = []
    unreadable = 0
    for item in items:
        result = _link_result(item, tests, links)
        if result is None:
            unreadable += 1
        elif result.result_id not in seen:
            seen.add(result.result_id)
            fresh.append(result)
    return ResultsPage(
        results=tuple(fresh),
        returned=len(items),
        unreadable=unreadable,
        more=flag(answer.get("more_results_exist")) is True,
        next_after=_seconds(answer.get("next_finished_after_timestamp")),
        after_used=_seconds(answer.get("finished_after_timestamp_used")),
    )


def read_link_quizzes(answer: Json) -> dict[str, str]:
    """`GET /v1.json`: each of the account's links by `link_id`, to its `link_url_id` (the quiz key of its start URL)."""
    found = {link_id: link_quiz(link) for link_id, link in _named(answer.get("links"), "link", "link_id").items()}
    return {link_id: quiz for link_id, quiz in found.items() if quiz is not None}


def _link_result(item: Any, tests: dict[str, Json], links: dict[str, Json]) -> LinkResult | None:
    fields = item.get("result") if isinstance(item, dict) and isinstance(item.get("result"), dict) else item
    if not isinstance(fields, dict):
        return None
    result_id = identifier(fields.get("link_result_id"))
    if result_id is None:
        return None
    finished_at = _seconds(fields.get("time_finished"))
    status = str(fields.get("status") or "").strip().lower()
    test_id, link_id = identifier(fields.get("test_id")), identifier(fields.get("link_id"))
    return LinkResult(
        result_id=result_id,
        in_progress=status == IN_PROGRESS or not finished_at,
        time_finished=dt.datetime.fromtimestamp(finished_at, dt.UTC) if finished_at else None,
        passed=flag(fields.get("passed")),
        percentage=number(fields.get("percentage")),
        percentage_passmark=number(fields.get("percentage_passmark")),
        requires_grading=awaiting_grading(fields.get("requires_grading")),
        cm_user_id=_text(fields.get("cm_user_id")),
        test=tests.get(test_id or "", {"test_id": fields.get("test_id")}),
        link=links.get(link_id or "", {"link_id": fields.get("link_id")}),
        fields=fields,
    )


def _named(items: Any, key: str, id_field: str) -> dict[str, Json]:
    """The answer's `tests` or `links` ([{"test": {...}}, ...]) by id."""
    found: dict[str, Json] = {}
    for item in items if isinstance(items, list) else []:
        entry = item.get(key) if isinstance(item, dict) else None
        entry_id = identifier(entry.get(id_field)) if isinstance(entry, dict) else None
        if entry_id is not None and isinstance(entry, dict):
            found[entry_id] = entry
    return found


def identifier(value: Any) -> str | None:
    """An id sent as a number or a string, as text; None when missing or not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text if text and len(text) <= _MAX_ID and text.isprintable() else None


def number(value: Any) -> float | None:
    """A number sent as a number or a string (`"80"`, `"80.0"`, `"80%"`); None when missing or unreadable."""
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        parsed = float(str(value).strip().rstrip("%"))
    except ValueError:
        return None
    return parsed if math.isfinite(parsed) else None


def flag(value: Any) -> bool | None:
    """A boolean sent as JSON, 0/1 or text; None when missing or unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "false", "no", "0"}:
        return value.strip().lower() in {"true", "yes", "1"}
    return None


def _text(value: Any) -> str | None:
    """A text field (a number is taken as its digits); None when missing or blank."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return str(value).strip() or None


def _seconds(value: Any) -> int | None:
    """UNIX seconds sent as a number or a string; None when missing or out of range."""
    seconds = number(value)
    if seconds is None or not 0 <= seconds < 2**33:
        return None
    return int(seconds)
