"""The simulator's data sets: the hand-made FabLab Brno and the generated crowd (no server needed)."""

from __future__ import annotations

from datetime import date

from sandbox.simulator import demo_state, generated_state

TODAY = date(2025, 3, 15)


def test_demo_member_one_has_active_expired_and_available_online_courses() -> None:
    state = demo_state(TODAY)
    online = {
        course["id"]
        for course in state.courses()
        if course["state"] == "active"
        and course["metadata"]
        and "cm_url" in course["metadata"]["courses_cm"]
        and not course["metadata"]["courses_cm"].get("admin_only")
    }
    trainings = state.trainings_of(1)
    active = {t["trainingCourse"] for t in trainings if t["untilDate"] is None or t["untilDate"] > TODAY.isoformat()}

    assert state.member(1)["firstName"] == "Petra"
    assert active & online
    assert any(t["untilDate"] < TODAY.isoformat() for t in trainings)
    assert online - active
    assert state.privileges_of(3) == "owner"
    assert state.privileges_of(4) == "admin"
    assert demo_state(TODAY).members() == state.members()


def test_generated_state_builds_twenty_thousand_members() -> None:
    state = generated_state(20_000, today=TODAY)

    counts = state.counts()
    online = [c for c in state.courses() if c["metadata"] and "cm_url" in c["metadata"]["courses_cm"]]
    assert counts["members"] == 20_000
    assert counts["courses"] == 80
    assert 20_000 < counts["trainings"] < 6 * 20_000 * 1.1
    assert len(online) == 27
    assert any(c["metadata"]["courses_cm"].get("admin_only") for c in online)
    assert state.privileges_of(1) == "owner"
    assert generated_state(30, seed=7, today=TODAY).members() == generated_state(30, seed=7, today=TODAY).members()
