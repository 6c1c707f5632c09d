"""Contract section 12, the waiting period, over the bridge's HTTP API with the Fabman simulator and the mailbox.

The bridge is the app in this process, called over `requests` as a served
bridge is. ClassMarker's times are set relative to now, so the bridge, on the
real clock, sees a member inside or past their wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from flask import Flask

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.store import Store
from harness.launch import SmtpSink
from sandbox.simulator import FabmanSimulator
from tests.rules.conftest import (
    PRAGUE,
    STAFF,
    InProcessBridge,
    api,
    czech_moment,
    deliver,
    english_moment,
    failed_courses,
    mail_to,
    mails_with,
    quiz_links,
    set_metadata,
    settled,
    whole_minutes_ago,
)
from tests.support import text_of

PETRA, MARKETA = 1, 12
PETRA_MAIL, MARKETA_MAIL = "petra.dvorakova@example.org", "marketa.pospisilova@example.org"
LASER, CNC = 2, 4


@contextlib.contextmanager
def served(make_app: Callable[..., Flask], **overrides: str) -> Iterator[InProcessBridge]:
    """The bridge with these settings, in this process."""
    yield InProcessBridge(make_app(**overrides))


def laser_records(simulator: FabmanSimulator, member_id: int = PETRA) -> list[dict[str, Any]]:
    return [r for r in simulator.state.trainings_of(member_id) if r["trainingCourse"] == LASER]


def offer(bridge: InProcessBridge, simulator: FabmanSimulator, member_id: int, course_id: int) -> dict[str, Any]:
    """The course as /available_trainings lists it (and check /get_training_links agrees; each link is freshly sealed)."""
    listed = api(bridge, simulator, "GET", f"/available_trainings/{member_id}").json()
    [found] = [item for item in listed if item["id"] == course_id]
    links = api(bridge, simulator, "POST", "/get_training_links", json={"member_id": member_id, "training_id": course_id}).json()
    assert (links["quiz_url"] is None, links["available_at"]) == (found["quiz_url"] is None, found["available_at"])
    return found  # type: ignore[no-any-return]


def test_after_a_failure_the_member_waits_and_results_started_meanwhile_do_not_count(
    env: dict[str, str], make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    codec = CmUserIdCodec([env["FERNET_KEY"]])
    finished = whole_minutes_ago(60)
    opens = finished + dt.timedelta(hours=24)
    records_before = laser_records(simulator)

    with served(make_app, COOLDOWN_HOURS="24,72") as bridge:
        # The first failure: counted, remembered with when it finished; the mail says when the next attempt opens.
        fail = deliver(
            bridge, env, PETRA, LASER, 5001, passed=False, started=finished - dt.timedelta(minutes=7), finished=finished
        )
        assert settled(store, int(fail["event_id"])).outcome == "failed"
        assert failed_courses(simulator, PETRA) == [
            {"id": LASER, "title": "Laserová řezačka", "attempts": 1, "last_failed_at": finished.isoformat()}
        ]
        [failed_mail] = mail_to(smtp, PETRA_MAIL, "Quiz not passed")
        text = text_of(failed_mail)
        assert f"nejdříve {czech_moment(opens)}" in text and f"Your next attempt opens on {english_moment(opens)}" in text
        assert quiz_links(codec, failed_mail) == [(PETRA, LASER), (PETRA, LASER)]

        # While she waits the profile offers no link and says when it opens; other courses are open.
        laser = offer(bridge, simulator, PETRA, LASER)
        assert laser["quiz_url"] is None and laser["attempts_left"] == 2
        assert laser["available_at"] == opens.astimezone(PRAGUE).isoformat()
        assert dt.datetime.fromisoformat(laser["available_at"]).utcoffset() == opens.astimezone(PRAGUE).utcoffset()
        safety_free = offer(bridge, simulator, PETRA, 3)
        assert safety_free["quiz_url"] and safety_free["available_at"] is None

        # A fail started inside the wait is not counted; she is told when to retake.
        early_fail = deliver(bridge, env, PETRA, LASER, 5002, passed=False, started=whole_minutes_ago(30))
        assert settled(store, int(early_fail["event_id"])).outcome == "not_counted"
        assert failed_courses(simulator, PETRA)[0]["attempts"] == 1
        [not_counted] = mail_to(smtp, PETRA_MAIL, "Attempt not counted")
        assert f"from {english_moment(opens)}" in text_of(not_counted) and "not counted against your attempts" in text_of(
            not_counted
        )

        # A pass started inside the wait grants nothing: held, the member told, staff alerted.
        early_pass = deliver(bridge, env, PETRA, LASER, 5003, passed=True, started=whole_minutes_ago(20))
        held = settled(store, int(early_pass["event_id"]))
        assert (held.status, held.outcome) == ("rejected", "too_early")
        assert laser_records(simulator) == records_before
        assert store.ledger.entries(member_id=PETRA) == []
        held_mail = mail_to(smtp, PETRA_MAIL, "Attempt not counted", count=2)[-1]
        assert "may still accept it" in text_of(held_mail) and english_moment(opens) in text_of(held_mail)
        [alert] = mail_to(smtp, STAFF, "Pass held")
        assert f"flask replay-event {held.id}" in text_of(alert) and f"Member {PETRA}" in text_of(alert)

        # Staff replay it: a replay by staff applies the pass despite the wait.
        replayed = api(bridge, simulator, "POST", f"/admin/events/{held.id}/replay").json()
        assert replayed["status"] == "applied" and replayed["outcome"] == "granted"
        [granted] = [r for r in laser_records(simulator) if "#5003" in str(r["notes"])]
        assert granted["untilDate"] is not None and laser_records(simulator) == [granted]
        assert [row.result_id for row in store.ledger.entries(member_id=PETRA)] == ["5003"]
        assert failed_courses(simulator, PETRA) == []
        mail_to(smtp, PETRA_MAIL, "Training completed")
        assert LASER not in [item["id"] for item in api(bridge, simulator, "GET", f"/available_trainings/{PETRA}").json()]

    assert len(mails_with(smtp, PETRA_MAIL, "")) == 4
    assert store.inbox.get(int(early_fail["event_id"])).status == "applied"  # type: ignore[union-attr]


def test_the_nth_failure_waits_the_nth_value_and_the_next_attempt_opens_after_it(
    env: dict[str, str], make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    """Markéta failed CNC twice; the second value (72 h) counts from the last failure's end."""
    waited = whole_minutes_ago(73 * 60)
    set_metadata(
        simulator,
        MARKETA,
        lambda metadata: {
            **metadata,
            "courses_cm": {
                "failed_courses": [{"id": CNC, "title": "CNC frézka", "attempts": 2, "last_failed_at": waited.isoformat()}]
            },
        },
    )

    with served(make_app, COOLDOWN_HOURS="1,72") as bridge:
        cnc = offer(bridge, simulator, MARKETA, CNC)
        assert cnc["quiz_url"] and cnc["available_at"] is None and cnc["attempts_left"] == 3

        # The third failure waits 72 h too (the last value repeats).
        finished = whole_minutes_ago(2)
        third = deliver(
            bridge, env, MARKETA, CNC, 6001, passed=False, started=finished - dt.timedelta(minutes=9), finished=finished
        )
        assert settled(store, int(third["event_id"])).outcome == "failed"
        cnc = offer(bridge, simulator, MARKETA, CNC)
        assert cnc["quiz_url"] is None and cnc["attempts_left"] == 2
        assert cnc["available_at"] == (finished + dt.timedelta(hours=72)).astimezone(PRAGUE).isoformat()
        [failed] = mail_to(smtp, MARKETA_MAIL, "Quiz not passed")
        assert english_moment(finished + dt.timedelta(hours=72)) in text_of(failed)

        # A pass whose start came after the earlier wait ended, but that is delivered only now, still counts.
        late = deliver(bridge, env, MARKETA, CNC, 6002, passed=True, started=waited + dt.timedelta(hours=72, minutes=5))
        assert settled(store, int(late["event_id"])).outcome == "granted"
        assert [r["trainingCourse"] for r in simulator.state.trainings_of(MARKETA)] == [CNC]
        assert simulator.state.member(MARKETA)["metadata"]["courses_cm"]["failed_courses"] == []


def test_a_course_sets_its_own_waiting_period(
    env: dict[str, str], make_app: Callable[..., Flask], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    """COOLDOWN_HOURS is off (0); the course's own `cooldown_hours` [2] applies to it alone."""
    own = simulator.state.add_course(
        "Laser Trotec",
        metadata={"courses_cm": {"cm_url": "https://www.classmarker.com/online-test/start/?quiz=trt1", "cooldown_hours": [2]}},
        default_duration=1,
    )
    finished = whole_minutes_ago(10)

    with served(make_app) as bridge:
        fail = deliver(
            bridge,
            env,
            MARKETA,
            own["id"],
            7001,
            passed=False,
            started=finished - dt.timedelta(minutes=5),
            finished=finished,
            quiz="trt1",
        )
        assert settled(store, int(fail["event_id"])).outcome == "failed"
        trotec = offer(bridge, simulator, MARKETA, own["id"])
        assert trotec["quiz_url"] is None
        assert trotec["available_at"] == (finished + dt.timedelta(hours=2)).astimezone(PRAGUE).isoformat()

        # The other courses follow COOLDOWN_HOURS=0: a failure is stored as before (no time kept) and nobody waits.
        other = deliver(bridge, env, MARKETA, CNC, 7002, passed=False, started=finished)
        assert settled(store, int(other["event_id"])).outcome == "failed"
        cnc = offer(bridge, simulator, MARKETA, CNC)
        assert cnc["quiz_url"] and cnc["available_at"] is None
        entries = {entry["id"]: entry for entry in simulator.state.member(MARKETA)["metadata"]["courses_cm"]["failed_courses"]}
        assert entries[CNC] == {"id": CNC, "title": "CNC frézka", "attempts": 1}
        assert entries[own["id"]]["last_failed_at"] == finished.isoformat()
        mails = mail_to(smtp, MARKETA_MAIL, "Quiz not passed", count=2)
        assert sum("Your next attempt opens on" in text_of(mail) for mail in mails) == 1
