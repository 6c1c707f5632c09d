"""What a test holds of a simulated Fabman, served over HTTP or in process: its data, faults and request log."""

from __future__ import annotations

import abc
from typing import Any

from .app import API_PREFIX, create_simulator_app
from .faults import FaultConfig
from .requests_log import LoggedRequest, RequestLog
from .state import SimState


class FabmanHandles(abc.ABC):
    """The simulated account's state, faults, request log and API key, and the WSGI app serving them."""

    def __init__(self, state: SimState | None, api_key: str, faults: FaultConfig | None) -> None:
        self._state = state if state is not None else SimState()
        self._faults = faults if faults is not None else FaultConfig()
        self._log = RequestLog()
        self._api_key = api_key
        self._app: Any = create_simulator_app(self._state, api_key, faults=self._faults, log=self._log)

    @property
    @abc.abstractmethod
    def root_url(self) -> str:
        """The address its URLs start with: the server's, or the in-process one nothing listens on."""

    @property
    def base_url(self) -> str:
        """The Fabman API base (FABMAN_API_URL)."""
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
