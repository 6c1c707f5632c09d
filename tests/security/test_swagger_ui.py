"""Swagger UI is a current release served by the bridge itself, and a link cannot make it show another API (issue 18).

The attack (the CVE-2018-25031 class): flasgger's bundled Swagger UI 3.x
read `?url=` and `?configUrl=` from the page's address, so a link such as
`/apidocs/?url=https://evil.example/x.json` showed the attacker's API on the
bridge's own page, where staff type the Fabman key. Now the page is the
bridge's, over Swagger UI 5.x from a packaged distribution, with query
config off; it loads every file from the bridge and nothing from elsewhere.

Checked in headless Chromium (Debian's `chromium` and `chromium-driver`);
every request the page makes is read from the browser's network log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from urllib.parse import urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from flask import Flask
from flask.testing import FlaskClient

from harness.launch import ROOT
from harness.wait import wait_until

SCREENSHOTS = ROOT / "screenshots"
ATTACKS = [
    "?url=http://evil.example/x.json",
    "?configUrl=http://evil.example/config.json",
    "?url=http://evil.example/x.json&configUrl=http://evil.example/config.json",
]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium that keeps a log of every network request."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        message = "no Chromium found: install Debian's chromium and chromium-driver to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run them; .ci/run installs them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: object) -> list[str]:
    """Every URL the page asked the network for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def shown_title(driver: object) -> str:
    """The API title Swagger UI rendered, once it has rendered one."""
    found = driver.execute_script("var t = document.querySelector('.info .title'); return t ? t.textContent : '';")  # type: ignore[attr-defined]
    return str(found)


@pytest.mark.parametrize("attack", ATTACKS)
@pytest.mark.e2e
def test_a_link_with_url_or_config_url_still_shows_the_bridges_own_api_and_loads_nothing_elsewhere(
    browser: object, served: str, attack: str
) -> None:
    browser.get(f"{served}/apidocs/{attack}")  # type: ignore[attr-defined]
    title = wait_until(lambda: shown_title(browser), timeout=30, what="Swagger UI showing an API")
    wait_until(
        lambda: "/add_classmarker_training" in str(browser.page_source),  # type: ignore[attr-defined]
        timeout=30,
        what="the bridge's operations listed",
    )

    urls = requested_urls(browser)
    assert title.startswith("FabLab Bridge")
    assert f"{served}/apispec.json" in urls
    assert [url for url in urls if not url.startswith((served, "data:"))] == []  # data: images are inside the CSS
    assert not any(urlsplit(url).hostname == "evil.example" for url in urls)
    errors = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]  # type: ignore[attr-defined]
    assert errors == []
    SCREENSHOTS.mkdir(exist_ok=True)
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})  # type: ignore[attr-defined]
    name = re.sub(r"[^a-z]+", "-", attack.lower()).strip("-")
    (SCREENSHOTS / f"apidocs-{name}.png").write_bytes(base64.b64decode(shot["data"]))


@pytest.mark.e2e
def test_the_page_runs_swagger_ui_5_from_the_bridge_with_query_config_off(client: FlaskClient) -> None:
    page = client.get("/apidocs/?url=http://evil.example/x.json")
    html = page.get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    styles = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)

    assert page.status_code == 200
    assert "evil.example" not in html and "<script>" not in html
    assert all(src.startswith("/") and not src.startswith("//") for src in scripts + styles)
    bundle = client.get(next(src for src in scripts if src.endswith("swagger-ui-bundle.js"))).get_data(as_text=True)
    assert re.search(r'version:"5\.\d+\.\d+"|"5\.\d+\.\d+"', bundle)
    init = client.get(next(src for src in scripts if src.endswith("init.js"))).get_data(as_text=True)
    assert "queryConfigEnabled: false" in init
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/flasgger_static/swagger-ui-bundle.js").status_code == 404  # flasgger's Swagger UI 3.x is not served
    assert client.get("/apidocs/ui/index.html").status_code == 404


def test_no_page_of_the_distribution_that_reads_the_query_is_served(client: FlaskClient) -> None:
    for path in ("/apidocs/ui/index.html", "/apidocs/ui/swagger-initializer.js", "/flasgger_static/index.html"):
        assert client.get(path).status_code == 404, path
