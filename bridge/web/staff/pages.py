"""The console's pages and its actions; each view reads its filters, calls the console's function, renders.

Actions are POSTs (the guard has checked their CSRF token), recorded in the
staff log by :mod:`bridge.services.console.actions`, and answered with a
redirect back to the page the staff member came from, with a line saying
what happened.
"""

from __future__ import annotations

import json

from flask import flash, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from bridge.adapters.fabman import FabmanError
from bridge.answers import to_json
from bridge.application import bridge_of
from bridge.domain.models import MAX_ID
from bridge.domain.statuses import EventStatus, MessageStatus
from bridge.errors import NotFound
from bridge.services import console, statistics
from bridge.web.staff import filters
from bridge.web.staff.charts import course_chart
from bridge.web.staff.session import blueprint, error_page, t

VERDICTS = ("passed", "failed")


@blueprint.get("/")
def overview() -> str:
    """Results today and this week by status, mail waiting, each job's last run, the webhook gap."""
    bridge = bridge_of()
    return render_template(
        "staff/overview.html",
        overview=console.pages.overview(bridge.deps),
        jobs=bridge.job_status(),
        statuses=console.pages.OVERVIEW_STATUSES,
        gap=bridge.webhook_gap() if bridge.reconciliation_enabled else None,
    )


@blueprint.get("/results")
def results() -> str:
    """The inbox, newest first, filtered and paged."""
    wanted = filters.result_filter(request.args)
    deps = bridge_of().deps
    return render_template(
        "staff/results.html",
        page=console.pages.results(deps, wanted, filters.page_number(request.args)),
        wanted=wanted,
        courses=console.pages.course_titles(deps),
        statuses=list(EventStatus),
    )


@blueprint.get("/results/<int:event_id>")
def result(event_id: int) -> str:
    """One result: timeline, payload, mail, Fabman record, and Replay when it may be replayed."""
    bridge = bridge_of()
    event = bridge.event(event_id)
    erased = bridge.store.privacy.erased_member(event.member_id) if event.member_id is not None else None
    return render_template("staff/result.html", detail=console.pages.result(bridge.deps, event), erased=erased)


@blueprint.post("/results/<int:event_id>/replay")
def replay(event_id: int) -> ResponseReturnValue:
    """Put a result back in the queue and process it now."""
    bridge = bridge_of()
    bridge.event(event_id)
    receipt = console.actions.replay(bridge.deps, g.staff.email, event_id)
    status = " ".join(filter(None, (receipt.status, receipt.outcome)))
    flash(t("result.replayed", id=event_id, status=status), "done" if receipt.status == EventStatus.APPLIED else "note")
    return redirect(url_for("staff.result", event_id=event_id), 303)


@blueprint.post("/results/<int:event_id>/review")
def review(event_id: int) -> ResponseReturnValue:
    """Judge a result reconciliation could not (no `passed`, no pass mark): apply it as passed or failed."""
    verdict = request.form.get("verdict")
    if verdict not in VERDICTS:
        return error_page(400, "error.bad_input", field="verdict")
    bridge = bridge_of()
    if bridge.event(event_id).status != EventStatus.NEEDS_REVIEW:
        flash(t("result.not_reviewable", id=event_id), "note")
        return redirect(url_for("staff.result", event_id=event_id), 303)
    receipt = console.actions.review(bridge.deps, g.staff.email, event_id, passed=verdict == "passed")
    if receipt.status == "duplicate":  # another staff member (or the shell) judged it a moment ago
        flash(t("result.not_reviewable", id=event_id), "note")
    else:
        status = " ".join(filter(None, (receipt.status, receipt.outcome)))
        flash(t("result.reviewed", id=event_id, status=status), "done" if receipt.status == EventStatus.APPLIED else "note")
    return redirect(url_for("staff.result", event_id=event_id), 303)


@blueprint.get("/members")
def members() -> ResponseReturnValue:
    """Find a member by name, e-mail (Fabman's search) or id (straight to their page)."""
    query = (request.args.get("q") or "").strip()
    if query.isascii() and query.isdigit() and 0 < int(query) <= MAX_ID:
        return redirect(url_for("staff.member", member_id=int(query)))
    found, problem = [], False
    if query:
        try:
            found = console.members.find_members(bridge_of().deps, query[:100])
        except FabmanError:
            problem = True
    return render_template("staff/members.html", query=query, found=found, fabman_problem=problem)


@blueprint.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    """A member's trainings, attempts, evidence, results and mail."""
    if member_id > MAX_ID:
        raise NotFound("no such member")
    return render_template("staff/member.html", page=console.members.member_page(bridge_of().deps, member_id))


@blueprint.post("/members/<int:member_id>/reset")
def reset_attempts(member_id: int) -> ResponseReturnValue:
    """Clear the member's failed attempts of one course."""
    course_id = filters.optional_id(request.form, "course_id")
    if course_id is None or member_id > MAX_ID:
        raise NotFound("no such member or course")
    deps = bridge_of().deps
    try:
        reset = console.actions.reset_attempts(deps, g.staff.email, member_id, course_id)
    except NotFound:
        flash(t("error.not_found"), "problem")
    except FabmanError:
        flash(t("fabman.down"), "problem")
    else:
        title = console.pages.course_titles(deps).get(course_id, f"#{course_id}")
        flash(t("member.reset_done", course=title, before=reset.attempts_before), "done")
    return redirect(url_for("staff.member", member_id=member_id), 303)


@blueprint.get("/evidence")
def evidence() -> str:
    """The ledger searched by member, course and dates."""
    wanted = filters.evidence_filter(request.args)
    bridge = bridge_of()
    page = console.pages.evidence(bridge.deps, wanted, filters.page_number(request.args))
    erased = bridge.store.privacy.erased_members(sorted({entry.member_id for entry in page.rows}))
    return render_template(
        "staff/evidence.html", page=page, wanted=wanted, courses=console.pages.course_titles(bridge.deps), erased=erased
    )


@blueprint.get("/evidence/bundle")
def evidence_bundle() -> ResponseReturnValue:
    """A row's signed proof as a JSON file (the same bundle as GET /admin/evidence/proof)."""
    member_id = filters.bounded_int(request.args, "member", default=0, low=1, high=MAX_ID)
    course_id = filters.bounded_int(request.args, "course", default=0, low=1, high=MAX_ID)
    if not (member_id and course_id):
        raise NotFound("choose a member and a course")
    bundle = bridge_of().evidence.bundle(member_id, course_id)
    response = make_response(json.dumps(to_json(bundle), indent=2))
    response.content_type = "application/json"
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{member_id}-{course_id}-{bundle.index}.json"'
    return response


@blueprint.get("/evidence.csv")
def evidence_download() -> ResponseReturnValue:
    """The same search as CSV: UTF-8, a header row, every ledger column."""
    deps = bridge_of().deps
    rows = console.exports.evidence_rows(deps, filters.evidence_filter(request.args))
    response = make_response(console.exports.evidence_csv(rows))
    response.content_type = "text/csv; charset=utf-8"
    today = deps.today().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="evidence-{today}.csv"'
    return response


@blueprint.get("/stats")
def stats() -> str:
    """How each course does: per course a chart of its 12 months and the table (section 18)."""
    bridge = bridge_of()
    rows = bridge.course_stats()
    names = statistics.course_names(bridge.deps)
    index = 0 if g.lang == "cs" else 1
    courses = []
    for course_id in dict.fromkeys(row.course_id for row in rows):
        months = [row for row in rows if row.course_id == course_id]
        name = names.get(course_id, (f"#{course_id}", f"#{course_id}"))[index]
        courses.append((course_id, name, months, course_chart(months, title=t("stats.chart", course=name), lang=g.lang)))
    return render_template("staff/stats.html", courses=courses)


@blueprint.get("/stats.csv")
def stats_download() -> ResponseReturnValue:
    """The statistics as CSV: UTF-8, a header row, one row per course and month."""
    bridge = bridge_of()
    response = make_response(statistics.stats_csv(bridge.course_stats(), statistics.course_names(bridge.deps)))
    response.content_type = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="course-stats-{bridge.deps.today().isoformat()}.csv"'
    return response


@blueprint.get("/expiring")
def expiring() -> str:
    """Trainings ending in the next 30 days (or another window)."""
    days = filters.bounded_int(
        request.args, "days", default=console.pages.EXPIRING_DAYS, low=1, high=console.pages.MAX_EXPIRING_DAYS
    )
    try:
        found, problem = console.pages.expiring(bridge_of().deps, days), False
    except FabmanError:
        found, problem = [], True
    return render_template("staff/expiring.html", days=days, found=found, fabman_problem=problem)


@blueprint.get("/mail")
def mail() -> str:
    """Mail and alerts, newest first, by status (listed without bodies)."""
    status = filters.message_status(request.args)
    page = console.pages.mail(bridge_of().deps, status, filters.page_number(request.args))
    return render_template("staff/mail.html", page=page, status=status, statuses=list(MessageStatus))


@blueprint.get("/log")
def staff_log() -> str:
    """Every staff action."""
    return render_template("staff/log.html", page=console.pages.staff_log(bridge_of().deps, filters.page_number(request.args)))
