"""Deterministic data sets for the simulator: a hand-made FabLab Brno and a generated crowd.

`demo_state(today)` builds the same ids every time; only dates move with
`today`, so "active" and "expired" keep meaning the same thing. Dates below
are relative to today.

Equipment (Fabman's resources; id: name, unlocked by course):

 1 Laserová řezačka          2
 2 3D tiskárna Prusa         3
 3 CNC frézka                4
 4 Vinylový řezací plotr     5
 5 Stolní soustruh           7

Training courses (id: title, kind, default duration, equipment unlocked):

 1 Bezpečnost v dílně        online, 1 year
 2 Laserová řezačka          online, 1 year, equipment 1
 3 3D tisk – Prusa           online, no expiry, equipment 2
 4 CNC frézka                online, 1 year, max_attempts 5, equipment 3
 5 Vinylový řezací plotr     online, 6 months, equipment 4, renew_on_use
                             (each permitted use of the plotter renews it)
 6 Pájení                    online, no expiry
 7 Stolní soustruh           presence-only (not_online), 1 year, equipment 5
 8 Svařování MIG             presence-only (not_online), 2 years
 9 Správce dílny             online, admin_only, no expiry
10 Laser Rayjet (vyřazeno)   archived (has a cm_url, but not online)
11 Šicí stroj                metadata null, no expiry
12 Vakuová formovačka        online, 2 weeks; courses_cm has only cm_url, cs_name
                             and requires 1 (Bezpečnost v dílně first)

Members (id: name, what the member shows); `DEMO_MEMBER_NOTES` holds the same:

 1 Petra Dvořáková     member, cs, metadata null: active Bezpečnost, expired Laser
                       (so Laser is available again, and the laser cutter
                       refuses her), online courses still open
 2 Jan Novák           member: failed CNC twice (3 of 5 attempts left), failed
                       Laser 3 times (out of attempts); metadata "other" kept
 3 Tomáš Procházka     owner: holds the admin_only Správce dílny (no expiry)
 4 Lucie Černá         admin: the admin_only course is available to her
 5 Martin Svoboda      duplicates: Laser expired + renewed, 3D tisk twice
 6 Eva Kučerová        en: 3D tisk without untilDate, presence-only Soustruh,
                       empty failed_courses list
 7 Jiří Dvořák         locked member with an expired training
 8 Kateřina Veselá     trainings of the archived course and of the course
                       with null metadata
 9 Ondřej Horák        Plotr expires in 7 days, Bezpečnost tomorrow (reminders)
10 Zuzana Němcová      holds every online course: nothing available
11 Lukáš Marek         Pájení untilDate == today (expired), CNC until tomorrow
12 Markéta Pospíšilová en, metadata with an empty courses_cm, no trainings
13 Daniel Smith        en: out of attempts even on CNC's max_attempts 5
14-25                  ordinary members with a few trainings each

The activity log starts empty: a test or the demo adds the attempt it plays,
e.g. `add_resource_log(1, 1)`, Petra refused at the laser cutter.

`generated_state(members, ...)` builds load-test data of any size from a
seeded RNG.
"""

from __future__ import annotations

import random
import unicodedata
from datetime import date, timedelta
from typing import Any

from .state import Json, SimState, add_duration

_QUIZ_URL = "https://www.classmarker.com/online-test/start/?quiz="
_WIKI_URL = "https://wiki.example.org/fablab/"
_YT_URL = "https://www.youtube.com/watch?v="

DEMO_QUIZZES: dict[int, str] = {
    1: "bzp7c1e2a9f04",
    2: "lsr41d8a0c2b7",
    3: "prs9e3b17f5d2",
    4: "cnc0a7f3e6b91",
    5: "vnl5b2d8c4e13",
    6: "pjn8f1c6a3d70",
    9: "spr2e9a4b7c16",
    10: "rjt6c0e1f8a35",
    12: "vkf3d5a9e2c48",
}
"""Each demo course's ClassMarker quiz key (the `quiz` of its `cm_url`, ClassMarker's `link_url_id`), by course id."""

DEMO_MEMBER_NOTES: dict[int, str] = {
    1: "Petra Dvořáková: active Bezpečnost, expired Laser, online courses available",
    2: "Jan Novák: CNC failed twice (3 of 5 left), Laser out of attempts",
    3: "Tomáš Procházka: owner, holds the admin_only course",
    4: "Lucie Černá: admin, sees the admin_only course",
    5: "Martin Svoboda: duplicate records (Laser expired + renewed, 3D tisk twice)",
    6: "Eva Kučerová: English, 3D tisk never expires, presence-only Soustruh",
    7: "Jiří Dvořák: locked member, expired training",
    8: "Kateřina Veselá: trainings of the archived course and the null-metadata course",
    9: "Ondřej Horák: Plotr expires in 7 days, Bezpečnost tomorrow",
    10: "Zuzana Němcová: holds every online course, nothing available",
    11: "Lukáš Marek: Pájení expires today (counts as expired), CNC tomorrow",
    12: "Markéta Pospíšilová: English, empty courses_cm, no trainings",
    13: "Daniel Smith: English, out of attempts on CNC even with max_attempts 5",
}


def _courses_cm(quiz: str | None, cs_name: str, en_name: str, slug: str, video: str | None = None, **flags: object) -> Json:
    """A course's `metadata` in the shape the FabLab's staff fill in today."""
    info: Json = {"cs_name": cs_name, "en_name": en_name, "wiki_url": _WIKI_URL + slug}
    if quiz is not None:
        info["cm_url"] = _QUIZ_URL + quiz
    if video is not None:
        info["yt_url"] = _YT_URL + video
    info.update(flags)
    return {"courses_cm": info}


def _email(first_name: str, last_name: str, suffix: str = "") -> str:
    """An ASCII address from a Czech name (Dvořáková -> dvorakova)."""
    ascii_name = unicodedata.normalize("NFKD", f"{first_name}.{last_name}").encode("ascii", "ignore").decode()
    return f"{ascii_name.lower().replace(' ', '')}{suffix}@example.org"


def _failed(course: Json, attempts: int) -> Json:
    return {"id": course["id"], "title": course["title"], "attempts": attempts}


def demo_state(today: date | None = None) -> SimState:
    """The demo FabLab: 5 machines, 12 courses, 25 members, ids as the module docstring lists."""
    today = today or date.today()
    state = SimState()
    laser_cutter = state.add_resource("Laserová řezačka")
    prusa = state.add_resource("3D tiskárna Prusa")
    mill = state.add_resource("CNC frézka")
    plotter = state.add_resource("Vinylový řezací plotr")
    bench_lathe = state.add_resource("Stolní soustruh")

    def day(offset: int) -> str:
        return (today + timedelta(days=offset)).isoformat()

    safety = state.add_course(
        "Bezpečnost v dílně",
        metadata=_courses_cm(DEMO_QUIZZES[1], "Bezpečnost v dílně", "Workshop safety", "bezpecnost", "q3X9bZpT1aE"),
        default_duration=1,
        notes="<p>Povinné pro všechny členy před prvním použitím dílny.</p>",
    )
    laser = state.add_course(
        "Laserová řezačka",
        metadata=_courses_cm(DEMO_QUIZZES[2], "Laserová řezačka", "Laser cutter", "laser", "Lr8mQe2Vx0k"),
        default_duration=1,
        resources=[laser_cutter["id"]],
    )
    printer = state.add_course(
        "3D tisk – Prusa",
        metadata=_courses_cm(DEMO_QUIZZES[3], "3D tisk – Prusa", "3D printing – Prusa", "3d-tisk", "P3dW9nLs7Yc"),
        resources=[prusa["id"]],
    )
    cnc = state.add_course(
        "CNC frézka",
        metadata=_courses_cm(DEMO_QUIZZES[4], "CNC frézka", "CNC milling machine", "cnc", max_attempts=5),
        default_duration=1,
        resources=[mill["id"]],
    )
    vinyl = state.add_course(
        "Vinylový řezací plotr",
        metadata=_courses_cm(DEMO_QUIZZES[5], "Vinylový řezací plotr", "Vinyl cutter", "plotr", "Vn1lC7tR4pQ", renew_on_use=True),
        default_duration=6,
        default_duration_unit="month",
        resources=[plotter["id"]],
    )
    soldering = state.add_course("Pájení", metadata=_courses_cm(DEMO_QUIZZES[6], "Pájení", "Soldering", "pajeni", "Sd0lD3rInG5"))
    lathe = state.add_course(
        "Stolní soustruh",
        metadata=_courses_cm(None, "Stolní soustruh", "Bench lathe", "soustruh", not_online=True),
        default_duration=1,
        resources=[bench_lathe["id"]],
    )
    state.add_course(
        "Svařování MIG",
        metadata=_courses_cm(None, "Svařování MIG", "MIG welding", "svarovani", not_online=True),
        default_duration=2,
        notes="<p>Jen prezenčně, termíny v kalendáři.</p>",
    )
    supervisor = state.add_course(
        "Správce dílny",
        metadata=_courses_cm(DEMO_QUIZZES[9], "Správce dílny", "Workshop supervisor", "spravce", admin_only=True),
    )
    old_laser = state.add_course(
        "Laser Rayjet (vyřazeno)",
        metadata=_courses_cm(DEMO_QUIZZES[10], "Laser Rayjet", "Rayjet laser", "rayjet"),
        state="archived",
        default_duration=1,
    )
    sewing = state.add_course("Šicí stroj")
    vacuum = state.add_course(
        "Vakuová formovačka",
        metadata={"courses_cm": {"cm_url": _QUIZ_URL + DEMO_QUIZZES[12], "cs_name": "Vakuová formovačka", "requires": [1]}},
        default_duration=2,
        default_duration_unit="week",
    )

    def member(
        first: str,
        last: str,
        *,
        language: str = "cs",
        privileges: str = "member",
        metadata: Json | None = None,
        locked: bool = False,
    ) -> int:
        created = state.add_member(
            first,
            last,
            _email(first, last),
            language=language,
            privileges=privileges,
            metadata=metadata,
            state="locked" if locked else "active",
        )
        member_id: int = created["id"]
        return member_id

    def trained(member_id: int, course: Json, since: int, until: int | None) -> None:
        state.add_training(member_id, course["id"], day(since), None if until is None else day(until))

    petra = member("Petra", "Dvořáková")
    trained(petra, safety, -100, 265)
    trained(petra, laser, -400, -35)

    jan = member(
        "Jan",
        "Novák",
        metadata={"courses_cm": {"failed_courses": [_failed(cnc, 2), _failed(laser, 3)]}, "other": "keep"},
    )
    trained(jan, safety, -50, 315)

    tomas = member("Tomáš", "Procházka", privileges="owner", metadata={"other": "keep"})
    trained(tomas, supervisor, -700, None)
    trained(tomas, safety, -20, 345)
    trained(tomas, laser, -20, 345)

    lucie = member("Lucie", "Černá", privileges="admin")
    trained(lucie, safety, -10, 355)

    martin = member("Martin", "Svoboda")
    trained(martin, safety, -30, 335)
    trained(martin, laser, -800, -435)
    trained(martin, laser, -30, 335)
    trained(martin, printer, -500, None)
    trained(martin, printer, -100, None)

    eva = member("Eva", "Kučerová", language="en", metadata={"courses_cm": {"failed_courses": []}})
    trained(eva, printer, -300, None)
    trained(eva, lathe, -60, 305)

    jiri = member("Jiří", "Dvořák", locked=True)
    trained(jiri, safety, -500, -135)

    katerina = member("Kateřina", "Veselá")
    trained(katerina, safety, -90, 275)
    trained(katerina, old_laser, -200, 165)
    trained(katerina, sewing, -90, None)

    ondrej = member("Ondřej", "Horák")
    trained(ondrej, safety, -364, 1)
    trained(ondrej, vinyl, -175, 7)

    zuzana = member("Zuzana", "Němcová", metadata={"other": "keep"})
    for course in (safety, laser, printer, cnc, vinyl, soldering):
        trained(zuzana, course, -40, None if course["defaultDuration"] == 0 else 140)
    trained(zuzana, vacuum, -3, 11)

    lukas = member("Lukáš", "Marek")
    trained(lukas, soldering, -365, 0)
    trained(lukas, cnc, -364, 1)

    member("Markéta", "Pospíšilová", language="en", metadata={"courses_cm": {}, "newsletter": True})

    daniel = member(
        "Daniel",
        "Smith",
        language="en",
        metadata={"courses_cm": {"failed_courses": [_failed(cnc, 5), _failed(vinyl, 1)]}, "other": "keep"},
    )
    trained(daniel, safety, -15, 350)

    _add_demo_crowd(state, today, [safety, laser, printer, cnc, vinyl, soldering, lathe, vacuum])
    return state


_DEMO_CROWD = (
    ("Veronika", "Hájková", "cs"),
    ("Petr", "Král", "cs"),
    ("Tereza", "Růžičková", "cs"),
    ("David", "Beneš", "en"),
    ("Barbora", "Fialová", "cs"),
    ("Michal", "Šťastný", "cs"),
    ("Kristýna", "Sedláčková", "cs"),
    ("Jakub", "Doležal", "cs"),
    ("Anna", "Zemanová", "en"),
    ("Filip", "Kolář", "cs"),
    ("Klára", "Navrátilová", "cs"),
    ("Vojtěch", "Čermák", "cs"),
)


def _add_demo_crowd(state: SimState, today: date, courses: list[Json]) -> None:
    """Members 14-25: a few trainings each, some expired, from a fixed RNG seed."""
    rng = random.Random(2024)  # noqa: S311 - seed data, not secrets
    for first, last, language in _DEMO_CROWD:
        member_id = state.add_member(first, last, _email(first, last), language=language)["id"]
        for course in rng.sample(courses, rng.randint(0, 4)):
            _add_history(state, rng, today, member_id, course)


def _add_history(state: SimState, rng: random.Random, today: date, member_id: int, course: Json) -> None:
    """A training taken up to ~3 years ago, valid for the course's default duration."""
    since = today - timedelta(days=rng.randint(0, 1000))
    until = (
        add_duration(since, course["defaultDuration"], course["defaultDurationUnit"]).isoformat()
        if course["defaultDuration"]
        else None
    )
    state.add_training(member_id, course["id"], since.isoformat(), until)


_MACHINES = (
    "Laserová řezačka",
    "3D tisk – Prusa",
    "3D tisk – resin",
    "CNC frézka",
    "Vinylový řezací plotr",
    "Pájení",
    "Stolní soustruh",
    "Svařování MIG",
    "Vakuová formovačka",
    "Šicí stroj",
    "Vyšívací stroj",
    "Sublimační lis",
    "Stolní vrtačka",
    "Pásová pila",
    "Kotoučová pila",
    "Hoblovka",
    "Osciloskop",
    "Gravírovací laser",
    "Keramická pec",
    "Bezpečnost v dílně",
)
_LEVELS = ("", " – pokročilí", " – údržba", " – instruktor")
_DURATIONS = ((0, "year"), (1, "year"), (6, "month"), (2, "week"), (2, "year"))
_FEMALE_FIRST = (
    "Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena", "Petra", "Veronika",
    "Tereza", "Martina", "Michaela", "Zuzana", "Barbora", "Kristýna", "Markéta", "Adéla", "Klára", "Eliška", "Šárka",
)  # fmt: skip
_MALE_FIRST = (
    "Jiří", "Jan", "Petr", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk", "Václav", "Michal",
    "František", "Jakub", "Lukáš", "Ondřej", "Vojtěch", "Matěj", "David", "Filip", "Radek", "Štěpán", "Aleš",
)  # fmt: skip
_SURNAMES = (
    ("Novák", "Nováková"), ("Svoboda", "Svobodová"), ("Novotný", "Novotná"), ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"), ("Procházka", "Procházková"), ("Kučera", "Kučerová"), ("Veselý", "Veselá"),
    ("Horák", "Horáková"), ("Němec", "Němcová"), ("Marek", "Marková"), ("Pokorný", "Pokorná"),
    ("Pospíšil", "Pospíšilová"), ("Hájek", "Hájková"), ("Král", "Králová"), ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"), ("Beneš", "Benešová"), ("Fiala", "Fialová"), ("Sedláček", "Sedláčková"),
    ("Doležal", "Doležalová"), ("Zeman", "Zemanová"), ("Kolář", "Kolářová"), ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"), ("Urban", "Urbanová"), ("Vaněk", "Vaňková"), ("Kříž", "Křížová"),
    ("Šťastný", "Šťastná"), ("Blažek", "Blažková"),
)  # fmt: skip
_FOREIGN_NAMES = (
    ("Emma", "Smith"), ("Oliver", "Brown"), ("Sophie", "Müller"), ("Liam", "García"), ("Mia", "Rossi"),
    ("Noah", "Kowalski"), ("Hannah", "Schmidt"), ("Minh", "Nguyen"), ("Olena", "Kovalenko"), ("Lukas", "Weber"),
)  # fmt: skip


def _add_generated_courses(state: SimState, count: int) -> list[Json]:
    """A third online (a few admin_only, some max_attempts 5), some presence-only, archived or bare."""
    courses = []
    for index in range(count):
        title = _MACHINES[index % len(_MACHINES)] + _LEVELS[index // len(_MACHINES) % len(_LEVELS)]
        if index >= len(_MACHINES) * len(_LEVELS):
            title += f" ({index // (len(_MACHINES) * len(_LEVELS)) + 1})"
        slug = f"kurz-{index + 1}"
        metadata: Json | None
        if index % 3 == 0:
            flags: dict[str, Any] = {}
            if index % 15 == 9:
                flags["admin_only"] = True
            if index % 12 == 6:
                flags["max_attempts"] = 5
            metadata = _courses_cm(f"gen{index:05d}q", title, f"Course {index + 1}", slug, **flags)
        elif index % 2 == 0:
            metadata = _courses_cm(None, title, f"Course {index + 1}", slug, not_online=True)
        elif index % 4 == 3:
            metadata = None
        else:
            metadata = {"courses_cm": {"cs_name": title, "en_name": f"Course {index + 1}"}}
        duration, unit = _DURATIONS[index % len(_DURATIONS)]
        courses.append(
            state.add_course(
                title,
                metadata=metadata,
                state="archived" if index % 10 == 5 else "active",
                default_duration=duration,
                default_duration_unit=unit,
            )
        )
    return courses


def _generated_name(rng: random.Random, language: str) -> tuple[str, str]:
    if language == "en" and rng.random() < 0.5:
        return rng.choice(_FOREIGN_NAMES)
    male, female = rng.choice(_SURNAMES)
    if rng.random() < 0.5:
        return rng.choice(_FEMALE_FIRST), female
    return rng.choice(_MALE_FIRST), male


def generated_state(members: int, courses: int = 80, seed: int = 1, today: date | None = None) -> SimState:
    """Load-test data: `members` members with 0-6 trainings each, some expired, some duplicated.

    Member 1 is the owner and every 250th member (2, 252, ...) an admin; about
    one member in ten has failed attempts recorded in metadata.
    """
    today = today or date.today()
    rng = random.Random(seed)  # noqa: S311 - seed data, not secrets
    state = SimState()
    all_courses = _add_generated_courses(state, courses)
    online = [course for course in all_courses if course["metadata"] and "cm_url" in course["metadata"]["courses_cm"]]
    for number in range(1, members + 1):
        language = "en" if rng.random() < 0.15 else "cs"
        first, last = _generated_name(rng, language)
        metadata: Json | None = None
        if online and rng.random() < 0.1:
            failed = [_failed(course, rng.randint(1, 4)) for course in rng.sample(online, min(2, len(online)))]
            metadata = {"courses_cm": {"failed_courses": failed[: rng.randint(1, 2)]}}
        if rng.random() < 0.05:
            metadata = {**(metadata or {}), "other": "keep"}
        privileges = "owner" if number == 1 else "admin" if number % 250 == 2 else "member"
        member_id = state.add_member(
            first,
            last,
            _email(first, last, str(number)),
            language=language,
            privileges=privileges,
            metadata=metadata,
        )["id"]
        taken = rng.sample(all_courses, min(rng.randint(0, 6), len(all_courses)))
        for course in taken:
            _add_history(state, rng, today, member_id, course)
        if taken and rng.random() < 0.05:
            _add_history(state, rng, today, member_id, taken[0])
    return state
