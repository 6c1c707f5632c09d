"""The console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`) through Selenium.

A bridge is served on loopback by a threaded WSGI server of the standard
library (werkzeug's development server reads a request's socket to the end
before it closes the response, so with a browser holding the connection open,
work a view leaves for after its answer, such as mailing a sign-in link,
would wait until the browser leaves), wired to the Fabman simulator and the
SMTP sink. Staff sign in from the mail, open every
page, replay a result and reset attempts (the simulator shows the effect),
download the evidence CSV and switch the language. Every page is saved as a
screenshot under `screenshots/` (git-ignored) at desktop width and at 375 px,
where no page may scroll sideways.

Outside CI the tests are skipped when no browser is installed; under CI=true
they must run (.ci/run installs Chromium).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from flask import Flask

from bridge.application import Bridge
from bridge.clock import SettableClock
from bridge.domain.statuses import EventStatus
from bridge.services.console.exports import EVIDENCE_COLUMNS
from harness import CRON_TOKEN
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import ROOT, SmtpSink, free_port
from harness.wait import wait_until
from sandbox.simulator import FabmanSimulator
from tests.console.conftest import LINK, OWNER, STAFF_EMAILS, links_in

pytestmark = pytest.mark.e2e

SCREENSHOTS = ROOT / "screenshots"
DESKTOP, PHONE = 1280, 375
PETRA, JAN, MARTIN, LASER, CNC, SOLDERING = 1, 2, 5, 2, 4, 6


def _browser_paths() -> tuple[str, str] | None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium, downloads going to a temporary folder."""
    found = _browser_paths()
    if found is None:
        message = "no Chromium found: install Debian's chromium and chromium-driver to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run them; .ci/run installs them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={DESKTOP},900",
    ):
        options.add_argument(argument)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(found[1]))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads  # type: ignore[attr-defined]
    try:
        yield driver
    finally:
        driver.quit()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def port() -> int:
    """The loopback port the console is served on, known before the app is built (PUBLIC_URL names it)."""
    return free_port()


@pytest.fixture
def app(make_app: Callable[..., Flask], clock: SettableClock, port: int) -> Flask:
    """The console's bridge, its sign-in links pointing where the browser finds it (PUBLIC_URL)."""
    return make_app(clock=clock, STAFF_EMAILS=STAFF_EMAILS, PUBLIC_URL=f"http://127.0.0.1:{port}")


@pytest.fixture
def served(app: Flask, port: int) -> Iterator[str]:
    """The app on a loopback port, served in a thread."""
    server = make_server("127.0.0.1", port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def results(served: str, bridge: Bridge, simulator: FabmanSimulator, clock: SettableClock) -> dict[str, int]:
    """A result that died while Fabman was down, then a pass, a fail and a forged link, through the real webhook."""
    http = requests.Session()

    def deliver(member_id: int, course_id: int, result_id: int, *, passed: bool, test_name: str, forged: bool = False) -> int:
        token = bridge.codec.encode(member_id, course_id)
        payload = result_payload(
            "gAAAAAforged" + token[12:] if forged else token,
            result_id=result_id,
            passed=passed,
            test_name=test_name,
            quiz=quiz_of(course_id),
        )
        body, headers = signed(payload)
        return int(http.post(f"{served}/add_classmarker_training", data=body, headers=headers, timeout=10).json()["event_id"])

    simulator.faults.down = True
    dead = deliver(PETRA, LASER, 6001, passed=True, test_name="Laser cutter - safety")
    wait_until(
        lambda: bridge.event(dead).status == "queued" and bridge.event(dead).last_error, timeout=30, what="Fabman down noted"
    )
    clock.advance(hours=49)
    http.post(f"{served}/cron/retry", headers={"CronjobToken": CRON_TOKEN}, timeout=60)
    simulator.faults.down = False
    made = {
        "dead": dead,
        "granted": deliver(MARTIN, SOLDERING, 6002, passed=True, test_name="Soldering"),
        "failed": deliver(JAN, CNC, 6003, passed=False, test_name="CNC mill"),
        "rejected": deliver(JAN, CNC, 6004, passed=True, test_name="CNC mill", forged=True),
    }
    wanted = {"dead": "dead", "granted": "applied", "failed": "applied", "rejected": "rejected"}
    wait_until(
        lambda: all(bridge.event(event_id).status == wanted[name] for name, event_id in made.items()),
        timeout=30,
        what="results applied",
    )
    bridge.send_mail()
    return made


def shoot(driver: object, name: str) -> None:
    """Save the whole page at desktop width and at 375 px; at 375 px nothing may scroll sideways."""
    SCREENSHOTS.mkdir(exist_ok=True)
    for width, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width == PHONE}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)  # type: ignore[attr-defined]
        height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")  # type: ignore[attr-defined]
        overflow = driver.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert overflow <= width, f"{name} scrolls sideways at {width} px ({overflow} px wide)"
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": min(int(height), 6000)})  # type: ignore[attr-defined]
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})  # type: ignore[attr-defined]
        (SCREENSHOTS / f"{name}-{suffix}.png").write_bytes(base64.b64decode(shot["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})  # type: ignore[attr-defined]


def visit(driver: object, url: str) -> str:
    driver.get(url)  # type: ignore[attr-defined]
    return str(driver.page_source)  # type: ignore[attr-defined]


def click(driver: object, css: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()  # type: ignore[attr-defined]


def shows(driver: object, text: str) -> str:
    """Wait until the page (after a click's navigation) shows `text`; the page."""
    wait_until(lambda: text in str(driver.page_source), timeout=30, what=f"a page showing {text!r}")  # type: ignore[attr-defined]
    return str(driver.page_source)  # type: ignore[attr-defined]


def sign_in_from_the_mail(driver: object, served: str, smtp: SmtpSink, email: str = OWNER) -> None:
    from selenium.webdriver.common.by import By

    visit(driver, f"{served}/staff/")
    assert "/staff/login" in driver.current_url  # type: ignore[attr-defined]
    shoot(driver, "login")
    driver.find_element(By.NAME, "email").send_keys(email)  # type: ignore[attr-defined]
    click(driver, "form.stack button[type=submit]")
    wait_until(lambda: links_in(smtp.to(email)), timeout=30, what="the sign-in mail")
    wait_until(lambda: "/staff/login/sent" in driver.current_url, timeout=30, what="the check-your-mail page")  # type: ignore[attr-defined]
    shoot(driver, "login-sent")
    link = links_in(smtp.to(email))[-1]
    assert LINK.fullmatch(link) and link.startswith(served)
    visit(driver, link)
    assert driver.current_url == f"{served}/staff/"  # type: ignore[attr-defined]


def test_staff_sign_in_from_the_mail_and_see_every_page(
    browser: object, served: str, smtp: SmtpSink, results: dict[str, int], bridge: Bridge
) -> None:
    bridge.run_job("retry", trigger="cli")
    sign_in_from_the_mail(browser, served, smtp)
    visit(browser, f"{served}/staff/?lang=en")
    page = str(browser.page_source)  # type: ignore[attr-defined]
    assert "Overview" in page and "never run" in page and "not measured" in page
    shoot(browser, "overview")

    pages = {
        "results": ("/staff/results", "Found: 4"),
        "results-filtered": ("/staff/results?status=applied", "Found: 2"),
        "result": (f"/staff/results/{results['granted']}", "training written to Fabman"),
        "result-rejected": (f"/staff/results/{results['rejected']}", "cm_user_id rejected"),
        "members": ("/staff/members?q=Nov", "Jan Novák"),
        "member": (f"/staff/members/{JAN}", "Reset attempts"),
        "member-martin": (f"/staff/members/{MARTIN}", "Soldering"),
        "evidence": ("/staff/evidence", "Found: 1"),
        "expiring": ("/staff/expiring", "Vinylový řezací plotr"),
        "mail": ("/staff/mail", "Mail"),
        "log": ("/staff/log", "sign-in"),
    }
    for name, (path, expected) in pages.items():
        text = visit(browser, served + path)
        assert expected in text, name
        shoot(browser, name)


def test_replay_and_reset_in_the_browser_change_fabman(
    browser: object, served: str, smtp: SmtpSink, results: dict[str, int], simulator: FabmanSimulator, bridge: Bridge
) -> None:
    sign_in_from_the_mail(browser, served, smtp)
    visit(browser, f"{served}/staff/results/{results['dead']}?lang=en")
    shoot(browser, "result-dead")

    click(browser, "form.action button[type=submit]")
    shows(browser, "replayed: applied granted")
    assert [r for r in simulator.state.trainings_of(PETRA) if r["trainingCourse"] == LASER and "6001" in (r["notes"] or "")]
    shoot(browser, "result-replayed")

    visit(browser, f"{served}/staff/members/{JAN}")
    click(browser, "td form.inline button[type=submit]")
    shows(browser, "reset (were 3)")
    failed = simulator.state.member(JAN)["metadata"]["courses_cm"]["failed_courses"]
    assert [entry["id"] for entry in failed] == [LASER]
    shoot(browser, "member-reset")
    visit(browser, f"{served}/staff/log")
    log = str(browser.page_source)  # type: ignore[attr-defined]
    assert "replay" in log and "reset attempts" in log


def test_staff_judge_a_result_under_review_in_the_browser(
    browser: object, served: str, smtp: SmtpSink, simulator: FabmanSimulator, bridge: Bridge
) -> None:
    """A result reconciliation stored `needs_review` (ClassMarker gave no verdict): staff click Passed."""
    token = bridge.codec.encode(PETRA, LASER)
    payload = result_payload(token, result_id=6005, passed=True, test_name="Laser cutter - safety")
    del payload["result"]["passed"], payload["result"]["percentage_passmark"]
    event, _ = bridge.store.reconcile.store_polled(
        result_key="6005",
        status=EventStatus.NEEDS_REVIEW,
        test_name="Laser cutter - safety",
        payload=json.dumps(payload),
        member_id=PETRA,
        course_id=LASER,
    )
    sign_in_from_the_mail(browser, served, smtp)
    page = visit(browser, f"{served}/staff/results/{event.id}?lang=en")
    assert "Look the result up in ClassMarker" in page
    shoot(browser, "result-needs-review")

    click(browser, 'form.review button[value="passed"]')
    shows(browser, "reviewed and applied: applied granted")
    assert [r for r in simulator.state.trainings_of(PETRA) if r["trainingCourse"] == LASER and "6005" in (r["notes"] or "")]
    shoot(browser, "result-reviewed")


def test_evidence_downloads_as_csv_in_the_browser(browser: object, served: str, smtp: SmtpSink, results: dict[str, int]) -> None:
    sign_in_from_the_mail(browser, served, smtp)
    visit(browser, f"{served}/staff/evidence?member={MARTIN}&lang=en")

    click(browser, "#evidence-csv")
    downloads: Path = browser.downloads  # type: ignore[attr-defined]
    saved = wait_until(lambda: [p for p in downloads.iterdir() if p.suffix == ".csv"], timeout=30, what="the CSV download")[0]
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert rows[0] == list(EVIDENCE_COLUMNS)
    assert [row[rows[0].index("course_title")] for row in rows[1:]] == ["Pájení"]


def test_evidence_bundle_downloads_in_the_browser_and_verifies_offline(
    browser: object, served: str, smtp: SmtpSink, results: dict[str, int], tmp_path: Path
) -> None:
    """Section 16: each evidence row offers its signed proof; the file checks out with tools/verify_evidence.py."""
    sign_in_from_the_mail(browser, served, smtp)
    visit(browser, f"{served}/staff/evidence?lang=en")
    shows(browser, "Proof (JSON)")
    shoot(browser, "evidence-bundle")

    click(browser, "a.bundle")
    downloads: Path = browser.downloads  # type: ignore[attr-defined]
    saved = wait_until(lambda: [p for p in downloads.iterdir() if p.suffix == ".json"], timeout=30, what="the bundle download")[0]
    bundle = json.loads(saved.read_text(encoding="utf-8"))
    assert saved.name.startswith(f"evidence-{MARTIN}-{SOLDERING}-")
    key = requests.get(f"{served}/evidence/key", timeout=10).json()["public_key"]
    checked = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "verify_evidence.py"), str(saved), "--key", key],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert json.loads(base64.b64decode(bundle["leaf"]))["member_id"] == MARTIN


def test_the_language_switch(browser: object, served: str, smtp: SmtpSink, results: dict[str, int]) -> None:
    sign_in_from_the_mail(browser, served, smtp)

    visit(browser, f"{served}/staff/results?status=dead&lang=cs")
    assert "Výsledky" in str(browser.page_source)  # type: ignore[attr-defined]
    click(browser, 'nav.langs a[lang="en"]')
    shows(browser, "Results")
    assert browser.current_url.endswith("/staff/results?status=dead&lang=en")  # type: ignore[attr-defined]
    visit(browser, f"{served}/staff/")
    page = str(browser.page_source)  # type: ignore[attr-defined]
    assert re.search(r'<html lang="en"', page) and "Overview" in page
    click(browser, 'nav.langs a[lang="cs"]')
    shows(browser, "Přehled")
    shoot(browser, "overview-cs")
