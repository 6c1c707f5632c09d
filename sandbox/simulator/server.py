"""Run the simulator as a real HTTP server on loopback, in a background thread.

A real socket, not Flask's test client: the bridge's client is exercised with
its own connection pool, timeouts and retries, exactly as against fabman.io.
Like fabman.io, it keeps connections open between requests (HTTP/1.1
keep-alive), so a client that pools connections pays no connect per call.
Werkzeug's development server closes every connection after one answer, so
requests are served by a small handler of our own on werkzeug's socket server.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from functools import partial
from types import TracebackType
from typing import IO, Any, cast

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from .faults import FaultConfig
from .handles import FabmanHandles
from .state import SimState

logger = logging.getLogger(__name__)

# How often the serving loop checks for shutdown: stop() takes at most this long.
_POLL_INTERVAL = 0.05


class _KeepAliveHandler(WSGIRequestHandler):
    """Serves any number of requests on one connection, each answer with a Content-Length.

    Each request's body is limited to its Content-Length and whatever the app
    leaves unread is drained, so the next request on the connection starts at
    its first byte. A chunked request body (which the bridge never sends)
    closes the connection after its answer. Answers are buffered: the
    simulator's are small JSON documents.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _KeepAliveServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def run_wsgi(self) -> None:
        environ = self.make_environ()
        body: LimitedStream | None = None
        if environ.get("wsgi.input_terminated"):
            self.close_connection = True
        else:
            try:
                length = max(0, int(self.headers.get("Content-Length") or 0))
            except ValueError:
                self.send_error(400, "invalid Content-Length")
                return
            body = LimitedStream(cast(IO[bytes], self.rfile), length)
            environ["wsgi.input"] = body
        status, headers, payload = self._call_app(environ)
        if body is not None:
            body.exhaust()
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        if not (int(code) < 200 or int(code) in (204, 304)):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """Run the WSGI app; an unexpected error is a 500 and the connection closes."""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            started[:] = [status, headers]
            return written.append

        try:
            chunks: Iterable[bytes] = self.server.app(environ, start_response)
            try:
                written.extend(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
        except Exception:
            logger.exception("the simulator app failed on %s %s", self.command, self.path)
            self.close_connection = True
            return "500 INTERNAL SERVER ERROR", [], b""
        return started[0], started[1], b"".join(written)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if logger.isEnabledFor(logging.DEBUG):
            super().log_request(code, size)

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("%s: " + message, type, *args)


class _KeepAliveServer(ThreadedWSGIServer):
    """A thread per connection; knows its open connections so stopping can cut them all."""

    def __init__(self, host: str, port: int, app: Any) -> None:
        super().__init__(host, port, app, handler=_KeepAliveHandler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        """Remember an accepted connection."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection its handler is done with."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Cut every open connection: a stopped simulator answers nothing, even on a pooled socket."""
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FabmanSimulator(FabmanHandles):
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
        super().__init__(state, api_key, faults)
        self._host = host
        self._port = port
        self._server: _KeepAliveServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> FabmanSimulator:
        """Bind the port (0 = any free one) and serve in a daemon thread."""
        if self._server is not None or self._stopped:
            raise RuntimeError("the simulator can be started once")
        self._server = _KeepAliveServer(self._host, self._port, self._app)
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
        self._thread.join()  # werkzeug's serve_forever closes the listening socket as it returns
        self._server.close_connections()
        self._server = None
        self._thread = None
        self._stopped = True

    def __enter__(self) -> FabmanSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """e.g. "http://127.0.0.1:8765"; the control API lives under root_url + "/_sim"."""
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._server.port}"
