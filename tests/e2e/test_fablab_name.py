"""FABLAB_NAME signs member mail: a makerspace other than FabLab Brno gets its own name in the mailbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from bridge.application import bridge_of
from harness.classmarker import result_payload, signed
from harness.launch import SmtpSink
from harness.wait import wait_until
from tests.support import text_of

PETRA, LASER = 1, 2


@pytest.mark.parametrize(("setting", "signature"), [({}, "FabLab Brno"), ({"FABLAB_NAME": "Dílna Ostrava"}, "Dílna Ostrava")])
def test_the_granted_mail_is_signed_with_the_configured_name(
    make_app: Callable[..., Flask], smtp: SmtpSink, setting: dict[str, str], signature: str
) -> None:
    app = make_app(**setting)
    body, headers = signed(result_payload(bridge_of(app).codec.encode(PETRA, LASER)))

    assert app.test_client().post("/add_classmarker_training", data=body, headers=headers).json["status"] == "accepted"

    (mail,) = wait_until(lambda: list(smtp.messages), timeout=30, what="the training granted mail")
    text, html = text_of(mail), mail.get_body(preferencelist=("html",)).get_content()
    assert signature in text.splitlines()
    assert f"<title>{signature}</title>" in html
    if signature != "FabLab Brno":
        assert "FabLab Brno" not in text + html
