"""ClassMarker's result JSON read into typed results: the one place that knows its fields and their loose types.

A result reaches the bridge two ways, and both are read here with the same
coercions: a webhook body (:func:`parse_delivery`, into the domain's
:class:`~bridge.domain.results.QuizResult`) and the results API's answers
(:func:`read_page`, into :class:`LinkResult` for reconciliation).
ClassMarker's types are loose (ids, marks and times may be numbers or
strings), so each field the bridge decides on is coerced once, by one helper.

The two ways differ where ClassMarker's formats differ. A webhook result
without `passed` is refused, while the API's older results carry neither
`passed` nor `percentage_passmark` and are judged later; the API's `status`
says whether a result is finished (`f`) or still in progress (`ip`). An API
result keeps its fields as ClassMarker sent them, so it can be stored in the
webhook's layout (:func:`as_webhook`) with nothing lost. On both ways
`requires_grading` is read strictly (:func:`awaiting_grading`) and a
result's quiz is its link's `link_url_id` (:func:`link_quiz`, contract 4.10).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from bridge.adapters.classmarker.errors import ClassMarkerBadAnswer, InvalidResult
from bridge.domain.results import QuizResult, ResultDelivery

Json = dict[str, Any]
LINK_RESULT = "single_user_test_results_link"
GROUP_RESULT = "single_user_test_results_group"
IN_PROGRESS = "ip"
MAX_TEXT = 255
"""The longest display text kept (a test name, an email address)."""
MAX_ID_LENGTH = 40
"""The longest id taken as one (ClassMarker's ids are short numbers or keys)."""
EPOCH_SECONDS_LIMIT = 2**33
"""A time at or after this many UNIX seconds (the year 2242) is not one ClassMarker sent."""


# -- the webhook ---------------------------------------------------------------


def parse_delivery(payload: Any) -> ResultDelivery:
    """Classify and type a decoded webhook body; InvalidResult when it is not one."""
    if not isinstance(payload, dict):
        raise InvalidResult("the body must be a JSON object")
    if payload.get("payload_status") == "verify":
        return ResultDelivery("verify")
    payload_type = payload.get("payload_type")
    if payload_type == GROUP_RESULT:
        return ResultDelivery("group")
    result = payload.get("result")
    if payload_type != LINK_RESULT or not isinstance(result, dict):
        raise InvalidResult("not a ClassMarker link result (payload_type, result)")
    if "cm_user_id" not in result and "user_id" in result:
        return ResultDelivery("group")
    result_id = identifier(result.get("link_result_id"))
    if result_id is None:
        raise InvalidResult("result.link_result_id is missing or invalid")
    passed = flag(result.get("passed"))
    if passed is None:
        raise InvalidResult("result.passed must be a boolean")
    token = result.get("cm_user_id")
    if token is None or (isinstance(token, str) and not token.strip()):
        return ResultDelivery("group")  # contract 4.3: no cm_user_id, nobody to credit (taken without a personal link)
    test = _section(payload, "test")
    link = _section(payload, "link")
    return ResultDelivery(
        "link",
        QuizResult(
            result_id=result_id,
            cm_user_id=str(token).strip(),
            passed=passed,
            requires_grading=awaiting_grading(result.get("requires_grading")),
            percentage=number(result.get("percentage")),
            points_scored=number(result.get("points_scored")),
            points_available=number(result.get("points_available")),
            percentage_passmark=number(result.get("percentage_passmark")),
            time_started=timestamp(result.get("time_started")),
            time_finished=timestamp(result.get("time_finished")),
            test_id=identifier(test.get("test_id")),
            test_name=display_text(test.get("test_name")),
            link_id=identifier(link.get("link_id")),
            email=display_text(result.get("email")),
            quiz=link_quiz(link),
        ),
    )


def stored_time_finished(payload: str) -> dt.datetime | None:
    """A stored webhook body's `result.time_finished`, read leniently (None when it has none)."""
    try:
        fields = json.loads(payload).get("result") or {}
    except (ValueError, AttributeError):
        return None
    seconds = _epoch_seconds(fields.get("time_finished")) if isinstance(fields, dict) else None
    return dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None


# -- the results API -----------------------------------------------------------


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


def as_webhook(result: LinkResult, passed: bool | None) -> Json:
    """The result in the webhook's JSON layout (test, link, result), with the judged `passed` where the API had none."""
    fields = dict(result.fields)
    if result.passed is None and passed is not None:
        fields["passed"] = passed
    return {
        "payload_type": LINK_RESULT,
        "payload_status": "live",
        "test": dict(result.test),
        "link": dict(result.link),
        "result": fields,
    }


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
        cm_user_id=_listed_token(fields.get("cm_user_id")),
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


def _listed_token(value: Any) -> str | None:
    """A listed result's `cm_user_id` (a number is taken as its digits); None when missing, blank or not text."""
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return str(value).strip() or None


# -- the fields, as both ways send them ----------------------------------------


def awaiting_grading(value: Any) -> bool:
    """Strict: only `No` (any case) or no value at all means graded; anything else waits for the graded re-send.

    A value the bridge does not know (`"Pending"`, `true`, `""`) must never
    count as graded: ClassMarker sends the result again once it is.
    """
    if value is None:
        return False
    return not (isinstance(value, str) and value.strip().lower() == "no")


def link_quiz(link: Any) -> str | None:
    """The quiz a result was taken through: its link's `link_url_id` (None when missing or not a key).

    Anyone can open any quiz's start URL with any `cm_user_id`, so this
    field, not the token, says which quiz a result is for.
    """
    return identifier(link.get("link_url_id")) if isinstance(link, dict) else None


def identifier(value: Any) -> str | None:
    """An id sent as a number or a string, as text; None when missing or not an id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text if text and len(text) <= MAX_ID_LENGTH and text.isprintable() else None


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


def display_text(value: Any) -> str | None:
    """Display text; control characters become spaces (PostgreSQL text cannot hold NUL), at most MAX_TEXT long."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = "".join(char if char.isprintable() else " " for char in str(value)).strip()
    return text[:MAX_TEXT] or None


def timestamp(value: Any) -> dt.datetime | None:
    """A time sent as UNIX seconds (a number or a string), in UTC; None when missing or out of range."""
    seconds = _epoch_seconds(value)
    return None if seconds is None else dt.datetime.fromtimestamp(seconds, dt.UTC)


def _seconds(value: Any) -> int | None:
    """UNIX seconds sent as a number or a string, whole; None when missing or out of range."""
    seconds = _epoch_seconds(value)
    return None if seconds is None else int(seconds)


def _epoch_seconds(value: Any) -> float | None:
    seconds = number(value)
    return seconds if seconds is not None and 0 <= seconds < EPOCH_SECONDS_LIMIT else None


def _section(payload: Json, name: str) -> Json:
    """A nested object of the payload, or an empty one when it is missing or not an object."""
    section = payload.get(name)
    return section if isinstance(section, dict) else {}
