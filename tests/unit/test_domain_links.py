"""Personal quiz links and the courses-web link."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from bridge.domain.links import courses_web_link, quiz_url

QUIZ = "https://www.classmarker.com/online-test/start/?quiz=abc123"


def test_the_token_is_added_to_the_existing_query() -> None:
    assert quiz_url(QUIZ, "gAAAAAB-x_y") == QUIZ + "&cm_user_id=gAAAAAB-x_y"


def test_a_url_without_a_query_gets_one() -> None:
    assert quiz_url("https://www.classmarker.com/online-test/start/", "tok") == (
        "https://www.classmarker.com/online-test/start/?cm_user_id=tok"
    )


@pytest.mark.parametrize("token", ["a+b/c==", "ä ö&x=1#frag", "gAAAA%2F"])
def test_any_token_is_percent_encoded_and_comes_back_intact(token: str) -> None:
    url = quiz_url(QUIZ, token)

    query = parse_qs(urlsplit(url).query)
    assert query["cm_user_id"] == [token]
    assert query["quiz"] == ["abc123"]
    assert " " not in url and "#" not in url


def test_the_staff_entered_query_and_fragment_stay_as_they_were() -> None:
    cm_url = "  https://www.classmarker.com/online-test/start/?quiz=abc123&cm_e=a%40b.cz&flag#start  "

    assert quiz_url(cm_url, "tok") == (
        "https://www.classmarker.com/online-test/start/?quiz=abc123&cm_e=a%40b.cz&flag&cm_user_id=tok#start"
    )


def test_a_stale_cm_user_id_in_the_course_url_is_replaced() -> None:
    url = quiz_url(QUIZ + "&cm_user_id=old&cm%5Fuser%5Fid=older", "new")

    assert parse_qs(urlsplit(url).query) == {"quiz": ["abc123"], "cm_user_id": ["new"]}


def test_the_courses_web_link_uses_sha512_of_member_id_and_key() -> None:
    digest = hashlib.sha512(b"42courses-key").hexdigest()

    assert courses_web_link("https://kurzy.fablab.example/member", "courses-key", 42) == (
        f"https://kurzy.fablab.example/member?id=42&key={digest}"
    )


def test_the_courses_web_link_joins_an_existing_query() -> None:
    link = courses_web_link("https://kurzy.fablab.example/?lang=cs", "k", 7)

    assert link is not None
    assert link.startswith("https://kurzy.fablab.example/?lang=cs&id=7&key=")
    assert parse_qs(urlsplit(link).query)["key"] == [hashlib.sha512(b"7k").hexdigest()]


@pytest.mark.parametrize(("url", "key"), [(None, "k"), ("https://kurzy.example", None), ("", "k"), ("https://kurzy.example", "")])
def test_no_courses_web_link_without_both_settings(url: str | None, key: str | None) -> None:
    assert courses_web_link(url, key, 1) is None
