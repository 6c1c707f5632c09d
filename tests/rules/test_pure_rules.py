"""The training rules of sections 12 and 13 on plain data: no server, no store, no socket."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from bridge.adapters.fabman.wire import course_from_json
from bridge.config import ConfigError, load_settings
from bridge.domain import attempts, cooldown
from bridge.domain.fabman_events import InvalidFabmanEvent, parse_event
from bridge.domain.models import Course
from bridge.domain.reminders import is_remindable, reminder_day_key
from bridge.services.digest import week_of
from tests.unit.test_config import minimal

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def course(**courses_cm: Any) -> Course:
    return course_from_json({"id": 4, "title": "CNC", "metadata": {"courses_cm": {"cm_url": "https://q/?quiz=x", **courses_cm}}})


def failed(attempts_used: int, last_failed_at: str | None, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": 4, "title": "CNC", "attempts": attempts_used, **extra}
    if last_failed_at is not None:
        entry["last_failed_at"] = last_failed_at
    return {"other": "keep", "courses_cm": {"failed_courses": [entry], "note": "kept"}}


# -- COOLDOWN_HOURS and the course's cooldown_hours ----------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, (0.0,)), ("0", (0.0,)), ("24", (24.0,)), ("0, 24,72", (0.0, 24.0, 72.0)), ("1.5,2", (1.5, 2.0))],
)
def test_cooldown_hours_is_a_comma_list_of_hours(raw: str | None, expected: tuple[float, ...]) -> None:
    env = minimal() if raw is None else minimal(COOLDOWN_HOURS=raw)
    assert load_settings(env).cooldown_hours == expected


@pytest.mark.parametrize("raw", ["abc", "24,", "-1", "24;48", "nan", "inf", "1,,2"])
def test_a_bad_cooldown_hours_stops_the_start_naming_the_variable(raw: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(minimal(COOLDOWN_HOURS=raw))
    assert str(raised.value).startswith("COOLDOWN_HOURS ") and raw not in str(raised.value).replace("COOLDOWN_HOURS", "")


def test_second_wave_settings_have_their_defaults() -> None:
    settings = load_settings(minimal())
    assert (settings.fablab_name, settings.fabman_webhook_token) == ("FabLab Brno", None)
    named = load_settings(minimal(FABLAB_NAME="FabLab Praha", FABMAN_WEBHOOK_TOKEN="t0k3n"))
    assert (named.fablab_name, named.fabman_webhook_token) == ("FabLab Praha", "t0k3n")
    assert "t0k3n" not in repr(named)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([2, 12.5], (2.0, 12.5)),
        (6, (6.0,)),
        ([0], (0.0,)),
        ([], (24.0,)),
        ("12", (24.0,)),
        ([1, -2], (24.0,)),
        ([True], (24.0,)),
        (None, (24.0,)),
    ],
)
def test_a_course_list_overrides_the_bridge_wide_one_when_it_is_a_list_of_hours(value: Any, expected: tuple[float, ...]) -> None:
    assert cooldown.schedule(course(cooldown_hours=value), (24.0,)) == expected


@pytest.mark.parametrize(("failures", "hours"), [(0, 0), (1, 1), (2, 24), (3, 72), (4, 72), (9, 72)])
def test_the_nth_failure_waits_the_nth_value_and_the_last_repeats(failures: int, hours: int) -> None:
    assert cooldown.wait_after((1, 24, 72), failures) == dt.timedelta(hours=hours)


def test_waiting_counts_from_the_last_failure_and_ends_when_the_next_attempt_opens() -> None:
    metadata = failed(2, "2026-03-02T10:00:00+00:00")
    hours = (1, 24)

    assert cooldown.opens_at(metadata, 4, hours) == T0 + dt.timedelta(hours=24)
    assert cooldown.waiting_until(metadata, 4, hours, T0 + dt.timedelta(hours=23)) == T0 + dt.timedelta(hours=24)
    assert cooldown.waiting_until(metadata, 4, hours, T0 + dt.timedelta(hours=24)) is None
    assert cooldown.waiting_until(metadata, 5, hours, T0) is None  # another course
    assert cooldown.waiting_until(metadata, 4, (0,), T0) is None  # waiting off
    assert cooldown.waiting_until(failed(2, None), 4, hours, T0) is None  # failures from before waiting was on
    assert cooldown.waiting_until(failed(2, "yesterday"), 4, hours, T0) is None  # a hand edit the bridge cannot read


def test_a_result_counts_unless_it_started_inside_the_waiting_period() -> None:
    metadata = failed(1, "2026-03-02T10:00:00Z")
    hours = (24,)

    def verdict(offset_hours: float | None) -> dt.datetime | None:
        started = None if offset_hours is None else T0 + dt.timedelta(hours=offset_hours)
        return cooldown.started_too_early(metadata, 4, hours, started)

    assert verdict(1) == T0 + dt.timedelta(hours=24)
    assert verdict(0) == T0 + dt.timedelta(hours=24)
    assert verdict(23.99) == T0 + dt.timedelta(hours=24)
    assert verdict(24) is None  # the next attempt is open
    assert verdict(-0.5) is None  # started before that failure finished (taken at the same time, or delivered late)
    assert verdict(None) is None  # ClassMarker sent no time: the result counts


def test_the_failed_entry_remembers_the_latest_failure_and_keeps_every_other_key() -> None:
    metadata = failed(1, "2026-03-02T10:00:00+00:00", staff_note="called")
    counted = attempts.with_failed_attempt(metadata, 4, "CNC", "r2")

    later = cooldown.with_last_failure(counted, 4, T0 + dt.timedelta(hours=30))
    earlier = cooldown.with_last_failure(later, 4, T0 - dt.timedelta(hours=5))

    [entry] = earlier["courses_cm"]["failed_courses"]
    assert entry == {
        "id": 4,
        "title": "CNC",
        "attempts": 2,
        "staff_note": "called",
        "last_failed_at": "2026-03-03T16:00:00+00:00",
    }
    assert earlier["other"] == "keep" and earlier["courses_cm"]["note"] == "kept"
    assert metadata["courses_cm"]["failed_courses"][0]["last_failed_at"] == "2026-03-02T10:00:00+00:00"  # input untouched
    assert cooldown.is_on((0, 24)) and not cooldown.is_on((0,))


# -- reminders -------------------------------------------------------------------------------


def test_one_reminder_key_a_day_per_member_and_archived_courses_are_not_reminded() -> None:
    assert reminder_day_key(9, dt.date(2026, 3, 2)) == "reminders:9:2026-03-02"
    assert reminder_day_key(9, dt.date(2026, 3, 2)) != reminder_day_key(9, dt.date(2026, 3, 3))
    assert is_remindable(course_from_json({"id": 7, "title": "Lathe", "metadata": None}))
    assert not is_remindable(course_from_json({"id": 10, "title": "Rayjet", "state": "archived"}))


def test_the_digest_is_keyed_by_iso_week() -> None:
    assert week_of(dt.date(2026, 12, 31)) == "2026-W53"
    assert week_of(dt.date(2027, 1, 4)) == "2027-W01"
    assert week_of(dt.date(2026, 3, 2)) == week_of(dt.date(2026, 3, 8)) == "2026-W10"


# -- Fabman's webhook ------------------------------------------------------------------------


def denial(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "id": 1771,
        "type": "resourceLog_created",
        "createdAt": "2026-03-02T09:59:58.123Z",
        "details": {
            "log": {"id": 8, "type": "denied", "reason": "noPermission", "member": 1, "resource": 1},
            "resource": {"id": 1, "name": "Laserová řezačka", "state": "active"},
            "member": {"id": 1, "firstName": "Petra"},
        },
    }
    event.update(changes)
    return event


def test_a_denial_for_lack_of_training_is_read_from_the_activity_log_entry() -> None:
    event = parse_event(denial())

    assert (event.key, event.type, event.member_id, event.resource_id) == ("1771", "resourceLog_created", 1, 1)
    assert event.occurred_at == dt.datetime(2026, 3, 2, 9, 59, 58, 123000, tzinfo=dt.UTC)
    assert event.is_machine_denial and not event.is_test


@pytest.mark.parametrize(
    "change",
    [
        {"type": "resourceLog_updated"},
        {"type": "memberTraining_created"},
        {"details": {"log": {"type": "denied", "reason": "noPackage", "member": 1, "resource": 1}}},
        {"details": {"log": {"type": "allowed", "member": 1, "resource": 1}}},
        {"details": {"log": {"type": "denied", "reason": "noPermission", "member": None, "resource": 1}, "member": None}},
        {"details": None},
    ],
)
def test_other_events_are_not_denials(change: dict[str, Any]) -> None:
    assert not parse_event(denial(**change)).is_machine_denial


def test_the_test_event_has_no_details() -> None:
    event = parse_event({"id": "abc-1", "type": "test", "createdAt": "2026-03-02T10:00:00Z", "details": {}})
    assert event.is_test and not event.is_machine_denial and event.key == "abc-1"


@pytest.mark.parametrize(
    "payload",
    [[], "x", {"type": "test"}, {"id": True, "type": "test"}, {"id": 5}, {"id": 5, "type": ""}, {"id": "a b", "type": "test"}],
)
def test_a_body_without_an_id_and_a_type_is_not_an_event(payload: Any) -> None:
    with pytest.raises(InvalidFabmanEvent):
        parse_event(payload)


def test_a_course_lists_the_equipment_it_unlocks() -> None:
    assert course_from_json({"id": 2, "title": "Laser", "resources": [1, "3", {"id": 5}, None, True]}).resources == (1, 3, 5)
    assert course_from_json({"id": 2, "title": "Laser"}).resources == ()
