"""Where a member stands with each course, and what to do next (contract section 14).

One decision, in two steps that each look at one thing: what the member's
record says (:class:`RecordPhase`: none, active, ending within the reminder
window, ended) and what stops them taking the quiz now (:class:`Blocker`:
nothing, a requirement, a broken requirement, no attempts left, a waiting
period, a presence-only course). :func:`decide` combines the two with
`match` statements that name every case, so a new phase or blocker cannot be
forgotten (mypy reports the missing return). The same rules as the other
profile endpoints feed it: active and expired from :mod:`bridge.domain.courses`,
the reminder window from :mod:`bridge.domain.expiry`, attempts and waiting
from :mod:`bridge.domain.attempts` and :mod:`bridge.domain.cooldown`,
requirements from :mod:`bridge.domain.requirements`.

:func:`next_step` says, in one Czech and one English sentence, what the state
means for the member ("expired on 3 March 2026; retake the quiz here").
Plain data in, plain data out: today, the time zone and the facts are given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum
from zoneinfo import ZoneInfo

from bridge.domain.expiry import expires_within, is_expired
from bridge.domain.models import TrainingRecord
from bridge.domain.statuses import CourseState


class RecordPhase(Enum):
    """What the member's record of the course says today."""

    NONE = "none"
    ACTIVE = "active"
    ENDING = "ending"
    ENDED = "ended"


class Blocker(Enum):
    """What stops the member taking the course's quiz now."""

    NOTHING = "nothing"
    PREREQUISITE = "prerequisite"
    BROKEN_REQUIREMENTS = "broken_requirements"
    NO_ATTEMPTS = "no_attempts"
    WAIT = "wait"
    IN_PERSON = "in_person"


@dataclass(frozen=True)
class CourseFacts:
    """What the bridge knows about one member and one course, gathered by the profile service."""

    online: bool
    record: TrainingRecord | None
    """The record that counts: the active one lasting longest, else the latest."""
    attempts_left: int
    waiting_until: dt.datetime | None
    missing: tuple[int, ...] = ()
    """Required courses the member does not hold (or, with broken requirements, the ids that break them)."""
    missing_names: tuple[tuple[str, str], ...] = ()
    """Czech and English names of the missing courses, in the order of `missing`."""
    requirements_broken: bool = False
    renews_on_use: bool = False


@dataclass(frozen=True)
class Standing:
    """The decision for one course: its state, and whether the member may take the quiz now."""

    state: CourseState
    phase: RecordPhase
    blocker: Blocker

    @property
    def offers_link(self) -> bool:
        """Whether the answer carries the personal quiz link (section 14's `quiz_url` column)."""
        match self.state:
            case CourseState.EXPIRING | CourseState.EXPIRED | CourseState.AVAILABLE:
                return self.blocker is Blocker.NOTHING
            case (
                CourseState.HELD
                | CourseState.WAITING
                | CourseState.OUT_OF_ATTEMPTS
                | CourseState.NEEDS_PREREQUISITE
                | CourseState.IN_PERSON
            ):
                return False


def record_phase(record: TrainingRecord | None, today: dt.date, reminder_days: int) -> RecordPhase:
    """The record's phase: none, active, ending within `reminder_days`, or ended."""
    if record is None:
        return RecordPhase.NONE
    if is_expired(record, today):
        return RecordPhase.ENDED
    return RecordPhase.ENDING if expires_within(record, today, reminder_days) else RecordPhase.ACTIVE


def blocker(facts: CourseFacts) -> Blocker:
    """The first thing that stops the member taking the quiz now, in the order they must deal with them."""
    if not facts.online:
        return Blocker.IN_PERSON
    if facts.requirements_broken:
        return Blocker.BROKEN_REQUIREMENTS
    if facts.missing:
        return Blocker.PREREQUISITE
    if facts.attempts_left <= 0:
        return Blocker.NO_ATTEMPTS
    if facts.waiting_until is not None:
        return Blocker.WAIT
    return Blocker.NOTHING


def decide(facts: CourseFacts, today: dt.date, reminder_days: int) -> Standing:
    """Exactly one state for the course: the record speaks first, then what blocks a new attempt."""
    phase = record_phase(facts.record, today, reminder_days)
    block = blocker(facts)
    return Standing(_state(phase, block), phase, block)


def _state(phase: RecordPhase, block: Blocker) -> CourseState:
    match phase:
        case RecordPhase.ACTIVE:
            return CourseState.HELD
        case RecordPhase.ENDING:
            return CourseState.EXPIRING
        case RecordPhase.ENDED:
            return CourseState.EXPIRED
        case RecordPhase.NONE:
            match block:
                case Blocker.NOTHING:
                    return CourseState.AVAILABLE
                case Blocker.WAIT:
                    return CourseState.WAITING
                case Blocker.NO_ATTEMPTS:
                    return CourseState.OUT_OF_ATTEMPTS
                case Blocker.PREREQUISITE | Blocker.BROKEN_REQUIREMENTS:
                    return CourseState.NEEDS_PREREQUISITE
                case Blocker.IN_PERSON:
                    return CourseState.IN_PERSON


# -- what to do next, in Czech and English ---------------------------------------------------

_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_CS_FROM = ("pondělí", "úterý", "středy", "čtvrtka", "pátku", "soboty", "neděle")
"""Czech weekdays after "od" (genitive): "od čtvrtka"."""


@dataclass(frozen=True)
class NextStep:
    """One sentence in each language."""

    cs: str
    en: str


def day_cs(day: dt.date) -> str:
    """A date as Czech text: 3. 3. 2026."""
    return f"{day.day}. {day.month}. {day.year}"


def day_en(day: dt.date) -> str:
    """A date as English text: 3 March 2026."""
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def _local_minute(moment: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    """The moment in TIMEZONE, rounded up to the minute (the wait is over then, never before)."""
    local = moment.astimezone(tz)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return local


def when_cs(moment: dt.datetime, tz: ZoneInfo) -> str:
    """A moment after "od" in Czech: čtvrtka 10. 12. 2026 14:00."""
    local = _local_minute(moment, tz)
    return f"{_WEEKDAYS_CS_FROM[local.weekday()]} {day_cs(local.date())} {local:%H:%M}"


def when_en(moment: dt.datetime, tz: ZoneInfo) -> str:
    """A moment in English: Thursday 10 December 2026 14:00."""
    local = _local_minute(moment, tz)
    return f"{_WEEKDAYS_EN[local.weekday()]} {day_en(local.date())} {local:%H:%M}"


def _names(facts: CourseFacts) -> tuple[str, str]:
    cs = ", ".join(name for name, _ in facts.missing_names) or ", ".join(map(str, facts.missing))
    en = ", ".join(name for _, name in facts.missing_names) or ", ".join(map(str, facts.missing))
    return cs, en


def _instead(block: Blocker, facts: CourseFacts, tz: ZoneInfo) -> NextStep:
    """What to do about the blocker, as the second half of a sentence."""
    match block:
        case Blocker.NOTHING:
            return NextStep("zopakujte test zde", "retake the quiz here")
        case Blocker.PREREQUISITE:
            cs, en = _names(facts)
            return NextStep(f"nejdříve absolvujte {cs}", f"take {en} first")
        case Blocker.BROKEN_REQUIREMENTS:
            return NextStep("kurz teď nelze absolvovat online, obraťte se na obsluhu dílny",
                            "the course cannot be taken online now, ask staff")  # fmt: skip
        case Blocker.NO_ATTEMPTS:
            return NextStep("požádejte obsluhu dílny o obnovení pokusů", "ask staff to reset your attempts")
        case Blocker.WAIT:
            assert facts.waiting_until is not None
            return NextStep(
                f"test můžete zopakovat od {when_cs(facts.waiting_until, tz)}",
                f"you can retake the quiz from {when_en(facts.waiting_until, tz)}",
            )
        case Blocker.IN_PERSON:
            return NextStep("pro obnovení přijďte osobně", "come in person to renew it")


def next_step(standing: Standing, facts: CourseFacts, tz: ZoneInfo) -> NextStep:
    """The member's next step for the course, one sentence in each language."""
    until = facts.record.until_date if facts.record else None
    match standing.state:
        case CourseState.HELD:
            if until is None:
                return NextStep("Školení máte platné bez omezení.", "You hold this training; it does not expire.")
            if facts.renews_on_use:
                return NextStep(
                    f"Školení máte platné do {day_cs(until)} a každé použití stroje ho prodlouží.",
                    f"You hold this training until {day_en(until)}, and each use of the machine extends it.",
                )
            return NextStep(f"Školení máte platné do {day_cs(until)}.", f"You hold this training until {day_en(until)}.")
        case CourseState.EXPIRING:
            assert until is not None
            if facts.renews_on_use:
                return NextStep(
                    f"Platnost končí {day_cs(until)}, pokud do té doby stroj nepoužijete.",
                    f"Expires on {day_en(until)} unless you use the machine before then.",
                )
            then = _instead(standing.blocker, facts, tz)
            return NextStep(f"Platnost končí {day_cs(until)}; {then.cs}.", f"Expires on {day_en(until)}; {then.en}.")
        case CourseState.EXPIRED:
            assert until is not None
            then = _instead(standing.blocker, facts, tz)
            return NextStep(f"Platnost skončila {day_cs(until)}; {then.cs}.", f"Expired on {day_en(until)}; {then.en}.")
        case CourseState.AVAILABLE:
            return NextStep("Absolvujte test zde.", "Take the quiz here.")
        case CourseState.WAITING:
            assert facts.waiting_until is not None
            return NextStep(
                f"Další pokus je možný od {when_cs(facts.waiting_until, tz)}.",
                f"Wait until {when_en(facts.waiting_until, tz)} for your next attempt.",
            )
        case CourseState.OUT_OF_ATTEMPTS:
            return NextStep(
                "Nemáte žádné pokusy; požádejte obsluhu dílny o jejich obnovení.",
                "You have no attempts left; ask staff to reset them.",
            )
        case CourseState.NEEDS_PREREQUISITE:
            then = _instead(standing.blocker, facts, tz)
            return NextStep(then.cs[0].upper() + then.cs[1:] + ".", then.en[0].upper() + then.en[1:] + ".")
        case CourseState.IN_PERSON:
            return NextStep(
                "Přijďte osobně; toto školení probíhá jen v dílně.",
                "Come in person; this training is given only at the FabLab.",
            )
