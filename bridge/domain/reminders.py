"""Combined reminders (contract section 12): one mail a day per member, each record reminded once per date.

The sweep lists, in one mail, every training of a member that entered the
reminder window and was not listed before for its `untilDate`. Records are
remembered by (member, record, untilDate), so a renewed record whose date
moved is reminded again, and a record reminded by the per-record reminders
of earlier versions (outbox key ``reminder:{member}:{record}:{untilDate}``,
:func:`bridge.domain.expiry.reminder_mail_key`) counts as reminded too.
"""

from __future__ import annotations

import datetime as dt

from bridge.domain.models import Course


def is_remindable(course: Course) -> bool:
    """Trainings of courses still in use are reminded, online (with a quiz link) or presence-only."""
    return course.state == "active"


def reminder_day_key(member_id: int, today: dt.date) -> str:
    """Outbox key of a member's combined reminder: at most one a day."""
    return f"reminders:{member_id}:{today.isoformat()}"
