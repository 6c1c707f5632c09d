"""A FabLab of 120 members served in pages of 50, with trainings placed around today.

The simulator here clamps every list to 50 records, so a sweep must follow
`Link: rel="next"` over three member pages. Dates are relative to today in
the bridge's TIMEZONE (Europe/Prague), the same "today" the sweep uses.

Members with a role in the tests (course ids: 1 laser online 1 year, 2 lathe
presence-only, 3 3D printing online never expires, 4 soldering online):

  1  laser until today (expired), 3D printing without untilDate
  2  lathe until yesterday (presence-only, expired)
  3  laser until tomorrow (active; reminder)
  4  3D printing only, never expires
  5  laser in 10 days, lathe in 5 days (presence-only): one reminder listing both
  6  laser in 20 days (outside REMINDER_DAYS)
  7  laser expired last week and renewed for a year
  8  soldering in 3 days, but renewed until next year (no reminder)
  9  no e-mail address, laser expired 10 days ago
 10  soldering out of attempts, expired yesterday (mail without a quiz link)
 11-120 by number % 10: 0 laser expired, 1 and 5 laser active, 2 lathe expired
        yesterday, 4 3D printing + soldering expired a month ago, others nothing
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest

from bridge.adapters.store import Store
from bridge.domain.calendar import today_in
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.in_process import InProcessFabman
from sandbox.simulator.state import SimState
from tests.support import is_e2e

PRAGUE = ZoneInfo("Europe/Prague")
MEMBERS = 120
PAGE = 50
LASER, LATHE, PRINTER, SOLDERING = 1, 2, 3, 4
QUIZ = "https://www.classmarker.com/online-test/start/?quiz="
CRON = "/cron/expire_trainings"


def prague_today() -> dt.date:
    """Today as the bridge sees it."""
    return today_in(PRAGUE)


def email_of(member_id: int) -> str:
    """The address of a seeded member."""
    return f"member{member_id}@example.org"


def expiry_state(today: dt.date) -> SimState:
    """The FabLab the module docstring describes."""
    state = SimState(max_limit=PAGE)

    def course(title: str, cs: str, en: str, quiz: str | None, **flags: object) -> None:
        info: dict[str, object] = {"cs_name": cs, "en_name": en}
        if quiz:
            info["cm_url"] = QUIZ + quiz
        info.update(flags)
        state.add_course(title, metadata={"courses_cm": info}, default_duration=1)

    course("Laserová řezačka", "Laserová řezačka", "Laser cutter", "laser123")
    course("Stolní soustruh", "Stolní soustruh", "Bench lathe", None, not_online=True)
    course("3D tisk", "3D tisk", "3D printing", "print123")
    course("Pájení", "Pájení", "Soldering", "solder123", max_attempts=2)

    def day(offset: int) -> str:
        return (today + dt.timedelta(days=offset)).isoformat()

    def trained(member_id: int, course_id: int, until: int | None, since: int = -365) -> None:
        state.add_training(member_id, course_id, day(since), None if until is None else day(until))

    for number in range(1, MEMBERS + 1):
        metadata = None
        if number == 10:
            metadata = {"courses_cm": {"failed_courses": [{"id": SOLDERING, "title": "Pájení", "attempts": 2}]}}
        state.add_member(
            "Člen" if number % 2 else "Member", f"Number{number}", "" if number == 9 else email_of(number), metadata=metadata
        )

    trained(1, LASER, 0)
    trained(1, PRINTER, None)
    trained(2, LATHE, -1)
    trained(3, LASER, 1)
    trained(4, PRINTER, None)
    trained(5, LASER, 10)
    trained(5, LATHE, 5)
    trained(6, LASER, 20)
    trained(7, LASER, -7, since=-372)
    trained(7, LASER, 358, since=-7)
    trained(8, SOLDERING, 3)
    trained(8, SOLDERING, 365, since=0)
    trained(9, LASER, -10)
    trained(10, SOLDERING, -1)
    for number in range(11, MEMBERS + 1):
        kind = number % 10
        if kind == 0:
            trained(number, LASER, -number)
        elif kind in (1, 5):
            trained(number, LASER, 200)
        elif kind == 2:
            trained(number, LATHE, -1)
        elif kind == 4:
            trained(number, PRINTER, None)
            trained(number, SOLDERING, -30)
    return state


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Iterator[FabmanSimulator | InProcessFabman]:
    """Overrides the demo FabLab: 120 members in pages of 50 (on loopback for an e2e test, else in process)."""
    state = expiry_state(prague_today())
    with FabmanSimulator(state) if is_e2e(request) else InProcessFabman(state) as sim:
        yield sim


def all_records(sim: FabmanSimulator) -> dict[int, list[dict[str, object]]]:
    """Every member's training records, straight from the simulator's state."""
    return {member["id"]: sim.state.trainings_of(member["id"]) for member in sim.state.members()}


def expired_in(records: dict[int, list[dict[str, object]]], today: dt.date) -> dict[int, set[int]]:
    """Record ids with an untilDate not later than today, per member (members without any left out)."""
    found: dict[int, set[int]] = {}
    for member_id, held in records.items():
        ids = {
            int(str(r["id"])) for r in held if r["untilDate"] is not None and dt.date.fromisoformat(str(r["untilDate"])) <= today
        }
        if ids:
            found[member_id] = ids
    return found


def outbox_keys(store: Store) -> list[str]:
    """Every dedupe key in the outbox."""
    return [message.dedupe_key for message in reversed(store.outbox.messages(limit=100_000))]


def expiry_mails(messages: list[EmailMessage], member_id: int) -> list[EmailMessage]:
    """The expiry mails a member received."""
    return [m for m in messages if str(m["To"]) == email_of(member_id) and "Training expired" in str(m["Subject"])]


def reminder_mails(messages: list[EmailMessage]) -> list[EmailMessage]:
    """Every reminder received (one training: "Training expires soon", several: "Trainings expire soon")."""
    return [m for m in messages if "expires soon" in str(m["Subject"]) or "expire soon" in str(m["Subject"])]


def personal_link(member_id: int) -> str:
    """The courses-web link the test environment's settings give a member (contract section 6)."""
    digest = hashlib.sha512(f"{member_id}courses-key".encode()).hexdigest()
    return f"https://courses.fablab.example/member?id={member_id}&key={digest}"


def czech_date(day: dt.date) -> str:
    """How the Czech half of a mail writes a date."""
    return f"{day.day}. {day.month}. {day.year}"


def english_date(day: dt.date) -> str:
    """How the English half of a mail writes a date."""
    return f"{day.day} {day.strftime('%b')} {day.year}"
