"""The Fabman simulator in the caller's process: the same app, reached through a `requests` transport adapter.

`WsgiAdapter` hands each request a `requests.Session` sends to a WSGI app
(werkzeug's test environment) and turns the app's answer into a
`requests.Response`; no socket is opened. Mounted on the bridge's Fabman
session, it lets the real `FabmanClient` (its retries, pagination, 409 and
429 handling, timeouts) talk to the simulator's app, so faults, pagination,
`lockVersion` conflicts, 429 and 415 behave as they do over HTTP: the same
app answers. A call the app does not finish within the read timeout (an
injected hang) raises `requests.ReadTimeout`, as a socket would.

`InProcessFabman` offers what `FabmanSimulator` does (state, faults, request
log, API key, URLs) without a server; `mount(session)` routes its URLs to the
app. `InProcessClassMarkerApi` does the same for ClassMarker's results API.
"""

from __future__ import annotations

import concurrent.futures
import threading
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from werkzeug.test import EnvironBuilder, run_wsgi_app

from .classmarker import ClassMarkerApiSimulator
from .faults import FaultConfig
from .handles import FabmanHandles
from .state import SimState

IN_PROCESS_ROOT = "http://fabman.in-process"
IN_PROCESS_CLASSMARKER = "http://classmarker.in-process"
IN_PROCESS_THREADS = 16
"""Timed calls the in-process apps answer at once, in all (more wait their turn, within their read timeout)."""


_POOL: list[concurrent.futures.ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()


def _calls() -> concurrent.futures.ThreadPoolExecutor:
    """The threads every in-process adapter of this process runs its timed calls on, made once.

    A thread started per call (or per test) can fail to start under a tracer
    (coverage: "Cannot install a trace function while another trace function
    is being installed") when another thread starts at the same moment, and
    the call is lost; threads made once per process start a handful of times.
    """
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(concurrent.futures.ThreadPoolExecutor(IN_PROCESS_THREADS, thread_name_prefix="fabman-in-process"))
        return _POOL[0]


class WsgiAdapter(BaseAdapter):
    """A `requests` transport that answers from a WSGI app in this process."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: None | float | tuple[float | None, float | None] = None,
        verify: bool | str = True,
        cert: None | bytes | str | tuple[bytes | str, bytes | str] = None,
        proxies: Any = None,
    ) -> requests.Response:
        """Run the app on the request; ReadTimeout when it takes longer than the read timeout."""
        read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
        if read_timeout is None:
            answered = self._answer(request)
        else:
            future = _calls().submit(self._answer, request)
            try:
                answered = future.result(timeout=read_timeout)
            except concurrent.futures.TimeoutError:
                raise requests.ReadTimeout(f"the in-process app did not answer in {read_timeout} s", request=request) from None
        if isinstance(answered, Exception):
            raise requests.ConnectionError(f"the in-process app failed: {answered!r}", request=request) from answered
        status, headers, body = answered
        return self._response(request, status, headers, body)

    def _answer(self, request: requests.PreparedRequest) -> tuple[str, list[tuple[str, str]], bytes] | Exception:
        try:
            return self._call(request)
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread, as a broken connection
            return exc

    def _call(self, request: requests.PreparedRequest) -> tuple[str, list[tuple[str, str]], bytes]:
        url = urlsplit(request.url or "")
        body = request.body
        data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        headers = [(name, value) for name, value in request.headers.items() if name.lower() != "content-length"]
        builder = EnvironBuilder(
            method=request.method or "GET",
            base_url=f"{url.scheme}://{url.netloc}",
            path=url.path,
            query_string=url.query,
            headers=headers,
            data=bytes(data),
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        chunks, status, response_headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            payload = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return status, list(response_headers.items()), payload

    def _response(
        self, request: requests.PreparedRequest, status: str, headers: list[tuple[str, str]], body: bytes
    ) -> requests.Response:
        code, _, reason = status.partition(" ")
        response = requests.Response()
        response.status_code = int(code)
        response.reason = reason
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        """Nothing to release: no connection was opened."""


class InProcessFabman(FabmanHandles):
    """The Fabman simulator without a server: `FabmanSimulator`'s handles, and an adapter to mount.

    Use as a context manager or call start()/stop() like the HTTP simulator;
    stopping releases requests held by an injected hang.
    """

    def __init__(
        self, state: SimState | None = None, api_key: str = "sim-admin-key", *, faults: FaultConfig | None = None
    ) -> None:
        super().__init__(state, api_key, faults)
        self.app = self._app
        self.adapter = WsgiAdapter(self.app)

    def start(self) -> InProcessFabman:
        """Nothing to start; here for symmetry with FabmanSimulator."""
        return self

    def stop(self) -> None:
        """Release requests an injected hang still holds."""
        self._faults.release_waiters()

    def __enter__(self) -> InProcessFabman:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    def mount(self, session: requests.Session) -> requests.Session:
        """Route this fake's URLs on `session` to the app (the session's other prefixes stay as they are)."""
        session.mount(self.root_url + "/", self.adapter)
        return session

    @property
    def root_url(self) -> str:
        """The address its URLs start with; nothing listens there."""
        return IN_PROCESS_ROOT


class InProcessClassMarkerApi(ClassMarkerApiSimulator):
    """ClassMarker's results API simulator without a server: the same answers, through a mounted adapter."""

    def start(self) -> InProcessClassMarkerApi:
        """Nothing to start; here for symmetry with the server."""
        return self

    def stop(self) -> None:
        """Nothing to stop."""

    @property
    def base_url(self) -> str:
        """CLASSMARKER_API_URL for a bridge whose ClassMarker session this fake is mounted on."""
        return IN_PROCESS_CLASSMARKER

    def mount(self, session: requests.Session) -> requests.Session:
        """Route this fake's URLs on `session` to its app."""
        session.mount(IN_PROCESS_CLASSMARKER + "/", WsgiAdapter(self._wsgi))
        return session
