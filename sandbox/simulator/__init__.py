"""A faithful fake of the Fabman API subset the bridge uses, for tests and the demo.

It depends on nothing else in `bridge`, so tests, the demo, the benchmark and
the reliability run can start it without the bridge's configuration.

Besides members, training courses and training records it knows equipment
(`GET /resources`, `GET /resources/{id}`; a course's `resources` lists the
equipment it unlocks) and the activity log of access attempts
(`SimState.add_resource_log`, `GET /resource-logs`). `FabmanWebhookSender`
plays Fabman's webhooks towards a receiver: events such as
`resourceLog_created` or `test` are recorded when they happen and POSTed when
the test says, re-sent or late, with every answer kept.
"""

from __future__ import annotations

from .app import create_simulator_app
from .faults import FaultConfig
from .requests_log import LoggedRequest, RequestLog
from .seed import DEMO_MEMBER_NOTES, demo_state, generated_state
from .server import FabmanSimulator
from .state import SimState
from .webhooks import FabmanWebhookDelivery, FabmanWebhookSender, SimulatedFabmanEvent

__all__ = [
    "DEMO_MEMBER_NOTES",
    "FabmanSimulator",
    "FabmanWebhookDelivery",
    "FabmanWebhookSender",
    "FaultConfig",
    "LoggedRequest",
    "RequestLog",
    "SimState",
    "SimulatedFabmanEvent",
    "create_simulator_app",
    "demo_state",
    "generated_state",
]
