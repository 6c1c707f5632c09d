"""`python main_run.py --demo`: the whole bridge on one machine, no accounts anywhere.

A Fabman simulator with the FabLab Brno sample data, a simulated ClassMarker
account (its results API), a temporary SQLite store, generated keys, and mail
printed instead of sent. It prints where Swagger is and `curl` commands that
work when pasted, including a correctly signed ClassMarker result and the
recovery of a result whose webhook was lost, all on the port it was given
(`PORT`, default 5000).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import socket
import sys
import tempfile
from email.header import decode_header, make_header
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet
from flask import Flask
from flask_mail import Message, email_dispatched

from bridge import create_app
from bridge.application import bridge_of
from bridge.config import load_settings
from bridge.domain.calendar import today_in
from bridge.domain.results import sign
from sandbox.simulator import FabmanSimulator
from sandbox.simulator.classmarker import ClassMarkerAccount, ClassMarkerApiSimulator
from sandbox.simulator.seed import DEMO_QUIZZES, demo_state

DEMO_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo's public, printed value
DEMO_CRON_TOKEN = "demo-cron-token"  # noqa: S105 - the demo's public, printed value
DEMO_FABMAN_TOKEN = "demo-fabman-token"  # noqa: S105 - the demo's public, printed value
DEMO_LASER_CUTTER = 1
DEMO_TIMEZONE = "Europe/Prague"
DEMO_MEMBER = 1
DEMO_COURSE = 2
DEMO_STAFF = "tomas.prochazka@example.org"
"""Tomáš Procházka, the owner in the sample data: the console's demo sign-in."""
DEMO_RESULTS = [(5, 6, True, "Martin", "Svoboda"), (2, 4, False, "Jan", "Novák"), (0, 4, True, "Jan", "Novák")]
"""(member, course, passed, name) of the results the demo starts with; member 0 stands for a forged link."""
LOST_MEMBER = 12
"""Markéta: she passed the workshop safety quiz, but its webhook never reached the bridge."""
LOST_COURSE = 1
PROOF_MEMBER, PROOF_COURSE = 5, 6
"""Martin's soldering pass (the first sample result): the evidence bundle the guide fetches."""
VERIFY_TOOL = Path(__file__).resolve().parents[2] / "tools" / "verify_evidence.py"
USING_MEMBER = 9
"""Ondřej: his vinyl cutter training (which renews on use) ends in a week; he uses the plotter."""
DEMO_PLOTTER = 4
NEEDS_SAFETY_MEMBER = 6
"""Eva: no workshop safety training, so the vacuum former (which requires it) tells her to take it first."""


def demo_environment(fabman_url: str, api_key: str, folder: Path) -> dict[str, str]:
    """The settings of the demo: everything local, generated or fixed."""
    return {
        "FABMAN_API_KEY": api_key,
        "FABMAN_API_URL": fabman_url,
        "FERNET_KEY": Fernet.generate_key().decode("ascii"),
        "CLASSMARKER_WEBHOOK_SECRET": DEMO_SECRET,
        "CRONJOB_TOKEN": DEMO_CRON_TOKEN,
        "FABMAN_WEBHOOK_TOKEN": DEMO_FABMAN_TOKEN,
        "SECRET_KEY": Fernet.generate_key().decode("ascii"),
        "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
        "MAIL_DEFAULT_SENDER": "bridge@fablab.example",
        "MAIL_SUPPRESS_SEND": "true",
        "FABLAB_SUPPORT_EMAIL": "staff@fablab.example",
        "COURSES_WEB_URL": "https://courses.fablab.example/member",
        "COURSES_WEB_PRIVATE_KEY": "demo-courses-key",
        "TRACK_TIME": "true",
        "TIMEZONE": DEMO_TIMEZONE,
        # The retry job runs in the demo's own process; the nightly sweep stays off so the sample data stays put.
        "RETRY_EVERY_SECONDS": "10",
        "SWEEP_AT": "off",
        # The printed console sign-in link should still work after a coffee (production: 15 minutes).
        "STAFF_LINK_MINUTES": "1440",
        # Evidence checkpoints are signed with a key of this demo only (production keeps its own out of the store).
        "EVIDENCE_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode("ascii"),
    }


def classmarker_environment(api: ClassMarkerApiSimulator) -> dict[str, str]:
    """The simulated ClassMarker account's API credentials: reconciliation is on in the demo."""
    return {
        "CLASSMARKER_API_URL": api.base_url,
        "CLASSMARKER_API_KEY": api.account.api_key,
        "CLASSMARKER_API_SECRET": api.account.api_secret,
    }


def sample_result(token: str, course_id: int, *, passed: bool = True, result_id: int = 88123401) -> dict[str, Any]:
    """A ClassMarker link result as ClassMarker would send it, taken through the quiz link of the demo course."""
    return {
        "payload_type": "single_user_test_results_link",
        "payload_status": "live",
        "test": {"test_id": 2044187, "test_name": "Laserová řezačka – bezpečnost"},
        "link": {"link_id": 1288000 + course_id, "link_name": "Members", "link_url_id": DEMO_QUIZZES[course_id]},
        "result": {
            "link_result_id": result_id,
            "first": "Petra",
            "last": "Dvořáková",
            "email": "petra@example.org",
            "percentage": 90 if passed else 40,
            "points_scored": 9 if passed else 4,
            "points_available": 10,
            "requires_grading": "No",
            "time_started": 1763712000,
            "time_finished": 1763712420,
            "duration": "00:07:00",
            "percentage_passmark": "80",
            "passed": passed,
            "cm_user_id": token,
            "ip_address": "203.0.113.7",
        },
    }


def refusal_event(simulator: FabmanSimulator, folder: Path) -> Path:
    """Fabman's webhook event for Petra refused at the laser cutter (the entry is in the simulator's activity log)."""
    entry = simulator.state.add_resource_log(DEMO_MEMBER, DEMO_LASER_CUTTER, "denied", "noPermission")
    details = {
        "log": entry,
        "resource": simulator.state.resource(DEMO_LASER_CUTTER),
        "member": simulator.state.member(DEMO_MEMBER),
    }
    event = {"id": 1000 + int(entry["id"]), "type": "resourceLog_created", "createdAt": entry["createdAt"], "details": details}
    path = folder / "fabman-refused-at-laser.json"
    path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    return path


def use_event(simulator: FabmanSimulator, folder: Path) -> Path:
    """Fabman's webhook event for Ondřej using the vinyl plotter with Fabman's permission."""
    entry = simulator.state.add_resource_log(USING_MEMBER, DEMO_PLOTTER, "allowed")
    details = {
        "log": entry,
        "resource": simulator.state.resource(DEMO_PLOTTER),
        "member": simulator.state.member(USING_MEMBER),
    }
    event = {"id": 1000 + int(entry["id"]), "type": "resourceLog_created", "createdAt": entry["createdAt"], "details": details}
    path = folder / "fabman-used-plotter.json"
    path.write_text(json.dumps(event, ensure_ascii=False), encoding="utf-8")
    return path


def _show_mail(app: Flask, message: Message) -> None:
    recipients = ", ".join(str(recipient) for recipient in message.recipients)
    subject = str(make_header(decode_header(message.subject)))  # the outbox RFC 2047-encodes it for SMTP
    sys.stdout.write(f"\n--- mail to {recipients}: {subject}\n{message.body}\n--- end of mail\n")


def sample_results(app: Flask) -> None:
    """A few results for the console to show: Martin passes soldering, Jan fails the CNC quiz, a forged link is rejected."""
    bridge = bridge_of(app)
    for number, (member_id, course_id, passed, first, last) in enumerate(DEMO_RESULTS, start=1):
        payload = sample_result(bridge.codec.encode(member_id, course_id), course_id, passed=passed, result_id=88120000 + number)
        payload["result"].update(first=first, last=last)
        if member_id == 0:
            payload["result"]["cm_user_id"] = "gAAAAAforged" + payload["result"]["cm_user_id"][12:]
        bridge.receive_result(json.dumps(payload, ensure_ascii=False).encode("utf-8"), payload)
    bridge.applier.wait_idle(timeout=30)


def print_guide(app: Flask, base: str, folder: Path, refusal: Path, use: Path) -> None:
    """Print what to open and what to paste."""
    found = bridge_of(app)
    token = found.codec.encode(DEMO_MEMBER, DEMO_COURSE)
    body = json.dumps(sample_result(token, DEMO_COURSE), ensure_ascii=False).encode("utf-8")
    body_file = folder / "classmarker-result.json"
    body_file.write_bytes(body)
    key = found.settings.fabman_api_key
    auth = shlex.quote(f"Authorization: {key}")
    lines = [
        "",
        "FabLab Bridge demo is running.",
        f"  Swagger UI:       {base}/apidocs/",
        f"  Fabman simulator: {found.settings.fabman_api_url} (API key {key})",
        "",
        "Try (paste into another terminal):",
        f"  curl -s {base}/absolved_trainings/{DEMO_MEMBER} -H {auth}",
        f"  curl -s {base}/available_trainings/{DEMO_MEMBER} -H {auth}",
        f"  curl -s -X POST {base}/get_training_links -H {auth} -H 'Content-Type: application/json' "
        f'-d \'{{"member_id": {DEMO_MEMBER}, "training_id": {DEMO_COURSE}}}\'',
        "  # Fabman's webhook: Petra is refused at the laser cutter; her quiz link arrives by mail",
        f"  curl -s -X POST '{base}/fabman_webhook?token={DEMO_FABMAN_TOKEN}' -H 'Content-Type: application/json' "
        f"--data-binary @{refusal}",
        "  # a signed ClassMarker result: Petra passes the laser cutter quiz",
        f"  curl -s -X POST {base}/add_classmarker_training -H 'Content-Type: application/json' "
        f"-H 'X-Classmarker-Hmac-Sha256: {sign(DEMO_SECRET, body)}' --data-binary @{body_file}",
        f"  curl -s -X POST {base}/cron/retry -H 'CronjobToken: {DEMO_CRON_TOKEN}'",
        "  # a lost webhook: Markéta passed the safety quiz, ClassMarker (simulated) has the result, but its",
        "  # webhook never came. Reconciliation finds it in ClassMarker's results API and applies it: the",
        "  # bridge's own job does so as the demo starts (the staff alert and her mail are printed here),",
        "  # and /cron/reconcile runs it on demand (then with nothing new; the gap stays 1). Her trainings",
        "  # list it, and /ready shows the run and the webhook gap:",
        f"  curl -s -X POST {base}/cron/reconcile -H 'CronjobToken: {DEMO_CRON_TOKEN}'",
        f"  curl -s {base}/absolved_trainings/{LOST_MEMBER} -H {auth}",
        f"  curl -s {base}/ready",
        "  # signed evidence: Martin's soldering pass as a bundle anyone can check offline (docs/evidence.md);",
        "  # the demo made a checkpoint as it started, and the second line checks the bundle without the bridge:",
        f"  curl -s '{base}/admin/evidence/proof?member_id={PROOF_MEMBER}&course_id={PROOF_COURSE}' -H {auth} "
        f"-o {shlex.quote(str(folder / 'evidence-bundle.json'))}",
        f"  python3 {shlex.quote(str(VERIFY_TOOL))} {shlex.quote(str(folder / 'evidence-bundle.json'))} "
        f"--key {found.evidence.public_key}",
        "  # where a member stands, course by course, with the next step in Czech and English; the vacuum",
        "  # former requires the workshop safety course, which Eva has not taken: needs_prerequisite",
        f"  curl -s {base}/training_overview/{NEEDS_SAFETY_MEMBER} -H {auth}",
        "  # a training that lives on use: Ondřej's vinyl cutter training ends in a week; he uses the plotter",
        "  # (Fabman permits it), so the bridge renews it for 6 months from today (new record, old one removed, no mail)",
        f"  curl -s -X POST '{base}/fabman_webhook?token={DEMO_FABMAN_TOKEN}' -H 'Content-Type: application/json' "
        f"--data-binary @{use}",
        f"  curl -s {base}/absolved_trainings/{USING_MEMBER} -H {auth}",
        "",
        f"Staff console (signed in as {DEMO_STAFF}, the sample FabLab's owner; the link works once):",
        f"  {base}/staff/link?token={found.staff_access.issue_link(DEMO_STAFF)}",
        f"  (later, ask for a new link at {base}/staff/login: the mail with it is printed here)",
        "",
        "Mail is printed here instead of being sent. Ctrl-C stops the demo.",
        "",
    ]
    sys.stdout.write("\n".join(lines))
    sys.stdout.flush()


def port_taken(host: str, port: int) -> bool:
    """Whether another program already listens where the demo would."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds, so TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def run_demo(host: str = "127.0.0.1", port: int = 5000) -> None:
    """Start the simulator and the bridge and serve until interrupted."""
    if port_taken(host, port):
        # Before anything is printed or started: a guide full of URLs that reach another program helps nobody.
        sys.stderr.write(f"Port {port} is taken; choose another: PORT=8080 make demo (or main_run.py --demo --port 8080)\n")
        raise SystemExit(1)
    folder = Path(tempfile.mkdtemp(prefix="fablab-bridge-demo-"))
    simulator = FabmanSimulator(demo_state(today_in(ZoneInfo(DEMO_TIMEZONE)))).start()
    classmarker = ClassMarkerApiSimulator(ClassMarkerAccount(webhook_secret=DEMO_SECRET)).start()
    try:
        reachable = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - compared, not bound
        environment = demo_environment(simulator.base_url, simulator.api_key, folder)
        # Sign-in links in mail start with PUBLIC_URL, never with a request's Host: the demo names itself.
        public = {"PUBLIC_URL": f"http://{reachable}:{port}"}
        settings = load_settings({**environment, **classmarker_environment(classmarker), **public})
        app = create_app(settings)
        bridge = bridge_of(app)
        safety_quiz = {"test_id": 2044100, "test_name": "Bezpečnost v dílně"}
        lost = bridge.codec.encode(LOST_MEMBER, LOST_COURSE)
        classmarker.account.take_quiz(lost, percentage=85, test=safety_quiz, quiz=DEMO_QUIZZES[LOST_COURSE])
        sample_results(app)
        bridge.run_job("checkpoint", trigger="demo")
        email_dispatched.connect(_show_mail, app)
        print_guide(app, f"http://{reachable}:{port}", folder, refusal_event(simulator, folder), use_event(simulator, folder))
        bridge.start_background()
        try:
            app.run(host=host, port=port, use_reloader=False)
        finally:
            bridge.shutdown()
    finally:
        classmarker.stop()
        simulator.stop()
