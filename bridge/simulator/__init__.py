"""A faithful fake of the Fabman API subset the bridge uses, for tests and the demo.

It depends on nothing else in `bridge`, so tests, the demo, the benchmark and
the reliability run can start it without the bridge's configuration.
"""

from __future__ import annotations

from .app import create_simulator_app
from .faults import FaultConfig
from .requests_log import LoggedRequest, RequestLog
from .seed import DEMO_MEMBER_NOTES, demo_state, generated_state
from .server import FabmanSimulator
from .state import SimState

__all__ = [
    "DEMO_MEMBER_NOTES",
    "FabmanSimulator",
    "FaultConfig",
    "LoggedRequest",
    "RequestLog",
    "SimState",
    "create_simulator_app",
    "demo_state",
    "generated_state",
]
