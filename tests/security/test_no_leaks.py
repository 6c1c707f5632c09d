"""No secret and no full cm_user_id ever appears in a log, a response or a staff alert.

A full scenario runs with distinctive values for every secret setting and
with log capture: profile calls, webhook passes, fails and rejections, Fabman
down and a cron retry, a Fabman error, admin look-ups, start-up errors. Then
every log line, response (body and headers), CLI output and mail is searched
for each secret and each full token. Quiz links are the one place a token
belongs, so `quiz_url` values are the only text exempt from the token search.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.test import TestResponse

from bridge.application import Bridge, bridge_of
from bridge.config import ConfigError, load_settings
from harness import CRON_TOKEN, WEBHOOK_SECRET
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import GunicornBridge, SmtpSink, free_port
from sandbox.simulator import FabmanSimulator
from tests.support import text_of

pytestmark = pytest.mark.e2e

MAIL_PASSWORD = "mail-password-4b1f9e"
COURSES_KEY = "courses-private-key-71d0c2"
SECRET_KEY = "flask-secret-key-93aa51"
DISCORD_TOKEN = "discord-token-5e8c77d1"
QUIZ_URL = re.compile(r'"quiz_url":\s*"[^"]*"')


def discord_url() -> str:
    """A Discord webhook URL on a closed loopback port: every alert to it fails, and failures are logged."""
    return f"http://127.0.0.1:{free_port()}/api/webhooks/4242/{DISCORD_TOKEN}"


def secrets_of(env: dict[str, str]) -> dict[str, str]:
    """Every secret setting's value (and the parts an accident would print)."""
    found = {
        name: env[name]
        for name in (
            "FABMAN_API_KEY",
            "FERNET_KEY",
            "CLASSMARKER_WEBHOOK_SECRET",
            "CRONJOB_TOKEN",
            "SECRET_KEY",
            "MAIL_PASSWORD",
            "COURSES_WEB_PRIVATE_KEY",
            "DISCORD_WEBHOOK_URL",
        )
    }
    found["Discord token"] = DISCORD_TOKEN
    assert all(len(value) >= 10 for value in found.values())
    return found


def leaks(text: str, secrets: dict[str, str], tokens: set[str]) -> list[str]:
    """What of the secrets and full tokens a text shows (quiz links excepted for tokens)."""
    shown = [name for name, value in secrets.items() if value in text]
    without_links = QUIZ_URL.sub('"quiz_url": "<link>"', text)
    shown += [f"token {token[:6]}…" for token in tokens if token in without_links]
    return shown


class Transcript:
    """Everything a scenario's clients saw: bodies and headers of every response."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def keep(self, response: TestResponse) -> TestResponse:
        self.seen.append(f"{response.status} {dict(response.headers)} {response.get_data(as_text=True)}")
        return response


def tokens_in(payload: Any) -> set[str]:
    return {re.sub(r".*cm_user_id=", "", item["quiz_url"]) for item in payload if item.get("quiz_url")}


@pytest.fixture
def leak_env(env: dict[str, str]) -> dict[str, str]:
    return {
        **env,
        "SECRET_KEY": SECRET_KEY,
        "MAIL_PASSWORD": MAIL_PASSWORD,
        "COURSES_WEB_PRIVATE_KEY": COURSES_KEY,
        "DISCORD_WEBHOOK_URL": discord_url(),
        "FABMAN_API_KEY": env["FABMAN_API_KEY"],
    }


def test_a_full_scenario_leaks_no_secret_and_no_token(
    make_app: Callable[..., Flask],
    leak_env: dict[str, str],
    simulator: FabmanSimulator,
    smtp: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(**{k: leak_env[k] for k in ("SECRET_KEY", "MAIL_PASSWORD", "COURSES_WEB_PRIVATE_KEY", "DISCORD_WEBHOOK_URL")})
    bridge: Bridge = bridge_of(app)
    client = app.test_client()
    seen = Transcript()
    key = {"Authorization": simulator.api_key}
    cron = {"CronjobToken": CRON_TOKEN}

    def webhook(token: str, result_id: int, *, passed: bool = True, course: int = 2) -> str:
        """Deliver a result taken through the course's quiz; what became of it, as the store (and /admin/events) tells it."""
        body, headers = signed(result_payload(token, result_id=result_id, passed=passed, quiz=quiz_of(course)))
        answer = seen.keep(client.post("/add_classmarker_training", data=body, headers=headers)).get_json()
        event = bridge.store.inbox.get(answer["event_id"])
        assert event is not None
        return event.status

    # The profile page: the links it hands out are tokens too.
    available = seen.keep(client.get("/available_trainings/1", headers=key)).get_json()
    tokens = tokens_in(available)
    seen.keep(client.get("/absolved_trainings/1?include_offline=true", headers=key))
    links = seen.keep(client.post("/get_training_links", json={"member_id": 2, "training_id": 4}, headers=key)).get_json()
    tokens |= tokens_in([links])
    for wrong in ({"Authorization": "Bearer " + simulator.api_key[:-1]}, {}, {"Authorization": WEBHOOK_SECRET}):
        assert seen.keep(client.get("/available_trainings/1", headers=wrong)).status_code == 401
    assert seen.keep(client.get("/available_trainings/99999", headers=key)).status_code == 404

    # Results: a pass, a fail, a token of a member that does not exist, a token that does not decrypt.
    passed, failed, ghost = bridge.codec.encode(1, 2), bridge.codec.encode(2, 4), bridge.codec.encode(999999, 2)
    garbage = "gAAAAAB" + "x" * 91
    tokens |= {passed, failed, ghost, garbage}
    assert webhook(passed, 910001) == "applied"
    assert webhook(failed, 910002, passed=False, course=4) == "applied"
    assert webhook(ghost, 910003) == "rejected"
    assert webhook(garbage, 910004) == "rejected"
    body, _ = signed(result_payload(passed, result_id=910005))
    assert (
        seen.keep(client.post("/add_classmarker_training", data=body, headers={"X-Classmarker-Hmac-Sha256": "x"})).status_code
        == 401
    )

    # Fabman down: the result waits, the profile answers 503, the retry applies it once Fabman is back.
    later = bridge.codec.encode(4, 1)
    tokens.add(later)
    simulator.faults.down = True
    assert webhook(later, 910006, course=1) == "queued"
    assert seen.keep(client.get("/available_trainings/4", headers=key)).status_code == 503
    seen.keep(client.post("/cron/retry", headers=cron))
    simulator.faults.down = False
    assert seen.keep(client.post("/cron/retry", headers=cron)).get_json()["applied"] == 1
    assert seen.keep(client.post("/cron/retry", headers={"CronjobToken": CRON_TOKEN + "x"})).status_code == 401

    # Fabman refuses a write: an unexpected error, alerted to staff and the member.
    broken = bridge.codec.encode(3, 1)
    tokens.add(broken)
    simulator.faults.fail_next(1, 400, method="PUT")
    simulator.faults.fail_next(1, 400, method="POST")
    assert webhook(broken, 910007, passed=False, course=1) == "error"

    # Staff look at what happened, over HTTP and in the shell.
    events = seen.keep(client.get("/admin/events", headers=key)).get_json()
    assert {e["status"] for e in events} >= {"applied", "rejected", "error"}
    for event in events:
        seen.keep(client.get(f"/admin/events/{event['id']}", headers=key))
        seen.seen.append(app.test_cli_runner().invoke(args=["show-event", str(event["id"])]).output)
    seen.keep(client.post(f"/admin/events/{events[0]['id']}/replay", headers=key))
    seen.keep(client.get("/ready"))
    seen.keep(client.get("/nowhere"))
    bridge.send_mail()

    secrets = secrets_of(leak_env)
    log_text = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert "rejected" in log_text and "910004" in log_text  # the capture did see the scenario
    assert leaks(log_text, secrets, tokens) == []
    for text in seen.seen:
        assert leaks(text, secrets, tokens) == [], text[:300]
    staff = smtp.to("staff@fablab.example")
    assert len(staff) >= 3
    for mail in smtp.messages:
        assert leaks(f"{mail['Subject']}\n{text_of(mail)}", secrets, tokens) == [], mail["Subject"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FERNET_KEY", "not-a-fernet-key-but-a-secret-3f9a"),
        ("FERNET_KEY", "{valid},not-a-fernet-key-but-a-secret-3f9a"),
        ("MAX_COURSE_ATTEMPTS", "three-secret-7c1d"),
        ("VERIFY_CLASSMARKER_REQUESTS", "perhaps-secret-1b2c"),
    ],
)
def test_a_configuration_error_names_the_variable_and_never_a_value(variable: str, value: str, leak_env: dict[str, str]) -> None:
    broken = {**leak_env, variable: value.format(valid=leak_env["FERNET_KEY"])}
    with pytest.raises(ConfigError) as error:
        load_settings(broken)
    message = str(error.value)
    assert variable in message and "\n" not in message
    assert "secret" not in message.replace("CLASSMARKER_WEBHOOK_SECRET", "")
    assert leaks(message, secrets_of(leak_env), set()) == []


def test_settings_never_show_their_secrets(leak_env: dict[str, str]) -> None:
    settings = load_settings(leak_env)
    assert leaks(repr(settings) + str(settings), secrets_of(leak_env), set()) == []


# -- the same through gunicorn, reading what the process prints ---------------------------------------


def test_gunicorn_output_leaks_no_secret_and_no_token(
    leak_env: dict[str, str], simulator: FabmanSimulator, tmp_path: Path
) -> None:
    log_path = tmp_path / "gunicorn.log"
    with GunicornBridge(leak_env, workers=2, threads=2, log_path=log_path) as served:
        key = {"Authorization": simulator.api_key}
        available = requests.get(f"{served.url}/available_trainings/1", headers=key, timeout=10).json()
        tokens = tokens_in(available)
        token = tokens_in([next(item for item in available if item["quiz_url"])]).pop()
        for result_id, cm_user_id in ((920001, token), (920002, "gAAAAAB" + "y" * 91)):
            body, headers = signed(result_payload(cm_user_id, result_id=result_id))
            tokens.add(cm_user_id)
            receipt = requests.post(f"{served.url}/add_classmarker_training", data=body, headers=headers, timeout=10).json()
            assert receipt["status"] in {"accepted", "rejected"}
        body, _ = signed(result_payload(token, result_id=920003))
        requests.post(f"{served.url}/add_classmarker_training", data=body, headers={"X-Classmarker-Hmac-Sha256": "x"}, timeout=10)
        requests.get(f"{served.url}/available_trainings/1", headers={"Authorization": "wrong"}, timeout=10)
        requests.post(f"{served.url}/cron/retry", headers={"CronjobToken": CRON_TOKEN}, timeout=30)
        events = requests.get(f"{served.url}/admin/events", headers=key, timeout=10)
        assert leaks(events.text, secrets_of(leak_env), tokens) == []
    output = log_path.read_text(encoding="utf-8")
    assert "/add_classmarker_training -> 200" in output  # the request log is in the captured output
    assert leaks(output, secrets_of(leak_env), tokens) == []


def test_gunicorn_refusing_to_start_prints_the_variable_not_the_value(leak_env: dict[str, str], tmp_path: Path) -> None:
    log_path = tmp_path / "gunicorn.log"
    bad_key = "not-a-fernet-key-" + leak_env["CLASSMARKER_WEBHOOK_SECRET"]
    refusing = GunicornBridge({**leak_env, "FERNET_KEY": bad_key}, workers=1, log_path=log_path)
    with pytest.raises(RuntimeError, match="exited"):
        refusing.start()
    output = log_path.read_text(encoding="utf-8")
    assert "FabLab Bridge cannot start: FERNET_KEY" in output
    assert bad_key not in output
    assert leaks(output, secrets_of(leak_env), set()) == []
    assert "Traceback" not in output
