"""Every word the console shows exists in Czech and in English."""

from __future__ import annotations

import re
from pathlib import Path

from bridge.application import JOB_NAMES
from bridge.domain.statuses import EventStatus, MessageStatus, RejectReason
from bridge.web.staff.i18n import MESSAGES

BRIDGE = Path(__file__).resolve().parents[2] / "bridge"
LITERAL_KEYS = re.compile(r"""\bt\(\s*['"]([a-z_.\-]+)['"]|notice=['"]([a-z_.\-]+)['"]|error_page\(\d+, ['"]([a-z_.\-]+)['"]""")


def test_both_languages_have_the_same_words() -> None:
    assert set(MESSAGES["cs"]) == set(MESSAGES["en"])
    assert all(text.strip() for language in MESSAGES.values() for text in language.values())


def test_every_key_the_console_uses_is_translated() -> None:
    sources = [*(BRIDGE / "templates" / "staff").glob("*.html"), *(BRIDGE / "web" / "staff").glob("*.py")]
    used = {
        key
        for path in sources
        for match in LITERAL_KEYS.findall(path.read_text())
        for key in match
        if key and not key.endswith(".")
    }
    used |= {f"status.{status}" for status in EventStatus} | {f"mail.{status}" for status in MessageStatus}
    used |= {f"timeline.now_{status}" for status in EventStatus} | {f"job.{name}" for name in JOB_NAMES}
    used |= {f"outcome.{outcome}" for outcome in ("granted", "failed", "out_of_attempts", "blocked_pass", "rejected")}
    used |= {f"outcome.{reason}" for reason in RejectReason}
    used |= {f"action.{action}" for action in ("sign-in", "sign-out", "replay", "reset")}
    used |= {f"training.{state}" for state in ("active", "expiring", "expired")}
    assert len(used) > 100
    assert sorted(used - set(MESSAGES["en"])) == []
