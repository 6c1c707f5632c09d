"""Mail and alert text from the project's templates, addressed and keyed for the outbox."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel

log = logging.getLogger(__name__)

MEMBER_MAIL_KINDS = frozenset(
    {"granted", "failed", "out_of_attempts", "error", "expired", "reminder", "too_early", "machine_denied", "refused"}
)
STAFF_MAIL_KINDS = frozenset({"digest"})
"""Bilingual mail to the staff address (not alerts: those are plain text, also to Discord)."""
_DISCORD_LIMIT = 1900
_CZECH_DATE = "{d.day}. {d.month}. {d.year}"


def format_dates(day: dt.date | None) -> dict[str, str | None]:
    """A date as Czech and English mail text (None stays None)."""
    if day is None:
        return {"until_date_cs": None, "until_date_en": None}
    return {"until_date_cs": _CZECH_DATE.format(d=day), "until_date_en": day.strftime("%d %b %Y").lstrip("0")}


class MailRenderer:
    """Renders member mail (Czech and English, text and HTML) and staff alerts for each configured channel."""

    def __init__(self, *, fablab_name: str, support_email: str | None, alert_discord: bool) -> None:
        self.fablab_name = fablab_name
        self.support_email = support_email
        self.alert_discord = alert_discord
        self.templates = Environment(
            loader=PackageLoader("bridge", "templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
        )

    def render(self, kind: str, context: dict[str, Any]) -> tuple[str, str, str]:
        """Subject, plain text and HTML of a member mail."""
        if kind not in MEMBER_MAIL_KINDS | STAFF_MAIL_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}")
        full = {"support_email": self.support_email, "fablab_name": self.fablab_name, **context}
        subject, text = _split_subject(self.templates.get_template(f"mail/{kind}.txt").render(full))
        html = self.templates.get_template(f"mail/{kind}.html").render(full)
        return subject, text, html

    def member_mail(
        self,
        kind: str,
        *,
        recipient: str | None,
        dedupe_key: str,
        context: dict[str, Any],
        member_id: int | None = None,
        event_id: int | None = None,
    ) -> list[OutgoingMessage]:
        """The member's mail, or nothing when the member has no address."""
        if kind not in MEMBER_MAIL_KINDS:
            raise ValueError(f"unknown mail kind {kind!r}")
        if not recipient:
            log.warning("member %s has no e-mail address; %s mail not queued", member_id, kind)
            return []
        subject, text, html = self.render(kind, context)
        return [OutgoingMessage(dedupe_key, Channel.MAIL, recipient, subject, text, html, member_id, event_id)]

    def staff_mail(self, kind: str, *, dedupe_key: str, context: dict[str, Any]) -> list[OutgoingMessage]:
        """A bilingual mail to the staff address, or nothing when FABLAB_SUPPORT_EMAIL is unset."""
        if kind not in STAFF_MAIL_KINDS:
            raise ValueError(f"unknown staff mail kind {kind!r}")
        if not self.support_email:
            return []
        subject, text, html = self.render(kind, context)
        return [OutgoingMessage(dedupe_key, Channel.MAIL, self.support_email, subject, text, html)]

    def staff_alert(
        self,
        *,
        dedupe_key: str,
        title: str,
        message: str,
        event_id: int | None = None,
        member_id: int | None = None,
        course_id: int | None = None,
    ) -> list[OutgoingMessage]:
        """An alert to the support address and to Discord, whichever are set."""
        context = {
            "title": title,
            "message": message,
            "event_id": event_id,
            "member_id": member_id,
            "course_id": course_id,
            "fablab_name": self.fablab_name,
        }
        subject, text = _split_subject(self.templates.get_template("mail/staff_alert.txt").render(context))
        log.warning("staff alert: %s (event %s)", title, event_id)
        alerts = []
        if self.support_email:
            alerts.append(
                OutgoingMessage(
                    f"{dedupe_key}:mail", Channel.ALERT_MAIL, self.support_email, subject, text, None, member_id, event_id
                )
            )
        if self.alert_discord:
            content = f"**{subject}**\n{text}"[:_DISCORD_LIMIT]
            alerts.append(
                OutgoingMessage(f"{dedupe_key}:discord", Channel.DISCORD, None, subject, content, None, member_id, event_id)
            )
        return alerts


def _split_subject(rendered: str) -> tuple[str, str]:
    """Templates start with `Subject: ...` and a blank line."""
    first, _, body = rendered.lstrip().partition("\n")
    if not first.startswith("Subject:"):
        raise ValueError("mail template must start with a 'Subject:' line")
    return first[len("Subject:") :].strip(), body.lstrip("\n")
