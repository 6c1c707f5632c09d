"""The adapters and settings one app instance runs with, built once by the factory.

Views, the CLI and jobs reach them through :func:`services`, never through
module-level globals, so two apps (a test's and the demo's) never share state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

from bridge.adapters.codec import CmUserIdCodec
from bridge.adapters.fabman import FabmanClient
from bridge.config import Settings

if TYPE_CHECKING:
    from bridge.adapters.notifier import Notifier
    from bridge.adapters.store import Store

EXTENSION_KEY = "fablab_bridge"


@dataclass
class Services:
    """Everything a use case may need from the outside world.

    `webhook_fabman` shares `fabman`'s connections but gives up fast (short
    timeout, no retries), so ClassMarker's request is answered within budget.
    """

    settings: Settings
    fabman: FabmanClient
    webhook_fabman: FabmanClient
    codec: CmUserIdCodec
    store: Store
    notifier: Notifier


def services(app: Flask | None = None) -> Services:
    """The running app's services (the current app unless one is given)."""
    target = app if app is not None else current_app
    return target.extensions[EXTENSION_KEY]  # type: ignore[no-any-return]
