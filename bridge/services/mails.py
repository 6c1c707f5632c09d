"""What each mail and alert says: the one place that composes their content.

Use cases decide *that* a member or staff hear something; the functions here
decide *what*: the template and its context, the dedupe key and the alert text.
They return rendered messages for the store to queue with the use case's
own transition, so a mail is queued exactly when its cause is recorded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bridge.adapters.fabman import Course, Member, TrainingRecord
from bridge.adapters.mail import format_dates
from bridge.domain import attempts, cooldown, courses, requirements
from bridge.domain.binding import Refusal
from bridge.domain.links import courses_web_link, quiz_url
from bridge.domain.messages import OutgoingMessage
from bridge.domain.results import QuizResult
from bridge.services.deps import Deps

if TYPE_CHECKING:
    from bridge.services.expiry import SweepError

# -- results ---------------------------------------------------------------------------


def _names(member: Member, course: Course | None) -> dict[str, str]:
    cs_name, en_name = courses.display_names(course) if course else ("", "")
    return {"first_name": member.first_name, "course_cs": cs_name, "course_en": en_name}


def _personal_link(deps: Deps, member_id: int) -> str | None:
    settings = deps.settings
    return courses_web_link(settings.courses_web_url, settings.courses_web_private_key, member_id)


def granted(
    deps: Deps, event_id: int, member: Member, course: Course, result: QuizResult, until: dt.date | None
) -> list[OutgoingMessage]:
    """ "Training granted", with its end date."""
    context = {**_names(member, course), **format_dates(until), "percentage": result.percentage, "quiz_name": result.test_name}
    return _result_mail(deps, "granted", event_id, member, context)


def failed(
    deps: Deps,
    event_id: int,
    member: Member,
    course: Course,
    result: QuizResult,
    left: int,
    *,
    opens_at: dt.datetime | None = None,
) -> list[OutgoingMessage]:
    """ "Failed, N attempts left", with the quiz link for the next attempt and when it opens (section 12)."""
    context = {
        **_names(member, course),
        "attempts_left": left,
        "percentage": result.percentage,
        "passmark": result.percentage_passmark,
        "quiz_url": _quiz_link(deps, member, course),
        **_opens(deps, opens_at),
    }
    return _result_mail(deps, "failed", event_id, member, context)


def too_early(
    deps: Deps, event_id: int, member: Member, course: Course, result: QuizResult, opens_at: dt.datetime | None, *, passed: bool
) -> list[OutgoingMessage]:
    """ "This attempt started during your waiting period and does not count; retake it from ..." (section 12)."""
    context = {
        **_names(member, course),
        "passed": passed,
        "percentage": result.percentage,
        "quiz_url": _quiz_link(deps, member, course),
        **_opens(deps, opens_at),
    }
    return _result_mail(deps, "too_early", event_id, member, context)


def held_pass_alert(
    deps: Deps, event_id: int, member: Member, course: Course, result: QuizResult, opens_at: dt.datetime | None
) -> list[OutgoingMessage]:
    """Staff hear of a pass held because it started during the waiting period; a replay grants it."""
    tz = deps.settings.tz
    started = result.time_started or result.time_finished
    when = f" at {started.astimezone(tz).isoformat(timespec='minutes')}" if started else ""
    until = f" (the wait ends at {opens_at.astimezone(tz).isoformat(timespec='minutes')})" if opens_at else ""
    return event_alert(
        deps,
        event_id,
        "too_early",
        "Pass held: quiz started during the waiting period",
        f"Member {member.id} passed course {course.id} ({course.title}) with an attempt started{when}, "
        f"inside the waiting period after a failed attempt{until}. No training was added and the member was "
        f"told when to retake the quiz. To grant it anyway, replay the event: `flask replay-event {event_id}` "
        "(a replay by staff applies the pass despite the wait).",
        member_id=member.id,
        course_id=course.id,
    )


def refused(
    deps: Deps, event_id: int, member: Member, course: Course, result: QuizResult, refusal: Refusal
) -> list[OutgoingMessage]:
    """ "Your result could not be counted, because ..., and what to do" (rule 4.10); a fresh link when the course may be taken."""
    context = {
        **_names(member, course),
        "reason": str(refusal.reason),
        "quiz_url": _fresh_link(deps, member, course),
        "courses_web_link": _personal_link(deps, member.id),
        "link_days": deps.settings.quiz_link_days,
    }
    return _result_mail(deps, "refused", event_id, member, context)


def refused_alert(
    deps: Deps, event_id: int, member: Member, course: Course, result: QuizResult, refusal: Refusal
) -> list[OutgoingMessage]:
    """Staff hear once of a result that broke rule 4.10: the course, and for a wrong quiz both quiz keys."""
    quizzes = ""
    if refusal.reason == "wrong_quiz":
        quizzes = (
            f" The result came from quiz {refusal.result_quiz or '(no link_url_id)'}; course {course.id} "
            f"({course.title}) has quiz {refusal.course_quiz or '(no quiz in its cm_url)'}. A member who pastes one "
            "course's cm_user_id onto another quiz's start URL looks exactly like this."
        )
    return event_alert(
        deps,
        event_id,
        "rejected",
        "ClassMarker result not counted",
        f"Event {event_id} (ClassMarker result #{result.result_id}, member {member.id}, course {course.id} "
        f"{course.title}) was rejected: {refusal.detail}.{quizzes} Nothing was written to Fabman, no attempt was "
        "counted, and the member was told why.",
        member_id=member.id,
        course_id=course.id,
    )


def _fresh_link(deps: Deps, member: Member, course: Course) -> str | None:
    """A new personal quiz link when the member may take the course now (section 3 rules), else None."""
    allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
    may_take = member.state == "active" and courses.visible_to(course, member)
    if not may_take or attempts.attempts_left(member.metadata, course.id, allowed) <= 0:
        return None
    return _quiz_link(deps, member, course)


def _quiz_link(deps: Deps, member: Member, course: Course) -> str | None:
    """The member's personal quiz link of an online course."""
    if not courses.is_online(course):
        return None
    return quiz_url(courses.setting(course, "cm_url"), deps.codec.encode(member.id, course.id))


def _opens(deps: Deps, opens_at: dt.datetime | None) -> dict[str, str | None]:
    """When the next attempt opens, as Czech and English mail text in TIMEZONE (rounded up to the minute)."""
    if opens_at is None:
        return {"opens_cs": None, "opens_en": None}
    local = opens_at.astimezone(deps.settings.tz)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return {
        "opens_cs": f"{local.day}. {local.month}. {local.year} v {local:%H:%M}",
        "opens_en": f"{local.day} {local:%b} {local.year} at {local:%H:%M}",
    }


def out_of_attempts(
    deps: Deps, event_id: int, member: Member, course: Course, allowed: int, *, passed: bool
) -> list[OutgoingMessage]:
    """ "Out of attempts, contact staff"; a pass without attempts also alerts staff."""
    context = {
        **_names(member, course),
        "max_attempts": allowed,
        "courses_web_link": _personal_link(deps, member.id),
        "passed_without_attempts": passed,
    }
    messages = _result_mail(deps, "out_of_attempts", event_id, member, context)
    if passed:
        messages += deps.renderer.staff_alert(
            dedupe_key=f"event:{event_id}:blocked",
            title="Passed quiz without attempts left",
            message=f"Member {member.id} passed course {course.id} ({course.title}) but has no attempts left; "
            "no training was added. Reset the attempts and replay the event if the pass should count.",
            event_id=event_id,
            member_id=member.id,
            course_id=course.id,
        )
    return messages


def something_went_wrong(deps: Deps, event_id: int, member: Member | None, course: Course | None) -> list[OutgoingMessage]:
    """Contract rule 9: the member hears something went wrong (when we know who they are)."""
    if member is None:
        return []
    return _result_mail(deps, "error", event_id, member, {**_names(member, course), "event_id": event_id})


def _result_mail(deps: Deps, kind: str, event_id: int, member: Member, context: dict[str, Any]) -> list[OutgoingMessage]:
    return deps.renderer.member_mail(
        kind,
        recipient=member.email,
        dedupe_key=f"event:{event_id}:{kind}",
        context=context,
        member_id=member.id,
        event_id=event_id,
    )


def event_alert(
    deps: Deps, event_id: int, key: str, title: str, message: str, *, member_id: int | None, course_id: int | None
) -> list[OutgoingMessage]:
    """A staff alert about one inbox event, sent once per event and key."""
    return deps.renderer.staff_alert(
        dedupe_key=f"event:{event_id}:{key}",
        title=title,
        message=message,
        event_id=event_id,
        member_id=member_id,
        course_id=course_id,
    )


# -- expiry ----------------------------------------------------------------------------


def expiry_notice(
    deps: Deps, kind: str, member: Member, course: Course | None, record: TrainingRecord, key: str
) -> list[OutgoingMessage]:
    """The "training expired, retake it" mail of one training record."""
    if course is None:
        cs_name = en_name = f"#{record.course_id}"
    else:
        cs_name, en_name = courses.display_names(course)
    link = None
    if course is not None and courses.is_online(course):
        allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
        if attempts.attempts_left(member.metadata, course.id, allowed) > 0:
            link = quiz_url(courses.setting(course, "cm_url"), deps.codec.encode(member.id, course.id))
    context = {
        "first_name": member.first_name,
        "course_cs": cs_name,
        "course_en": en_name,
        **format_dates(record.until_date),
        "quiz_url": link,
        "courses_web_link": _personal_link(deps, member.id),
    }
    return deps.renderer.member_mail(kind, recipient=member.email, dedupe_key=key, context=context, member_id=member.id)


def reminder(deps: Deps, member: Member, listed: list[tuple[TrainingRecord, Course]], key: str) -> list[OutgoingMessage]:
    """One mail listing every training of the member entering the reminder window (section 12).

    Each with its end date and, for an online course the member has attempts
    left for, the personal quiz link; presence-only courses say so.
    """
    trainings = []
    for record, course in sorted(listed, key=lambda item: (item[0].until_date or dt.date.max, item[1].title.casefold())):
        cs_name, en_name = courses.display_names(course)
        online = courses.is_online(course)
        allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
        has_attempts = attempts.attempts_left(member.metadata, course.id, allowed) > 0
        trainings.append(
            {
                "course_cs": cs_name,
                "course_en": en_name,
                **format_dates(record.until_date),
                "online": online,
                "quiz_url": _quiz_link(deps, member, course) if online and has_attempts else None,
                **_unused_for(course),
            }
        )
    context = {"first_name": member.first_name, "trainings": trainings, "courses_web_link": _personal_link(deps, member.id)}
    return deps.renderer.member_mail("reminder", recipient=member.email, dedupe_key=key, context=context, member_id=member.id)


_UNITS_CS = {"day": ("dni", "dnech"), "week": ("týdnu", "týdnech"), "month": ("měsíci", "měsících"), "year": ("roce", "letech")}


def _unused_for(course: Course) -> dict[str, str | None]:
    """For a course that renews on use (section 15): how long a training lasts without use ("6 months")."""
    amount, unit = course.default_duration, course.default_duration_unit.lower().rstrip("s")
    if not requirements.renews_on_use(course) or amount <= 0 or unit not in _UNITS_CS:
        return {"unused_cs": None, "unused_en": None}
    one, many = _UNITS_CS[unit]
    return {"unused_cs": f"{amount} {one if amount == 1 else many}", "unused_en": f"{amount} {unit}{'' if amount == 1 else 's'}"}


def unannounced_expiry(deps: Deps, key: str, member: Member, course: Course, record: TrainingRecord) -> list[OutgoingMessage]:
    """Staff hear that an expiry could not be mailed (the member has no address)."""
    return deps.renderer.staff_alert(
        dedupe_key=f"{key}:no-address",
        title="Expired training cannot be announced",
        message=f"Member {member.id} has no e-mail address; the expiry of course {course.id} "
        f"({course.title}, record {record.id}) was not mailed.",
        member_id=member.id,
        course_id=course.id,
    )


def sweep_errors(deps: Deps, today: dt.date, errors: Sequence[SweepError]) -> list[OutgoingMessage]:
    """One alert a day when records could not be removed (the next run retries them)."""
    members = sorted({error.member_id for error in errors})
    return deps.renderer.staff_alert(
        dedupe_key=f"expiry-sweep:{today.isoformat()}:errors",
        title="Training expiry sweep had errors",
        message=f"{len(errors)} training record(s) of members {', '.join(map(str, members))} were not "
        "processed; the next run retries them. Details are in the sweep's summary and the log.",
    )


# -- Fabman's webhook ----------------------------------------------------------------------


def machine_denied(deps: Deps, member: Member, equipment: str, offered: list[Course], *, key: str) -> list[OutgoingMessage]:
    """Refused at a machine: the courses that unlock it, each with the quiz link or what to do instead (section 13)."""
    listed = []
    for course in offered:
        cs_name, en_name = courses.display_names(course)
        allowed = courses.max_attempts(course, deps.settings.max_course_attempts)
        left = attempts.attempts_left(member.metadata, course.id, allowed)
        hours = cooldown.schedule(course, deps.settings.cooldown_hours)
        waiting = cooldown.waiting_until(member.metadata, course.id, hours, deps.now()) if left > 0 else None
        listed.append(
            {
                "course_cs": cs_name,
                "course_en": en_name,
                "quiz_url": _quiz_link(deps, member, course) if left > 0 and waiting is None else None,
                "out_of_attempts": left <= 0,
                "wiki_url": _web_address(courses.setting(course, "wiki_url")),
                "yt_url": _web_address(courses.setting(course, "yt_url")),
                **_opens(deps, waiting),
            }
        )
    context = {
        "first_name": member.first_name,
        "equipment": equipment,
        "courses": listed,
        "courses_web_link": _personal_link(deps, member.id),
    }
    return deps.renderer.member_mail(
        "machine_denied", recipient=member.email, dedupe_key=key, context=context, member_id=member.id
    )


def _web_address(value: Any) -> str | None:
    """A study-material link from course metadata, only when it is an http(s) address."""
    return value.strip() if isinstance(value, str) and value.strip().startswith(("https://", "http://")) else None


# -- staff digest ------------------------------------------------------------------------


def digest(
    deps: Deps, key: str, *, week: str, today: dt.date, sections: dict[str, Any]
) -> tuple[str, str, list[OutgoingMessage]]:
    """The weekly digest's subject and text (for `flask digest`), and the mail to the staff address (if set)."""
    gap = sections["webhook_gap"]
    if isinstance(gap, dict):
        gap_lines = [f"{name}: {value}" for name, value in gap.items()]
    else:
        gap_lines = [] if gap is None else [str(gap)]
    context = {
        "week": week,
        "today_cs": format_dates(today)["until_date_cs"],
        "today_en": format_dates(today)["until_date_en"],
        **sections,
        "webhook_gap_lines": gap_lines,
    }
    subject, text, _ = deps.renderer.render("digest", context)
    return subject, text, deps.renderer.staff_mail("digest", dedupe_key=key, context=context)


# -- reconciliation ----------------------------------------------------------------------


def _how_to_review(deps: Deps, event_id: int) -> str:
    """How staff judge a result: on its console page when the console has a public address, else in the shell."""
    shell = f"run `flask review-result {event_id} passed` (or `failed`)"
    if deps.settings.public_url is None:
        return shell
    page = f"{deps.settings.public_url.rstrip('/')}/staff/results/{event_id}"
    return f"judge it on its page in the staff console ({page}) or {shell}"


def needs_review(
    deps: Deps,
    event_id: int,
    result_id: str,
    quiz: str | None,
    why: str,
    *,
    member_id: int | None,
    course_id: int | None,
    quiz_unknown: bool = False,
) -> list[OutgoingMessage]:
    """Staff must judge a polled result the bridge cannot (no `passed`, no pass mark, or no quiz): nothing is guessed."""
    found = f"Reconciliation found ClassMarker result #{result_id} ({quiz or 'unnamed quiz'}) {why}"
    stored = f"It is stored as event {event_id} (needs_review) and nothing was written to Fabman."
    if quiz_unknown:
        message = (
            f"{found}, so the bridge cannot tell whether it was taken through the quiz of its course, and a result "
            f"counts only for that quiz (rule 4.10). {stored} It is never applied as it stands: look it up in "
            "ClassMarker, and if it is genuine record the training in Fabman by hand."
        )
    else:
        message = (
            f"{found}, so the bridge cannot tell a pass from a fail. {stored} Look the result up in ClassMarker, "
            f"then {_how_to_review(deps, event_id)}: the bridge then applies it like any result."
        )
    return event_alert(
        deps, event_id, "needs_review", "ClassMarker result needs review", message, member_id=member_id, course_id=course_id
    )


def webhook_gap(deps: Deps, day: dt.date, recent: int, total: int) -> list[OutgoingMessage]:
    """At most one alert a day while results reach the bridge only through reconciliation."""
    return deps.renderer.staff_alert(
        dedupe_key=f"webhook-gap:{day.isoformat()}",
        title="ClassMarker webhook is probably misconfigured",
        message=f"{recent} ClassMarker result(s) in the last 24 hours ({total} in all) reached the bridge only "
        "because reconciliation asked ClassMarker's results API: their webhooks never arrived. They were stored "
        "and applied all the same, but later than they should have been. Check the webhook in ClassMarker: its "
        "URL must be this bridge's /add_classmarker_training, and its secret phrase must equal "
        "CLASSMARKER_WEBHOOK_SECRET (with a wrong secret every delivery is refused with 401). "
        "This alert comes at most once a day.",
    )


# -- courses that build on each other (section 15) --------------------------------------


def missing_requirement(
    deps: Deps, event_id: int, member: Member, course: Course, missing: list[Course | int], *, passed: bool
) -> list[OutgoingMessage]:
    """ "This course needs another one first": a pass granted nothing, a fail was not counted."""
    names = [courses.display_names(item) if isinstance(item, Course) else (f"#{item}", f"#{item}") for item in missing]
    context = {
        **_names(member, course),
        "passed": passed,
        "missing_cs": ", ".join(f"„{cs}“" for cs, _ in names),
        "missing_en": ", ".join(f'"{en}"' for _, en in names),
    }
    return _result_mail(deps, "missing_requirement", event_id, member, context)


def held_for_requirement_alert(
    deps: Deps, event_id: int, member: Member, course: Course, missing: list[Course | int]
) -> list[OutgoingMessage]:
    """Staff hear of a pass held because a required course was not held when the quiz finished."""
    named = ", ".join(f"{item.id} ({item.title})" if isinstance(item, Course) else str(item) for item in missing)
    return event_alert(
        deps,
        event_id,
        "missing_requirement",
        "Pass held: a required course is missing",
        f"Member {member.id} passed course {course.id} ({course.title}) without holding the required course(s) {named} "
        "when the quiz finished. No training was added and the member was told what to take first. Once the member "
        f"holds them, replay the event to grant it: `flask replay-event {event_id}`.",
        member_id=member.id,
        course_id=course.id,
    )
