"""Proofs anyone can check (contract section 16): the key, bundles, checkpoints, witnesses, time-stamps.

A bundle is checked three ways: by the bridge's own offline tool
(tools/verify_evidence.py, run as a separate process), by a small RFC 6962
verifier written in this file from the RFC alone (it shares no code with the
bridge), and by hand edits that must make it fail.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from bridge.application import Bridge, bridge_of
from harness.classmarker import quiz_of, result_payload, signed
from harness.launch import ROOT, SmtpSink
from tests.evidence.conftest import EVA, MARTIN, SAFETY, SOLDERING
from tests.support import problem

TOOL = ROOT / "tools" / "verify_evidence.py"


# -- an RFC 6962 verifier written from the RFC, not from the bridge --------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def independent_root(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 6962 2.1.1 read backwards: walk the recursive split down to the leaf, then hash back up."""
    splits = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1
        while k * 2 < hi - lo:
            k *= 2
        if index < lo + k:
            splits.append("left")
            hi = lo + k
        else:
            splits.append("right")
            lo = lo + k
    assert len(splits) == len(path), "the path must have one hash per level of the tree"
    node = _h(b"\x00" + leaf)
    for side, sibling in zip(reversed(splits), path, strict=True):
        node = _h(b"\x01" + node + sibling) if side == "left" else _h(b"\x01" + sibling + node)
    return node


def independent_check(bundle: dict[str, Any], public_key: str) -> dict[str, Any]:
    leaf = base64.b64decode(bundle["leaf"])
    checkpoint = bundle["checkpoint"]
    signed = json.dumps(checkpoint, sort_keys=True, separators=(",", ":")).encode()
    Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key)).verify(base64.b64decode(bundle["signature"]), signed)
    path = [bytes.fromhex(node) for node in bundle["inclusion"]]
    assert independent_root(leaf, bundle["index"], checkpoint["size"], path).hex() == checkpoint["root"]
    return dict(json.loads(leaf))


def run_tool(bundle: dict[str, Any], tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return subprocess.run([sys.executable, str(TOOL), str(path), *extra], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def granted(send: Callable[..., Any]) -> None:
    """Martin passes Pájení and Bezpečnost, Eva fails Bezpečnost and passes Pájení."""
    send(MARTIN, SOLDERING, 7001)
    send(MARTIN, SAFETY, 7002)
    send(EVA, SAFETY, 7003, passed=False, percentage=20)
    send(EVA, SOLDERING, 7004)


def test_the_key_is_public_and_names_the_log(client: FlaskClient, bridge: Bridge) -> None:
    key = client.get("/evidence/key").json
    expected = bridge.evidence.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key == {"public_key": base64.b64encode(expected).decode(), "origin": "FabLab Brno training evidence"}


@pytest.mark.e2e
def test_a_bundle_is_made_with_its_checkpoint_and_verifies_three_ways(
    client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, granted: None, tmp_path: Path
) -> None:
    assert bridge.store.evidence.checkpoints() == []
    bundle = client.get(f"/admin/evidence/proof?member_id={EVA}&course_id={SOLDERING}", headers=api_headers).json
    key = client.get("/evidence/key").json["public_key"]

    assert set(bundle) == {"leaf", "index", "inclusion", "checkpoint", "signature", "public_key"}
    assert bundle["index"] == 3 and bundle["checkpoint"]["size"] == 4  # no checkpoint covered it: one was made
    assert len(bridge.store.evidence.checkpoints()) == 1
    said = independent_check(bundle, key)
    assert (said["event"], said["member_id"], said["course_id"], said["result_id"]) == ("granted", EVA, SOLDERING, "7004")
    tool = run_tool(bundle, tmp_path, "--key", key)
    assert tool.returncode == 0, tool.stderr
    assert tool.stdout.startswith("VALID: leaf 3 is in the log 'FabLab Brno training evidence' of 4 events")


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(
            lambda b: {**b, "leaf": base64.b64encode(base64.b64decode(b["leaf"]).replace(b'"90"', b'"99"')).decode()}, id="score"
        ),
        pytest.param(lambda b: {**b, "index": b["index"] - 1}, id="index"),
        pytest.param(lambda b: {**b, "inclusion": b["inclusion"][:-1]}, id="proof"),
        pytest.param(lambda b: {**b, "checkpoint": {**b["checkpoint"], "time": "2020-01-01T00:00:00Z"}}, id="time"),
    ],
)
@pytest.mark.e2e
def test_a_bundle_edited_by_hand_fails_the_offline_tool(
    client: FlaskClient, api_headers: dict[str, str], granted: None, tmp_path: Path, edit: Callable[..., Any]
) -> None:
    bundle = client.get(f"/admin/evidence/proof?member_id={MARTIN}&course_id={SAFETY}", headers=api_headers).json
    assert b'"90"' in base64.b64decode(bundle["leaf"])
    tool = run_tool(edit(bundle), tmp_path)
    assert tool.returncode == 1 and tool.stderr.startswith("NOT VALID: "), tool.stdout


@pytest.mark.e2e
def test_a_bundle_resigned_with_another_key_fails_against_the_published_key(
    client: FlaskClient, api_headers: dict[str, str], granted: None, tmp_path: Path
) -> None:
    bundle = client.get(f"/admin/evidence/proof?member_id={MARTIN}&course_id={SAFETY}", headers=api_headers).json
    published = client.get("/evidence/key").json["public_key"]
    other = Ed25519PrivateKey.generate()
    forged = {
        **bundle,
        "signature": base64.b64encode(
            other.sign(json.dumps(bundle["checkpoint"], sort_keys=True, separators=(",", ":")).encode())
        ).decode(),
        "public_key": base64.b64encode(other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
    }
    assert run_tool(forged, tmp_path).returncode == 0  # self-consistent, signed by someone...
    tool = run_tool(forged, tmp_path, "--key", published)
    assert tool.returncode == 1 and "signature does not verify" in tool.stderr  # ...but not by the FabLab


def test_proof_answers_404_without_a_grant_and_refuses_bad_queries(
    client: FlaskClient, api_headers: dict[str, str], granted: None
) -> None:
    assert (
        "no granted"
        in problem(client.get(f"/admin/evidence/proof?member_id={EVA}&course_id={SAFETY}", headers=api_headers), 404)["detail"]
    )
    problem(client.get(f"/admin/evidence/proof?member_id={EVA}&course_id={SAFETY}"), 401)
    assert problem(client.get(f"/admin/evidence/proof?member_id={EVA}", headers=api_headers), 400)["field"] == "course_id"
    assert problem(client.get("/admin/evidence/proof?member_id=x&course_id=1", headers=api_headers), 422)["field"] == "member_id"
    problem(client.get("/admin/evidence/consistency?first=3&second=9", headers=api_headers), 404)


def test_checkpoints_are_kept_listed_mailed_to_witnesses_and_made_by_cron_and_cli(
    make_app: Callable[..., Flask], api_headers: dict[str, str], cron_headers: dict[str, str], smtp: SmtpSink
) -> None:
    app = make_app(EVIDENCE_WITNESS_EMAILS="notary@example.org,board@example.org")
    client = app.test_client()
    bridge = bridge_of(app)
    by_cron = client.post("/cron/checkpoint", headers=cron_headers).json
    by_cli = app.test_cli_runner().invoke(args=["evidence", "checkpoint"])

    assert by_cli.exit_code == 0, by_cli.output
    listed = client.get("/admin/evidence/checkpoints", headers=api_headers).json
    assert [entry["checkpoint"] for entry in listed] == [by_cron["checkpoint"], json.loads(by_cli.output)["checkpoint"]]
    assert by_cron["checkpoint"]["root"] == hashlib.sha256(b"").hexdigest() and by_cron["checkpoint"]["size"] == 0
    assert [run.by for run in [bridge.job_status()[4].last_run]] == ["cli"]
    mails = smtp.to("notary@example.org")
    assert len(mails) == 2 and by_cron["signature"] in mails[0].get_content()
    assert len(smtp.to("board@example.org")) == 2
    problem(client.post("/cron/checkpoint"), 401)


def test_verify_on_an_empty_log_and_after_a_checkpoint(runner: FlaskCliRunner, bridge: Bridge, granted: None) -> None:
    bridge.evidence.checkpoint()
    result = runner.invoke(args=["evidence", "verify"])
    assert result.exit_code == 0 and "4 leaves, 1 checkpoints verified" in result.output


# -- RFC 3161 against a local authority made with `openssl ts` ------------------------------------

TSA_CONFIG = """
[ tsa ]
default_tsa = local_tsa
[ local_tsa ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A throwaway CA and TSA certificate, and a loopback HTTP server that answers through `openssl ts -reply`."""
    folder = tmp_path / "tsa"
    folder.mkdir()
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test CA",
        cwd=folder,
    )
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA", cwd=folder)
    (folder / "ext.cnf").write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "tsa.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "tsa.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=folder,
    )
    (folder / "serial").write_text("01\n")
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(dir=folder))
    requests_seen: list[str] = []

    class Authority(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            requests_seen.append(self.headers["Content-Type"])
            query = self.rfile.read(int(self.headers["Content-Length"]))
            (folder / "request.tsq").write_bytes(query)
            _openssl("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "request.tsq", "-out", "reply.tsr", cwd=folder)
            reply = (folder / "reply.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Authority)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsr", folder
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    assert requests_seen and set(requests_seen) == {"application/timestamp-query"}


def verify_token(folder: Path, data: str) -> subprocess.CompletedProcess[str]:
    """`openssl ts -verify` of the kept token against `data`, trusting only the throwaway CA."""
    command = [
        "openssl",
        "ts",
        "-verify",
        "-in",
        "token.der",
        "-token_in",
        "-data",
        data,
        "-CAfile",
        "ca.pem",
        "-untrusted",
        "tsa.pem",
    ]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.e2e
def test_checkpoints_are_time_stamped_and_the_token_verifies_with_openssl(
    make_app: Callable[..., Flask], authority: tuple[str, Path], api_headers: dict[str, str]
) -> None:
    url, folder = authority
    app = make_app(EVIDENCE_TSA_URL=url)
    client = app.test_client()
    bridge = bridge_of(app)
    body, headers = signed(result_payload(bridge.codec.encode(MARTIN, SOLDERING), result_id=7101, quiz=quiz_of(SOLDERING)))
    assert client.post("/add_classmarker_training", data=body, headers=headers).status_code == 200

    bundle = client.get(f"/admin/evidence/proof?member_id={MARTIN}&course_id={SOLDERING}", headers=api_headers).json
    assert "tsa_token" in bundle
    (folder / "token.der").write_bytes(base64.b64decode(bundle["tsa_token"]))
    (folder / "checkpoint.json").write_bytes(json.dumps(bundle["checkpoint"], sort_keys=True, separators=(",", ":")).encode())
    verified = verify_token(folder, "checkpoint.json")
    assert verified.returncode == 0 and "Verification: OK" in verified.stdout, verified.stdout + verified.stderr
    other = folder / "other.json"
    other.write_bytes(b'{"origin":"forged"}')
    refused = verify_token(folder, "other.json")
    assert refused.returncode != 0
    assert client.get("/admin/evidence/checkpoints", headers=api_headers).json[0]["tsa_token"] == bundle["tsa_token"]


def test_a_renewal_is_a_proof_event(client: FlaskClient, api_headers: dict[str, str], bridge: Bridge, granted: None) -> None:
    """The hook renew-on-use calls (section 15): a `renewed` leaf becomes the course's latest proof."""
    from bridge.services.evidence import record_renewal

    index = record_renewal(bridge.deps, MARTIN, SOLDERING, 991, email="martin@example.org")
    assert record_renewal(bridge.deps, MARTIN, SOLDERING, 991) is None  # once per new record
    bundle = client.get(f"/admin/evidence/proof?member_id={MARTIN}&course_id={SOLDERING}", headers=api_headers).json
    said = json.loads(base64.b64decode(bundle["leaf"]))
    assert (bundle["index"], said["event"], said["fabman_record_id"], said["result_id"]) == (index, "renewed", 991, None)
