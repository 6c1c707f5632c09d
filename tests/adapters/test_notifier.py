"""Mail: bilingual member mail from templates, queued once, sent through the outbox; alerts to staff."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask_mail import Mail

from bridge.adapters.mail import MEMBER_MAIL_KINDS, DiscordTransport, MailRenderer, Outbox, SmtpTransport, format_dates
from bridge.adapters.store import Store
from bridge.clock import SettableClock
from bridge.domain.statuses import Channel
from harness.launch import SmtpSink, free_port
from tests.support import text_of
from tests.webhook.conftest import DiscordSink

CONTEXTS = {
    "granted": {"percentage": 90.0, "quiz_name": "Laser", **format_dates(dt.date(2027, 3, 5))},
    "failed": {"attempts_left": 2, "percentage": 40.0, "passmark": 80.0, "quiz_url": "https://quiz.example/?cm_user_id=t"},
    "out_of_attempts": {"max_attempts": 3, "courses_web_link": "https://courses.example/?id=1", "passed_without_attempts": False},
    "error": {"event_id": 17},
    "expired": {"quiz_url": None, "courses_web_link": None, **format_dates(dt.date(2026, 1, 2))},
    "reminder": {
        "courses_web_link": None,
        "trainings": [
            {"course_cs": "Laserová řezačka", "course_en": "Laser cutter", "online": True, "quiz_url": None}
            | format_dates(dt.date(2026, 1, 2)),
            {"course_cs": "Plotr", "course_en": "Vinyl cutter", "online": True, "quiz_url": None}
            | {"unused_cs": "6 měsících", "unused_en": "6 months"}
            | format_dates(dt.date(2026, 1, 3)),
        ],
    },
    "missing_requirement": {"passed": True, "missing_cs": "„Bezpečnost v dílně“", "missing_en": '"Workshop safety"'},
    "too_early": {
        "passed": True,
        "percentage": 90.0,
        "quiz_url": "https://quiz.example/?cm_user_id=t",
        "opens_cs": "3. 1. 2026 v 14:30",
        "opens_en": "3 Jan 2026 at 14:30",
    },
    "refused": {
        "reason": "link_too_old",
        "link_days": 90,
        "quiz_url": "https://quiz.example/?cm_user_id=t",
        "courses_web_link": "https://courses.example/?id=1",
    },
    "machine_denied": {
        "equipment": "Laserová řezačka (Laser cutter)",
        "courses_web_link": None,
        "courses": [
            {
                "course_cs": "Laserová řezačka",
                "course_en": "Laser cutter",
                "quiz_url": "https://quiz.example/?cm_user_id=t",
                "out_of_attempts": False,
                "wiki_url": None,
                "yt_url": None,
                "opens_cs": None,
                "opens_en": None,
            }
        ],
    },
}
EXPECTED = {
    "granted": ("Školení splněno", "Training completed", "5. 3. 2027", "5 Mar 2027"),
    "failed": ("Zbývají vám ještě 2 pokusy", "You have 2 attempts left", "https://quiz.example/?cm_user_id=t"),
    "out_of_attempts": ("celkem 3", "all 3 allowed attempts", "https://courses.example/?id=1"),
    "error": ("referenční číslo 17", "reference number 17"),
    "expired": ("skončila 2. 1. 2026", "expired on 2 Jan 2026"),
    "reminder": (
        "skončí 2. 1. 2026",
        "expires on 2 Jan 2026",
        "vyprší po 6 měsících bez použití",
        "expires after 6 months without use",
    ),  # fmt: skip
    "missing_requirement": (
        "Nejdříve jiné školení",
        "Another training first",
        "absolvujte „Bezpečnost v dílně“",
        'take "Workshop safety" first',
    ),  # fmt: skip
    "too_early": ("nejdříve 3. 1. 2026 v 14:30", "from 3 Jan 2026 at 14:30", "https://quiz.example/?cm_user_id=t"),
    "machine_denied": ("vás právě nepustilo", "just refused you", "https://quiz.example/?cm_user_id=t"),
    "refused": ("starší než 90 dní", "more than 90 days old", "https://quiz.example/?cm_user_id=t"),
}


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def store(database_url: str, clock: SettableClock) -> Iterator[Store]:
    store = Store(database_url, clock=clock)
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def discord() -> Iterator[DiscordSink]:
    sink = DiscordSink()
    sink.thread.start()
    yield sink
    sink.server.shutdown()
    sink.server.server_close()


@dataclass
class Mailer:
    """A renderer and an outbox wired as the app wires them."""

    renderer: MailRenderer
    outbox: Outbox
    store: Store

    def flush(self) -> object:
        return self.outbox.flush()


@pytest.fixture
def make_mailer(store: Store, smtp: SmtpSink) -> Callable[..., Mailer]:
    def build(
        *,
        port: int | None = None,
        support_email: str | None = "staff@fablab.example",
        discord_webhook_url: str | None = None,
        **outbox_options: float,
    ) -> Mailer:
        app = Flask(__name__)
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port or smtp.port, MAIL_DEFAULT_SENDER="bridge@fablab.example")
        Mail(app)
        smtp_transport = SmtpTransport(app, timeout=5)
        transports = {
            Channel.MAIL: smtp_transport,
            Channel.ALERT_MAIL: smtp_transport,
            Channel.DISCORD: DiscordTransport(discord_webhook_url, 5),
        }
        renderer = MailRenderer(fablab_name="FabLab Brno", support_email=support_email, alert_discord=bool(discord_webhook_url))
        return Mailer(renderer, Outbox(store, transports, **outbox_options), store)  # type: ignore[arg-type]

    return build


def queue(mailer: Mailer, kind: str = "granted", key: str = "event:1:granted", recipient: str | None = "m@x.org") -> int:
    context = {"first_name": "Petra", "course_cs": "Laserová řezačka", "course_en": "Laser cutter", **CONTEXTS[kind]}
    return mailer.store.outbox.queue(mailer.renderer.member_mail(kind, recipient=recipient, dedupe_key=key, context=context))


@pytest.mark.parametrize("kind", sorted(MEMBER_MAIL_KINDS))
@pytest.mark.e2e
def test_every_member_mail_is_in_czech_and_english(make_mailer: Callable[..., Mailer], smtp: SmtpSink, kind: str) -> None:
    mailer = make_mailer()
    queue(mailer, kind, key=f"k:{kind}")

    assert mailer.outbox.flush().sent == 1

    [mail] = smtp.messages
    text = text_of(mail)
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Laserová řezačka" in mail["Subject"] and "Laser cutter" in mail["Subject"]
    assert "Dobrý den" in text and "Hi Petra" in text
    assert 'lang="cs"' in html and 'lang="en"' in html
    for phrase in EXPECTED[kind]:
        assert phrase in f"{mail['Subject']}\n{text}"
    assert "staff@fablab.example" in text


def test_a_mail_is_queued_once_per_key(make_mailer: Callable[..., Mailer], store: Store) -> None:
    mailer = make_mailer()

    assert queue(mailer) == 1
    assert queue(mailer) == 0
    assert queue(mailer, recipient=None, key="other") == 0
    assert len(store.outbox.messages()) == 1
    with pytest.raises(ValueError, match="unknown mail kind"):
        mailer.renderer.member_mail("spam", recipient="a@b.c", dedupe_key="x", context={})


@pytest.mark.e2e
def test_sent_mail_is_not_sent_again(make_mailer: Callable[..., Mailer], smtp: SmtpSink, store: Store) -> None:
    mailer = make_mailer()
    queue(mailer)

    assert mailer.outbox.flush().sent == 1
    assert mailer.outbox.flush().sent == 0
    assert len(smtp.messages) == 1
    assert store.outbox.messages()[0].status == "sent"


@pytest.mark.e2e
def test_refused_mail_stays_pending_with_backoff_and_goes_once_smtp_is_back(
    make_mailer: Callable[..., Mailer], smtp: SmtpSink, store: Store, clock: SettableClock
) -> None:
    mailer = make_mailer(retry_base_seconds=60)
    queue(mailer)
    smtp.refuse = True

    report = mailer.outbox.flush()

    assert (report.sent, report.failed) == (0, 1)
    [pending] = store.outbox.messages()
    assert pending.status == "pending" and pending.attempts == 1 and "451" in (pending.last_error or "")
    assert pending.next_attempt_at is not None and pending.next_attempt_at >= clock.now() + dt.timedelta(seconds=30)
    smtp.refuse = False
    assert mailer.outbox.flush().sent == 0  # not due yet
    clock.advance(seconds=90)
    assert mailer.outbox.flush().sent == 1
    assert len(smtp.messages) == 1


@pytest.mark.e2e
def test_a_message_failing_past_the_maximum_age_is_dead(
    make_mailer: Callable[..., Mailer], store: Store, clock: SettableClock
) -> None:
    mailer = make_mailer(port=free_port(), retry_base_seconds=0, max_age_hours=48)
    queue(mailer)

    for _ in range(20):  # however many quick failures: young mail keeps waiting for SMTP
        assert mailer.outbox.flush().failed == 1
    assert store.outbox.messages()[0].status == "pending"

    clock.advance(hours=49)
    assert mailer.outbox.flush().dead == 1
    assert store.outbox.messages()[0].status == "dead"
    assert mailer.outbox.flush() == mailer.outbox.flush().__class__()


@pytest.mark.e2e
def test_a_resent_mail_keeps_its_message_id(
    make_mailer: Callable[..., Mailer], smtp: SmtpSink, store: Store, clock: SettableClock
) -> None:
    mailer = make_mailer(lease_seconds=120)
    queue(mailer)
    [message] = store.outbox.claim(120)  # a worker takes the mail, SMTP accepts it, the worker dies before recording it
    mailer.outbox.transports[Channel.MAIL].send(message)
    assert mailer.outbox.flush().sent == 0  # its lease still holds
    clock.advance(seconds=121)

    assert mailer.outbox.flush().sent == 1

    first, second = smtp.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"].startswith("<outbox-1-") and first["Message-ID"].endswith("@fablab.example>")


@pytest.mark.e2e
def test_staff_alerts_go_to_the_support_address_and_discord(
    make_mailer: Callable[..., Mailer], smtp: SmtpSink, discord: DiscordSink, store: Store
) -> None:
    mailer = make_mailer(discord_webhook_url=discord.url)
    queued = store.outbox.queue(
        mailer.renderer.staff_alert(
            dedupe_key="event:5:x", title="Something broke", message="Event 5 failed.", event_id=5, member_id=3
        )
    )
    again = store.outbox.queue(mailer.renderer.staff_alert(dedupe_key="event:5:x", title="Something broke", message="again"))

    assert (queued, again) == (2, 0)
    assert mailer.outbox.flush().sent == 2
    [mail] = smtp.to("staff@fablab.example")
    assert mail["Subject"] == "[FabLab Bridge] Something broke"
    assert "Event ID:  5" in text_of(mail) and "Member ID: 3" in text_of(mail)
    [post] = discord.posts
    assert post["content"].startswith("**[FabLab Bridge] Something broke**")
    assert "Event 5 failed." in post["content"] and "discord-secret-token" not in post["content"]


@pytest.mark.e2e
def test_discord_failure_keeps_the_alert_pending(make_mailer: Callable[..., Mailer], discord: DiscordSink, store: Store) -> None:
    discord.status = 500
    mailer = make_mailer(support_email=None, discord_webhook_url=discord.url)
    store.outbox.queue(mailer.renderer.staff_alert(dedupe_key="a", title="T", message="M"))

    assert mailer.outbox.flush().failed == 1
    [pending] = store.outbox.messages()
    assert (pending.channel, pending.status) == ("discord", "pending")
    assert "discord-secret-token" not in (pending.last_error or "")


def test_without_support_address_or_discord_an_alert_is_only_logged(make_mailer: Callable[..., Mailer], store: Store) -> None:
    mailer = make_mailer(support_email=None)
    assert mailer.renderer.staff_alert(dedupe_key="a", title="T", message="M") == []
    assert store.outbox.messages() == []


def test_dates_read_naturally_in_both_languages() -> None:
    assert format_dates(dt.date(2027, 11, 2)) == {"until_date_cs": "2. 11. 2027", "until_date_en": "2 Nov 2027"}
    assert format_dates(None) == {"until_date_cs": None, "until_date_en": None}
