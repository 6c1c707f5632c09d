"""ClassMarker's results API client: one session, signed requests, pages followed to the end.

Every request carries `api_key`, `timestamp` (UNIX seconds, from the injected
clock: ClassMarker refuses a timestamp more than 5 minutes off) and
`signature`, the lowercase hex MD5 of key + secret + timestamp. Because the
key and the signature travel in the query string, no URL is ever logged or
put in an error: errors name the path only, and the exceptions of `requests`
(whose messages repeat the URL) are never chained.

Nothing is retried here. ClassMarker allows few requests an hour, so a
failure ends the listing and the caller tries again at its next run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from bridge.adapters.classmarker.errors import (
    ClassMarkerBadAnswer,
    ClassMarkerRateLimited,
    ClassMarkerRefused,
    ClassMarkerUnavailable,
    RequestBudgetSpent,
)
from bridge.adapters.classmarker.wire import Json, ResultsPage, read_link_quizzes, read_page
from bridge.clock import Clock

log = logging.getLogger(__name__)

RECENT_LINK_RESULTS = "/v1/links/recent_results.json"
ACCOUNT = "/v1.json"
"""The account's groups, links and tests: each link's `link_url_id`."""
MAX_LIMIT = 200
"""ClassMarker's largest (and default) page."""
_TEXT_LENGTH = 200


def signature(api_key: str, api_secret: str, timestamp: int) -> str:
    """What ClassMarker expects in `signature`: lowercase hex MD5 of key, secret and timestamp, concatenated."""
    return hashlib.md5(f"{api_key}{api_secret}{timestamp}".encode(), usedforsecurity=False).hexdigest()


class ClassMarkerClient:
    """Typed, signed access to the recent link results of one ClassMarker account."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        clock: Clock,
        timeout: float = 15.0,
        connect_timeout: float = 3.05,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._api_secret = api_secret
        self._clock = clock
        self.timeout = (connect_timeout, timeout)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update({"Accept": "application/json"})

    def __repr__(self) -> str:
        return f"ClassMarkerClient({self.base_url!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def recent_results(
        self, finished_after: int, *, limit: int = MAX_LIMIT, permit: Callable[[], bool] | None = None
    ) -> Iterator[ResultsPage]:
        """Every page of link results finished after `finished_after` (UNIX seconds), oldest first.

        Pages are followed with `next_finished_after_timestamp` while
        `more_results_exist`; a result repeated by an overlapping page is
        left out of the later page. `permit` is asked before each request
        (the caller's request budget): when it says no, RequestBudgetSpent
        ends the listing. Any ClassMarkerError ends it after the pages
        already yielded.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}")
        seen: set[str] = set()
        after = max(0, int(finished_after))
        while True:
            if permit is not None and not permit():
                raise RequestBudgetSpent("the bridge's request budget for ClassMarker's API is spent for this hour")
            page = read_page(self._get(RECENT_LINK_RESULTS, {"finishedAfterTimestamp": after, "limit": limit}), seen)
            yield page
            if not page.more:
                return
            if page.next_after is None or page.next_after <= after:
                raise ClassMarkerBadAnswer("ClassMarker said more results exist but gave no later next_finished_after_timestamp")
            after = page.next_after

    def link_quizzes(self, *, permit: Callable[[], bool] | None = None) -> dict[str, str]:
        """Each of the account's links (`GET /v1.json`) by `link_id`, to the quiz key its start URL names.

        For results whose listing did not carry their link (rule 4.10 needs
        the `link_url_id`). `permit` as for :meth:`recent_results`.
        """
        if permit is not None and not permit():
            raise RequestBudgetSpent("the bridge's request budget for ClassMarker's API is spent for this hour")
        return read_link_quizzes(self._get(ACCOUNT, {}))

    def _signed(self) -> dict[str, Any]:
        timestamp = int(self._clock.now().timestamp())
        return {
            "api_key": self._api_key,
            "timestamp": timestamp,
            "signature": signature(self._api_key, self._api_secret, timestamp),
        }

    def _get(self, path: str, params: dict[str, Any]) -> Json:
        """One signed GET; the answer's JSON when its status is `ok` or `no_results`, else a ClassMarkerError."""
        started = time.perf_counter()
        try:
            response = self.session.get(self.base_url + path, params={**params, **self._signed()}, timeout=self.timeout)
        except requests.Timeout:
            raise ClassMarkerUnavailable(f"ClassMarker did not answer GET {path} in time") from None
        except requests.RequestException as error:
            raise ClassMarkerUnavailable(f"cannot reach ClassMarker for GET {path} ({type(error).__name__})") from None
        log.info("classmarker GET %s -> %s in %.0f ms", path, response.status_code, (time.perf_counter() - started) * 1000)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            if response.status_code >= 400:
                raise ClassMarkerUnavailable(f"ClassMarker answered HTTP {response.status_code} to GET {path}")
            raise ClassMarkerBadAnswer(f"ClassMarker's answer to GET {path} is not a JSON object")
        status = answer.get("status")
        if status in ("ok", "no_results"):
            return answer
        if status == "request_limit_reached":
            raise ClassMarkerRateLimited("ClassMarker answered request_limit_reached: this API key's hourly limit is used up")
        if status == "error":
            reported = answer.get("error")
            details = reported if isinstance(reported, dict) else {}
            code = self._scrub(details.get("error_code")) or "unknown"
            raise ClassMarkerRefused(code, self._scrub(details.get("error_message")))
        if response.status_code >= 400:
            raise ClassMarkerUnavailable(f"ClassMarker answered HTTP {response.status_code} to GET {path}")
        raise ClassMarkerBadAnswer(f"ClassMarker answered GET {path} with an unknown status")

    def _scrub(self, value: Any) -> str:
        """ClassMarker's text, short and printable, with the credentials cut out should it repeat them."""
        if value is None or isinstance(value, (dict, list)):
            return ""
        text = "".join(char if char.isprintable() else " " for char in str(value)).strip()
        for secret in (self._api_secret, self._api_key):
            if secret:
                text = text.replace(secret, "***")
        return text[:_TEXT_LENGTH]
