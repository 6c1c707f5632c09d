"""The web layer: one blueprint per client of the bridge."""

from __future__ import annotations

from flask import Flask

from bridge.web import admin, cron, evidence, fabman_webhook, health, profile, webhook
from bridge.web.staff import register_staff

API = (profile, webhook, cron, admin, health, fabman_webhook, evidence)
"""The modules whose blueprints make the documented API."""


def register_blueprints(app: Flask) -> None:
    """Mount every client's endpoints, and the staff console."""
    for module in API:
        app.register_blueprint(module.blueprint)
    register_staff(app)
