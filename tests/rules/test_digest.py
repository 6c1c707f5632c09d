"""Contract section 12, the weekly staff digest: `flask digest [--dry-run]` as staff and the job run it.

The command runs in its own process against the simulator, the SMTP sink and
the test store; the store's unhappy rows (a dead and a rejected result, dead
mail) are made with the store's own transitions.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Callable

import pytest
from flask import Flask

from bridge.adapters.store import Store
from bridge.application import bridge_of
from bridge.domain.calendar import today_in
from bridge.domain.messages import OutgoingMessage
from bridge.domain.statuses import Channel, EventStatus
from bridge.services import digest
from bridge.services.reconcile import WebhookGap
from harness.launch import ROOT, SmtpSink
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator
from tests.rules.conftest import PRAGUE, STAFF
from tests.support import text_of

NAME = "FabLab Brno (test)"


def flask_digest(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "main_run", "digest", *options],
        cwd=ROOT,
        env={**os.environ, **env, "FABLAB_NAME": NAME},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def unhappy_rows(store: Store) -> dict[str, int]:
    """A dead result, a rejected one and a dead mail, as the bridge's transitions leave them."""
    dead, _ = store.inbox.receive(result_key="dead-1", status=EventStatus.QUEUED, passed=True, test_name="Laser", payload="{}")
    store.inbox.note_identity(dead.id, 1, 2)
    store.inbox.close(dead.id, EventStatus.DEAD, "Fabman answered 503 to POST /members/1/trainings")
    rejected, _ = store.inbox.receive(result_key="rej-1", status=EventStatus.QUEUED, passed=False, test_name="CNC", payload="{}")
    store.inbox.close(rejected.id, EventStatus.REJECTED, "cm_user_id rejected: not a token of this bridge", outcome="rejected")
    store.outbox.queue(
        [OutgoingMessage("lost-1", Channel.MAIL, "nobody@example.org", "Školení splněno / Training completed", "x")]
    )
    [lost] = [m for m in store.outbox.messages() if m.dedupe_key == "lost-1"]
    store.outbox.mark_dead(lost.id, "550 mailbox unavailable")
    return {"dead": dead.id, "rejected": rejected.id, "mail": lost.id}


@pytest.mark.e2e
def test_flask_digest_prints_the_week_and_mails_it_to_staff_once(
    env: dict[str, str], simulator: FabmanSimulator, smtp: SmtpSink, store: Store
) -> None:
    rows = unhappy_rows(store)
    today = today_in(PRAGUE)
    year, week, _ = today.isocalendar()
    label = f"{year}-W{week:02d}"

    dry = flask_digest(env, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"digest {label}: dry_run (to {STAFF})" in dry.stderr
    assert f"Subject: {NAME}: týdenní přehled {label} / weekly digest {label}" in dry.stdout
    printed = dry.stdout
    # Trainings expiring in 30 days, soonest first, with the member and the date.
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert f"- {tomorrow}  Ondřej Horák (#9): Bezpečnost v dílně" in printed
    assert f"- {(today + dt.timedelta(days=7)).isoformat()}  Ondřej Horák (#9): Vinylový řezací plotr" in printed
    assert f"- {(today + dt.timedelta(days=11)).isoformat()}  Zuzana Němcová (#10): Vakuová formovačka" in printed
    assert "Eva Kučerová" not in printed  # her lathe training ends in 305 days
    # Members out of attempts, with the command that resets them.
    assert "- Jan Novák (#2): Laserová řezačka, 3/3  ->  flask reset-attempts 2 2" in printed
    assert "- Daniel Smith (#13): CNC frézka, 5/5  ->  flask reset-attempts 13 4" in printed
    assert "CNC frézka, 2/5" not in printed  # Jan still has CNC attempts
    # Dead and rejected results, dead mail; the webhook gap is not measured on this bridge.
    assert f"- #{rows['dead']} " in printed and f"flask replay-event {rows['dead']}" in printed
    assert f"- #{rows['rejected']} " in printed and "not a token of this bridge" in printed
    assert f"- #{rows['mail']} " in printed and "550 mailbox unavailable" in printed
    assert "neměřeno (rekonciliace s ClassMarkerem neběží) / not measured (no reconciliation with ClassMarker)" in printed
    assert "Týdenní přehled FabLab Bridge pro" in printed and "FabLab Bridge weekly digest for" in printed
    assert smtp.messages == [] and not [m for m in store.outbox.messages() if m.dedupe_key.startswith("digest:")]

    sent = flask_digest(env)
    assert sent.returncode == 0, sent.stderr
    assert f"digest {label}: queued (to {STAFF})" in sent.stderr
    [mail] = wait_until(lambda: smtp.to(STAFF) or None, timeout=20, what="the digest in the staff mailbox")
    assert str(mail["Subject"]) == f"{NAME}: týdenní přehled {label} / weekly digest {label}"
    assert text_of(mail).replace("\r\n", "\n").strip() in sent.stdout  # what staff read is what the command printed
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Ondřej Horák" in html and "flask reset-attempts 2 2" in html and NAME in html
    [row] = [m for m in store.outbox.messages() if m.dedupe_key == f"digest:{label}"]
    assert (row.status, row.recipient) == ("sent", STAFF)

    again = flask_digest(env)
    assert again.returncode == 0 and f"digest {label}: already_queued" in again.stderr
    assert len(smtp.to(STAFF)) == 1


def test_the_digest_shows_the_webhook_gap_where_it_is_measured_and_needs_a_recipient(
    make_app: Callable[..., Flask], smtp: SmtpSink
) -> None:
    bridge = bridge_of(make_app())
    measured = digest.digest(bridge.deps, dry_run=True, webhook_gap=lambda: WebhookGap(last_24h=2, total=5, last_found_at=None))
    assert measured.webhook_gap_measured is True and "last_24h: 2" in measured.text and "total: 5" in measured.text
    assert "not measured" not in measured.text
    assert bridge.digest(dry_run=True).webhook_gap_measured is False

    nobody = bridge_of(make_app(FABLAB_SUPPORT_EMAIL=None)).digest()
    assert nobody.status == "no_recipient" and nobody.recipient is None
    assert smtp.messages == []
