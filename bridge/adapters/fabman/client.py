"""The Fabman API v1 client: one session, one `_request`, one retry policy.

All upstream traffic goes through :meth:`FabmanClient._request`, which sets the
auth header and timeouts, retries what is safe to retry (reads and deletes on
connection errors and 5xx; every method on 429 after the wait Fabman asks for),
and turns failures into the exceptions of :mod:`.errors`. Creating a training is
never retried blindly: the caller checks Fabman's state first (a lost response
may hide a record that was created).
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

from bridge.adapters.fabman.errors import (
    FabmanConflict,
    FabmanError,
    FabmanNotFound,
    FabmanRateLimited,
    FabmanRejected,
    FabmanTimeout,
    FabmanUnavailable,
)
from bridge.adapters.fabman.wire import course_from_json, equipment_from_json, member_from_json, record_from_json
from bridge.clock import SystemClock, Timer
from bridge.domain.models import Course, Equipment, Member, TrainingRecord

log = logging.getLogger(__name__)

_JITTER = random.Random()  # noqa: S311 - jitter only
"""Its own generator: background threads never touch the global `random` state others seed and watch."""

CallObserver = Callable[[str, str, int | None, float], None]
"""Called after every upstream call with (method, path, status or None, seconds)."""

_SAFE_TO_REPEAT = frozenset({"GET", "DELETE"})
RATE_LIMIT_WAIT = 2.0


class RateGate:
    """Shared by clients that should all stop when one of them meets Fabman's rate limit.

    A 429 closes the gate for as long as Fabman asks; every call through a
    client holding the gate waits at it before going out, so one process's
    appliers pause together and then resume, instead of each spending its
    own 429s (Fabman limits per client address).
    """

    def __init__(self, timer: Timer | None = None) -> None:
        self._timer = timer or SystemClock()
        self._lock = threading.Lock()
        self._open_at = 0.0

    def close_for(self, seconds: float) -> None:
        """Nobody passes for `seconds` from now (a longer closing already in force stays)."""
        with self._lock:
            self._open_at = max(self._open_at, self._timer.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        return max(0.0, self._open_at - self._timer.monotonic())

    def wait(self) -> float:
        """Wait until the gate is open; the seconds waited."""
        waited = 0.0
        while (remaining := self.remaining()) > 0:
            self._timer.sleep(remaining)
            waited += remaining
        return waited

    def hold(self, condition: threading.Condition) -> None:
        """Under `condition` (held by the caller): wait until the gate opens, or until the condition is notified."""
        if (remaining := self.remaining()) > 0:
            self._timer.wait(condition, remaining)


class FabmanClient:
    """Typed access to the parts of Fabman the bridge uses.

    `sleep` (waits between attempts) and `clock` (the course cache's time) are
    parameters so that tests can observe the waits without spending them.
    """

    def __init__(
        self,
        base_url: str,
        authorization: str,
        *,
        timeout: float = 5.0,
        connect_timeout: float = 3.05,
        retries: int = 2,
        backoff: float = 0.2,
        rate_limit_budget: float = 6.0,
        page_size: int = 1000,
        courses_cache_seconds: float = 60.0,
        pool_size: int = 16,
        observer: CallObserver | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = (connect_timeout, timeout)
        self.retries = retries
        self.backoff = backoff
        self.rate_limit_budget = rate_limit_budget
        self.page_size = page_size
        self.observer = observer
        self._sleep = sleep
        self.rate_gate: RateGate | None = None
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Authorization": authorization, "Accept": "application/json"})
        _read_environment_once(self.session, self.base_url)
        self._courses = _CourseCache(courses_cache_seconds, clock)

    def derive(
        self,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        rate_limit_budget: float | None = None,
        rate_gate: RateGate | None = None,
    ) -> FabmanClient:
        """A client sharing this one's connections and course cache, with other limits.

        The appliers use one with their process's :class:`RateGate`, so a 429
        pauses all of them for the time Fabman asks.
        """
        derived = copy.copy(self)
        if timeout is not None:
            derived.timeout = (min(self.timeout[0], timeout), timeout)
        if retries is not None:
            derived.retries = retries
        if rate_limit_budget is not None:
            derived.rate_limit_budget = rate_limit_budget
        if rate_gate is not None:
            derived.rate_gate = rate_gate
        return derived

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    # -- transport -------------------------------------------------------

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """Send one logical request, retrying what is safe; raise a FabmanError on failure."""
        url = path_or_url if "://" in path_or_url else urljoin(self.base_url, path_or_url.lstrip("/"))
        path = url[len(self.base_url) - 1 :] if url.startswith(self.base_url) else url
        attempt = 0
        waited_for_rate = 0.0
        while True:
            attempt += 1
            if self.rate_gate is not None:
                self.rate_gate.wait()
            started = time.perf_counter()
            status: int | None = None
            try:
                response = self.session.request(method, url, params=params, json=json, timeout=self.timeout)
                status = response.status_code
            except requests.Timeout as exc:
                error: FabmanError = FabmanTimeout(f"Fabman did not answer {method} {path} in time", method=method, path=path)
                cause: Exception | None = exc
            except requests.ConnectionError as exc:
                error = FabmanUnavailable(f"cannot connect to Fabman for {method} {path}", method=method, path=path)
                cause = exc
            except requests.RequestException as exc:
                error = FabmanUnavailable(f"Fabman's answer to {method} {path} broke off", method=method, path=path)
                cause = exc
            else:
                cause = None
            finally:
                if self.observer is not None:
                    self.observer(method, path, status, time.perf_counter() - started)

            if status is not None:
                if status < 400:
                    return response
                if status == 429:
                    wait = _retry_after(response)
                    if self.rate_gate is not None:
                        self.rate_gate.close_for(wait)
                    if waited_for_rate + wait <= self.rate_limit_budget:
                        log.info("fabman rate limit on %s %s, waiting %.1f s", method, path, wait)
                        waited_for_rate += wait
                        if self.rate_gate is None:
                            self._sleep(wait)
                        attempt -= 1
                        continue
                    raise FabmanRateLimited(
                        f"Fabman rate limit persisted (asked to wait {wait:g} s)", retry_after=wait, method=method, path=path
                    )
                error = _error_for_status(status, method, path)
                if not error.retryable:
                    raise error
            if error.retryable and method in _SAFE_TO_REPEAT and attempt <= self.retries:
                delay = self.backoff * (2 ** (attempt - 1)) * (1 + _JITTER.random())
                log.info("retrying %s %s after %s (attempt %d)", method, path, type(error).__name__, attempt)
                self._sleep(delay)
                continue
            raise error from cause

    def _paginate(self, path: str, params: list[tuple[str, Any]] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Yield every page of a list endpoint, following `Link: rel="next"` to the end."""
        query: list[tuple[str, Any]] = [("limit", self.page_size), *(params or [])]
        response = self._request("GET", path, params=query)
        while True:
            page = _json(response)
            if not isinstance(page, list):
                raise FabmanRejected(f"Fabman answered a non-list to GET {path}", status=response.status_code, path=path)
            yield page
            next_link = response.links.get("next", {}).get("url")
            if not next_link or not page:
                return
            response = self._request("GET", urljoin(self.base_url, next_link))

    # -- members ---------------------------------------------------------

    def get_member(self, member_id: int, *, trainings: bool = True, privileges: bool = True) -> Member:
        """One member, by default with trainings (and their courses) and privileges embedded."""
        params = _embeds(trainings, privileges)
        return member_from_json(_json(self._request("GET", f"members/{int(member_id)}", params=params)))

    def iter_member_pages(self, *, trainings: bool = True, privileges: bool = False) -> Iterator[list[Member]]:
        """Every member, a page at a time (one request per page)."""
        for page in self._paginate("members", _embeds(trainings, privileges)):
            yield [member_from_json(item) for item in page]

    def find_members(self, query: str, *, limit: int = 20, privileges: bool = False) -> list[Member]:
        """Members matching Fabman's text search (name, e-mail), one request; at most `limit`."""
        params: list[tuple[str, Any]] = [("q", query), ("limit", limit), *_embeds(False, privileges)]
        page = _json(self._request("GET", "members", params=params))
        if not isinstance(page, list):
            raise FabmanRejected("Fabman answered a non-list to GET members", path="members")
        return [member_from_json(item) for item in page[:limit]]

    def update_member(self, member_id: int, changes: dict[str, Any], lock_version: int) -> Member:
        """PUT changed fields with the `lockVersion` read; FabmanConflict when it is stale."""
        body = {**changes, "lockVersion": lock_version}
        return member_from_json(_json(self._request("PUT", f"members/{int(member_id)}", json=body)))

    # -- trainings -------------------------------------------------------

    def list_trainings(self, member_id: int) -> list[TrainingRecord]:
        """All training records of a member (every page)."""
        return [record_from_json(item) for page in self._paginate(f"members/{int(member_id)}/trainings") for item in page]

    def create_training(
        self,
        member_id: int,
        course_id: int,
        *,
        date: dt.date,
        until_date: dt.date | None,
        notes: str,
        from_date: dt.date | None = None,
    ) -> TrainingRecord:
        """Create a training record; `untilDate` is always sent explicitly, `fromDate` is `date` unless given."""
        body = {
            "trainingCourse": int(course_id),
            "date": date.isoformat(),
            "fromDate": (from_date or date).isoformat(),
            "untilDate": until_date.isoformat() if until_date else None,
            "notes": notes,
        }
        return record_from_json(_json(self._request("POST", f"members/{int(member_id)}/trainings", json=body)))

    def delete_training(self, member_id: int, record_id: int) -> bool:
        """Remove a record; False when it was already gone (a retried delete is not an error)."""
        try:
            self._request("DELETE", f"members/{int(member_id)}/trainings/{int(record_id)}")
        except FabmanNotFound:
            return False
        return True

    # -- courses ---------------------------------------------------------

    def courses(self) -> dict[int, Course]:
        """Every training course by id, cached in-process for `courses_cache_seconds`."""
        return self._courses.get(self._load_courses)

    def _load_courses(self) -> dict[int, Course]:
        return {c.id: c for page in self._paginate("training-courses") for c in map(course_from_json, page)}

    def course(self, course_id: int) -> Course:
        """One course; a miss refreshes the cache once (a course may be new). FabmanNotFound if absent."""
        course = self.courses().get(int(course_id))
        if course is None and self._courses.loaded:
            self._courses.clear()
            course = self.courses().get(int(course_id))
        if course is None:
            raise FabmanNotFound(f"training course {int(course_id)} not found", status=404)
        return course

    def get_equipment(self, resource_id: int) -> Equipment:
        """One machine (`GET /resources/{id}`); FabmanNotFound for an unknown id."""
        return equipment_from_json(_json(self._request("GET", f"resources/{int(resource_id)}")))

    def read_course(self, course_id: int) -> Course:
        """One course as Fabman holds it now, past the cache (applying a result must see today's cm_url and state)."""
        return course_from_json(_json(self._request("GET", f"training-courses/{int(course_id)}")))

    def forget_courses(self) -> None:
        """Drop the course cache (after staff change courses, and in tests)."""
        self._courses.clear()


class _CourseCache:
    """The course list with a time-to-live, shared by derived clients; one loader at a time."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self._clock = clock
        self._value: tuple[float, dict[int, Course]] | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self, load: Callable[[], dict[int, Course]]) -> dict[int, Course]:
        value = self._value
        if value is not None and self._clock() - value[0] < self.ttl:
            return value[1]
        with self._lock:
            value = self._value
            if value is not None and self._clock() - value[0] < self.ttl:
                return value[1]
            fresh = load()
            if self.ttl > 0:
                self._value = (self._clock(), fresh)
            return fresh

    def clear(self) -> None:
        self._value = None


def _read_environment_once(session: requests.Session, base_url: str) -> None:
    """Take proxies and the CA bundle from the environment now, for every later call.

    With `trust_env` on, requests re-reads os.environ on every call (about
    0.15 ms each, the largest part of a profile request's own time) and lets a
    `~/.netrc` entry for Fabman's host replace the API key. All calls go to one
    host, so what the environment says for it is settled once, at start.
    """
    settings = session.merge_environment_settings(base_url, {}, None, None, None)
    session.trust_env = False
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]


def _embeds(trainings: bool, privileges: bool) -> list[tuple[str, Any]]:
    return [("embed", name) for name, wanted in (("trainings", trainings), ("privileges", privileges)) if wanted]


def _json(response: requests.Response) -> Any:
    """The body as JSON; a body that is not JSON (a proxy's error page) is Fabman failing."""
    try:
        return response.json()
    except ValueError:
        raise FabmanRejected(
            f"Fabman answered {response.status_code} with a body that is not JSON", status=response.status_code
        ) from None


def _retry_after(response: requests.Response) -> float:
    """Fabman's wait after a 429: `Retry-After` when present (not documented), else 2 s."""
    header = response.headers.get("Retry-After")
    try:
        return max(RATE_LIMIT_WAIT, float(header)) if header else RATE_LIMIT_WAIT
    except ValueError:
        return RATE_LIMIT_WAIT


def _error_for_status(status: int, method: str, path: str) -> FabmanError:
    message = f"Fabman answered {status} to {method} {path}"
    if status == 404:
        return FabmanNotFound(message, status=status, method=method, path=path)
    if status == 409:
        return FabmanConflict(message, status=status, method=method, path=path)
    if status >= 500:
        return FabmanUnavailable(message, status=status, method=method, path=path)
    return FabmanRejected(message, status=status, method=method, path=path)
