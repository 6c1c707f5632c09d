"""Run the simulator as a real HTTP server on loopback, in a background thread.

A real socket, not Flask's test client: the bridge's client is exercised with
its own connection pool, timeouts and retries, exactly as against fabman.io.
"""

from __future__ import annotations

import logging
import threading
from functools import partial
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import API_PREFIX, create_simulator_app
from .state import FaultConfig, LoggedRequest, RequestLog, SimState

logger = logging.getLogger(__name__)

# How often the serving loop checks for shutdown: stop() takes at most this long.
_POLL_INTERVAL = 0.05


class _QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug prints a line per request to stderr; the request log is the record here."""

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 (werkzeug's signature)
        logger.debug("%s: " + message, type, *args)


class FabmanSimulator:
    """A fake Fabman API on `base_url`, serving `state`, misbehaving as `faults` says.

    Use as a context manager or call start()/stop(); a stopped simulator
    cannot be started again (make a new one over the same state instead).
    """

    def __init__(
        self,
        state: SimState | None = None,
        api_key: str = "sim-admin-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: FaultConfig | None = None,
    ) -> None:
        self._state = state if state is not None else SimState()
        self._faults = faults if faults is not None else FaultConfig()
        self._log = RequestLog()
        self._api_key = api_key
        self._host = host
        self._port = port
        self._app = create_simulator_app(self._state, api_key, faults=self._faults, log=self._log)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> FabmanSimulator:
        """Bind the port (0 = any free one) and serve in a daemon thread."""
        if self._server is not None or self._stopped:
            raise RuntimeError("the simulator can be started once")
        self._server = make_server(
            self._host, self._port, self._app, threaded=True, request_handler=_QuietRequestHandler
        )
        self._thread = threading.Thread(
            target=partial(self._server.serve_forever, poll_interval=_POLL_INTERVAL),
            name=f"fabman-simulator:{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; requests held by a hang are released at once."""
        if self._server is None or self._thread is None:
            return
        self._faults.release_waiters()
        self._server.shutdown()
        self._thread.join()  # werkzeug's serve_forever closes the socket as it returns
        self._server = None
        self._thread = None
        self._stopped = True

    def __enter__(self) -> FabmanSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """e.g. "http://127.0.0.1:8765"; the control API lives under root_url + "/_sim"."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.port}"

    @property
    def base_url(self) -> str:
        """The Fabman API base, e.g. "http://127.0.0.1:8765/api/v1" (FABMAN_API_URL)."""
        return self.root_url + API_PREFIX

    @property
    def api_key(self) -> str:
        """The key clients must send as `Authorization: Bearer <key>`."""
        return self._api_key

    @property
    def state(self) -> SimState:
        """The data served; change it directly to set up a scenario."""
        return self._state

    @property
    def faults(self) -> FaultConfig:
        """The live fault settings."""
        return self._faults

    @property
    def requests(self) -> list[LoggedRequest]:
        """A snapshot of the API request log (paths without the /api/v1 prefix)."""
        return self._log.snapshot()

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._log.clear()
