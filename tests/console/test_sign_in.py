"""Signing in to the staff console: who gets a link, how long it and the session last, and what cannot be forged.

Contract section 9: one field named `email`; the same answer for any address;
a one-time link valid STAFF_LINK_MINUTES; at most 5 requests per 15 minutes
per address and client together, 20 per address and 20 per client (third
wave: a flood from other clients cannot lock the owner out); a signed, HttpOnly, SameSite=Lax cookie (Secure
in production) ending after STAFF_SESSION_HOURS or at sign-out; every page
but sign-in needs the session; every POST needs a CSRF token, else 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient

from bridge.application import Bridge, bridge_of
from bridge.clock import SettableClock
from bridge.services.staff_access import staff_ref
from harness import WEBHOOK_SECRET
from harness.launch import SmtpSink
from tests.console.conftest import (
    ADMIN,
    LISTED,
    MEMBER,
    OWNER,
    ask_for_link,
    csrf_token,
    form_post,
    link_path,
    links_in,
    sign_in,
    staff_log,
)

pytestmark = pytest.mark.e2e

PAGES = [
    "/staff/",
    "/staff/results",
    "/staff/results?status=dead",
    "/staff/results/1",
    "/staff/members",
    "/staff/members?q=novak",
    "/staff/members/2",
    "/staff/evidence",
    "/staff/evidence.csv",
    "/staff/expiring",
    "/staff/mail",
    "/staff/log",
]


def signed_in(client: FlaskClient) -> bool:
    """Whether the client's cookie opens the overview."""
    return client.get("/staff/").status_code == 200


# -- who gets a link -----------------------------------------------------------------


def test_the_sign_in_page_is_a_form_with_one_email_field(client: FlaskClient) -> None:
    page = client.get("/staff/login")

    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert 'name="email"' in html and 'method="post"' in html
    assert csrf_token(page)


@pytest.mark.parametrize("email", [OWNER, ADMIN, LISTED, "SECOND@fablab.example", f"  {OWNER.upper()} "])
def test_fabman_admins_owners_and_listed_addresses_get_a_link_and_sign_in(
    client: FlaskClient, smtp: SmtpSink, bridge: Bridge, email: str
) -> None:
    address = email.strip().lower()
    answer = sign_in(client, smtp, email)

    assert answer.status_code == 303 and answer.location == "/staff/"
    assert signed_in(client)
    assert staff_log(bridge) == [(address, "sign-in", None)]
    mail = smtp.to(address)[-1]
    assert "FabLab Brno" in str(mail["Subject"])


def test_unknown_addresses_and_ordinary_members_get_exactly_the_answer_staff_get_and_no_mail(app: Flask, smtp: SmtpSink) -> None:
    answers = {}
    for email in (OWNER, MEMBER, "nobody@nowhere.example", LISTED):
        client = app.test_client()
        response = ask_for_link(client, email)
        answers[email] = (response.status_code, response.location, response.get_data(), response.headers.get("Set-Cookie"))

    assert len(set(answers.values())) == 1
    assert answers[OWNER][:2] == (303, "/staff/login/sent")
    assert answers[OWNER][3] is None  # the answer sets no cookie either
    assert links_in(smtp.to(MEMBER)) == [] and links_in(smtp.to("nobody@nowhere.example")) == []
    assert len(links_in(smtp.to(OWNER))) == 1 and len(links_in(smtp.to(LISTED))) == 1
    assert app.test_client().get("/staff/login/sent").get_data() == app.test_client().get("/staff/login/sent").get_data()


def test_a_fabman_outage_sends_no_link_to_fabman_staff(
    client: FlaskClient, smtp: SmtpSink, simulator: object, bridge: Bridge
) -> None:
    simulator.faults.down = True  # type: ignore[attr-defined]
    assert ask_for_link(client, ADMIN).status_code == 303
    assert ask_for_link(client, LISTED).status_code == 303

    assert smtp.to(ADMIN) == []
    assert len(smtp.to(LISTED)) == 1  # STAFF_EMAILS needs no Fabman
    assert staff_log(bridge) == []


def test_a_malformed_address_is_refused_before_anything_is_counted(client: FlaskClient, smtp: SmtpSink) -> None:
    token = csrf_token(client.get("/staff/login"))
    for email in ("", "no-at-sign", "x" * 400 + "@example.org"):
        assert client.post("/staff/login", data={"email": email, "csrf_token": token}).status_code == 400
    assert smtp.messages == []


# -- the link --------------------------------------------------------------------------


def test_a_link_works_once(app: Flask, smtp: SmtpSink) -> None:
    first = app.test_client()
    ask_for_link(first, OWNER)
    path = link_path(links_in(smtp.to(OWNER))[0])

    assert first.get(path).status_code == 303
    again, other = first.get(path), app.test_client()
    reused = other.get(path)

    assert again.status_code == 400 and reused.status_code == 400
    assert not signed_in(other)


def test_a_link_expires_after_staff_link_minutes(client: FlaskClient, smtp: SmtpSink, clock: SettableClock) -> None:
    ask_for_link(client, OWNER)
    path = link_path(links_in(smtp.to(OWNER))[0])
    clock.advance(minutes=15, seconds=1)

    assert client.get(path).status_code == 400
    assert not signed_in(client)


def test_a_link_just_within_its_minutes_works(make_app: Callable[..., Flask], smtp: SmtpSink, clock: SettableClock) -> None:
    client = make_app(clock=clock, STAFF_LINK_MINUTES="30").test_client()
    ask_for_link(client, OWNER)
    clock.advance(minutes=29)

    assert client.get(link_path(links_in(smtp.to(OWNER))[0])).status_code == 303
    assert signed_in(client)


def test_made_up_links_sign_nobody_in(client: FlaskClient) -> None:
    for token in ("A" * 43, "short", "x" * 300, "../../admin"):
        assert client.get("/staff/link", query_string={"token": token}).status_code == 400
    assert client.get("/staff/link").status_code == 400
    assert not signed_in(client)


def test_the_store_keeps_only_hashes_of_links_and_sessions(client: FlaskClient, smtp: SmtpSink, bridge: Bridge) -> None:
    sign_in(client, smtp)
    token = link_path(links_in(smtp.to(OWNER))[0]).rsplit("=", 1)[1]
    cookie = client.get_cookie("fablab_staff", path="/staff")
    assert cookie is not None

    with bridge.store.database.engine.connect() as connection:
        dump = "\n".join(
            str(row)
            for table in ("staff_sign_in_links", "staff_sessions")
            for row in connection.exec_driver_sql(f"SELECT * FROM {table}")
        )
    session_id = SecureCookieSessionInterface().get_signing_serializer(client.application).loads(cookie.value)["sid"]  # type: ignore[union-attr]
    assert token not in dump and session_id not in dump
    assert OWNER in dump


# -- the session -------------------------------------------------------------------------


def test_the_session_cookie_is_httponly_samesite_lax_and_only_for_the_console(client: FlaskClient, smtp: SmtpSink) -> None:
    answer = sign_in(client, smtp)

    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("fablab_staff=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/staff" in cookie
    assert "Secure" not in cookie  # development serves plain http on loopback


def test_the_cookie_is_secure_in_production(make_app: Callable[..., Flask], smtp: SmtpSink, clock: SettableClock) -> None:
    app = make_app(
        clock=clock, BE_ENV="prod", PUBLIC_URL="https://bridge.fablab.example", CLASSMARKER_WEBHOOK_SECRET=WEBHOOK_SECRET
    )
    client = app.test_client()

    answer = sign_in(client, smtp)

    assert "Secure" in answer.headers["Set-Cookie"]
    assert links_in(smtp.to(OWNER))[0].startswith("https://bridge.fablab.example/staff/link?token=")


def test_production_without_public_url_keeps_the_console_closed(make_app: Callable[..., Flask], smtp: SmtpSink) -> None:
    client = make_app(BE_ENV="prod", CLASSMARKER_WEBHOOK_SECRET=WEBHOOK_SECRET).test_client()

    for answer in (client.get("/staff/login"), client.post("/staff/login", data={"email": OWNER}), client.get("/staff/")):
        assert answer.status_code == 503
        assert "PUBLIC_URL" in answer.get_json()["detail"]
    assert smtp.messages == []


@pytest.mark.parametrize("path", PAGES)
def test_every_page_redirects_to_sign_in_without_a_session(client: FlaskClient, path: str) -> None:
    answer = client.get(path)

    assert answer.status_code == 302
    assert answer.location.startswith("/staff/login")


def test_the_session_ends_after_staff_session_hours(client: FlaskClient, smtp: SmtpSink, clock: SettableClock) -> None:
    sign_in(client, smtp)
    clock.advance(hours=11, minutes=59)
    assert signed_in(client)

    clock.advance(minutes=2)
    answer = client.get("/staff/results")

    assert answer.status_code == 302 and answer.location.startswith("/staff/login")


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app: Flask, smtp: SmtpSink, bridge: Bridge) -> None:
    client = app.test_client()
    sign_in(client, smtp)
    copied = client.get_cookie("fablab_staff", path="/staff")
    assert copied is not None

    answer = form_post(client, "/staff/", "/staff/logout")
    thief = app.test_client()
    thief.set_cookie("fablab_staff", copied.value, path="/staff")

    assert answer.status_code == 303 and answer.location.startswith("/staff/login")
    assert not signed_in(client) and not signed_in(thief)
    assert [action for _, action, _ in staff_log(bridge)] == ["sign-in", "sign-out"]


def test_a_cookie_signed_with_another_secret_is_no_session(app: Flask, make_app: Callable[..., Flask], smtp: SmtpSink) -> None:
    client = app.test_client()
    sign_in(client, smtp)
    genuine = client.get_cookie("fablab_staff", path="/staff")
    assert genuine is not None
    session_id = SecureCookieSessionInterface().get_signing_serializer(app).loads(genuine.value)["sid"]  # type: ignore[union-attr]
    other_app = make_app(SECRET_KEY="another-secret-key")
    forged = SecureCookieSessionInterface().get_signing_serializer(other_app).dumps({"sid": session_id})  # type: ignore[union-attr]

    intruder = app.test_client()
    intruder.set_cookie("fablab_staff", forged, path="/staff")

    assert not signed_in(intruder)
    assert signed_in(client)


# -- CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "forged-token", "IjAwMDAi.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb"])
def test_posts_without_a_valid_csrf_token_change_nothing_and_answer_400(
    app: Flask, smtp: SmtpSink, bridge: Bridge, token: str | None
) -> None:
    client = app.test_client()
    sign_in(client, smtp)
    smtp.clear()
    extra = {} if token is None else {"csrf_token": token}
    metadata_before = bridge_of(app).fabman.get_member(2, trainings=False, privileges=False).metadata

    answers = [
        client.post("/staff/members/2/reset", data={"course_id": "4", **extra}),
        client.post("/staff/results/1/replay", data=extra),
        client.post("/staff/logout", data=extra),
        client.post("/staff/login", data={"email": OWNER, **extra}),
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 400, 400]
    assert all(answer.get_json()["status"] == 400 for answer in answers)
    assert bridge_of(app).fabman.get_member(2, trainings=False, privileges=False).metadata == metadata_before
    assert signed_in(client)
    assert smtp.messages == []
    assert [action for _, action, _ in staff_log(bridge)] == ["sign-in"]


def test_a_browser_gets_the_csrf_refusal_as_a_page(client: FlaskClient, smtp: SmtpSink) -> None:
    sign_in(client, smtp)

    answer = client.post("/staff/logout", headers={"Accept": "text/html,*/*;q=0.8", "Accept-Language": "en"})

    assert answer.status_code == 400 and answer.mimetype == "text/html"
    assert "Reload the page" in answer.get_data(as_text=True)


def test_a_token_from_another_session_is_refused(app: Flask, smtp: SmtpSink) -> None:
    mine, theirs = app.test_client(), app.test_client()
    sign_in(mine, smtp)
    their_token = csrf_token(theirs.get("/staff/login"))

    assert mine.post("/staff/logout", data={"csrf_token": their_token}).status_code == 400
    assert signed_in(mine)


# -- the rate limit -------------------------------------------------------------------------


def test_at_most_five_requests_per_address_from_one_client_in_15_minutes(
    client: FlaskClient, smtp: SmtpSink, clock: SettableClock
) -> None:
    answers = [ask_for_link(client, OWNER).status_code for _ in range(6)]
    same_client_other_case = ask_for_link(client.application.test_client(), OWNER.upper()).status_code

    assert answers == [303] * 5 + [429]
    assert same_client_other_case == 429
    assert len(links_in(smtp.to(OWNER))) == 5

    clock.advance(minutes=15, seconds=1)
    assert ask_for_link(client, OWNER).status_code == 303
    assert len(links_in(smtp.to(OWNER))) == 6


def test_another_client_may_still_ask_for_an_address_one_client_used_up(client: FlaskClient, smtp: SmtpSink) -> None:
    used_up = [ask_for_link(client, OWNER, remote="198.51.100.7").status_code for _ in range(6)]

    owner = ask_for_link(client.application.test_client(), OWNER, remote="203.0.113.20")

    assert used_up == [303] * 5 + [429]
    assert owner.status_code == 303
    assert len(links_in(smtp.to(OWNER))) == 6


def test_at_most_twenty_requests_per_address_from_all_clients_in_15_minutes(app: Flask, smtp: SmtpSink) -> None:
    answers = [ask_for_link(app.test_client(), OWNER, remote=f"198.51.100.{n}").status_code for n in range(21)]

    assert answers == [303] * 20 + [429]
    assert len(links_in(smtp.to(OWNER))) == 20


def test_at_most_twenty_requests_per_client_address_in_15_minutes(client: FlaskClient, smtp: SmtpSink) -> None:
    strangers = [f"visitor{n}@nowhere.example" for n in range(20)]

    answers = [ask_for_link(client, address).status_code for address in [*strangers, OWNER]]
    other_client = ask_for_link(client.application.test_client(), OWNER, remote="198.51.100.7")

    assert answers == [303] * 20 + [429]
    assert other_client.status_code == 303
    assert len(links_in(smtp.to(OWNER))) == 1


def test_the_rate_limit_answers_alike_for_staff_and_strangers(app: Flask) -> None:
    refusals = set()
    for address in (OWNER, "nobody@nowhere.example"):
        for number in range(20):
            assert ask_for_link(app.test_client(), address, remote=f"198.51.100.{number}").status_code == 303
    for address in (OWNER, "nobody@nowhere.example"):
        answer = ask_for_link(app.test_client(), address, remote="203.0.113.99")
        refusals.add((answer.status_code, answer.get_json()["detail"]))
    assert refusals == {(429, "Too many requests for a link. Try again in 15 minutes.")}


# -- where a link leads ---------------------------------------------------------------------


def test_sign_in_returns_to_the_page_asked_for(client: FlaskClient, smtp: SmtpSink) -> None:
    asked = client.get("/staff/results?status=dead")
    login = client.get(asked.location)
    next_path = "/staff/results?status=dead"
    assert f'value="{next_path}"' in login.get_data(as_text=True)

    answer = sign_in(client, smtp, next=next_path)

    assert answer.location == next_path


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/staff/", "/\\evil.example", "http:/staff/", "/staff/\r\nLocation: x", "/apidocs/"],
)
def test_no_open_redirect_after_sign_in(client: FlaskClient, smtp: SmtpSink, target: str) -> None:
    answer = sign_in(client, smtp, next=target)

    assert answer.status_code == 303
    assert answer.location == "/staff/"


def test_sign_in_is_logged_to_stdout_without_the_link_or_the_address(
    client: FlaskClient, smtp: SmtpSink, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        sign_in(client, smtp)

    token = link_path(links_in(smtp.to(OWNER))[0]).rsplit("=", 1)[1]
    bridge_lines = [record.getMessage() for record in caplog.records if not record.name.startswith("mail.log")]  # not the sink's
    assert any("staff action" in line and staff_ref(OWNER) in line and "sign-in" in line for line in bridge_lines)
    assert not any(token in line or OWNER in line for line in bridge_lines)
