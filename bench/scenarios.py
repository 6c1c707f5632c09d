"""What the clients of the bridge send: the profile endpoints' requests and ClassMarker's results.

Members are drawn at random from the seeded account; quiz links name online
courses every member may see; webhook results carry real `cm_user_id` tokens
sealed with the bridge's Fernet key, unique `link_result_id`s and a valid
ClassMarker signature, so every request takes the path a real one would.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from dataclasses import dataclass

from bench.load import Call, CallFactory, Lane
from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import Course, FabmanClient
from bridge.domain import courses
from bridge.domain.results import sign

SIGNATURE_HEADER = "X-Classmarker-Hmac-Sha256"


@dataclass(frozen=True)
class Endpoint:
    """A benchmarked request: its key in the report, its label, and the Fabman calls it cannot avoid (and may make)."""

    key: str
    label: str
    unavoidable_calls: int
    target_calls: int


ENDPOINTS = (
    Endpoint("absolved", "GET /absolved_trainings/<id>", 1, 1),
    Endpoint("available", "GET /available_trainings/<id>", 1, 1),
    Endpoint("training_links", "POST /get_training_links", 1, 1),
)
"""The profile endpoints: one Fabman read each, answered while the member waits."""

RESULTS = (
    Endpoint("fail", "failing result (attempt counted)", 2, 2),
    Endpoint("pass", "passing result (training granted)", 2, 4),
)
"""ClassMarker results by what applying them does in Fabman: read the member, then one or more writes."""


def online_courses(base_url: str, authorization: str) -> list[Course]:
    """The account's online courses, read through the bridge's own client."""
    client = FabmanClient(base_url, authorization)
    try:
        return [course for course in client.courses().values() if courses.is_online(course)]
    finally:
        client.close()


class Workload:
    """Builds the requests of each endpoint for a seeded account of `members` members."""

    def __init__(
        self,
        *,
        members: int,
        online: list[Course],
        api_key: str,
        webhook_secret: str,
        fernet_key: str,
    ) -> None:
        if not online:
            raise ValueError("the account has no online course to benchmark")
        self.members = members
        self.online = [course.id for course in online]
        self.quizzes = {course.id: courses.quiz_key(course) for course in online}
        self.for_everyone = [course.id for course in online if not courses.is_admin_only(course)]
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.codec = CmUserIdCodec((fernet_key,))
        self._result_ids = itertools.count(int(time.time()) * 1000)

    def factory(self, key: str) -> CallFactory:
        """The call factory of one endpoint (see ENDPOINTS)."""
        return {
            "absolved": self.absolved,
            "available": self.available,
            "training_links": self.training_links,
            "fail": lambda lane: self.result(lane, passed=False),
            "pass": lambda lane: self.result(lane, passed=True),
        }[key]

    def _profile_headers(self) -> dict[str, str]:
        return {"Authorization": self.api_key}

    def absolved(self, lane: Lane) -> Call:
        """The FabLab web reading a member's trainings."""
        return Call("GET", f"/absolved_trainings/{lane.member(self.members)}", self._profile_headers())

    def available(self, lane: Lane) -> Call:
        """The FabLab web reading the courses a member may take."""
        return Call("GET", f"/available_trainings/{lane.member(self.members)}", self._profile_headers())

    def training_links(self, lane: Lane) -> Call:
        """The FabLab web asking for one course's quiz link."""
        body = json.dumps({"member_id": lane.member(self.members), "training_id": lane.rng.choice(self.for_everyone)}).encode()
        return Call("POST", "/get_training_links", {**self._profile_headers(), "Content-Type": "application/json"}, body)

    def result(self, lane: Lane, *, passed: bool) -> Call:
        """ClassMarker delivering a signed link result for a random member and online course."""
        return self.result_for(lane.member(self.members), self.course(lane.rng), passed=passed)

    def course(self, rng: random.Random) -> int:
        """A random online course any member may take (a result for an admin-only one would be rejected, rule 4.10)."""
        return rng.choice(self.for_everyone)

    def result_for(self, member_id: int, course_id: int, *, passed: bool) -> Call:
        """ClassMarker delivering a signed link result of one member's quiz of one course."""
        result_id = next(self._result_ids)
        payload = {
            "payload_type": "single_user_test_results_link",
            "payload_status": "live",
            "test": {"test_id": 2044187, "test_name": f"Course {course_id} - safety"},
            "link": {"link_id": 1288001, "link_name": "Bench", "link_url_id": self.quizzes[course_id]},
            "result": {
                "link_result_id": result_id,
                "first": "Bench",
                "last": "Member",
                "email": "",
                "percentage": 90 if passed else 40,
                "points_scored": 9 if passed else 4,
                "points_available": 10,
                "requires_grading": "No",
                "time_started": 1763712000,
                "time_finished": 1763712420,
                "duration": "00:07:00",
                "percentage_passmark": "80",
                "passed": passed,
                "cm_user_id": self.codec.encode(member_id, course_id),
                "ip_address": "203.0.113.7",
            },
        }
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(self.webhook_secret, body)}
        return Call("POST", "/add_classmarker_training", headers, body)
