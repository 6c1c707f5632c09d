"""ClassMarker, simulated: one account whose results both its results API and its webhook sender serve.

A result taken in the :class:`ClassMarkerAccount` is what ClassMarker knows.
:class:`ClassMarkerApiSimulator` lists it through the results API (a real
loopback server), and :class:`ClassMarkerWebhookSender` POSTs it to a
receiver as ClassMarker's webhook. Because both read the same account, a
result whose webhook was lost is still in the API: exactly the situation
reconciliation exists for.

The API checks what ClassMarker checks (`api_key`, the MD5 `signature`, a
`timestamp` within 5 minutes of its clock), pages with
`next_finished_after_timestamp` and overlapping pages, answers
`request_limit_reached` beyond a configurable hourly limit and error answers
on demand, and sends results the loose way the API does (numbers as strings,
no `passed` or no pass mark, in-progress results). The sender signs the raw
body (HMAC-SHA256, base64, `X-Classmarker-Hmac-Sha256`) of a PHP-escaped
JSON body, and can lose deliveries at a rate, sign with a wrong secret,
re-send, and give up after the receiver was down.

Like the Fabman simulator, it depends on nothing else in `bridge`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import itertools
import json
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import Any

import requests
from werkzeug.wrappers import Request, Response

from .seed import DEMO_QUIZZES
from .server import _POLL_INTERVAL, _KeepAliveServer
from .state import Json

SIGNATURE_HEADER = "X-Classmarker-Hmac-Sha256"
RECENT_LINK_RESULTS = "/v1/links/recent_results.json"
ACCOUNT = "/v1.json"
MAX_LIMIT = 200
TIMESTAMP_TOLERANCE = timedelta(minutes=5)
DEFAULT_LOOKBACK = timedelta(days=14)
KEPT_FOR = timedelta(days=90)
"""How far back the API lists when asked to (sources say up to three months)."""

SIM_API_KEY = "sim-classmarker-key"
SIM_API_SECRET = "sim-classmarker-secret"  # noqa: S105 - the simulator's own, public credential
SIM_WEBHOOK_SECRET = "sim-webhook-secret"  # noqa: S105 - the simulator's own, public credential

DEFAULT_TEST = {"test_id": 2044187, "test_name": "Laser cutter - safety"}
DEFAULT_LINK = {"link_id": 1288001, "link_name": "Laser cutter (members)", "link_url_id": DEMO_QUIZZES[2]}
"""The laser cutter's quiz link of the demo FabLab (course 2): a result names the quiz it was taken through."""
_result_ids = itertools.count(88_000_001)
_result_ids_lock = threading.Lock()


def _next_result_id() -> int:
    with _result_ids_lock:
        return next(_result_ids)


def _seconds(moment: datetime | int | float) -> int:
    return int(moment.timestamp()) if isinstance(moment, datetime) else int(moment)


@dataclass
class SimResult:
    """One link result as ClassMarker holds it.

    `api_omits` names fields the results API leaves out of this result
    (`passed`, `percentage_passmark`: older results carry neither), and
    `api_strings` makes the API send its numbers as strings. The webhook
    always carries every field, typed as the webhook types them.
    """

    link_result_id: int
    cm_user_id: str | None
    percentage: float
    percentage_passmark: float | None
    passed: bool
    time_started: int
    time_finished: int | None
    requires_grading: bool = False
    test: Json = field(default_factory=lambda: dict(DEFAULT_TEST))
    link: Json = field(default_factory=lambda: dict(DEFAULT_LINK))
    first: str = "Petra"
    last: str = "Dvorakova"
    email: str = "petra@example.org"
    api_omits: frozenset[str] = frozenset()
    api_strings: bool = False
    version: int = 1
    """Goes up when the result changes after it was first sent (graded): ClassMarker sends it again."""

    @property
    def in_progress(self) -> bool:
        """Still being taken: no webhook yet, and the API lists it as `ip`."""
        return self.time_finished is None

    def webhook_payload(self) -> Json:
        """The body ClassMarker's webhook POSTs for this result."""
        finished = self.time_finished or self.time_started
        seconds = max(0, finished - self.time_started)
        result: Json = {
            "link_result_id": self.link_result_id,
            "first": self.first,
            "last": self.last,
            "email": self.email,
            "percentage": _whole(self.percentage),
            "points_scored": _whole(self.percentage / 10),
            "points_available": 10,
            "requires_grading": "Yes" if self.requires_grading else "No",
            "time_started": self.time_started,
            "time_finished": finished,
            "duration": f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}",
            "percentage_passmark": "" if self.percentage_passmark is None else f"{_whole(self.percentage_passmark)}",
            "passed": self.passed,
            "feedback": "",
            "give_certificate_only_when_passed": False,
            "certificate_url": "",
            "certificate_serial": "",
            "view_results_url": "",
            "access_code_question": "",
            "access_code_used": "",
            "extra_info_question": "",
            "extra_info_answer": "",
            "ip_address": "203.0.113.7",
        }
        if self.cm_user_id is not None:
            result["cm_user_id"] = self.cm_user_id
        return {
            "payload_type": "single_user_test_results_link",
            "payload_status": "live",
            "test": dict(self.test),
            "link": dict(self.link),
            "result": result,
        }

    def api_view(self) -> Json:
        """The `result` object the results API lists for this result."""
        result = {key: value for key, value in self.webhook_payload()["result"].items() if key not in self.api_omits}
        result.update(test_id=self.test["test_id"], link_id=self.link["link_id"], status="ip" if self.in_progress else "f")
        if self.in_progress:
            result["time_finished"] = None
        if self.percentage_passmark is None:
            result.pop("percentage_passmark", None)
        if self.api_strings:
            for key in ("link_result_id", "percentage", "points_scored", "points_available", "time_started", "time_finished"):
                if result.get(key) is not None:
                    result[key] = str(result[key])
        return result


def _whole(number: float) -> int | float:
    """80.0 as 80, as ClassMarker writes whole numbers."""
    return int(number) if float(number).is_integer() else number


class ClassMarkerAccount:
    """What ClassMarker knows: the account's API credentials, its webhook secret, and every result taken.

    `clock` gives "now" for results finished without a time, and for the
    API's timestamp check and request limit.
    """

    def __init__(
        self,
        *,
        api_key: str = SIM_API_KEY,
        api_secret: str = SIM_API_SECRET,
        webhook_secret: str = SIM_WEBHOOK_SECRET,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.webhook_secret = webhook_secret
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._results: dict[int, SimResult] = {}
        self._links: dict[str, int] = {DEMO_QUIZZES[2]: 1_288_001}

    def take_quiz(
        self,
        cm_user_id: str | None,
        *,
        percentage: float = 90,
        passmark: float | None = 80,
        passed: bool | None = None,
        finished_at: datetime | int | None = None,
        minutes: int = 7,
        in_progress: bool = False,
        requires_grading: bool = False,
        test: Json | None = None,
        link: Json | None = None,
        quiz: str | None = None,
        api_omits: Iterable[str] = (),
        api_strings: bool = False,
        result_id: int | None = None,
    ) -> SimResult:
        """A member takes a quiz through a link: the result ClassMarker now holds.

        `passed` defaults to percentage >= passmark (ClassMarker's own
        verdict). `finished_at` defaults to now; `in_progress` leaves it
        unfinished (see :meth:`finish`). `quiz` is the start URL's `quiz`
        key the taker opened (the link's `link_url_id`; each quiz has its own
        link); without it (or `link`), the laser cutter's quiz link.
        """
        finished = _seconds(finished_at if finished_at is not None else self.clock())
        if passed is None:
            passed = passmark is None or percentage >= passmark
        result = SimResult(
            link_result_id=result_id if result_id is not None else _next_result_id(),
            cm_user_id=cm_user_id,
            percentage=percentage,
            percentage_passmark=passmark,
            passed=passed,
            time_started=finished - minutes * 60,
            time_finished=None if in_progress else finished,
            requires_grading=requires_grading,
            test={**DEFAULT_TEST, **(test or {})},
            link={**(DEFAULT_LINK if quiz is None else self._link_of(quiz)), **(link or {})},
            api_omits=frozenset(api_omits),
            api_strings=api_strings,
        )
        with self._lock:
            if result.link_result_id in self._results:
                raise ValueError(f"result {result.link_result_id} exists")
            self._results[result.link_result_id] = result
        return dataclasses.replace(result)

    def _link_of(self, quiz: str) -> Json:
        """The account's link whose start URL has `?quiz=<quiz>`: one link per quiz, numbered as first used."""
        with self._lock:
            link_id = self._links.setdefault(quiz, 1_288_001 + len(self._links))
        return {"link_id": link_id, "link_name": f"Quiz {quiz} (members)", "link_url_id": quiz}

    def finish(self, result_id: int, at: datetime | int | None = None) -> SimResult:
        """An in-progress result is finished (now, or at `at`)."""
        with self._lock:
            result = self._results[result_id]
            result.time_finished = _seconds(at if at is not None else self.clock())
            return dataclasses.replace(result)

    def grade(self, result_id: int, *, percentage: float, passed: bool | None = None) -> SimResult:
        """Staff grade a result that required grading: its score may change, and ClassMarker sends it again."""
        with self._lock:
            result = self._results[result_id]
            result.percentage = percentage
            mark = result.percentage_passmark
            result.passed = passed if passed is not None else (mark is None or percentage >= mark)
            result.requires_grading = False
            result.version += 1
            return dataclasses.replace(result)

    def result(self, result_id: int) -> SimResult:
        """One result (a copy)."""
        with self._lock:
            return dataclasses.replace(self._results[result_id])

    def results(self) -> list[SimResult]:
        """Every result (copies), in the order taken."""
        with self._lock:
            return [dataclasses.replace(r) for r in self._results.values()]

    def api_signature(self, timestamp: int | str) -> str:
        """The `signature` a client must send with `timestamp`."""
        return hashlib.md5(f"{self.api_key}{self.api_secret}{timestamp}".encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class ApiRequest:
    """One request the results API answered: what was asked (never the key or signature) and its `status`."""

    path: str
    finished_after: str | None
    limit: str | None
    signed: bool
    status: str
    returned: int


class ClassMarkerApiSimulator:
    """ClassMarker's results API for one account on loopback; its behaviour is set through its attributes.

    - `request_limit`: requests an hour (by the account's clock) before it
      answers `request_limit_reached`; None for no limit. Every request counts.
    - `overlap`: how many results at the end of a page the next page repeats
      (`next_finished_after_timestamp` is one second before the finish of the
      first repeated one; 0 gives the last result's own finish time).
    - `page_limit`: the largest page it gives, whatever `limit` asks.
    - `list_links`: False leaves the `links` list out of the results'
      answers (so a result's `link_url_id` cannot be told from the listing);
      `describe_links`: False leaves them out of `GET /v1.json` too (the
      account's groups, links and tests).
    - :meth:`fail_next` queues error answers (`status: error`), and
      :meth:`break_next` queues HTTP failures without a JSON body.
    """

    def __init__(self, account: ClassMarkerAccount, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.account = account
        self.request_limit: int | None = None
        self.overlap = 1
        self.page_limit = MAX_LIMIT
        self.list_links = True
        self.describe_links = True
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._errors: deque[tuple[str, str]] = deque()
        self._breaks: deque[int] = deque()
        self._answered: deque[datetime] = deque()
        self._log: list[ApiRequest] = []
        self._server: _KeepAliveServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> ClassMarkerApiSimulator:
        """Bind (port 0: any free one) and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("the ClassMarker API simulator is running already")
        self._server = _KeepAliveServer(self._host, self._port, self._wsgi)
        self._thread = threading.Thread(
            target=partial(self._server.serve_forever, poll_interval=_POLL_INTERVAL),
            name=f"classmarker-api:{self._server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open connections."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._thread.join()
        self._server.close_connections()
        self._server = None
        self._thread = None

    def __enter__(self) -> ClassMarkerApiSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """CLASSMARKER_API_URL for a bridge, e.g. "http://127.0.0.1:8766"."""
        if self._server is None:
            raise RuntimeError("the ClassMarker API simulator is not running")
        return f"http://{self._host}:{self._server.port}"

    # -- behaviour ---------------------------------------------------------

    def fail_next(self, count: int = 1, *, code: str = "internal_error", message: str = "Temporary error, try later") -> None:
        """The next `count` requests get `status: error` with this `error_code` and `error_message`."""
        with self._lock:
            self._errors.extend([(code, message)] * count)

    def break_next(self, count: int = 1, *, status: int = 503) -> None:
        """The next `count` requests get an HTTP error with an HTML body (a proxy in the way)."""
        with self._lock:
            self._breaks.extend([status] * count)

    @property
    def requests(self) -> list[ApiRequest]:
        """Every request answered so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        """Forget the request log (the hourly limit still counts them)."""
        with self._lock:
            self._log.clear()

    # -- the API -------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._answer(request)
        return response(environ, start_response)

    def _answer(self, request: Request) -> Response:
        args = request.args
        signed = {"api_key", "timestamp", "signature"} <= set(args)
        with self._lock:
            broken = self._breaks.popleft() if self._breaks else None
        if broken is not None:
            self._note(request, signed, f"http {broken}", 0)
            return Response("<html><body>Service unavailable</body></html>", status=broken, content_type="text/html")
        now = self.account.clock()
        body = self._checked(request, now)
        if body is None:
            body = self._account(request, now) if request.path == ACCOUNT else self._listing(request, now)
        self._note(request, signed, body["status"], len(body.get("results") or []))
        return Response(json.dumps(body), content_type="application/json")

    def _checked(self, request: Request, now: datetime) -> Json | None:
        """The refusal this request earns (limit, fault, credentials, parameters), or None."""
        args = request.args
        with self._lock:
            while self._answered and self._answered[0] <= now - timedelta(hours=1):
                self._answered.popleft()
            self._answered.append(now)
            over_limit = self.request_limit is not None and len(self._answered) > self.request_limit
            error = self._errors.popleft() if self._errors and not over_limit else None
        if over_limit:
            return self._status(request, now, "request_limit_reached")
        if error is not None:
            return self._error(request, now, *error)
        if request.path not in (RECENT_LINK_RESULTS, ACCOUNT):
            return self._error(request, now, "not_found", "Unknown request path")
        if args.get("api_key") != self.account.api_key:
            return self._error(request, now, "invalid_api_key", "The API key is not valid")
        timestamp = args.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - now.timestamp()) > TIMESTAMP_TOLERANCE.total_seconds():
            return self._error(request, now, "invalid_timestamp", "The timestamp is missing or more than 5 minutes off")
        if not hmac.compare_digest(args.get("signature", ""), self.account.api_signature(timestamp)):
            return self._error(request, now, "invalid_signature", "The signature does not match")
        for name in ("finishedAfterTimestamp", "limit"):
            value = args.get(name)
            if value is not None and not value.isdigit():
                return self._error(request, now, "invalid_parameter", f"{name} must be a whole number")
        return None

    def _listing(self, request: Request, now: datetime) -> Json:
        """One page of link results finished after `finishedAfterTimestamp`, oldest first."""
        args = request.args
        oldest = _seconds(now - KEPT_FOR)
        after = int(args["finishedAfterTimestamp"]) if "finishedAfterTimestamp" in args else _seconds(now - DEFAULT_LOOKBACK)
        after = max(after, oldest)
        limit = min(int(args.get("limit") or MAX_LIMIT) or MAX_LIMIT, MAX_LIMIT, self.page_limit)
        listed = sorted(
            (r for r in self.account.results() if _listed_at(r) > after), key=lambda r: (_listed_at(r), r.link_result_id)
        )
        page = listed[:limit]
        more = len(listed) > len(page)
        if not more or not page:
            next_after = _listed_at(page[-1]) if page else after
        elif self.overlap <= 0:
            next_after = _listed_at(page[-1])
        else:
            next_after = _listed_at(page[-min(self.overlap, len(page))]) - 1
        body = self._status(request, now, "ok" if page else "no_results")
        body.update(
            finished_after_timestamp_used=after,
            links=_distinct("link", "link_id", page) if self.list_links else [],
            tests=_distinct("test", "test_id", page),
            results=[{"result": r.api_view()} for r in page],
            num_results_available=len(listed),
            num_results_returned=len(page),
            more_results_exist=more,
            next_finished_after_timestamp=next_after,
        )
        return body

    def _account(self, request: Request, now: datetime) -> Json:
        """`GET /v1.json`: the account's links (each with its `link_url_id`) and tests, of every result taken."""
        results = self.account.results()
        body = self._status(request, now, "ok")
        body.update(
            groups=[],
            links=_distinct("link", "link_id", results) if self.describe_links else [],
            tests=_distinct("test", "test_id", results),
        )
        return body

    def _status(self, request: Request, now: datetime, status: str) -> Json:
        return {"status": status, "request_path": request.path.lstrip("/"), "server_timestamp": _seconds(now)}

    def _error(self, request: Request, now: datetime, code: str, message: str) -> Json:
        return {**self._status(request, now, "error"), "error": {"error_code": code, "error_message": message}}

    def _note(self, request: Request, signed: bool, status: str, returned: int) -> None:
        entry = ApiRequest(
            request.path, request.args.get("finishedAfterTimestamp"), request.args.get("limit"), signed, status, returned
        )
        with self._lock:
            self._log.append(entry)


def _listed_at(result: SimResult) -> int:
    """What the listing orders and filters by: the finish, or the start of a result still in progress."""
    return result.time_finished if result.time_finished is not None else result.time_started


def _distinct(kind: str, key: str, results: Iterable[SimResult]) -> list[Json]:
    found: dict[Any, Json] = {}
    for result in results:
        section = result.test if kind == "test" else result.link
        found.setdefault(section[key], {kind: dict(section)})
    return list(found.values())


@dataclass(frozen=True)
class ClassMarkerWebhookDelivery:
    """One result's webhook: POSTed (with the receiver's answer, None when none came) or lost on the way."""

    result_id: int
    version: int
    status: int | None
    body: str = ""
    lost: bool = False
    error: str | None = None

    @property
    def delivered(self) -> bool:
        """Whether ClassMarker counts it as delivered: a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


class ClassMarkerWebhookSender:
    """ClassMarker's result webhook towards one URL, driven from the account's results.

    `deliver()` sends every finished result (or graded re-send) not yet
    delivered: each is lost with probability `loss_rate` (decided once, by a
    seeded random source), else POSTed signed; what gets no 2xx stays
    pending, as ClassMarker retries. `give_up()` drops what is pending
    (ClassMarker stopped retrying while the receiver was down), `resend()`
    POSTs a result again, and `wrong_secret` makes every signature wrong
    (the secret rotated on one side only).
    """

    def __init__(
        self,
        account: ClassMarkerAccount,
        url: str,
        *,
        loss_rate: float = 0.0,
        seed: int = 0,
        wrong_secret: bool = False,
        timeout: float = 10.0,
    ) -> None:
        if not 0.0 <= loss_rate <= 1.0:
            raise ValueError("loss_rate must be between 0 and 1")
        self.account = account
        self.loss_rate = loss_rate
        self.wrong_secret = wrong_secret
        self._url = url
        self._timeout = timeout
        self._random = random.Random(seed)  # noqa: S311 - which deliveries get lost, not a secret
        self._session = requests.Session()
        self._lock = threading.Lock()
        self._delivered: set[tuple[int, int]] = set()
        self._lost: set[tuple[int, int]] = set()
        self._decided: set[tuple[int, int]] = set()
        self._deliveries: list[ClassMarkerWebhookDelivery] = []

    def deliver(self, *result_ids: int, times: int = 1) -> list[ClassMarkerWebhookDelivery]:
        """Send pending results (or those named that are pending), each `times` times in a row; this call's deliveries."""
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            raise ValueError("times must be an integer >= 1")
        chosen = [r for r in self.pending_results() if not result_ids or r.link_result_id in result_ids]
        sent: list[ClassMarkerWebhookDelivery] = []
        for result in chosen:
            if self._loses(result):
                sent.append(ClassMarkerWebhookDelivery(result.link_result_id, result.version, None, lost=True))
                continue
            sent.extend(self._post(result) for _ in range(times))
        self._record(sent)
        return sent

    def resend(self, result_id: int, *, times: int = 1) -> list[ClassMarkerWebhookDelivery]:
        """POST a result again whatever became of it before (ClassMarker re-sends, e.g. when an exam is re-opened)."""
        result = self.account.result(result_id)
        sent = [self._post(result) for _ in range(times)]
        self._record(sent)
        return sent

    def give_up(self) -> list[int]:
        """ClassMarker stops retrying: what is pending now is lost for good; the ids."""
        pending = self.pending_results()
        with self._lock:
            self._lost.update((r.link_result_id, r.version) for r in pending)
        return [r.link_result_id for r in pending]

    def pending_results(self) -> list[SimResult]:
        """Finished results (and graded re-sends) neither delivered with a 2xx nor lost, oldest first."""
        with self._lock:
            done = self._delivered | self._lost
        return [r for r in self.account.results() if not r.in_progress and (r.link_result_id, r.version) not in done]

    @property
    def lost(self) -> list[int]:
        """Results whose webhook was lost for good (by the rate or by giving up)."""
        with self._lock:
            return sorted({result_id for result_id, _ in self._lost})

    @property
    def deliveries(self) -> list[ClassMarkerWebhookDelivery]:
        """Every delivery so far, oldest first."""
        with self._lock:
            return list(self._deliveries)

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> ClassMarkerWebhookSender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None) -> None:
        self.close()

    def signed_body(self, result: SimResult) -> tuple[bytes, str]:
        """The raw body ClassMarker sends (PHP-style escapes: `\\/`, `\\u00e1`) and its signature header."""
        body = json.dumps(result.webhook_payload()).replace("/", "\\/").encode("ascii")
        secret = self.account.webhook_secret + ("-rotated" if self.wrong_secret else "")
        digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
        return body, base64.b64encode(digest).decode("ascii")

    def _loses(self, result: SimResult) -> bool:
        """Whether this result's webhook is lost: decided at its first sending, once."""
        version = (result.link_result_id, result.version)
        with self._lock:
            if version in self._decided:
                return False
            self._decided.add(version)
            lost = self._random.random() < self.loss_rate
            if lost:
                self._lost.add(version)
            return lost

    def _post(self, result: SimResult) -> ClassMarkerWebhookDelivery:
        body, signature = self.signed_body(result)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
        try:
            response = self._session.post(self._url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False)
        except requests.RequestException as error:
            return ClassMarkerWebhookDelivery(result.link_result_id, result.version, None, error=type(error).__name__)
        return ClassMarkerWebhookDelivery(result.link_result_id, result.version, response.status_code, response.text)

    def _record(self, deliveries: list[ClassMarkerWebhookDelivery]) -> None:
        with self._lock:
            self._deliveries.extend(deliveries)
            self._delivered.update((d.result_id, d.version) for d in deliveries if d.delivered)
